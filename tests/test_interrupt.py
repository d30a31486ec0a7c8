"""`ohq-flow run` interrupted for real (SIGINT = Ctrl-C, then SIGKILL) in the middle of the profile
step, then re-run: finished steps are skipped, finished synthesis jobs come from the cache, no
synthesis process outlives the killed run, and the run completes with a full cost table."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ohq_flow.hw.cache import CostCache
from ohq_flow.hw.costs import read_costs
from tests.test_cli import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys is installed by make test")]

N_JOBS = 4 * 4  # 4 layers x weight {2, 8} x act {4, 8}, all synthesised by Yosys


def _config(tmp: Path) -> Path:
    data = yaml.safe_load((ROOT / "examples/digits/flow_pynq_z2.yaml").read_text())
    data["model"]["brevitas"].update(checkpoint=str(ROOT / "examples/digits/digits_w8a8.pt"), python_path=[str(ROOT)])
    data["build"]["eval_npz"] = str(ROOT / "examples/digits/digits_test.npz")
    data["search"] = {"weight_bits": [2, 8], "act_bits": [4, 8]}
    data["hardware"].update(cache_dir=str(tmp / "cache"), workers=2,
                            rules=[{"measurer": "yosys", "max_weights": 100000}])
    data["output_dir"] = str(tmp / "run")
    path = tmp / "flow.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start(cfg: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "ohq_flow", "run", str(cfg), "--to", "profile"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_entries(proc: subprocess.Popen, cache: CostCache, n: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while cache.stats().entries < n:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"run ended (exit {proc.returncode}) before {n} jobs finished:\n{out[-2000:]}\n{err[-2000:]}")
        assert time.monotonic() < deadline, "synthesis jobs stalled"
        time.sleep(0.05)


def _tools_of(run_dir: Path) -> list[int]:
    """PIDs of live processes whose command line names the run directory (job children, yosys)."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (p / "stat").read_text().split(")")[-1].split()[0]
            except OSError:
                continue
            if str(run_dir) in cmd and state != "Z":
                pids.append(int(p.name))
    return pids


def _no_tools_left(run_dir: Path, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while pids := _tools_of(run_dir):
        if time.monotonic() > deadline:
            for pid in pids:
                print("left over:", pid, Path(f"/proc/{pid}/cmdline").read_bytes()[:300])
            return False
        time.sleep(0.1)
    return True


def test_sigint_then_sigkill_then_resume(tmp_path):
    cfg = _config(tmp_path)
    run_dir = tmp_path / "run"
    cache = CostCache(tmp_path / "cache")

    # 1. Ctrl-C during the profile step
    proc = _start(cfg)
    _wait_for_entries(proc, cache, 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "resume" in err
    assert _no_tools_left(run_dir), "synthesis processes outlived Ctrl-C"
    steps = json.loads((run_dir / "manifest.json").read_text())["steps"]
    assert all(steps[s]["status"] == "ok" for s in ("export", "layers", "sensitivity"))
    assert steps["profile"]["status"] == "interrupted" and steps["profile"]["spent_s"] > 0  # time kept for the total
    after_sigint = cache.stats().entries
    assert 3 <= after_sigint < N_JOBS

    # 2. resume, then SIGKILL (no chance to clean up) once more jobs have finished
    proc = _start(cfg)
    _wait_for_entries(proc, cache, after_sigint + 3)
    proc.kill()
    out, _ = proc.communicate(timeout=60)
    assert "[export] up to date, skipped" in out and "[sensitivity] up to date, skipped" in out
    assert _no_tools_left(run_dir), "synthesis processes outlived SIGKILL"
    after_sigkill = cache.stats().entries
    assert after_sigint + 3 <= after_sigkill < N_JOBS

    # 3. resume to the end: nothing finished is redone
    proc = _start(cfg)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    for step in ("export", "layers", "sensitivity"):
        assert f"[{step}] up to date, skipped" in out
    entry = json.loads((run_dir / "manifest.json").read_text())["steps"]["profile"]
    assert entry["status"] == "ok" and entry["total_s"] > entry["elapsed_s"]  # the Ctrl-C attempt counts
    info = entry["info"]
    assert info["jobs"] == N_JOBS and info["failed"] == 0
    assert info["cached"] == after_sigkill and info["ran"] == N_JOBS - after_sigkill
    rows = read_costs(run_dir / "costs.csv")
    assert len(rows) == N_JOBS and all(r.ok and r.lut > 0 for r in rows)


def _sleepers(tag: str) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == f"sleep {tag}"]


def _cmdline(p: Path) -> str:
    try:
        if (p / "stat").read_text().split(")")[-1].split()[0] == "Z":
            return ""
        return (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _start_tool_run(tmp_path: Path, body: str, tag: str) -> subprocess.Popen:
    """A Python process running ``body`` (which starts `sleep TAG` through the flow's tool runner), once the tool
    is up."""
    script = tmp_path / "run.py"
    script.write_text("import sys\nfrom pathlib import Path\n" + body)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "tool.log"), str(tmp_path)], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 60
    while not _sleepers(tag):
        assert proc.poll() is None and time.monotonic() < deadline, "the tool did not start"
        time.sleep(0.05)
    return proc


def _gone(tag: str, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while _sleepers(tag):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _call(runner: str, tag: str) -> str:
    module, fn = ("ohq_flow.implement._run", "run_streaming") if runner == "implement" else ("ohq_flow.hw.tools", "run_tool")
    return (f"from {module} import {fn} as f\n"
            f"f(['sleep', '{tag}'], log_path=Path(sys.argv[1]), timeout_s=600, cwd=Path(sys.argv[2]))\n")


def test_sigterm_unwinds_like_ctrl_c_and_kills_the_running_tool(tmp_path):
    """`kill PID` (SIGTERM) of a run during place and route: the tool's process group goes with it, exit 130."""
    tag = "317.25"
    body = ("from ohq_flow.cli import _terminate_as_interrupt\n_terminate_as_interrupt()\ntry:\n"
            + "".join("    " + line + "\n" for line in _call("implement", tag).splitlines())
            + "except KeyboardInterrupt:\n    sys.exit(130)\n")
    proc = _start_tool_run(tmp_path, body, tag)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert _gone(tag, 5), "the tool outlived SIGTERM"


@pytest.mark.parametrize("runner,tag", [("implement", "318.5"), ("tools", "319.5")])
def test_sigkill_of_the_flow_takes_the_running_tool_with_it(tmp_path, runner, tag):
    """SIGKILL (no chance to clean up) of a flow running a tool: the tool's guard kills the tool's group."""
    proc = _start_tool_run(tmp_path, _call(runner, tag), tag)
    proc.kill()
    proc.wait(timeout=30)
    assert _gone(tag, 10), "the tool outlived SIGKILL of the flow"
