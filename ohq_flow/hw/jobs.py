"""Running per-layer cost jobs: cache look-up, one child process per job, local or on Dask.

A :class:`Job` names a top-level function ``fn(ctx: JobContext) -> CostRow`` and a payload of
plain JSON data. The runner :func:`run_jobs`

* returns cache hits without running them (``row.cached=True``); a miss another runner is
  computing (its claim in the cache) is waited for, not computed twice;
* runs every other job in its own child process, ``python -m ohq_flow.hw._job_child``, in a new
  process group, with stdout/stderr going to ``<workdir>/job.log``. The child gets the
  function's ``module:name`` on its command line and the job as a JSON spec (data only, checked
  by the child); the workdir is private (0700) and the log is opened without following a
  symlink. The row the child returns is checked field by field (an impossible number is a
  failed row). An exception, ``os._exit``,
  a segfault or a hang in the job cannot take the runner down: the job becomes a row with
  status ``failed`` or ``timeout``, an ``error`` text, and ``log_path`` (the traceback or the
  runner's note on how the process ended is in that log). At the timeout the whole process group
  is killed, so tools the job started (yosys, vivado) die too. A child whose runner dies kills
  its own group within ~0.1 s, even when the job is inside a long native call (the work runs in
  a forked worker; the child only supervises);
* puts each ok row into the cache in the runner *as soon as it finishes*, so killing the runner
  (even SIGKILL) loses at most the jobs in flight; entries are written atomically and verified
  on read;
* calls ``on_result(row)`` for every row (cached or run) as it becomes known, in the runner's
  main thread, so the caller can write ``costs.csv`` incrementally.

Each job needs its own ``workdir``. ``fn`` must be importable by the child (defined in a module,
not in ``__main__``); the runner passes its ``sys.path`` on (in the environment, not the run
directory). ``fn`` gets the job's payload,
workdir, log path and timeout through :class:`JobContext`; tools it starts should log to their
own files in the workdir (``ctx.workdir / "yosys.log"``), as the job log is the child's output.

Executors:

``executor="local"`` (default)
    ``workers`` threads in the runner, each waiting on one child process.
``executor="dask"``
    Each job is a Dask task that starts the same child process on a worker (worker processes
    may be daemonic, so no ``multiprocessing`` there). With ``dask_address=None`` a
    ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` is started and
    closed; otherwise the runner connects to the scheduler at ``dask_address``.

Slurm (or PBS/LSF) with dask-jobqueue (``pip install dask-jobqueue``)::

    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=1, processes=1, memory="8GB", walltime="04:00:00",
                           job_extra_directives=["--partition=cpu"])
    cluster.scale(jobs=32)            # or cluster.adapt(maximum_jobs=64)
    summary = run_jobs(jobs, cache=CostCache("/shared/ohq_cache"), executor="dask",
                       dask_address=cluster.scheduler_address)

Use ``cores=1, processes=1`` per Slurm job (one synthesis per worker; give it the memory the
largest synthesis needs). The cache directory, the job workdirs and the Python environment
(same ``ohq_flow`` and job-function modules) must be on a filesystem shared by the runner and
all nodes. Cache puts happen in the runner only.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_text
from ohq_flow.hw.memlimit import REMEDY as MEM_REMEDY, MemoryWatch, child_env as memlimit_env
from ohq_flow.tables.costs import STATUS_FAILED, STATUS_OK, STATUS_TIMEOUT, CostRow, row_from_dict

if TYPE_CHECKING:
    from ohq_flow.hw.cache import CostCache

log = logging.getLogger(__name__)

JOB_LOG = "job.log"
_JOB_FILE = ".ohq_job.json"
JOB_SPEC_FORMAT = 1
FN_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_RESULT_FILE = ".ohq_result.json"


@dataclass
class JobContext:
    """What a job function gets: its payload, a private workdir, the job log and its timeout."""

    key: str
    layer: str
    w_bits: int
    a_bits: int
    payload: Any
    workdir: Path
    log_path: Path
    timeout_s: float
    started: float = field(default_factory=time.monotonic)

    def remaining_s(self) -> float:
        """Seconds left before the runner kills this job (pass it to ``run_tool``)."""
        return max(0.0, self.timeout_s - (time.monotonic() - self.started))


@dataclass
class Job:
    """One cost measurement: ``fn(ctx)`` returns the CostRow of (layer, w_bits, a_bits)."""

    key: str
    layer: str
    w_bits: int
    a_bits: int
    fn: Callable[[JobContext], CostRow]
    payload: Any                 # plain JSON data, or a zero-argument callable returning it (built at submission)
    timeout_s: float
    workdir: Path


@dataclass
class JobSummary:
    """Rows in job order and counts. ``ok``/``failed``/``timed_out`` count all rows (cached
    rows are ok); ``cached`` + ``ran`` == ``total``."""

    rows: list[CostRow]
    total: int
    cached: int
    ran: int
    ok: int
    failed: int
    timed_out: int
    elapsed_s: float

    def line(self) -> str:
        return (f"{self.total} job(s): {self.cached} cached, {self.ran} ran; {self.ok} ok, "
                f"{self.failed} failed, {self.timed_out} timed out; {self.elapsed_s:.1f} s")


@dataclass
class _Spec:
    """What an executor needs to run one job: plain data only (the function travels by name)."""

    index: int
    key: str
    layer: str
    w_bits: int
    a_bits: int
    timeout_s: float
    workdir: str
    fn_name: str                 # "module:function", given to the child on its command line
    payload_json: str            # the job's payload as JSON
    sys_path: list[str]


# ---------------------------------------------------------------------------------------------
# running one job in a child process (in the runner or on a Dask worker)

class _LiveSet:
    """Process-group ids of the job processes one local run has in flight (killed on abort)."""

    def __init__(self) -> None:
        self._pids: set[int] = set()
        self._lock = threading.Lock()

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def kill_all(self) -> None:
        with self._lock:                          # a pid is discarded before it is reaped
            for pid in self._pids:
                _kill_group(pid)


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])          # the directory that holds ohq_flow/


def _child_env(sys_path: list[str]) -> dict[str, str]:
    """A copy of our environment that lets the child import ohq_flow and the job's module."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env["OHQ_JOB_RUNNER_PID"] = str(os.getpid())   # the child dies with us even if we die before it looks
    env["OHQ_JOB_SYS_PATH"] = os.pathsep.join(sys_path)
    env.update(memlimit_env())                     # the job's own tools run under the same limit
    return env


