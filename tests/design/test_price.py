"""The price list (ohq_flow.design.price) against real Yosys runs of a small complete design synthesised per
part (ohq_flow.design.synth), on both calibrated families."""

from __future__ import annotations

import json

import pytest
import torch

from ohq_flow.design import generate_design
from ohq_flow.design.price import block, features, fit_path, glue_price, stage_price, top_price

pytestmark = pytest.mark.skipif(__import__("shutil").which("yosys") is None, reason="yosys not installed")

# documented bounds (docs/design.md, "Resource estimate")
GLUE_BOUND = {"xc7": 0.15, "ecp5": 0.25}    # the glue model against the glue synthesised around black-box kernels
TOTAL_BOUND = 0.10      # kernels (as synthesised alone) + glue model against the whole design


def stage_cost(rec: dict, metric: str = "lut", family: str = "xc7") -> float:
    return glue_price(rec, family)[metric]


class TinyCNN(torch.nn.Module):
    """conv 3x3 stride 2 (1->4, pad 1) -> ReLU (3 bits) -> flatten -> fc 36->4 on a 6x6 input: the glue of a CNN
    (window, kernel control, multiply-shift requantiser, collect) at the smallest size (Yosys time)."""

    def __init__(self):
        super().__init__()
        from brevitas import nn as qnn
        from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
        wq = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=3, bias=False)
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=4, return_quant_tensor=True)
        self.conv = qnn.QuantConv2d(1, 4, 3, stride=2, padding=1, **wq)
        self.relu = qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=3, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(4 * 3 * 3, 4, **wq)

    def forward(self, x):
        return self.fc(torch.flatten(self.relu(self.conv(self.inp(x))), 1))


@pytest.fixture(scope="module")
def tiny_design(tmp_path_factory):
    from ohq_flow.model.export import export_brevitas
    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    model = export_brevitas(TinyCNN().eval(), [1, 1, 6, 6], root / "model.onnx")
    return generate_design(model, root / "design"), root


@pytest.mark.parametrize("family", ["xc7", "ecp5"])
def test_fit_covers_every_block_and_records_how_it_was_made(family):
    data = json.loads(fit_path(family).read_text())
    assert "bench.calibrate_glue" in data["made_by"] and data["yosys"] and data["points"] and data["family"] == family
    assert data["rule_mismatches"] == []        # the folded unit's DSP and block-RAM counts are what the rule says
    for b in ("kernel", "requant_thr", "requant_ms", "window", "window1d", "maxpool", "sumpool", "collect", "fifo", "add",
              "argmax", "mvau", "requant_fused_thr", "requant_fused_ms"):
        f = data["fit"][b]
        pts = [p for p in data["points"] if p["block"] == b]
        assert len(pts) >= 2, b
        assert f["features"] == list(features(pts[0]["record"], family)), b     # the fit's inputs are the price list's
        assert all(c >= 0 for c in f["lut"] + f["ff"]), b
        # the stored error is what the fit gives on its own points (the block less the top around it)
        assert all(p["block_only"]["lut"] <= p["lut"] for p in pts), b
        if b.startswith("requant_fused"):        # its error: of the whole folded unit it was measured in (MVAU + itself)
            whole = lambda p: p["lut"] - data["fit"]["top"]["lut"][0]
            err = max(abs(stage_price(p["record"]["mvau"], family)["lut"] + stage_cost(p["record"], "lut", family)
                          - whole(p)) / max(whole(p), 8) for p in pts)
        else:
            price = (lambda r: stage_price(r, family)["lut"]) if b == "mvau" else (lambda r: stage_cost(r, "lut", family))
            err = max(abs(price(p["record"]) - p["block_only"]["lut"]) / max(p["block_only"]["lut"], 8) for p in pts)
        assert err == pytest.approx(f["lut_max_rel_err"], abs=2e-3), b


@pytest.mark.parametrize("family", ["xc7", "ecp5"])
def test_line_buffer_memory_rule_agrees_with_every_calibrated_window(family):
    """Distributed or block RAM for a window's line buffer: the price list's rule is what Yosys chose on every
    calibrated window (on ECP5, 32 words of 32 bits, the digits CNN's first pooling window, is distributed RAM;
    128 words of 24 bits is block RAM)."""
    from ohq_flow.design.price import lutram_line_buffer
    pts = [p for p in json.loads(fit_path(family).read_text())["points"] if p["block"] in ("window", "window1d")]
    assert len(pts) >= 5 and {p["bram18"] == 0 for p in pts} == {True, False}
    for p in pts:
        r = p["record"]
        assert lutram_line_buffer(r["R"] * r["W"], r["in_width"], family) == (p["bram18"] == 0), (family, r)
        assert (features(r, family)["bram_buffers"] == 0) == (p["bram18"] == 0)


def test_estimate_grows_with_the_block_it_models():
    thr = dict(kind="requant", method="thresholds", in_width=16 * 12, out_width=16 * 4, out_bits=4, nt=15, levels=15)
    assert stage_cost({**thr, "nt": 15}) > stage_cost({**thr, "nt": 3, "out_width": 16 * 2, "out_bits": 2}) > 0
    win = dict(kind="window", C=8, EW=4, H=16, W=16, KH=3, KW=3, R=4, in_width=32, out_width=288)
    assert stage_cost(win) > stage_cost({**win, "W": 8, "H": 8}) > 0           # line buffer in LUT-RAM
    big = {**win, "W": 32, "H": 32}                                               # 128 words of 32 bits: block RAM
    assert stage_cost(big, "bram18") > 0 == stage_cost(win, "bram18") and stage_cost(big) < stage_cost(win)
    assert block({"kind": "requant", "method": "multiply_shift"}) == "requant_ms"
    assert block(win) == "window" and block({**win, "H": 1, "KH": 1}) == "window1d"


