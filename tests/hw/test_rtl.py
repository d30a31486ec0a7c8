"""Per-layer RTL: da4ml Verilog equals numpy (interpreter and Icarus simulation); Yosys measures it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ohq_flow.errors import FlowError, InputError
from ohq_flow.hw.rtl.cmvm import conv_kernel_matrix, generate_cmvm_rtl

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (make test installs it)")
needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make test installs it)")


def _w(shape, bits, seed=0):
    hi = 2 ** (bits - 1) - 1
    return np.random.default_rng(seed).integers(-hi, hi + 1, size=shape)


@needs_iverilog
@pytest.mark.parametrize("a_signed,cutoff,w_bits", [(True, 5.0, 4), (False, None, 2), (False, 3.0, 8), (True, None, 8)])
def test_rtl_simulation_equals_numpy(tmp_path, a_signed, cutoff, w_bits):
    from ohq_flow.hw.rtl.sim import simulate
    w = _w((12, 6), w_bits)
    d = generate_cmvm_rtl(w, w_bits=w_bits, a_bits=6, a_signed=a_signed, out_dir=tmp_path / "rtl", latency_cutoff=cutoff)
    rng = np.random.default_rng(1)
    x = rng.integers(-32, 32, size=(40, 12)) if a_signed else rng.integers(0, 64, size=(40, 12))
    x[0] = x.max() if not a_signed else -32  # range corners
    assert np.array_equal(d.predict(x), x @ w)
    assert np.array_equal(simulate(d, x, tmp_path / "sim"), x @ w)
    assert (d.stages > 0) == (cutoff is not None) and d.latency_cycles == (d.stages + 1 if d.stages else 0)


def test_weights_out_of_range_rejected(tmp_path):
    with pytest.raises(InputError, match=r"\[-2, 1\]"):
        generate_cmvm_rtl(np.array([[3, 0]]), w_bits=2, a_bits=4, a_signed=True, out_dir=tmp_path)


def test_conv_kernel_matrix_is_im2col_order():
    w = np.arange(2 * 2 * 3 * 3).reshape(2, 2, 3, 3)
    m = conv_kernel_matrix(w)
    assert m.shape == (18, 2) and np.array_equal(m[:, 1], w[1].reshape(-1))
    dw = conv_kernel_matrix(np.ones((4, 1, 3, 3)), groups=4)  # depthwise: block-diagonal
    assert dw.shape == (36, 4) and dw.sum() == 36 and dw[9:18, 1].sum() == 9 and dw[9:18, 0].sum() == 0


@needs_yosys
def test_yosys_measures_and_costs_rise_with_bits(tmp_path):
    from ohq_flow.hw.rtl.yosys import measure_yosys
    luts = []
    for bits in (2, 4, 8):
        hi = 2 ** (bits - 1) - 1  # the same layer at fewer bits
        w = np.clip(np.round(_w((8, 8), 8, seed=3) / 2 ** (8 - bits)), -hi, hi).astype(int)
        d = generate_cmvm_rtl(w, w_bits=bits, a_bits=8, a_signed=True, out_dir=tmp_path / f"p{bits}", latency_cutoff=4.0)
        r = measure_yosys([s for s in d.sources if "wrapper" not in s.name], d.top, family="xc7",
                          work_dir=tmp_path / f"y{bits}", timeout_s=300)
        assert r.lut > 0 and r.ff > 0 and r.depth > 0 and r.est_clock_ns > 0
        assert abs(r.lut - d.da4ml_cost) / r.lut < 0.10  # da4ml's estimate tracks Yosys
        luts.append(r.lut)
    assert luts[0] < luts[1] < luts[2]
    comb = generate_cmvm_rtl(w, w_bits=8, a_bits=8, a_signed=True, out_dir=tmp_path / "comb", latency_cutoff=None)
    rc = measure_yosys([s for s in comb.sources if "wrapper" not in s.name], comb.top, family="xc7",
                       work_dir=tmp_path / "yc", timeout_s=300)
    assert rc.ff == 0


@needs_yosys
def test_yosys_failure_names_the_log(tmp_path):
    from ohq_flow.hw.rtl.yosys import measure_yosys
    bad = tmp_path / "bad.v"
    bad.write_text("module top(input a, output b); assign b = ; endmodule\n")
    with pytest.raises(FlowError) as ei:
        measure_yosys([bad], "top", family="xc7", work_dir=tmp_path / "y", timeout_s=60)
    assert "yosys.log" in str(ei.value)


@needs_yosys
def test_design_synthesis_is_cached_by_content(tmp_path):
    from ohq_flow.hw.rtl.yosys import measure_yosys_cached
    w = _w((4, 4), 4, seed=5)
    d = generate_cmvm_rtl(w, w_bits=4, a_bits=4, a_signed=True, out_dir=tmp_path / "p", latency_cutoff=None)
    sources = [s for s in d.sources if "wrapper" not in s.name]
    first, hit1 = measure_yosys_cached(sources, d.top, family="xc7", work_dir=tmp_path / "y1", timeout_s=300,
                                       cache_dir=tmp_path / "cache")
    again, hit2 = measure_yosys_cached(sources, d.top, family="xc7", work_dir=tmp_path / "y2", timeout_s=300,
                                       cache_dir=tmp_path / "cache")
    assert (hit1, hit2) == (False, True) and not (tmp_path / "y2").exists()
    assert (again.lut, again.ff, again.depth, again.cells) == (first.lut, first.ff, first.depth, first.cells)
    w2 = w.copy()
    w2[0, 0] = -w2[0, 0] if w2[0, 0] else 3                   # other content -> synthesised again
    d2 = generate_cmvm_rtl(w2, w_bits=4, a_bits=4, a_signed=True, out_dir=tmp_path / "q", latency_cutoff=None)
    _, hit3 = measure_yosys_cached([s for s in d2.sources if "wrapper" not in s.name], d2.top, family="xc7",
                                   work_dir=tmp_path / "y3", timeout_s=300, cache_dir=tmp_path / "cache")
    assert hit3 is False
