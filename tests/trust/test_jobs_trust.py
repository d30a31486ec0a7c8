"""The job runner trusts nothing in the run directory or the cache, and leaves no orphans."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ohq_flow.hw.cache import CostCache, make_key
from ohq_flow.hw.costs import CostRow
from ohq_flow.hw.jobs import Job, run_jobs
from tests.hw import jobfuncs
from tests.trust import trustjobs


def _job(tmp: Path, name: str, fn, payload=1, timeout_s: float = 30.0, w: int = 4, a: int = 8) -> Job:
    return Job(key=make_key(layer=name, w_bits=w, a_bits=a, fn=fn.__name__), layer=name, w_bits=w, a_bits=a,
               fn=fn, payload=payload, timeout_s=timeout_s, workdir=tmp / f"{name}_w{w}a{a}")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:                                  # a zombie has exited; its parent just has not reaped it
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_job_spec_is_data_and_the_log_is_not_followed(tmp_path):
    """The job goes to the child as JSON (no pickle in the run directory); a symlink planted at job.log
    is replaced, not written through; the workdir is private."""
    job = _job(tmp_path, "ok", jobfuncs.ok_job, payload=3)
    job.workdir.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (job.workdir / "job.log").symlink_to(victim)
    s = run_jobs([job], cache=None, workers=1, progress=False)
    assert s.ok == 1 and s.rows[0].lut == 4 * 8 * 3
    assert victim.read_text() == "precious\n"
    assert not (job.workdir / "job.log").is_symlink() and "computing ok" in (job.workdir / "job.log").read_text()
    assert stat.S_IMODE(job.workdir.stat().st_mode) == 0o700
    assert not list(job.workdir.glob("*.pkl"))


def test_payload_must_be_plain_data(tmp_path):
    from ohq_flow.errors import InputError
    with pytest.raises(InputError, match="plain JSON"):
        run_jobs([_job(tmp_path, "x", jobfuncs.ok_job, payload=object())], cache=None, progress=False)


def test_forged_spec_runs_no_code(tmp_path):
    """A spec file is checked field by field: a pickle or an unexpected field is refused."""
    import pickle
    from ohq_flow.hw._job_child import load_spec
    bad = tmp_path / "spec.json"
    bad.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ValueError):
        load_spec(bad)
    bad.write_text(json.dumps({"format": 1, "key": "k", "layer": "l", "w_bits": 4, "a_bits": 4, "timeout_s": 1,
                               "workdir": "/tmp", "log_path": "/tmp/x", "payload": 1, "fn": "os:system"}))
    with pytest.raises(ValueError):
        load_spec(bad)
    from ohq_flow.hw.jobs import resolve_function
    for name in ("os:system", "builtins:eval", "os.path:join"):
        with pytest.raises(ValueError):
            resolve_function(name)          # not a Python function defined in that module


def test_impossible_row_from_a_measurer_is_a_failure(tmp_path):
    cache = CostCache(tmp_path / "cache")
    s = run_jobs([_job(tmp_path, "neg", trustjobs.negative_job)], cache=cache, workers=1, progress=False)
    assert s.rows[0].status == "failed" and "lut=-5" in s.rows[0].error
    assert cache.stats().entries == 0


_RUNNER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ohq_flow.hw.jobs import Job, run_jobs
    from ohq_flow.hw.cache import make_key
    from tests.trust import trustjobs
    tmp = Path(sys.argv[1])
    job = Job(make_key(layer="busy"), "busy", 4, 4, trustjobs.native_busy_job, str(tmp / "pids"), 600.0,
              tmp / "work")
    run_jobs([job], cache=None, workers=1, progress=False)
""")


def test_orphaned_job_in_a_native_call_stops(tmp_path):
    """SIGKILL the runner while its job sits in a C call holding the GIL: the job processes go away."""
    script = tmp_path / "runner.py"
    script.write_text(_RUNNER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    pids_file = tmp_path / "pids"
    deadline = time.monotonic() + 60
    while not pids_file.is_file() or len(pids_file.read_text().split()) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the job did not start"
        time.sleep(0.05)
    time.sleep(0.3)                                   # inside the regex by now
    pids = [int(p) for p in pids_file.read_text().split()]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if not _gone(p)]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    assert not alive, "job processes outlived their runner"


