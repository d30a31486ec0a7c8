"""The Xilinx path: Vivado Tcl + XDC from the board file; orchestration tested with a stand-in
``vivado`` (it copies real Vivado reports; its numbers are never reported as results)."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from ohq_flow.errors import InputError
from ohq_flow.hw.reports import parse_report

from .conftest import make_run, run_implement

VIVADO_CASE = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "vivado-2024.2-spi-controller-artix7-placed-routed"

STANDIN = """
import re, shutil, sys
from pathlib import Path
params = Path("ohq_impl_params.tcl").read_text()
get = lambda k: re.search(r"set ohq_%s \\{(.*)\\}" % k, params).group(1)
assert sys.argv[sys.argv.index("-source") + 1] == "impl.tcl" and Path("impl.tcl").is_file()
print("stand-in vivado: top", get("top"), "part", get("part"))
shutil.copy("{util}", get("util_rpt"))
shutil.copy("{timing}", get("timing_rpt"))
Path(get("bitstream")).write_bytes(b"stand-in bitstream")
"""


@pytest.fixture
def no_vivado(tmp_path, monkeypatch):
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}/usr/bin:/bin")
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    return d


def test_scripts_written_where_vivado_is_missing(tmp_path, no_vivado):
    cfg = make_run(tmp_path, board="arty-a7-100t")
    outcome, ctx = run_implement(cfg)
    impl = json.loads((ctx.run_dir / "final/impl/impl.json").read_text())
    assert outcome == {"implement": "ran"} and impl["status"] == "scripted" and impl["bitstream"] is None
    assert "fmax_mhz" not in impl                                 # no number without a Vivado run
    work = ctx.run_dir / "final/impl/vivado"
    xdc = (work / "board.xdc").read_text()
    assert "PACKAGE_PIN E3" in xdc and "PACKAGE_PIN D10" in xdc and "-period 10.000" in xdc
    params = (work / "ohq_impl_params.tcl").read_text()
    assert "set ohq_top {ohq_board_top}" in params and "set ohq_part {xc7a100tcsg324-1}" in params
    assert "ohq_uart_shell.v" in params and "rtl/ohq_top.v" in params
    assert "{IN_W} {8} {IN_BEATS} {4}" in params and "{CLKS_PER_BIT} {868}" in params    # 100 MHz / 115200 baud
    assert (work / "impl.tcl").read_text().count("write_bitstream") == 1
    assert "proc ohq_read_sources" in (work / "read_sources.tcl").read_text()     # sourced from beside impl.tcl


def test_board_without_pins_is_recorded_or_with_another_clock_is_bad_input(tmp_path, no_vivado):
    cfg = make_run(tmp_path / "a", board="pynq-z1")
    run_implement(cfg)
    rec = json.loads((tmp_path / "a" / "run" / "final" / "impl" / "impl.json").read_text())
    assert rec["status"] == "no_pins" and "no 'pins:' section" in rec["message"] and rec["bitstream"] is None
    cfg = make_run(tmp_path / "b", board="arty-a7-100t", implement={"target_mhz": 150})
    with pytest.raises(InputError, match="board oscillator"):
        run_implement(cfg)


@pytest.mark.skipif(not VIVADO_CASE.is_dir(), reason=f"{VIVADO_CASE} not mounted")
def test_vivado_orchestration_with_a_standin(tmp_path, no_vivado):
    exe = no_vivado / "vivado"
    exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent(STANDIN)
                   .replace("{util}", str(VIVADO_CASE / "base_utilization_placed.rpt"))
                   .replace("{timing}", str(VIVADO_CASE / "base_timing_summary_routed.rpt")))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    cfg = make_run(tmp_path, board="arty-a7-100t", implement={"allow_timing_failure": True})
    outcome, ctx = run_implement(cfg)
    impl = json.loads((ctx.run_dir / "final/impl/impl.json").read_text())
    work = ctx.run_dir / "final/impl/vivado"
    util = parse_report(work / "ohq_utilization_routed.rpt")[0]
    timing = [r for r in parse_report(work / "ohq_timing_summary_routed.rpt") if r.level == "top"][0]
    # impl.json carries what the parsers read from the reports the tool wrote, and the bitstream it wrote
    assert impl["tool"] == "vivado" and (impl["lut"], impl["ff"]) == (util.lut, util.ff)
    assert impl["wns_ns"] == timing.wns_ns and impl["timing_met"] == (timing.wns_ns >= 0)
    assert impl["bitstream"] == "final/impl/vivado/ohq_top.bit" and impl["bitstream_bytes"] == len(b"stand-in bitstream")
    assert "stand-in vivado: top ohq_board_top part xc7a100tcsg324-1" in (work / "vivado.log").read_text()
