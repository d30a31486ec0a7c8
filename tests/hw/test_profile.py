"""OQA profile on the digits example: real Yosys syntheses, cached (a second run synthesises nothing)."""

from __future__ import annotations

import shutil

import pytest

from ohq_flow.config import MeasurerRule, SearchSection
from ohq_flow.hw.costs import CostRow, read_costs
from ohq_flow.hw.profile import choose_measurer, monotonic_violations, run_profile, streaming
from ohq_flow.model.layers import discover_layers
from ohq_flow.search_space import search_space


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (make test installs it)")
def test_profile_digits_then_fully_cached(digits_model, digits_cfg, tmp_path):
    model, _ = digits_model
    layers = discover_layers(model)
    cfg = digits_cfg.model_copy(deep=True)
    cfg.hardware.cache_dir = tmp_path / "cache"
    cfg.hardware.rules = [MeasurerRule(measurer="yosys", max_weights=100), MeasurerRule(measurer="da4ml_estimate")]
    space = search_space(layers, SearchSection(weight_bits=[2, 6], act_bits=[8]))
    rows, summary = run_profile(model, layers, space, cfg, tmp_path / "run", progress=False)
    assert summary.ran == 8 and summary.ok == 8
    table = read_costs(tmp_path / "run" / "costs.csv")
    assert {(r.layer, r.w_bits) for r in table} == {(l.name, w) for l in layers for w in (2, 6)}
    by = {(r.layer, r.w_bits): r for r in table}
    assert by[("Conv_0", 2)].source == "yosys" and by[("MatMul_0", 2)].source == "da4ml_estimate"
    for l in layers:
        assert by[(l.name, 6)].lut > by[(l.name, 2)].lut > 0
    # conv: one kernel per output pixel, streamed -> II = pixels
    assert by[("Conv_0", 2)].ii_cycles == 64 and by[("Conv_1", 2)].ii_cycles == 16
    rows2, summary2 = run_profile(model, layers, space, cfg, tmp_path / "run2", progress=False)
    assert summary2.ran == 0 and summary2.cached == 8
    assert [r.lut for r in rows2] == [r.lut for r in rows]


def test_rules_pick_measurers(digits_model):
    layers = discover_layers(digits_model[0])
    rules = [MeasurerRule(measurer="analytic", layers=["MatMul_*"]), MeasurerRule(measurer="yosys", max_weights=100),
             MeasurerRule(measurer="da4ml_estimate")]
    assert [choose_measurer(l, rules) for l in layers] == ["yosys", "da4ml_estimate", "analytic", "analytic"]
    with pytest.raises(Exception, match="catch-all"):
        choose_measurer(layers[1], [MeasurerRule(measurer="yosys", max_weights=10)])


def test_streaming_and_monotonic_checks():
    r = streaming(CostRow("c", 4, 8, latency_cycles=3, ii_cycles=1, clock_ns=10), 16)
    assert (r.latency_cycles, r.ii_cycles, r.latency_ns) == (18, 16, 180)
    rows = [CostRow("a", 2, 8, lut=100), CostRow("a", 4, 8, lut=300), CostRow("a", 8, 8, lut=200)]
    flags = monotonic_violations(rows)
    assert len(flags) == 1 and "w8a8=200 < w4a8=300" in flags[0]


def test_profile_routes_layers_to_hls_and_analytic_measurers(digits_model, digits_cfg, tmp_path, monkeypatch):
    """Orchestration only: a stand-in `vitis_hls` copies a real csynth report (its numbers are never reported).

    The real parts run: extraction of the layer, the hls4ml project, the Tcl params, the report parser.
    """
    from tests.hw.test_vendor_measurers import FAKE_HLS, HLS_CASE, _script
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "vitis_hls", FAKE_HLS.replace("{fail}", "0").replace("{write}", "1")
            .replace("{src}", str(HLS_CASE / "myproject_csynth.xml")))
    import os
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    model, _ = digits_model
    layers = discover_layers(model)
    cfg = digits_cfg.model_copy(deep=True)
    cfg.hardware.cache_dir = tmp_path / "cache"
    cfg.hardware.rules = [MeasurerRule(measurer="vitis_hls", layers=["MatMul_1"]), MeasurerRule(measurer="analytic")]
    space = search_space(layers, SearchSection(weight_bits=[4], act_bits=[8]))
    rows, summary = run_profile(model, layers, space, cfg, tmp_path / "run", progress=False)
    assert summary.ok == 4, [r.error for r in rows]
    by = {r.layer: r for r in rows}
    assert by["MatMul_1"].source == "vitis_hls" and by["MatMul_1"].fidelity == "hls_estimate"
    assert by["MatMul_1"].lut == 31704.0  # the fixture's number: proves the report path, not a measurement
    assert {by[n].source for n in ("Conv_0", "Conv_1", "MatMul_0")} == {"analytic"}
    assert all(by[n].fidelity == "estimate" and by[n].lut > 0 for n in ("Conv_0", "Conv_1", "MatMul_0"))
    assert (tmp_path / "run" / "oqa" / "MatMul_1" / "w4a8_vitis_hls" / "hls4ml").is_dir()


def test_profiled_kernels_are_the_kernels_the_design_builds(digits_model, digits_cfg, tmp_path):
    """The digits CNN flattens a feature map into MatMul_0: the design streams it channels-last and permutes the
    kernel's rows. The cost jobs get the kernel in that order (da4ml's adder graph, its cost and latency depend on
    it), and their cache key says so."""
    import numpy as np

    from ohq_flow.design.rtl import plan_ir
    from ohq_flow.hw.extract import kernel_operand
    from ohq_flow.hw.profile import LayerHW, plan_jobs
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.model.quantizers import apply_bits
    model, _ = digits_model
    layers = discover_layers(model)
    jobs = plan_jobs(model, layers, {l.name: [(4, 4)] for l in layers}, digits_cfg, tmp_path / "oqa")
    final, _ = apply_bits(model, layers, {l.name: (4, 4) for l in layers})
    built = {s.node: np.asarray(s.info["matrix"]) for s in plan_ir(final).stages if s.kind == "kernel"}
    permuted = 0
    for job, layer in zip(jobs, layers):
        w_int = LayerHW.from_json(job.payload()).w_int
        assert np.array_equal(w_int, built[layer.node]), layer.name
        permuted += not np.array_equal(w_int, kernel_operand(model, layer, 4))
    assert permuted == 1                       # MatMul_0, after the flatten
    off = digits_cfg.model_copy(update={"build": digits_cfg.build.model_copy(update={"design": False})})
    keys = {j.layer: j.key for j in plan_jobs(model, layers, {l.name: [(4, 4)] for l in layers}, off, tmp_path / "o2")}
    assert [l.name for l, j in zip(layers, jobs) if keys[l.name] != j.key] == ["MatMul_0"]