def _wait_exited(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait until the child exits (without reaping it, so its pgid stays ours); False on timeout."""
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        try:
            res = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:                # reaped by someone else: it has exited
            return True
        if res is not None and res.si_pid == proc.pid:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        delay = min(delay * 2, 0.05)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exited with code {rc}"


def _error_row(spec: _Spec, status: str, error: str, log_path: Path, elapsed: float) -> dict:
    return CostRow(spec.layer, spec.w_bits, spec.a_bits, status=status, error=error,
                   log_path=str(log_path), elapsed_s=elapsed, cache_key=spec.key).to_dict()


def _open_nofollow(path: Path, append: bool = False) -> int:
    """A write descriptor of ``path`` that never follows a symlink planted there (0600, new file
    unless appending)."""
    if append:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if os.path.islink(path) or os.path.exists(path):
            os.unlink(path)
    except IsADirectoryError:
        shutil.rmtree(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _note(log_path: Path, text: str) -> None:
    try:
        fd = _open_nofollow(log_path, append=True)
    except OSError:
        return
    with os.fdopen(fd, "a") as fh:
        fh.write(f"\n[ohq_flow] {text}\n")


def _private_dir(path: Path) -> None:
    """Create ``path`` as a directory only we can enter (a symlink or file there is replaced)."""
    if os.path.islink(path) or (path.exists() and not path.is_dir()):
        os.unlink(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


MAX_RESULT_BYTES = 1 << 20


def read_row_file(path: Path) -> CostRow:
    """The row a job process wrote, checked field by field (ValueError saying what is wrong)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ValueError("no result file") from None
    except OSError as exc:
        raise ValueError(f"result file unreadable ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_RESULT_BYTES + 1)
    if len(data) > MAX_RESULT_BYTES:
        raise ValueError("result file too large")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"result is not JSON ({exc})") from None
    return row_from_dict(obj, "job result")


def _execute(spec: _Spec, live: _LiveSet | None = None) -> dict:
    """Run one job in a child process; always returns a row dict, never raises for job faults."""
    workdir = Path(spec.workdir)
    _private_dir(workdir)
    log_path, job_file, result_file = workdir / JOB_LOG, workdir / _JOB_FILE, workdir / _RESULT_FILE
    result_file.unlink(missing_ok=True)          # never trust a result left by an earlier run
    atomic_write_text(job_file, json.dumps({
        "format": JOB_SPEC_FORMAT, "key": spec.key, "layer": spec.layer, "w_bits": spec.w_bits,
        "a_bits": spec.a_bits, "timeout_s": spec.timeout_s, "workdir": str(workdir), "log_path": str(log_path),
        "payload": json.loads(spec.payload_json)}, allow_nan=False))
    t0 = time.monotonic()
    with os.fdopen(_open_nofollow(log_path), "wb") as logf:
        logf.write(f"[ohq_flow] job {spec.layer} w{spec.w_bits} a{spec.a_bits} key {spec.key}\n".encode())
        logf.flush()
        proc = subprocess.Popen([sys.executable, "-m", "ohq_flow.hw._job_child", spec.fn_name, str(job_file),
                                 str(result_file)],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                cwd=workdir, env=_child_env(spec.sys_path), start_new_session=True)
    if live is not None:
        live.add(proc.pid)
    try:
        with MemoryWatch(proc.pid) as watch:    # the job and its tools, under the run's memory limit
            finished = _wait_exited(proc, spec.timeout_s)
    finally:
        _kill_group(proc.pid)                    # the job's tools die with it, timeout or not
        if live is not None:
            live.discard(proc.pid)
        rc = proc.wait()
    elapsed = time.monotonic() - t0
    job_file.unlink(missing_ok=True)
    if watch.exceeded:
        msg = watch.message(f"job {spec.layer} w{spec.w_bits} a{spec.a_bits}", log_path) + "; " + MEM_REMEDY
        _note(log_path, msg)
        return _error_row(spec, STATUS_FAILED, msg, log_path, elapsed)
    if not finished:
        msg = f"timed out after {spec.timeout_s:g} s; process group killed"
        _note(log_path, msg)
        return _error_row(spec, STATUS_TIMEOUT, msg, log_path, elapsed)
    try:
        row = read_row_file(result_file).to_dict()
    except ValueError as exc:
        msg = f"job process {_describe_exit(rc)} without returning a valid row ({exc})"
        _note(log_path, msg)
        return _error_row(spec, STATUS_FAILED, msg, log_path, elapsed)
    row.update(cache_key=spec.key, cached=False)
    row["log_path"] = row.get("log_path") or str(log_path)
    if row.get("elapsed_s") is None:
        row["elapsed_s"] = elapsed
    return row


# ---------------------------------------------------------------------------------------------
# executors: each yields (index, row dict) as jobs finish

def _run_local(specs: Iterable[_Spec], workers: int) -> Iterator[tuple[int, dict]]:
    """At most ``2·workers`` specs exist at a time: the next is made only when one finishes."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ohq-job")
    live = _LiveSet()
    pending = iter(specs)
    futs: dict = {}

    def top_up() -> None:
        while len(futs) < 2 * workers:
            spec = next(pending, None)
            if spec is None:
                return
            futs[pool.submit(_execute, spec, live)] = spec

    try:
        top_up()
        while futs:
            done, _ = wait(futs, return_when=FIRST_COMPLETED)
            for fut in done:
                spec = futs.pop(fut)
                yield spec.index, _result_or_error(fut, spec)
            top_up()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        live.kill_all()                          # non-empty only on abort (e.g. Ctrl-C)
        pool.shutdown(wait=True)


def _run_dask(specs: Iterable[_Spec], workers: int, address: str | None) -> Iterator[tuple[int, dict]]:
    from dask.distributed import Client, LocalCluster, as_completed
    cluster = None
    if address is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(address if address is not None else cluster)
    token = uuid.uuid4().hex[:8]
    futs: dict = {}
    pending = iter(specs)

    def submit(spec: _Spec):
        fut = client.submit(_execute, spec, key=f"ohq-job-{token}-{spec.index}-{spec.key[:12]}", pure=False)
        futs[fut] = spec
        return fut

    try:  # a bounded window of submitted jobs (payloads are built as they are submitted)
        window = max(2 * workers, 8)
        first = [submit(s) for s in (next(pending, None) for _ in range(window)) if s is not None]
        stream = as_completed(first)
        for fut in stream:
            spec = futs.pop(fut)
            yield spec.index, _result_or_error(fut, spec)
            nxt = next(pending, None)
            if nxt is not None:
                stream.add(submit(nxt))
    finally:
        for fut in futs:
            fut.cancel()
        client.close()
        if cluster is not None:
            cluster.close()


def _result_or_error(fut, spec: _Spec) -> dict:
    """The future's row, or a failed row when the executor itself failed (e.g. a lost worker)."""
    try:
        return fut.result()
    except Exception as exc:
        log.warning("job %s w%d a%d: executor error: %s", spec.layer, spec.w_bits, spec.a_bits, exc)
        log_path = Path(spec.workdir) / JOB_LOG
        return _error_row(spec, STATUS_FAILED, f"executor error: {type(exc).__name__}: {exc}", log_path, 0.0)


# ---------------------------------------------------------------------------------------------
# the runner

def _validate(jobs: list[Job], executor: str, workers: int) -> None:
    problems = []
    if executor not in ("local", "dask"):
        problems.append(f"executor {executor!r} is not 'local' or 'dask'")
    if workers < 1:
        problems.append(f"workers={workers} must be >= 1")
    seen: dict[Path, str] = {}
    for job in jobs:
        name = f"job {job.layer} w{job.w_bits} a{job.a_bits}"
        if getattr(job.fn, "__module__", None) == "__main__":
            problems.append(f"{name}: fn {job.fn.__name__} is defined in __main__; the job process "
                            "cannot import it (move it into a module)")
        else:
            try:
                function_name(job.fn)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if not job.timeout_s or job.timeout_s <= 0:
            problems.append(f"{name}: timeout_s must be > 0")
        wd = Path(job.workdir).resolve()
        if wd in seen:
            problems.append(f"{name}: workdir {wd} is also used by {seen[wd]}")
        seen[wd] = name
    if problems:
        raise InputError("run_jobs: " + "; ".join(problems))


def function_name(fn: Callable) -> str:
    """``module:function`` of a top-level function (how the job process finds it)."""
    import inspect
    name = f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', '')}"
    if not inspect.isfunction(fn) or not FN_NAME.match(name):
        raise ValueError(f"fn {fn!r} must be a top-level function of a module")
    return name


def resolve_function(name: str) -> Callable:
    """The top-level function named ``module:function`` (the job process's registry look-up)."""
    import importlib
    import inspect
    if not FN_NAME.match(name):
        raise ValueError(f"job function name {name!r} is not of the form module:function")
    module, func = name.split(":")
    fn = getattr(importlib.import_module(module), func, None)
    if not inspect.isfunction(fn) or fn.__module__ != module:
        raise ValueError(f"{name} is not a function defined in {module}")
    return fn


def _make_spec(i: int, job: Job, sys_path: list[str]) -> _Spec:
    try:
        payload = json.dumps(job.payload() if callable(job.payload) else job.payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"job {job.layer} w{job.w_bits} a{job.a_bits}: payload is not plain JSON data: {exc}",
                         "a payload holds str/int/float/bool/None, lists and dicts of them") from None
    return _Spec(i, job.key, job.layer, job.w_bits, job.a_bits, float(job.timeout_s),
                 str(Path(job.workdir).resolve()), function_name(job.fn), payload, sys_path)


def _progress_bar(total: int, enabled: bool):
    from ohq_flow.hw.progress import JobProgress
    return JobProgress(total, enabled=enabled)


def run_jobs(jobs: Iterable[Job], *, cache: CostCache | None = None, executor: Literal["local", "dask"] = "local",
             workers: int | None = None, dask_address: str | None = None, progress: bool = True,
             on_result: Callable[[CostRow], None] | None = None) -> JobSummary:
    """Run ``jobs`` (cache hits skipped) and return their rows in job order; see the module doc.

    ``cache`` is a :class:`~ohq_flow.hw.cache.CostCache` or None. ``workers`` defaults to
    ``os.cpu_count()``; with a remote ``dask_address`` it is unused (the cluster decides).
    Raises :class:`InputError` for invalid jobs; job failures become rows, never exceptions.
    """
    jobs = list(jobs)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    _validate(jobs, executor, workers)
    t0 = time.monotonic()
    rows: list[CostRow | None] = [None] * len(jobs)
    n_cached = 0
    bar = _progress_bar(len(jobs), progress)

    def finish(i: int, row: CostRow) -> None:
        rows[i] = row
        if cache is not None and row.ok and not row.cached:
            _cache_put(cache, jobs[i].key, row)
        bar.update(1, cached=bool(row.cached), failed=not row.ok)
        if on_result is not None:
            on_result(row)

    claims = _Claims(cache)
    try:
        todo, waiting = [], []
        for i, job in enumerate(jobs):
            hit = cache.get(job.key) if cache is not None else None
            if hit is not None:
                hit.layer, n_cached = job.layer, n_cached + 1
                finish(i, hit)
            elif cache is None or claims.claim(job.key):
                todo.append(i)
            else:
                waiting.append(i)                # being computed by another runner: wait for it
        sys_path = [p for p in sys.path if p]
        while todo or waiting:
            if todo:
                specs = (_make_spec(i, jobs[i], sys_path) for i in todo)  # lazily: payloads built at submission
                n = min(workers, len(todo))
                results = _run_dask(specs, n, dask_address) if executor == "dask" else _run_local(specs, n)
                for i, row in results:
                    finish(i, CostRow(**row))
                    claims.release(jobs[i].key)
                todo = []
            if waiting:
                log.info("cost jobs: waiting for %d job(s) another runner is computing (%s)", len(waiting),
                         cache.holder(jobs[waiting[0]].key) or "claim released")
            still = []
            for i in waiting:
                hit = cache.get(jobs[i].key)
                if hit is not None:
                    hit.layer, n_cached = jobs[i].layer, n_cached + 1
                    finish(i, hit)
                elif claims.claim(jobs[i].key):  # its holder is gone or failed it: ours now
                    todo.append(i)
                else:
                    still.append(i)
            waiting = still
            if waiting and not todo:
                time.sleep(_CLAIM_POLL_S)
    finally:
        claims.close()
        bar.close()
    summary = _summarize(rows, n_cached, time.monotonic() - t0)
    log.info("cost jobs: %s", summary.line())
    return summary


_CLAIM_POLL_S = 0.5


class _Claims:
    """Our claims on cache misses, refreshed by a heartbeat thread while we work, released at the end."""

    def __init__(self, cache: CostCache | None, every_s: float = 15.0):
        self.cache, self.keys, self._stop = cache, set(), threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        if cache is not None:
            self._thread = threading.Thread(target=self._beat, args=(every_s,), name="ohq-claims", daemon=True)
            self._thread.start()

    def _beat(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            with self._lock:
                keys = list(self.keys)
            self.cache.refresh(keys)

    def claim(self, key: str) -> bool:
        try:
            ok = self.cache.claim(key)
        except OSError as exc:                   # a read-only cache: compute without a claim
            log.warning("cost cache: cannot claim %s (%s)", key[:12], exc)
            return True
        if ok:
            with self._lock:
                self.keys.add(key)
        return ok

    def release(self, key: str) -> None:
        with self._lock:
            if key not in self.keys:
                return
            self.keys.discard(key)
        self.cache.release(key)

    def close(self) -> None:
        self._stop.set()
        if self.cache is not None:
            for key in list(self.keys):
                self.release(key)


def _cache_put(cache: CostCache, key: str, row: CostRow) -> None:
    """Store a finished row; a failing cache write is reported, the row is still returned."""
    try:
        cache.put(key, row)
    except OSError as exc:
        log.warning("cost cache: could not store %s w%d a%d (%s)", row.layer, row.w_bits, row.a_bits, exc)


def _summarize(rows: list[CostRow | None], n_cached: int, elapsed: float) -> JobSummary:
    done = [r for r in rows if r is not None]
    status = Counter(r.status for r in done)
    return JobSummary(rows=done, total=len(rows), cached=n_cached, ran=len(done) - n_cached,
                      ok=status[STATUS_OK], failed=len(done) - status[STATUS_OK] - status[STATUS_TIMEOUT],
                      timed_out=status[STATUS_TIMEOUT], elapsed_s=elapsed)


def format_exception_line(exc: BaseException, limit: int = 500) -> str:
    """``Type: message`` on one line, shortened to ``limit`` characters (used as row.error)."""
    text = " ".join(traceback.format_exception_only(type(exc), exc)).strip().replace("\n", " | ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
