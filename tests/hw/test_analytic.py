"""Analytic MVAU/SWG model against FINN's own per-layer estimates (real FINN build reports)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from ohq_flow.hw.costs import CostRow
from ohq_flow.design.finn_estimate import MVAU, SWG, estimate_layer, min_accumulator_bits, mvau_estimate, swg_estimate
from ohq_flow.design.mvau import bram_blocks
from ohq_flow.hw.measurers.analytic import apply_calibration, calibrate

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
CYBER = FIX / "finn-v0.7-cybersecurity-mlp-estimates"
CNN = FIX / "finn-vivado2024.2-cnn-estimates-ooc-rtlsim" / "output_estimates_only"


def _finn_layers(case: Path):
    """(name, MVAU params, FINN cycles, FINN resources) of every MVAU layer, MH/MW from op/param counts.

    MH = number of threshold rows (param_threshold_*), MW = weights / MH, pixels = MACs / weights;
    bits from the op name ``op_mac_<A>bx<W>b``; folding from auto_folding_config.json.
    """
    fold = json.loads((case / "auto_folding_config.json").read_text())
    cycles = json.loads((case / "report" / "estimate_layer_cycles.json").read_text())
    res = json.loads((case / "report" / "estimate_layer_resources.json").read_text())
    counts = json.loads((case / "report" / "op_and_param_counts.json").read_text())
    out = []
    for name, c in counts.items():
        if name == "total" or not c or not any(k.startswith("param_threshold") for k in c):
            continue
        mac_key = next(k for k in c if k.startswith("op_mac_"))
        a_bits, w_bits = map(int, re.findall(r"(\d+)b", mac_key))
        weights = c[next(k for k in c if k.startswith("param_weight"))]
        thr_key = next(k for k in c if k.startswith("param_threshold"))
        mh = c[thr_key]
        acc = int(re.findall(r"(\d+)b", thr_key)[0])
        out.append((name, dict(mh=mh, mw=weights // mh, pe=fold[name]["PE"], simd=fold[name]["SIMD"], w_bits=w_bits,
                               a_bits=a_bits, pixels=c[mac_key] // weights), acc, cycles[name], res[name]))
    return out


@pytest.mark.parametrize("case", [CYBER, CNN], ids=["finn-0.7-mlp", "finn-2024-cnn"])
def test_cycles_and_bram_equal_finn(case):
    layers = _finn_layers(case)
    assert len(layers) >= 4
    for name, params, _, finn_cycles, finn_res in layers:
        est = mvau_estimate(MVAU(**params))
        assert est["cycles"] == finn_cycles, name
        assert est["bram18"] == finn_res["BRAM_18K"], name
        assert est["dsp"] == finn_res["DSP"], name


def test_lut_error_finn_07_mlp():
    """FINN 0.x counted threshold storage/comparators in LUTs and sized the accumulator by data types."""
    errs = []
    for name, params, _, _, finn_res in _finn_layers(CYBER):
        out_bits = 1 if params["mh"] == 1 else 2  # last layer: one threshold (binary output); others 2-bit
        est = mvau_estimate(MVAU(**params, a_signed=params["a_bits"] > 1, out_bits=out_bits, threshold_luts=True))
        errs.append(abs(est["lut"] - finn_res["LUT"]) / finn_res["LUT"])
    print(f"FINN 0.7 MLP LUT relative error per layer: {[f'{e:.1%}' for e in errs]}")
    assert max(errs) == 0.0


def test_lut_error_finn_2024_cnn():
    """Newer FINN: thresholds outside the LUT count, accumulator = the layer's threshold width."""
    errs = []
    for name, params, acc, _, finn_res in _finn_layers(CNN):
        est = mvau_estimate(MVAU(**params, acc_bits=acc))
        errs.append(abs(est["lut"] - finn_res["LUT"]) / finn_res["LUT"])
    print(f"FINN 2024 CNN LUT relative error per layer: {[f'{e:.1%}' for e in errs]}")
    assert max(errs) == 0.0
    # with the data-type accumulator bound instead of FINN's minimised width the error stays small
    errs = [abs(mvau_estimate(MVAU(**p))["lut"] - r["LUT"]) / r["LUT"] for _, p, _, _, r in _finn_layers(CNN)]
    print(f"  ... with the data-type accumulator bound: max {max(errs):.1%}")
    assert max(errs) < 0.05


def test_swg_cycles_close_to_finn():
    cycles = json.loads((CNN / "report" / "estimate_layer_cycles.json").read_text())
    # ConvolutionInputGenerator_rtl_0: 1-channel 34x34 (padded) input, 5x5 kernel, 30x30 output, SIMD 1
    est = swg_estimate(SWG((34, 34), 1, (5, 5), (30, 30), a_bits=8))
    err = abs(est["cycles"] - cycles["ConvolutionInputGenerator_rtl_0"]) / cycles["ConvolutionInputGenerator_rtl_0"]
    print(f"SWG cycle error {err:.2%}")
    assert err < 0.02


def test_formulas_by_hand():
    assert min_accumulator_bits(64, 2, 2, True) == 10
    assert bram_blocks(64, 2) == 1 and bram_blocks(600, 4) == 1 and bram_blocks(21600, 4) == 6
    assert bram_blocks(60, 1280) == 36 and bram_blocks(2048, 36) == 2 * 2  # 1K x 18 blocks
    e = mvau_estimate(MVAU(mh=10, mw=64, pe=3, simd=7, w_bits=8, a_bits=8))
    assert (e["pe"], e["simd"]) == (2, 4) and e["cycles"] == 5 * 16  # folded to divisors
    assert e["dsp"] == 2 * 4  # >4-bit operands use DSPs
    # LUT grows with bits
    luts = [mvau_estimate(MVAU(mh=32, mw=64, pe=4, simd=8, w_bits=w, a_bits=4))["lut"] for w in (2, 3, 4)]
    assert luts == sorted(luts) and luts[0] < luts[-1]


def test_estimate_layer_rows(digits_model):
    from ohq_flow.model.layers import discover_layers
    model, _ = digits_model
    rows = [estimate_layer(l, 4, 8, pe=2, simd=4, clock_ns=10.0, part="xc7z020clg400-1") for l in discover_layers(model)]
    for r in rows:
        assert r.source == "analytic" and r.fidelity == "estimate" and r.lut > 0 and r.latency_ns is not None
    conv1, fc0 = rows[1], rows[2]
    assert conv1.ii_cycles >= (16 // 2) * (72 // 4) * 16  # MH/PE · MW/SIMD · pixels
    assert fc0.latency_cycles == (32 // 2) * (64 // 4)


def test_calibration():
    est = [CostRow("a", 4, 4, lut=100.0, ff=10.0), CostRow("b", 4, 4, lut=200.0, ff=None)]
    meas = [CostRow("a", 4, 4, lut=150.0, ff=30.0), CostRow("b", 4, 4, lut=300.0)]
    f = calibrate(meas, est)
    assert math.isclose(f["lut"], 1.5) and math.isclose(f["ff"], 3.0) and "dsp" not in f
    new = apply_calibration(CostRow("c", 2, 2, lut=40.0, clock_ns=5.0, latency_cycles=3.0), f)
    assert new.lut == 60.0 and new.latency_cycles == 3.0 and new.tool.endswith("calibrated")
