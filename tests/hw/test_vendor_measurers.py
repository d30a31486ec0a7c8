"""Vendor measurers: report -> CostRow on real tool reports; orchestration with stand-in tools.

The stand-in ``vitis_hls``/``vivado`` scripts below only copy a real fixture report to where the
real tool would write it. They test orchestration (argument passing, parameter files, error
handling, report discovery) only and never produce reported numbers.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from ohq_flow.errors import FlowError, InputError
from ohq_flow.hw.measurers.xilinx import measure_vitis_hls, measure_vivado_ooc, record_to_row, tool_argv
from ohq_flow.hw.measurers.xilinx._common import tcl_value

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
HLS_CASE = FIX / "vitis_hls-2021.1-hls4ml-arrhythmia-mlp-z7007s"
VIVADO_CASE = FIX / "vivado-2024.2-spi-controller-artix7-placed-routed"


def _parse(path):
    from ohq_flow.hw.reports import parse_report
    return parse_report(path)[0]


def test_hls_report_to_row():
    rec = _parse(HLS_CASE / "myproject_csynth.xml")
    row = record_to_row(rec, layer="fc", w_bits=8, a_bits=8, source="vitis_hls", fidelity="hls_estimate")
    assert (row.latency_cycles, row.ii_cycles) == (40.0, 1.0)
    assert (row.lut, row.ff, row.dsp, row.bram18, row.uram) == (31704.0, 34282.0, 177.0, 16.0, 0.0)
    assert row.clock_ns == 3.33 and row.latency_ns == pytest.approx(40 * 3.33)  # est 3.236 < target
    assert (row.tool, row.tool_version, row.part) == ("vitis_hls", "2021.1", "xc7z007s-clg225-2")
    assert row.fidelity == "hls_estimate" and row.ok


def test_hls_undefined_latency_stays_missing():
    case = FIX / "vivado_hls-2018.2-mnist-undef-latency-vu13p"
    row = record_to_row(_parse(case / "c_mnist_csynth.xml"), layer="x", w_bits=8, a_bits=8, source="vivado_hls",
                        fidelity="hls_estimate")
    assert row.latency_cycles is None and row.ii_cycles is None and row.latency_ns is None
    assert row.lut == 21133.0 and row.bram18 == 3391.0


def test_vivado_reports_to_row():
    util = _parse(VIVADO_CASE / "base_utilization_placed.rpt")
    timing = _parse(VIVADO_CASE / "base_timing_summary_routed.rpt")
    row = record_to_row(util, layer="spi", w_bits=1, a_bits=1, source="vivado", fidelity="post_synth",
                        clock_ns=10.0, wns_ns=timing.wns_ns)
    assert (row.lut, row.ff, row.dsp, row.bram18) == (331.0, 216.0, 0.0, 0.0)
    assert row.uram is None  # 7-series: no URAM row -> missing, not 0
    assert row.clock_ns == pytest.approx(15.243)  # failing timing: achieved period = target - WNS
    assert "wns_ns=-5.243" in row.error


# ------------------------------------------------------------------------------ stand-in tools
def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


FAKE_HLS = """
import re, shutil, sys
from pathlib import Path
params = Path("ohq_csynth_params.tcl").read_text()
get = lambda k: re.search(r"set ohq_%s \\{(.*)\\}" % k, params).group(1)
assert sys.argv[1] == "-f" and sys.argv[2].endswith("csynth.tcl"), sys.argv
print("fake vitis_hls", sys.argv, "top", get("top"), "part", get("part"), "clock", get("clock_ns"))
if "{fail}" == "1":
    sys.exit(3)
if "{write}" == "1":
    out = Path(get("project")) / get("solution") / "syn" / "report" / (get("top") + "_csynth.xml")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy("{src}", out)
