"""Folded layers in the complete design: the FINN-style MVAU (templates/rtl/ohq_mvau.v) chosen per layer by
its fold, simulated whole (Icarus Verilog) against the QONNX executor; its cycles against the prediction."""

from __future__ import annotations

import numpy as np
import pytest

from ohq_flow.design import generate_design
from ohq_flow.design.timing import predict_timing
from ohq_flow.design.sim import simulate_network
from ohq_flow.errors import InputError
from ohq_flow.model.layers import discover_layers
from ohq_flow.model.quantizers import apply_bits


@pytest.fixture(scope="module")
def mlp_final(root):
    """The suite's digits MLP (64-32-10, untrained, seed 0; exported once by ``export_brevitas`` of
    ``examples.suite.models.digits_mlp()`` after ``torch.manual_seed(0)``) at mixed bits."""
    from qonnx.core.modelwrapper import ModelWrapper
    model = ModelWrapper(str(root / "tests" / "fixtures" / "models" / "digits_mlp_seed0.onnx"))
    layers = discover_layers(model)
    final, _ = apply_bits(model, layers, {layers[0].name: (4, 6), layers[1].name: (3, 4)})
    return final, layers


def test_folded_mlp_bit_exact_latency_and_ii_as_predicted(mlp_final, root, tmp_path):
    final, layers = mlp_final
    l0, l1 = layers[0].node, layers[1].node
    design = generate_design(final, tmp_path / "design", folds={l0: "pe4_simd8", l1: "pe2_simd4"})
    st = {s["node"]: s for s in design.meta["stages"] if s["kind"] in ("kernel", "mvau")}
    assert st[l0]["kind"] == st[l1]["kind"] == "mvau"
    # FINN's fold: (MH/PE) x (MW/SIMD) cycles per vector: 64x32 at 4x8 -> 64, 32x10 at 2x4 -> 40
    assert (st[l0]["cycles"], st[l1]["cycles"]) == ((32 // 4) * (64 // 8), (10 // 2) * (32 // 4))
    assert design.meta["folds"] == {l0: "pe4_simd8", l1: "pe2_simd4"}
    assert design.meta["predicted_ii_cycles"] == 64
    x = np.load(root / "examples" / "digits" / "digits_test.npz")["x"][:32].astype(np.float32)
    # Icarus here (builds in ~1 s; the Verilator path is the bench's and tests/design/test_network.py's)
    rec = simulate_network(final, design, x, tmp_path / "sim", simulator="iverilog")   # back to back + gaps/back-pressure
    assert rec["mismatches"] == 0 and rec["runs"] == ["back_to_back", "gaps_and_backpressure"]
    assert rec["ii_cycles"] == rec["predicted_ii_cycles"] == 64 and rec["ii_range"] == [64, 64]
    assert rec["latency_cycles"] == rec["predicted_latency_cycles"]
    # the cycles a fold costs are visible in the latency: both folded layers' cycles plus the pipeline
    assert rec["latency_cycles"] >= 64 + 40


def test_fold_not_dividing_the_layer_names_layer_and_allowed_values(mlp_final, tmp_path):
    final, layers = mlp_final
    with pytest.raises(InputError) as e:
        generate_design(final, tmp_path / "d1", folds={layers[0].node: "pe3_simd8"})
    msg = str(e.value)
    assert layers[0].node in msg and "PE must divide MH=32: one of [1, 2, 4, 8, 16, 32]" in msg
    with pytest.raises(InputError) as e:
        generate_design(final, tmp_path / "d2", folds={layers[1].node: "pe2_simd5"})
    assert "SIMD must divide MW=32" in str(e.value) and layers[1].node in str(e.value)
    with pytest.raises(InputError, match="not compute layers"):
        generate_design(final, tmp_path / "d3", folds={"NoSuchNode": "pe1_simd1"})


def test_fold_timing_model_throttles_beats():
    """A folded stage takes a beat every C cycles: 4 beats at C = 3 after a 1-cycle stage."""
    stages = [dict(kind="requant", src=[0], dst=[1], params={}),
              dict(kind="mvau", cycles=3, src=[1], dst=[2], params={})]
    lat, ii = predict_timing(stages, 4, 2)
    # takes at 1, 4, 7, 10; gives at take + 3 + 1 (its one requant step) + 1
    assert (lat, ii) == (10 + 5, 12)


def test_wide_products_in_dsps_and_weights_in_lut_rom_stay_bit_exact(mlp_final, root, tmp_path):
    """w8a8 products (the DSP style: ``*``) and shallow weight memories (LUT-ROM) of the folded unit, bit-exact."""
    from qonnx.core.modelwrapper import ModelWrapper
    model = ModelWrapper(str(root / "tests" / "fixtures" / "models" / "digits_mlp_seed0.onnx"))
    layers = discover_layers(model)
    final, _ = apply_bits(model, layers, {layers[0].name: (8, 8), layers[1].name: (3, 6)})
    l0, l1 = layers[0].node, layers[1].node
    design = generate_design(final, tmp_path / "design", folds={l0: "pe8_simd16", l1: "pe2_simd4"})
    st = {s["node"]: s for s in design.meta["stages"] if s["kind"] == "mvau"}
    assert (st[l0]["mul"], st[l0]["mem"]) == (1, 0) and (st[l1]["mul"], st[l1]["mem"]) == (0, 0)
    x = np.load(root / "examples" / "digits" / "digits_test.npz")["x"][:32].astype(np.float32)
    rec = simulate_network(final, design, x, tmp_path / "sim", simulator="iverilog")
    assert rec["mismatches"] == 0 and rec["latency_cycles"] == rec["predicted_latency_cycles"]
    assert rec["ii_cycles"] == rec["predicted_ii_cycles"]


@pytest.mark.parametrize("fold,lanes,steps", [("pe8_simd32", 4, 2), ("pe16_simd64", 16, 1), ("pe4_simd8", 1, 4)])
def test_requantiser_fused_into_the_folded_unit_bit_exact(mlp_final, root, tmp_path, fold, lanes, steps):
    """The requantiser after a folded layer runs inside it (FINN's MVAU with thresholds): P lanes requantise a
    neuron fold's PE sums in PE/P cycles (P the fewest with PE/P <= MW/SIMD), so the unit emits 4-bit codes, not
    its accumulators; bit-exact under back-pressure, one cycle per step in the latency."""
    final, layers = mlp_final
    l0 = layers[0].node
    design = generate_design(final, tmp_path / "design", folds={l0: fold})
    recs = design.meta["stages"]
    unit = next(s for s in recs if s["node"] == l0)
    rq = recs[unit["index"] + 1]
    assert (unit["fused"], unit["lanes"], unit["drain"]) == (1, lanes, steps)
    assert rq["kind"] == "requant" and rq["fused"] == 1 and rq["lanes"] == lanes and rq["out_bits"] == 4
    assert unit["out_width"] == rq["out_width"] == 32 * 4                # codes leave the unit, not 32 x acc_width
    x = np.load(root / "examples" / "digits" / "digits_test.npz")["x"][:24].astype(np.float32)
    rec = simulate_network(final, design, x, tmp_path / "sim", simulator="iverilog")
    assert rec["mismatches"] == 0 and rec["runs"] == ["back_to_back", "gaps_and_backpressure"]
    assert rec["latency_cycles"] == rec["predicted_latency_cycles"] and rec["ii_cycles"] == rec["predicted_ii_cycles"]


def test_pruned_lanes_left_out_of_the_adder_trees_bit_exact(mlp_final, root, tmp_path):
    """Lanes whose weights are zero in every fold (pruned inputs; one PE's lane alone) are left out of that PE's
    adder tree (ohq_mvau DEAD/NLV/LIX), priced as absent, and the unit stays bit-exact."""
    from qonnx.core.modelwrapper import ModelWrapper
    from ohq_flow.design.price import stage_price
    final, layers = mlp_final
    model = ModelWrapper(final.model.__deepcopy__())
    wq = model.get_node_from_name(layers[0].weight_quant.node)
    w = model.get_initializer(wq.input[0]).copy()          # [MW=64, MH=32]
    w[[3, 19, 35, 51], :] = 0                              # input lane 3 of SIMD 16: dead in every PE
    for r in (5, 21, 37, 53):                              # lane 5 of PE 2 only (neurons 2, 10, 18, 26 at PE 8)
        w[r, [2, 10, 18, 26]] = 0
    model.set_initializer(wq.input[0], w)
    l0 = layers[0].node
    design = generate_design(model, tmp_path / "design", folds={l0: "pe8_simd16"})
    unit = next(s for s in design.meta["stages"] if s["node"] == l0)
    assert unit["dead"] == 8 + 1
    assert ".DEAD(1)" in design.sources[0].read_text()
    assert stage_price(unit, "ecp5")["lut"] < stage_price({**unit, "dead": 0}, "ecp5")["lut"]
    x = np.load(root / "examples" / "digits" / "digits_test.npz")["x"][:16].astype(np.float32)
    rec = simulate_network(model, design, x, tmp_path / "sim", simulator="iverilog")
    assert rec["mismatches"] == 0 and rec["latency_cycles"] == rec["predicted_latency_cycles"]
