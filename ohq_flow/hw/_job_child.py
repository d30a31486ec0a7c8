"""The process one job runs in: ``python -m ohq_flow.hw._job_child MODULE:FUNCTION SPEC_FILE RESULT_FILE``.

Started by :mod:`ohq_flow.hw.jobs` in a new process group with stdout/stderr going to the job
log. The function comes from the command line (set by the runner, never read from the run
directory) and must be a top-level function of an importable module; SPEC_FILE is plain JSON
data (key, layer, bits, timeout, payload), checked field by field — nothing in it is code.

This process is a *supervisor*: it forks the worker that calls ``fn(ctx)`` and writes the row as
JSON to RESULT_FILE atomically (a ``failed`` row with the traceback in the log when ``fn``
raises), and itself only polls. When the runner that started it is gone, the supervisor kills
the whole process group (worker and tools) within ``_ORPHAN_POLL_S``, even while the worker is
stuck inside a long native call; the worker also gets SIGKILL from the kernel if the supervisor
dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

_ORPHAN_POLL_S = 0.1
MAX_SPEC_BYTES = 64 << 20
_SPEC_TYPES = {"format": int, "key": str, "layer": str, "w_bits": int, "a_bits": int, "timeout_s": (int, float),
               "workdir": str, "log_path": str}


def load_spec(path: Path) -> dict:
    """The job spec: a JSON object with exactly the expected plain-data fields (ValueError otherwise)."""
    from ohq_flow.hw.jobs import JOB_SPEC_FORMAT
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise ValueError(f"job spec {path} is larger than {MAX_SPEC_BYTES} bytes")
    spec = json.loads(data.decode("utf-8"))
    if not isinstance(spec, dict) or set(spec) != set(_SPEC_TYPES) | {"payload"}:
        raise ValueError(f"job spec {path} does not have the fields {sorted(set(_SPEC_TYPES) | {'payload'})}")
    for name, tp in _SPEC_TYPES.items():
        if isinstance(spec[name], bool) or not isinstance(spec[name], tp):
            raise ValueError(f"job spec {path}: field {name!r} has the wrong type")
    if spec["format"] != JOB_SPEC_FORMAT:
        raise ValueError(f"job spec {path}: format {spec['format']}, expected {JOB_SPEC_FORMAT}")
    return spec


def _runner_pid() -> int:
    # from the environment: reading getppid() here would miss a runner killed between our fork
    # and this line (we would already be reparented)
    return int(os.environ.get("OHQ_JOB_RUNNER_PID", os.getppid()))


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL us when our parent (the supervisor) dies (Linux; no-op elsewhere)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _check_row(fn, spec, row):
    from ohq_flow.tables.costs import CostRow
    if not isinstance(row, CostRow):
        raise TypeError(f"{fn.__qualname__} returned {type(row).__name__}, not a CostRow")
    if (row.w_bits, row.a_bits) != (spec["w_bits"], spec["a_bits"]):
        raise ValueError(f"{fn.__qualname__} returned a row for w{row.w_bits} a{row.a_bits}, "
                         f"but the job is w{spec['w_bits']} a{spec['a_bits']}")
    row.layer = spec["layer"]
    return row


def run(fn_name: str, spec_file: Path, result_file: Path) -> int:
    """Run the job (in this process); write its row to ``result_file``. Returns the exit code."""
    from ohq_flow.fileio import atomic_write_json
    from ohq_flow.tables.costs import STATUS_FAILED, CostRow, row_problems
    from ohq_flow.hw.jobs import JobContext, format_exception_line, resolve_function
    for p in os.environ.get("OHQ_JOB_SYS_PATH", "").split(os.pathsep):
        if p and p not in sys.path:
            sys.path.append(p)
    spec = load_spec(spec_file)
    t0 = time.monotonic()
    try:
        fn = resolve_function(fn_name)
        ctx = JobContext(key=spec["key"], layer=spec["layer"], w_bits=spec["w_bits"], a_bits=spec["a_bits"],
                         payload=spec["payload"], workdir=Path(spec["workdir"]), log_path=Path(spec["log_path"]),
                         timeout_s=float(spec["timeout_s"]))
        row = _check_row(fn, spec, fn(ctx))
        problems = row_problems(row) if row.ok else []
        if problems:                      # a measurer that returns an impossible number has failed
            raise ValueError(f"{fn_name} returned impossible values: {'; '.join(problems)}")
        code = 0
    except BaseException as exc:  # the job's fault, whatever it is, becomes a failed row
        traceback.print_exc()
        row = CostRow(spec["layer"], spec["w_bits"], spec["a_bits"], status=STATUS_FAILED,
                      error=format_exception_line(exc))
        code = 1
    if row.elapsed_s is None:
        row.elapsed_s = time.monotonic() - t0
    sys.stdout.flush()
    sys.stderr.flush()
    atomic_write_json(result_file, row.to_dict())
    return code


def _reraise_exit(status: int) -> None:
    """Exit the way the worker did (same code, or the same signal)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def supervise(fn_name: str, spec_file: Path, result_file: Path) -> None:
    """Fork the worker and watch both it and the runner; never returns."""
    runner = _runner_pid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:                                         # the worker
        _die_with_parent()
        try:
            code = run(fn_name, spec_file, result_file)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    while True:                                          # the supervisor: no native calls, just polls
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            _reraise_exit(status)
        if os.getppid() != runner:
            os.killpg(0, signal.SIGKILL)                 # worker, tools and us
        time.sleep(_ORPHAN_POLL_S)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        sys.exit("usage: python -m ohq_flow.hw._job_child MODULE:FUNCTION SPEC_FILE RESULT_FILE")
    supervise(argv[0], Path(argv[1]), Path(argv[2]))


if __name__ == "__main__":
    main()