"""

FAKE_VIVADO = """
import re, shutil, sys
from pathlib import Path
params = Path("ohq_ooc_params.tcl").read_text()
get = lambda k: re.search(r"set ohq_%s \\{(.*)\\}" % k, params).group(1)
assert "-source" in sys.argv and sys.argv[sys.argv.index("-source") + 1].endswith("ooc_synth.tcl")
print("fake vivado top", get("top"), "part", get("part"), "clock", get("clock_ns"))
shutil.copy("{util}", get("util_rpt"))
shutil.copy("{timing}", get("timing_rpt"))
"""


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ.get('PATH', '')}")
    for var in ("XILINX_HLS", "XILINX_VITIS", "XILINX_VIVADO"):
        monkeypatch.delenv(var, raising=False)
    return d


def _hls_project(tmp_path) -> Path:
    prj = tmp_path / "prj"
    (prj / "firmware").mkdir(parents=True)
    (prj / "firmware" / "myproject.cpp").write_text("// stand-in source\n")
    return prj


def test_vitis_hls_orchestration(tmp_path, fake_bin):
    src = HLS_CASE / "myproject_csynth.xml"
    _script(fake_bin / "vitis_hls", FAKE_HLS.replace("{fail}", "0").replace("{write}", "1").replace("{src}", str(src)))
    prj = _hls_project(tmp_path)
    row = measure_vitis_hls(prj, tool="vitis_hls", log_path=tmp_path / "hls.log", timeout_s=60, layer="fc0",
                            w_bits=4, a_bits=6, top="myproject", part="xc7z020clg400-1", clock_ns=5.0)
    assert (row.layer, row.w_bits, row.a_bits, row.source, row.fidelity) == ("fc0", 4, 6, "vitis_hls", "hls_estimate")
    assert row.lut == 31704.0 and row.log_path == str(tmp_path / "hls.log")
    log = (tmp_path / "hls.log").read_text()
    assert "top myproject part xc7z020clg400-1 clock 5" in log
    params = (prj / "ohq_csynth_params.tcl").read_text()
    assert "set ohq_sources [list {firmware/myproject.cpp}]" in params


def test_vitis_hls_failures_name_the_log(tmp_path, fake_bin):
    prj = _hls_project(tmp_path)
    kw = dict(tool="vitis_hls", timeout_s=60, top="myproject", part="xc7z020clg400-1", clock_ns=5.0)
    _script(fake_bin / "vitis_hls", FAKE_HLS.replace("{fail}", "1").replace("{write}", "0").replace("{src}", ""))
    with pytest.raises(FlowError, match="exited with code 3.*hls1.log"):
        measure_vitis_hls(prj, log_path=tmp_path / "hls1.log", **kw)
    _script(fake_bin / "vitis_hls", FAKE_HLS.replace("{fail}", "0").replace("{write}", "0").replace("{src}", ""))
    with pytest.raises(FlowError, match="wrote no .*hls2.log"):
        measure_vitis_hls(prj, log_path=tmp_path / "hls2.log", **kw)
    with pytest.raises(InputError, match="top"):
        measure_vitis_hls(prj, tool="vitis_hls", log_path=tmp_path / "x.log", timeout_s=5)


def test_vivado_ooc_orchestration(tmp_path, fake_bin):
    _script(fake_bin / "vivado", FAKE_VIVADO.replace("{util}", str(VIVADO_CASE / "base_utilization_synth.rpt"))
            .replace("{timing}", str(VIVADO_CASE / "base_timing_summary_routed.rpt")))
    v = tmp_path / "layer.v"
    v.write_text("module layer(input clk); endmodule\n")
    row = measure_vivado_ooc([v], "layer", "xc7a35tcpg236-1", 10.0, tmp_path / "viv.log", 60, layer="conv0",
                             w_bits=3, a_bits=4, latency_cycles=4.0, ii_cycles=1.0)
    assert (row.layer, row.source, row.fidelity, row.lut, row.ff) == ("conv0", "vivado", "post_synth", 283.0, 215.0)
    assert row.latency_cycles == 4.0 and row.latency_ns == pytest.approx(4 * 15.243)
    with pytest.raises(InputError, match="not found"):
        measure_vivado_ooc([tmp_path / "missing.v"], "layer", "xc7a35tcpg236-1", 10.0, tmp_path / "v2.log", 60)


def test_tool_lookup(tmp_path, fake_bin, monkeypatch):
    with pytest.raises(InputError) as exc:
        tool_argv("vivado")
    assert "XILINX_VIVADO" in str(exc.value) and "mount" in str(exc.value)
    inst = tmp_path / "Vivado" / "2024.2"
    _script((inst / "bin").mkdir(parents=True) or inst / "bin" / "vivado", "print('x')\n")
    monkeypatch.setenv("XILINX_VIVADO", str(inst))
    assert tool_argv("vivado") == [str(inst / "bin" / "vivado")]
    settings = tmp_path / "settings64.sh"
    settings.write_text(f'export PATH="{inst / "bin"}:$PATH"\n')
    argv = tool_argv("vivado", settings)
    assert argv[0] == "bash" and argv[-2:] == [str(settings), "vivado"]
    with pytest.raises(InputError, match="does not exist"):
        tool_argv("vitis_hls", tmp_path / "nope.sh")


def test_settings_file_runs_tool(tmp_path, fake_bin):
    import subprocess
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    _script(hidden / "vitis_hls", "import sys; print('ran', sys.argv[1:])\n")
    settings = tmp_path / "settings64.sh"
    settings.write_text(f'export PATH="{hidden}:$PATH"\n')
    out = subprocess.run(tool_argv("vitis_hls", settings) + ["-f", "a b; echo injected"], capture_output=True, text=True)
    assert out.stdout.strip() == "ran ['-f', 'a b; echo injected']"


def test_tcl_values_are_quoted():
    assert tcl_value("xc7z020clg400-1") == "{xc7z020clg400-1}"
    assert tcl_value(["a b.v", "c.v"]) == "[list {a b.v} {c.v}]"
    for bad in ("a}b", "x[exec rm]", "$env", "a\nb", "a\\b"):
        with pytest.raises(InputError):
            tcl_value(bad)


# ------------------------------------------------------------------------------ real tools
@pytest.mark.vitis_hls
@pytest.mark.slow
def test_real_hls_csynth_of_a_digits_layer(digits_model, tmp_path):
    import shutil
    from ohq_flow.hw.extract import extract_layer
    from ohq_flow.hw.generators.hls4ml_gen import write_hls4ml_project
    from ohq_flow.model.layers import discover_layers
    model, _ = digits_model
    layer = discover_layers(model)[3]
    tool = "vitis_hls" if shutil.which("vitis_hls") else "vivado_hls"
    prj = write_hls4ml_project(extract_layer(model, layer, 4, 8, input_path=False), tmp_path / "prj",
                               part="xc7z020clg400-1", clock_ns=10.0, backend="Vitis" if tool == "vitis_hls" else "Vivado")
    row = measure_vitis_hls(prj, tool=tool, log_path=tmp_path / "hls.log", timeout_s=3600, layer=layer.name,
                            w_bits=4, a_bits=8)
    assert row.ok and row.lut and row.lut > 0 and row.latency_cycles is not None


@pytest.mark.vivado
@pytest.mark.slow
def test_real_vivado_ooc(tmp_path):
    v = tmp_path / "adder.v"
    v.write_text("module adder(input clk, input [7:0] a, b, output reg [8:0] y);\n"
                 "always @(posedge clk) y <= a + b;\nendmodule\n")
    row = measure_vivado_ooc([v], "adder", "xc7z020clg400-1", 5.0, tmp_path / "viv.log", 3600)
    assert row.ok and row.lut is not None and row.ff is not None and row.ff >= 9