@pytest.mark.parametrize("family", ["xc7", "ecp5"])
def test_folded_unit_price_follows_its_rule(family):
    """One rule builds and prices a folded layer: block RAM for deep weight memories (counted from the shape), DSPs
    for wide products (one per lane), LUTs that grow with the lanes."""
    from ohq_flow.design.mvau import MvauShape, bram_blocks
    rec = dict(kind="mvau", inputs=256, outputs=64, PE=4, SIMD=8, a_bits=3, wb=3, acc_width=13)
    small, wide = stage_price(rec, family), stage_price({**rec, "PE": 8, "SIMD": 16}, family)
    assert wide["lut"] > small["lut"] > 0 and small["dsp"] == 0
    u = MvauShape(256, 64, 4, 8, 3, 3, 13)
    assert u.mem == 1 and small["bram18"] == bram_blocks(u.cycles, u.word) > 0       # 512 words of 96 bits
    shallow = stage_price({**rec, "PE": 64, "SIMD": 32}, family)                       # 8 words: a LUT-ROM
    assert shallow["bram18"] == 0
    dsp = stage_price({**rec, "a_bits": 8, "wb": 8, "acc_width": 24}, family)
    assert dsp["dsp"] == 4 * 8                                                          # 8x8 products: a DSP each


@pytest.mark.parametrize("family", ["xc7", "ecp5"])
def test_glue_and_whole_price_within_bounds_of_yosys(tiny_design, tmp_path, family):
    """Yosys on the tiny CNN per part (each kernel alone + the glue around black boxes): the glue's price and
    kernels + glue are within the documented bounds of the synthesised counts."""
    from ohq_flow.design.synth import measure_design_parts
    design, _ = tiny_design
    glue = top_price(family)["lut"] + sum(stage_cost(s, "lut", family) for s in design.meta["stages"])
    parts = measure_design_parts(design, family=family, work_dir=tmp_path / "parts", cache_dir=tmp_path / "cache",
                                 timeout_s=600)
    kinds = {s["kind"] for s in design.meta["stages"]}
    assert {"window", "kernel", "requant", "collect"} <= kinds
    assert len(parts["kernels"]) == 2 and all(k["lut"] > 0 for k in parts["kernels"].values())
    assert parts["whole"]["lut"] == parts["glue"]["lut"] + sum(k["lut"] for k in parts["kernels"].values())
    assert parts["glue"]["lut"] > 0 and parts["from_cache"] == 0
    assert abs(glue - parts["glue"]["lut"]) <= GLUE_BOUND[family] * parts["glue"]["lut"], (glue, parts["glue"])
    total = glue + sum(k["lut"] for k in parts["kernels"].values())
    assert abs(total - parts["whole"]["lut"]) <= TOTAL_BOUND * parts["whole"]["lut"], (total, parts["whole"])
    # a second per-part run measures nothing again (every part from the content cache)
    again = measure_design_parts(design, family=family, work_dir=tmp_path / "parts2", cache_dir=tmp_path / "cache",
                                 timeout_s=600)
    assert again["from_cache"] == 3 and again["whole"] == parts["whole"]


@pytest.mark.parametrize("family", ["xc7", "ecp5"])
def test_pruned_lanes_cost_no_logic_memory_or_dsp(family):
    """A lane whose weights are zero in every fold (a pruned input: UNSW-NB15's first layer has 129 of 600) is a
    constant synthesis removes (ECP5, 256x64 at SIMD 256, 59 such lanes: Yosys 15 -> 11 DP16KD, -23% LUT4): the
    price counts live lanes only."""
    import numpy as np

    from ohq_flow.design.mvau import dead_lanes
    mat = np.arange(256 * 64).reshape(256, 64) % 3 - 1
    mat[::4] = 0                                                    # 64 pruned inputs
    assert dead_lanes(mat, 1, 256) == 64 and dead_lanes(mat, 1, 128) == 32   # SIMD 128: lane s also holds input s+128
    assert dead_lanes(mat, 1, 4) == 1 and dead_lanes(mat, 2, 4) == 2          # lane 0 holds inputs 0, 4, 8, ...
    rec = dict(kind="mvau", inputs=256, outputs=64, PE=1, SIMD=256, a_bits=2, wb=2, acc_width=10, dead=0)
    full, pruned = stage_price(rec, family), stage_price({**rec, "dead": 64}, family)
    assert pruned["lut"] < full["lut"] and pruned["bram18"] < full["bram18"]
    dsp = dict(rec, a_bits=8, wb=8, acc_width=20)
    assert stage_price({**dsp, "dead": 64}, family)["dsp"] == stage_price(dsp, family)["dsp"] - 64 == 192


def test_channels_of_one_code_cost_no_comparators_or_multipliers():
    """A requantiser channel whose code never changes (lo == hi: a dead output of a pruned layer, or one clipped
    whole) is built as a constant (thresholds at the floor, falling; a zero factor): priced without its logic."""
    thr = dict(kind="requant", method="thresholds", in_width=64 * 14, out_width=64 * 2, out_bits=2, nt=3, levels=3)
    assert stage_cost({**thr, "const_channels": 42}) < stage_cost(thr)
    ms = dict(kind="requant", method="multiply_shift", in_width=64 * 14, out_width=64 * 8, out_bits=8, mult=[3, 5] * 32)
    assert stage_cost({**ms, "const_channels": 32}, "dsp") == stage_cost(ms, "dsp") / 2 > 0
