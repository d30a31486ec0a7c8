"""Exact requantisation: multiply-shift only where verified, thresholds otherwise (no simulation)."""

from __future__ import annotations

import numpy as np
import pytest

from ohq_flow.design.requant import Chain, Op, build_requant, qrange


def _exhaustive(chain: Chain, rq, amin, amax):
    for c in range(len(amin)):
        a = np.arange(amin[c], amax[c] + 1)
        ch = np.full(len(a), c)
        ref = chain.eval(a, ch)
        hw = rq.apply(a, ch).astype(np.int64)
        assert np.array_equal(hw, ref.astype(np.int64)), f"channel {c}"


@pytest.mark.parametrize("rounding", ["ROUND", "FLOOR", "CEIL", "HALF_UP", "HALF_DOWN", "UP", "DOWN"])
def test_power_of_two_scales_become_shifts(rounding):
    lo, hi = qrange(6, False, False)
    chain = Chain(unit_scale=np.array([2.0 ** -10, 2.0 ** -9]),
                  ops=[Op("relu", "r"), Op("quant", "q", a=np.array([2.0 ** -4] * 2), b=np.zeros(2), lo=lo, hi=hi,
                                           rounding=rounding)])
    amin, amax = np.array([-3000, -2500]), np.array([5000, 4000])
    rq = build_requant(chain, amin, amax, "q")
    assert rq.method == "multiply_shift" and list(rq.mult) == [1, 2] and rq.shift == 6
    _exhaustive(chain, rq, amin, amax)


def test_float_per_channel_scales_bias_and_batchnorm_are_exact():
    rng = np.random.default_rng(3)
    c = 4
    lo, hi = qrange(4, True, True)
    chain = Chain(unit_scale=rng.uniform(1e-3, 3e-3, c),
                  ops=[Op("add", "bias", a=rng.normal(0, 0.2, c)),
                       Op("bn", "bn", a=rng.uniform(0.5, 1.5, c), b=rng.normal(0, 0.1, c)), Op("relu", "r"),
                       Op("quant", "q", a=rng.uniform(0.05, 0.2, c), b=np.zeros(c), lo=lo, hi=hi)])
    amin, amax = np.full(c, -2000), np.full(c, 2500)
    for prefer in ("auto", "thresholds"):
        rq = build_requant(chain, amin, amax, "q", prefer)
        _exhaustive(chain, rq, amin, amax)
    th = build_requant(chain, amin, amax, "q", "thresholds")
    assert th.method == "thresholds" and th.thresholds.shape == (c, int((th.hi - th.lo).max()))


def test_auto_takes_thresholds_where_a_multiply_shift_needs_multipliers():
    """auto: float scales -> thresholds up to 15 output levels (4 bits), multiply-shift above; power-of-two -> shifts."""
    rng = np.random.default_rng(5)
    c = 4
    amin, amax = np.full(c, -900), np.full(c, 1100)

    def chain(bits, scale):
        lo, hi = qrange(bits, False, False)
        return Chain(unit_scale=scale, ops=[Op("relu", "r"), Op("quant", "q", a=np.full(c, 0.25), b=np.zeros(c),
                                                                 lo=lo, hi=hi)])
    floaty = rng.uniform(0.01, 0.03, c)
    for bits, want in ((2, "thresholds"), (4, "thresholds"), (5, "multiply_shift"), (8, "multiply_shift")):
        ch = chain(bits, floaty)
        rq = build_requant(ch, amin, amax, "q")
        assert rq.method == want, bits
        ms = build_requant(ch, amin, amax, "q", "multiply_shift")
        assert ms.method == "multiply_shift" and any(int(v) & (int(v) - 1) for v in ms.mult)
        _exhaustive(ch, rq, amin, amax)
    assert build_requant(chain(2, np.full(c, 2.0 ** -6)), amin, amax, "q").method == "multiply_shift"


def _falling_and_constant_chain(rounding="ROUND"):
    """Channels: rising, falling (negative BatchNorm factor), constant (zero factor), falling through a ReLU;
    non-power-of-two scales, a bias."""
    lo, hi = qrange(3, True, False)
    return Chain(unit_scale=np.array([0.0123, 0.0093, 0.011, 0.0071]),
                 ops=[Op("add", "bias", a=np.array([0.05, -0.1, 0.2, 0.3])),
                      Op("bn", "bn", a=np.array([0.8, -1.3, 0.0, -0.6]), b=np.array([0.1, 0.2, 0.47, -0.05])),
                      Op("relu", "r") if rounding == "ROUND" else Op("mul", "m", a=np.ones(4)),
                      Op("quant", "q", a=np.full(4, 0.21), b=np.zeros(4), lo=lo, hi=hi, rounding=rounding)])


