"""Fold candidates: FINN's divisor rules, Pareto pruning, per-fold cost rows, parallel pixels, validation."""

from __future__ import annotations

import pytest

from ohq_flow.errors import InputError
from ohq_flow.hw.costs import CostRow
from ohq_flow.design.finn_estimate import MVAU, fmax_estimate, mvau_estimate
from ohq_flow.design.folds import parse_fold
from ohq_flow.hw.measurers.analytic import expand_folds
from ohq_flow.model.layers import LayerInfo, QuantizerInfo


def _q(bits=8):
    return QuantizerInfo("q", "Quant", bits, True, False, False, "bw")


def dense(name="fc", mw=24, mh=20) -> LayerInfo:
    return LayerInfo(name, "Gemm", name, _q(), _q(), [1, mw], [1, mh], [mw, mh], mw * mh, mw * mh)


def conv(name="conv", cin=3, cout=8, k=3, hw=6) -> LayerInfo:
    return LayerInfo(name, "Conv", name, _q(), _q(), [1, cin, hw + k - 1, hw + k - 1], [1, cout, hw, hw],
                     [cout, cin, k, k], cout * cin * k * k * hw * hw, cout * cin * k * k, kernel_shape=[k, k])


def _analytic(layer, w, a):
    return CostRow(layer.name, w, a, lut=1.0, latency_cycles=1.0, ii_cycles=1.0, source="analytic", fidelity="estimate")


def test_auto_folds_follow_finn_rules_and_are_pareto_optimal():
    layer = dense()
    rows, rep = expand_folds([_analytic(layer, 4, 4)], [layer], "auto", 100, "xc7")
    assert rep.modelled == len([1 for p in range(1, 21) if 20 % p == 0]) * len([1 for s in range(1, 25) if 24 % s == 0])
    assert 1 < rep.kept == len(rows) < rep.modelled and rep.measured == 0
    for r in rows:
        f = parse_fold(r.fold)
        assert 20 % f.pe == 0 and 24 % f.simd == 0
        assert r.latency_cycles == r.ii_cycles == (20 // f.pe) * (24 // f.simd)      # FINN: MH/PE * MW/SIMD * pixels
        assert r.lut == mvau_estimate(MVAU(20, 24, f.pe, f.simd, 4, 4))["lut"]
        assert r.fmax_mhz == fmax_estimate(4, 4, f.simd, False, "xc7")
    for r in rows:                                                             # none dominates another
        assert not any(o is not r and o.latency_cycles <= r.latency_cycles and o.lut <= r.lut
                       and o.dsp <= r.dsp and o.bram18 <= r.bram18 for o in rows)
    fastest = min(rows, key=lambda r: r.latency_cycles)
    assert fastest.fold == "pe20_simd24" and fastest.latency_cycles == 1
    assert fastest.fmax_mhz < max(r.fmax_mhz for r in rows)                    # wider adder tree, slower clock


def test_cap_keeps_fastest_and_smallest():
    layer = dense()
    full, _ = expand_folds([_analytic(layer, 4, 4)], [layer], "auto", 100, "xc7")
    capped, _ = expand_folds([_analytic(layer, 4, 4)], [layer], "auto", 3, "xc7")
    assert len(capped) == 3
    cyc = sorted(r.latency_cycles for r in full)
    assert {min(r.latency_cycles for r in capped), max(r.latency_cycles for r in capped)} == {cyc[0], cyc[-1]}


def test_dsp_above_four_bits_lut_below():
    layer = dense()
    rows8, _ = expand_folds([_analytic(layer, 8, 8)], [layer], ["pe2_simd4"], 6, "xc7")
    rows4, _ = expand_folds([_analytic(layer, 4, 4)], [layer], ["pe2_simd4"], 6, "xc7")
    assert rows8[0].dsp == 8 and rows4[0].dsp == 0


def test_explicit_fold_that_does_not_divide_names_layer_and_allowed_values():
    layer = dense(mw=24, mh=20)
    with pytest.raises(InputError, match=r"pe3_simd4 does not fit layer fc \(MH=20, MW=24\)") as exc:
        expand_folds([_analytic(layer, 4, 4)], [layer], ["pe3_simd4"], 6, "xc7")
    assert "[1, 2, 4, 5, 10, 20]" in str(exc.value) and "[1, 2, 3, 4, 6, 8, 12, 24]" in str(exc.value)
    c = conv()
    measured = CostRow(c.name, 4, 4, lut=100.0, latency_cycles=3 + 35, ii_cycles=36.0, source="yosys",
                       fidelity="post_synth", error="est_clock_ns=5.0 depth=7")
    with pytest.raises(InputError, match=r"px5 does not fit layer conv \(36 output pixels\)"):
        expand_folds([measured], [c], ["px5"], 6, "xc7")
    with pytest.raises(InputError, match="not like"):
        parse_fold("pe0_simd2")


def test_streamed_conv_parallel_pixels_from_the_measured_row():
    c = conv()
    measured = CostRow(c.name, 4, 4, lut=100.0, ff=50.0, dsp=0.0, latency_cycles=3 + 35, ii_cycles=36.0,
                       source="yosys", fidelity="post_synth", error="est_clock_ns=5.0 depth=7")
    rows, rep = expand_folds([measured], [c], ["px2", "px4"], 6, "xc7")
    by = {r.fold: r for r in rows}
    assert set(by) == {"px1", "px2", "px4"} and rep.measured == 1 and rep.kept == 3
    assert by["px1"].lut == 100 and by["px1"].fidelity == "post_synth" and by["px1"].fmax_mhz == 200.0
    assert by["px4"].lut == 400 and by["px4"].ii_cycles == 9 and by["px4"].latency_cycles == 3 + 8
    assert by["px4"].fidelity == "estimate" and by["px4"].fmax_mhz == 200.0
    auto, _ = expand_folds([measured], [c], "auto", 4, "xc7")
    assert len(auto) == 4 and {"px1", "px36"} <= {r.fold for r in auto}


def test_failed_rows_pass_through():
    layer = dense()
    bad = CostRow(layer.name, 4, 4, status="failed", error="boom", source="analytic")
    rows, rep = expand_folds([bad], [layer], "auto", 6, "xc7")
    assert rows == [bad] and rep.kept == 0


def test_holdout_errors_fit_on_some_rows_report_on_others():
    from ohq_flow.hw.measurers.analytic.calibrate import holdout_errors, holdout_text
    analytic = [CostRow(f"l{i}", 4, 4, lut=100.0 + 10 * i) for i in range(10)]
    measured = [CostRow(f"l{i}", 4, 4, lut=(100.0 + 10 * i) * 2 * (1.1 if i % 2 else 0.9)) for i in range(10)]
    e = holdout_errors(measured, analytic, ("lut",), holdout=0.3, seed=1)["lut"]
    assert e["n_fit"] == 7 and e["n_test"] == 3 and 1.8 < e["factor"] < 2.2
    assert e["median_rel_error"] == pytest.approx(0.1, abs=0.1) and e["uncalibrated_median_rel_error"] > 0.4
    assert "held-out error (3 rows)" in holdout_text({"lut": e})[0]


def test_list_without_pe_simd_keeps_one_folded_option():
    layer = dense()
    rows, _ = expand_folds([_analytic(layer, 4, 4)], [layer], ["px2"], 6, "xc7")
    assert [r.fold for r in rows] == ["pe1_simd1"]
