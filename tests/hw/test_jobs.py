"""The job runner: isolation of crashing/hanging jobs, caching as jobs finish, SIGKILL + resume,
and the Dask executor agreeing with the local one. Real processes throughout, no mocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from ohq_flow.errors import InputError
from ohq_flow.hw.cache import CostCache, make_key
from ohq_flow.hw.costs import read_costs
from ohq_flow.hw.jobs import Job, run_jobs

from . import jobfuncs


def _job(tmp: Path, name: str, fn, payload=1, timeout_s: float = 20.0, w: int = 4, a: int = 8) -> Job:
    return Job(key=make_key(layer=name, w_bits=w, a_bits=a, fn=fn.__name__), layer=name, w_bits=w, a_bits=a,
               fn=fn, payload=payload, timeout_s=timeout_s, workdir=tmp / f"{name}_w{w}a{a}")


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state in ("Z", "X")           # killed, waiting for a (container) init to reap it


def _faulty_jobs(tmp: Path) -> list[Job]:
    return [
        _job(tmp, "ok1", jobfuncs.ok_job, payload=2),
        _job(tmp, "raises", jobfuncs.raising_job),
        _job(tmp, "exits", jobfuncs.exiting_job),
        _job(tmp, "segv", jobfuncs.segfault_job),
        _job(tmp, "hangs", jobfuncs.hanging_job, payload=str(tmp / "sleep.pid"), timeout_s=1.5),
        _job(tmp, "ok2", jobfuncs.ok_job, payload=3, w=2),
    ]


def test_failures_are_isolated_and_not_cached(tmp_path):
    cache = CostCache(tmp_path / "cache")
    jobs = _faulty_jobs(tmp_path / "run")
    seen = []
    s = run_jobs(jobs, cache=cache, workers=2, progress=False, on_result=seen.append)
    by = {r.layer: r for r in s.rows}
    assert [r.layer for r in s.rows] == [j.layer for j in jobs]
    assert sorted(r.layer for r in seen) == sorted(by)
    assert (s.total, s.cached, s.ran, s.ok, s.failed, s.timed_out) == (6, 0, 6, 2, 3, 1)
    assert by["ok1"].lut == 4 * 8 * 2 and by["ok2"].lut == 2 * 8 * 3 and by["ok1"].latency_ns == 10.0
    assert by["ok1"].cache_key == jobs[0].key and not by["ok1"].cached
    assert "computing ok1" in Path(by["ok1"].log_path).read_text()
    expect = {"raises": ("failed", "ValueError: synthetic failure in raises"),
              "exits": ("failed", "exited with code 3"),
              "segv": ("failed", "SIGSEGV"),
              "hangs": ("timeout", "timed out after 1.5 s")}
    for name, (status, text) in expect.items():
        row = by[name]
        assert row.status == status and text in row.error, row
        assert text in Path(row.log_path).read_text()
    assert "Traceback" in Path(by["raises"].log_path).read_text()
    assert _process_gone(int((tmp_path / "run" / "sleep.pid").read_text()))   # the job's tool died too
    assert cache.stats().entries == 2                      # only ok rows were cached

    again = run_jobs(jobs[:4], cache=cache, workers=2, progress=False)   # failures are retried
    assert (again.cached, again.ran, again.ok, again.failed) == (1, 3, 1, 3)
    assert again.rows[0].cached and again.rows[0].lut == by["ok1"].lut


def test_invalid_jobs_rejected(tmp_path):
    a = _job(tmp_path, "x", jobfuncs.ok_job)
    b = _job(tmp_path, "x", jobfuncs.ok_job, w=4)          # same workdir
    with pytest.raises(InputError, match="workdir"):
        run_jobs([a, b], cache=None, progress=False)
    with pytest.raises(InputError, match="executor"):
        run_jobs([a], cache=None, executor="slurm", progress=False)

    def local_fn(ctx):
        return None
    local_fn.__module__ = "__main__"
    with pytest.raises(InputError, match="__main__"):
        run_jobs([_job(tmp_path, "m", local_fn)], cache=None, progress=False)


_RUNNER = textwrap.dedent("""
    import importlib, sys
    from pathlib import Path
    from ohq_flow.hw.cache import CostCache, make_key
    from ohq_flow.hw.costs import write_costs
    from ohq_flow.hw.jobs import Job, run_jobs

    tmp, module, n, sleep_s = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    fn = importlib.import_module(module).marker_job
    (tmp / "markers").mkdir(exist_ok=True)
    jobs = [Job(make_key(layer=f"l{i}", w_bits=4, a_bits=4), f"l{i}", 4, 4, fn,
                (str(tmp / "markers"), sleep_s), 30.0, tmp / "work" / f"l{i}") for i in range(n)]
    done = []
    def on_result(row):
        done.append(row)
        write_costs(done, tmp / "costs.csv")
    s = run_jobs(jobs, cache=CostCache(tmp / "cache"), workers=2, progress=False, on_result=on_result)
    print(s.cached, s.ran, s.ok, flush=True)
