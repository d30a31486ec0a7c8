"""Every tool run is bounded in resident memory: past the limit the tool's process group is killed and the run
fails with a FlowError naming the tool, the limit and the log."""

from __future__ import annotations

import sys

import pytest

from ohq_flow.errors import FlowError
from ohq_flow.hw import memlimit
from ohq_flow.hw.tools import run_tool
from ohq_flow.implement._run import run_streaming

# a grandchild (python under sh) that touches 400 MB and then sleeps: the group's RSS, not the direct child's
HOG = [ "sh", "-c", f"{sys.executable} -c 'import time; b = bytearray(400 * 2**20); time.sleep(30)'; echo survived"]


@pytest.fixture
def limit():
    def set_(gb):
        memlimit.set_limit_gb(gb)
    yield set_
    memlimit.set_limit_gb(None)


def test_run_tool_kills_a_tool_past_the_limit(tmp_path, limit):
    limit(0.1)
    with pytest.raises(FlowError) as exc:
        run_tool(HOG, log_path=tmp_path / "hog.log", timeout_s=60)
    msg = str(exc.value)
    assert "sh exceeded the memory limit of 0.1 GB" in msg and str(tmp_path / "hog.log") in msg
    assert "hardware.max_memory_gb" in exc.value.hint
    log = (tmp_path / "hog.log").read_text()
    assert "exceeded the memory limit" in log and "survived" not in log.splitlines()   # the whole group died, at once
    assert memlimit.group_rss_bytes(999_999_999) == 0


def test_run_tool_under_the_limit_runs_as_before(tmp_path, limit):
    limit(2.0)
    res = run_tool(["sh", "-c", "echo fine"], log_path=tmp_path / "ok.log", timeout_s=60)
    assert res.returncode == 0 and res.stdout.strip() == "fine"


def test_streamed_tool_past_the_limit(tmp_path, limit):
    limit(0.1)
    with pytest.raises(FlowError, match="exceeded the memory limit of 0.1 GB"):
        run_streaming(HOG, log_path=tmp_path / "s.log", timeout_s=60, cwd=tmp_path)


def test_limit_sources(monkeypatch, limit):
    monkeypatch.delenv(memlimit.ENV, raising=False)
    assert memlimit.limit_gb() == pytest.approx(0.5 * memlimit.machine_memory_bytes() / 2**30)
    monkeypatch.setenv(memlimit.ENV, "3.5")                   # how a job process inherits the run's limit
    assert memlimit.limit_gb() == 3.5
    limit(1.25)                                               # hardware.max_memory_gb wins
    assert memlimit.limit_gb() == 1.25 and memlimit.child_env() == {memlimit.ENV: "1.25"}


def test_config_field_is_validated(tmp_path):
    from ohq_flow.config import HardwareSection
    assert HardwareSection(max_memory_gb=4).max_memory_gb == 4
    with pytest.raises(ValueError, match="max_memory_gb"):
        HardwareSection(max_memory_gb=0)