def test_two_runners_sharing_a_cache_compute_each_job_once(tmp_path):
    cache_dir, markers = tmp_path / "cache", tmp_path / "markers"
    markers.mkdir()

    def jobs(sub):
        return [Job(make_key(layer=f"l{i}"), f"l{i}", 4, 4, trustjobs.counting_job, [str(markers), 0.5], 30.0,
                    tmp_path / sub / f"l{i}") for i in range(4)]

    out = {}

    def go(name):
        out[name] = run_jobs(jobs(name), cache=CostCache(cache_dir), workers=2, progress=False)

    threads = [threading.Thread(target=go, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = sorted(p.name.split(".")[0] for p in markers.iterdir())
    assert len(runs) == 4 and len(set(runs)) == 4, runs          # no job computed twice
    assert all(s.ok == 4 for s in out.values())
    assert out["a"].ran + out["b"].ran == 4
    assert [r.lut for r in out["a"].rows] == [r.lut for r in out["b"].rows] == [44.0] * 4
    assert not list(cache_dir.rglob("*.lock"))


def test_stale_claim_of_a_dead_process_is_taken_over(tmp_path):
    import socket
    cache = CostCache(tmp_path / "cache")
    key = make_key(layer="x")
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = cache.lock_path(key)
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{socket.gethostname()} {dead.pid}\n")
    assert cache.claim(key) and cache.holder(key) == f"{socket.gethostname()} {os.getpid()}"
    other = CostCache(tmp_path / "cache")
    assert not other.claim(key)               # a live holder (us) is respected
    cache.release(key)
    assert not lock.exists()


@pytest.mark.parametrize("tamper", [{"lut": -5.0}, {"lut": float("nan")}, {"lut": 0.0, "ff": 0.0, "dsp": 0.0},
                                    {"w_bits": 0}, {"clock_ns": 0.0}])
def test_cache_entry_with_impossible_numbers_is_dropped(tmp_path, tamper):
    """A well-formed entry (valid checksum) holding an impossible row is not trusted."""
    from ohq_flow.hw import cache as cache_mod
    cache = CostCache(tmp_path)
    key = make_key(layer="t")
    payload = CostRow("t", 4, 4, lut=100.0, ff=10.0, dsp=0.0, clock_ns=5.0, source="yosys").to_dict()
    payload.update(tamper, cache_key=key)
    nan_free = {k: (None if isinstance(v, float) and v != v else v) for k, v in payload.items()}
    entry = {"format": cache_mod.CACHE_FORMAT, "key": key, "payload": payload,
             "sha256": cache_mod._checksum(nan_free) if nan_free == payload else "0" * 64}
    path = cache.entry_path(key)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(entry))
    assert cache.get(key) is None


def test_cache_entry_that_is_a_directory_is_a_miss(tmp_path):
    cache = CostCache(tmp_path / "cache")
    key = make_key(layer="d")
    cache.entry_path(key).mkdir(parents=True)
    assert cache.get(key) is None
    s = run_jobs([Job(key, "d", 4, 8, jobfuncs.ok_job, 1, 30.0, tmp_path / "w")], cache=cache, progress=False)
    assert s.ok == 1                          # the run goes on; the entry just is not stored


def test_concurrent_writers_of_one_key(tmp_path):
    cache = CostCache(tmp_path)
    key = make_key(layer="c")
    rows = [CostRow("c", 4, 4, lut=float(10 + i), ff=1.0, source="test") for i in range(8)]
    errors = []

    def put(r):
        try:
            for _ in range(20):
                cache.put(key, r)
                assert cache.get(key) is not None
        except Exception as exc:            # pragma: no cover - the failure being tested
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(r,)) for r in rows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and cache.get(key).lut in {r.lut for r in rows}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_tool_log_symlink_is_replaced_not_followed(tmp_path):
    from ohq_flow.hw.tools import run_tool
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    log = tmp_path / "tool.log"
    log.symlink_to(victim)
    run_tool(["echo", "hello"], log_path=log, timeout_s=30)
    assert victim.read_text() == "precious\n"
    assert not log.is_symlink() and "hello" in log.read_text()