@pytest.mark.parametrize("rounding", ["ROUND", "FLOOR", "HALF_UP"])
@pytest.mark.parametrize("prefer", ["auto", "thresholds"])
def test_falling_and_zero_scale_channels_are_exact(prefer, rounding):
    chain = _falling_and_constant_chain(rounding)
    amin, amax = np.full(4, -700), np.full(4, 900)
    rq = build_requant(chain, amin, amax, "q", prefer)
    _exhaustive(chain, rq, amin, amax)
    assert list(rq.desc) == [False, True, True, True]
    assert rq.lo[2] == rq.hi[2] == chain.eval(np.zeros(1), np.array([2]))[0] == 2   # zero scale: one constant code
    assert rq.hi[1] - rq.lo[1] >= 3 and rq.hi[3] > rq.lo[3]              # the falling channels span levels
    if rq.method == "thresholds":
        assert np.all(rq.thresholds[2] == amin[2])                       # never counted: the constant LO
        d = np.diff(rq.thresholds.astype(np.int64), axis=1)
        assert np.all(d[0] >= 0) and np.all(d[[1, 3]] <= 0)             # a falling channel's higher levels come first


def test_negative_and_zero_dyadic_factors_are_a_multiply_shift():
    lo, hi = qrange(5, True, False)
    chain = Chain(unit_scale=np.full(3, 2.0 ** -8), ops=[Op("mul", "m", a=np.array([1.0, -0.5, 0.0])),
                                                         Op("add", "b", a=np.array([0.0, 0.25, 0.375])),
                                                         Op("quant", "q", a=np.full(3, 2.0 ** -4), b=np.zeros(3),
                                                            lo=lo, hi=hi, rounding="ROUND")])
    amin, amax = np.full(3, -600), np.full(3, 500)
    rq = build_requant(chain, amin, amax, "q")
    assert rq.method == "multiply_shift" and int(rq.mult[0]) > 0 > int(rq.mult[1]) and int(rq.mult[2]) == 0
    _exhaustive(chain, rq, amin, amax)
    assert rq.lo[2] == rq.hi[2] == 6


@pytest.mark.parametrize("prefer,in_signed", [("multiply_shift", False), ("thresholds", False), ("multiply_shift", True)])
def test_requant_rtl_equals_the_integer_model(tmp_path, prefer, in_signed):
    """ohq_flow/templates/rtl/ohq_requant.v (Icarus) on every input value vs Requant.apply: both methods, (un)signed inputs."""
    import shutil
    import subprocess
    from ohq_flow.design.graph import Stage, Stream
    from ohq_flow.design.rtl import RTL_BLOCKS, _requant_params
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not installed")
    c, aw = 5, 9
    lo_in, hi_in = (-256, 255) if in_signed else (0, 511)
    chain = Chain(unit_scale=np.array([0.0123, 0.031, 0.0071, -0.0093, 0.0]),     # with a falling and a constant channel
                  ops=[Op("quant", "q", a=np.array([0.05] * c), b=np.zeros(c), lo=-8, hi=7, rounding="HALF_UP")])
    rq = build_requant(chain, np.full(c, lo_in), np.full(c, hi_in), "q", prefer)
    assert rq.method == prefer
    s_in = Stream("pixels", c, 1, (1, 1), aw, in_signed, np.full(c, lo_in), np.full(c, hi_in), np.ones(c))
    st = Stage("requant", "q", s_in, s_in, info={"requant": rq})
    params = ", ".join(f".{k}({v})" for k, v in _requant_params(st, aw))
    vals = np.arange(lo_in, hi_in + 1)
    (tmp_path / "in.hex").write_text("\n".join(f"{sum((int(v) & 511) << (9 * k) for k in range(c)):x}" for v in vals))
    (tmp_path / "tb.v").write_text(f"""module t; reg clk = 0; reg [{c * aw - 1}:0] mem [0:{len(vals) - 1}]; reg [{c * aw - 1}:0] d;
wire [{c * 4 - 1}:0] q; integer i;
ohq_requant #({params}) u (.clk(clk), .rst(1'b0), .s_tdata(d), .s_tvalid(1'b1), .s_tready(), .m_tdata(q), .m_tvalid(), .m_tready(1'b1));
initial begin $readmemh("in.hex", mem); for (i = 0; i < {len(vals)}; i = i + 1) begin d = mem[i]; #1 clk = 1; #1 clk = 0; $display("Q %h", q); end end
endmodule
""")
    subprocess.run(["iverilog", "-g2012", "-o", "sim.vvp", "tb.v", str(RTL_BLOCKS / "ohq_common.v"), str(RTL_BLOCKS / "ohq_requant.v")], cwd=tmp_path, check=True)
    out = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    words = [int(l.split()[1], 16) for l in out.splitlines() if l.startswith("Q ")]
    got = np.array([[((w >> (4 * k)) & 15) - 16 * (((w >> (4 * k)) & 15) >> 3) for k in range(c)] for w in words])
    exp = np.stack([rq.apply(vals, np.full(len(vals), k)).astype(np.int64) for k in range(c)], 1)
    ref = np.stack([chain.eval(vals, np.full(len(vals), k)) for k in range(c)], 1)
    assert np.array_equal(exp, ref) and np.array_equal(got, exp)
    assert list(rq.desc) == [False, False, False, True, True] and len(np.unique(ref[:, 3])) > 3
    assert np.all(ref[:, 4] == 0)