""")


def _start_runner(tmp: Path, n: int, sleep_s: float) -> subprocess.Popen:
    script = tmp / "runner.py"
    script.write_text(_RUNNER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([sys.executable, str(script), str(tmp), jobfuncs.__name__, str(n), str(sleep_s)],
                            env=env, stdout=subprocess.PIPE, text=True)


def test_sigkill_runner_then_resume(tmp_path):
    n, workers = 12, 2
    cache = CostCache(tmp_path / "cache")
    proc = _start_runner(tmp_path, n, 0.4)
    deadline = time.monotonic() + 40
    while cache.stats().entries < 4:
        assert proc.poll() is None and time.monotonic() < deadline, "runner ended or stalled before the kill"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = cache.stats().entries
    assert 4 <= finished_before < n
    time.sleep(0.6)                                        # orphaned job processes notice and exit
    first_pids = [int(p.name.split(".")[1]) for p in (tmp_path / "markers").iterdir()]
    assert all(_process_gone(pid) for pid in first_pids)   # no job outlives its killed runner

    proc = _start_runner(tmp_path, n, 0.4)
    out, _ = proc.communicate(timeout=60)
    cached, ran, ok = map(int, out.split())
    assert proc.returncode == 0 and ok == n
    assert cached >= finished_before and cached + ran == n

    markers = Counter(p.name.split(".")[0] for p in (tmp_path / "markers").iterdir())
    keys = {make_key(layer=f"l{i}", w_bits=4, a_bits=4) for i in range(n)}
    assert set(markers) == keys                            # every job ran at least once
    reruns = sum(markers.values()) - n
    assert reruns <= workers, markers                      # only in-flight jobs ran twice
    rows = read_costs(tmp_path / "costs.csv")
    assert sorted(r.layer for r in rows) == sorted(f"l{i}" for i in range(n))
    assert all(r.status == "ok" and r.lut == 44 for r in rows)


def _comparable(rows):
    return [{k: v for k, v in r.to_dict().items() if k not in ("elapsed_s", "log_path")} for r in rows]


def test_dask_local_cluster_matches_local(tmp_path):
    pytest.importorskip("dask.distributed")

    def jobs(tmp):
        return [_job(tmp, "a", jobfuncs.ok_job, payload=1), _job(tmp, "b", jobfuncs.ok_job, payload=5, w=3),
                _job(tmp, "bad", jobfuncs.raising_job),
                _job(tmp, "hang", jobfuncs.hanging_job, payload=str(tmp / "sleep.pid"), timeout_s=4.0),
                _job(tmp, "c", jobfuncs.ok_job, payload=7, a=2)]

    local = run_jobs(jobs(tmp_path / "local"), cache=None, workers=2, progress=False)
    dask = run_jobs(jobs(tmp_path / "dask"), cache=None, executor="dask", workers=2, progress=False)
    assert _comparable(dask.rows) == _comparable(local.rows)
    assert [r.status for r in dask.rows] == ["ok", "ok", "failed", "timeout", "ok"]
    assert (dask.ok, dask.failed, dask.timed_out) == (3, 1, 1)
    assert "timed out" in Path(dask.rows[3].log_path).read_text()
    assert _process_gone(int((tmp_path / "dask" / "sleep.pid").read_text()))
