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


def test_negative_scale_is_refused():
    from ohq_flow.errors import InputError
    chain = Chain(unit_scale=np.array([0.01]), ops=[Op("mul", "neg", a=np.array([-1.0])),
                                                   Op("quant", "q", a=np.array([0.1]), b=np.zeros(1), lo=-8, hi=7)])
    with pytest.raises(InputError, match="non-positive effective scale"):
        build_requant(chain, np.array([-100]), np.array([100]), "q")
