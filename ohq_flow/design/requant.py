"""Exact requantisation: accumulator -> (scale, bias, BatchNorm, ReLU, ...) -> Quant, as integers.

The QONNX ops between a layer's integer accumulator and the next quantised tensor form a
monotone step function ``f_c`` per channel: non-decreasing where the channel's effective scale is
positive, non-increasing where it is negative (e.g. a negative BatchNorm factor), constant where it
is zero. It is evaluated in float64 from the graph's parameters (:meth:`Chain.eval`); the hardware
implements it either as

* **multiply-shift** — ``clip(round((acc·M_c + B_c) / 2**S), LO_c, HI_c)`` with the Quant's
  rounding mode, used only when it equals ``f_c`` at every accumulator value of the reachable
  range (checked exactly: two monotone step functions are equal on a range iff they agree at its
  ends and have the same thresholds, found by binary search), or
* **thresholds** (FINN's technique) — ``LO_c + #{k : (acc >= T_ck) xor D_c}``; for a rising channel
  (``D_c = 0``) ``T_ck`` is the smallest accumulator giving level ``LO_c + k + 1`` or more, for a
  falling one (``D_c = 1``, the channel's threshold direction) the smallest giving less; exact by
  construction. A zero-scale channel is falling with no thresholds: the constant code ``LO_c``.

A negative multiply-shift factor ``M_c`` is a falling channel, ``M_c = 0`` a constant one. The
direction is per channel in the requantiser, so it also serves a requantiser after a pooling, a
residual Add or the input (no weights to fold a sign into).

Power-of-two scales give ``M = 1`` (a shift) — the digits models. Which form is built (``prefer``):
``auto`` takes the exact multiply-shift where its factors are powers of two (shifts and adds) or the output
has more than 15 levels (4 bits), else thresholds: a non-dyadic factor is a hardware multiplier per channel
(one to two MULT18/DSP, 30+ bit factors) where at most 15 comparators of the accumulator's width do the same
(FINN's MultiThreshold) — except in a requantiser fused into a folded layer, whose P lanes share their
multipliers across the channels: there the exact multiply-shift is kept (``Requant.shared``).
``multiply_shift`` takes the exact multiply-shift wherever there is one; ``thresholds`` always thresholds.
The design model prices the form that is built, so the choice never splits ILP and build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ohq_flow.errors import InputError

THRESHOLDS_MAX_LEVELS = 15     # auto: thresholds instead of a multiplier for outputs of up to 4 bits
ROUNDING = {"FLOOR": 0, "ROUND": 1, "HALF_EVEN": 1, "CEIL": 2, "HALF_UP": 3, "HALF_DOWN": 4, "UP": 5, "DOWN": 6}


def qrange(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    """(min, max) integer of a Quant node's grid (QONNX min_int/max_int)."""
    if signed:
        return -(2 ** (bits - 1)) + (1 if narrow else 0), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1 - (1 if narrow else 0)


def round_mode(x: np.ndarray, mode: str) -> np.ndarray:
    """QONNX's rounding functions (resolve_rounding_mode)."""
    m = mode.upper()
    if m in ("ROUND", "HALF_EVEN"):
        return np.round(x)
    if m == "CEIL":
        return np.ceil(x)
    if m == "FLOOR":
        return np.floor(x)
    if m == "UP":
        return np.sign(x) * np.ceil(np.abs(x))
    if m == "DOWN":
        return np.fix(x)
    if m == "HALF_UP":
        return np.sign(x) * np.floor(np.abs(x) + 0.5)
    if m == "HALF_DOWN":
        return np.sign(x) * np.ceil(np.abs(x) - 0.5)
    if m == "BIPOLAR":                      # QONNX BipolarQuant: +1 where x >= 0, else -1
        return np.where(np.asarray(x) >= 0, 1.0, -1.0)
    raise InputError(f"unknown rounding mode {mode}", f"supported: {', '.join(ROUNDING)} (and BIPOLAR for BipolarQuant)")


@dataclass
class Op:
    """One elementwise op of a requantisation chain with per-channel constants."""

    kind: str                    # mul | add | relu | bn | quant | trunc
    node: str
    a: np.ndarray | None = None  # mul: factor, add: addend, bn: factor, quant/trunc: (input) scale
    b: np.ndarray | None = None  # bn: offset, quant/trunc: zero point
    lo: int = 0                  # quant grid (trunc: the output grid)
    hi: int = 0
    rounding: str = "ROUND"
    trunc_scale: np.ndarray | None = None   # trunc: the power of two dropped (2**k), per channel
    out_scale: np.ndarray | None = None   # trunc: the output's scale
    clamp: bool = True           # trunc: Trunc v2 clamps to [lo, hi]; v1 does not


@dataclass
class Chain:
    """accumulator (stored integer · unit_scale_c) -> ops -> quant (last op) or none."""

    unit_scale: np.ndarray       # per channel: real value of one accumulator LSB
    ops: list[Op] = field(default_factory=list)

    @property
    def quant(self) -> Op | None:
        """The quantiser ending the chain (a Quant, BipolarQuant or Trunc), if any."""
        return self.ops[-1] if self.ops and self.ops[-1].kind in ("quant", "trunc") else None

    def eval(self, acc: np.ndarray, ch: np.ndarray, linear: bool = False) -> np.ndarray:
        """f(acc) per element (channel index ``ch``) in float64; ``linear``: the affine part in output units."""
        v = np.asarray(acc, dtype=np.float64) * self.unit_scale[ch]
        for op in self.ops:
            if op.kind == "mul":
                v = v * op.a[ch]
            elif op.kind == "add":
                v = v + op.a[ch]
            elif op.kind == "bn":
                v = v * op.a[ch] + op.b[ch]
            elif op.kind == "relu":
                if not linear:
                    v = np.maximum(v, 0.0)
            elif op.kind == "quant":
                v = v / op.a[ch] + op.b[ch]
                if linear:
                    return v
                v = round_mode(v if op.rounding == "BIPOLAR" else np.clip(v, op.lo, op.hi), op.rounding)
                return v - op.b[ch]
            elif op.kind == "trunc":             # QONNX Trunc: round to the input grid, drop bits, (clamp,) round
                v = v / op.a[ch] + op.b[ch]
                if linear:
                    return v / op.trunc_scale[ch]
                v = np.round(v) / op.trunc_scale[ch]
                if op.clamp:
                    v = np.clip(v, op.lo, op.hi)
                return round_mode(v, op.rounding) - op.b[ch] / op.trunc_scale[ch]
        return v

    def slope_sign(self) -> np.ndarray:
        s = np.sign(self.unit_scale).astype(np.float64)
        for op in self.ops:
            if op.kind in ("mul", "bn", "quant", "trunc"):
                s = s * np.sign(op.a)
        return s


def _thresholds(f, amin: np.ndarray, amax: np.ndarray, levels: np.ndarray, ch: np.ndarray, desc: np.ndarray) -> np.ndarray:
    """Smallest a in [amin, amax] with f(a, ch) >= level (``desc[ch]``: f(a, ch) < level), amax + 1 if none;
    vectorised binary search."""
    lo = amin[ch].astype(object).copy()
    hi = (amax[ch] + 1).astype(object).copy()
    while True:
        open_ = lo < hi
        if not np.any(open_):
            return lo
        mid = (lo + hi) // 2
        mid_eval = np.where(open_, mid, lo)
        ge = (f(mid_eval, ch) >= levels) != desc[ch]
        hi = np.where(open_ & ge, mid, hi)
        lo = np.where(open_ & ~ge, mid + 1, lo)


@dataclass
class Requant:
    """The hardware form of one chain for C channels."""

    method: str                  # multiply_shift | thresholds
    lo: np.ndarray               # per channel output range (reachable)
    hi: np.ndarray
    out_bits: int
    out_signed: bool
    shift: int = 0
    mult: np.ndarray | None = None
    bias: np.ndarray | None = None
    rounding: int = 1
    thresholds: np.ndarray | None = None   # [C, NT] per level, ascending (descending in a falling channel)
    desc: np.ndarray | None = None         # per channel: falls with the accumulator or is constant (thresholds' direction)
    step: int = 1                          # thresholds: output step per threshold (2 for a +-1 BipolarQuant)
    acc_min: np.ndarray | None = None
    acc_max: np.ndarray | None = None
    node: str = ""
    shared: "Requant | None" = None        # auto's thresholds: the exact multiply-shift, for a fused requantiser

    def apply(self, acc: np.ndarray, ch: np.ndarray) -> np.ndarray:
        """The hardware's integer function (bit-exact model of ohq_requant.v)."""
        acc = np.asarray(acc).astype(object)
        if self.method == "thresholds":
            t = self.thresholds[ch]
            d = self.desc[ch][..., None]
            return (self.lo[ch] + self.step * np.sum((acc[..., None] >= t) != d, axis=-1)).astype(object)
        t = acc * self.mult[ch].astype(object) + self.bias[ch].astype(object)
        fl = t >> self.shift
        r = t - (fl << self.shift)
        half = 1 << (self.shift - 1)
        neg = t < 0
        nz = r != 0
        up = {0: np.zeros_like(nz), 1: (r > half) | ((r == half) & (fl % 2 == 1)), 2: nz,
              3: np.where(neg, r > half, r >= half), 4: np.where(neg, r >= half, r > half),
              5: np.where(neg, False, nz), 6: np.where(neg, nz, False)}[self.rounding]
        q = fl + up.astype(int)
        return np.minimum(np.maximum(q, self.lo[ch].astype(object)), self.hi[ch].astype(object))

    def internal_width(self, acc_width: int) -> int:
        """TW: bits of acc·M + B (and of the thresholds) without overflow."""
        if self.method == "thresholds":
            big = max(np.abs(self.thresholds).max(), 1) if self.thresholds.size else 1
            return max(acc_width, int(big).bit_length() + 1, int(max(abs(self.lo).max(), abs(self.hi).max())).bit_length() + 2) + 1
        m = [abs(int(v)) for v in self.mult] + [abs(int(v)) for v in self.bias]
        ext = max(abs(int(self.acc_min.min())), abs(int(self.acc_max.max())))
        need = ext * max(abs(int(v)) for v in self.mult) + max(abs(int(v)) for v in self.bias)
        return max(int(need).bit_length() + 2, max(m).bit_length() + 2, acc_width + 1,
                   int(max(abs(self.lo).max(), abs(self.hi).max())).bit_length() + 2, self.shift + 2)


def needs_multiplier(mult) -> bool:
    """A multiply-shift's factors need hardware multipliers: one is neither 0 nor a positive power of two
    (a negative factor is a multiplier too, as synthesis maps it)."""
    return not all(int(v) & (int(v) - 1) == 0 for v in mult)


def build_requant(chain: Chain, amin: np.ndarray, amax: np.ndarray, node: str, prefer: str = "auto") -> Requant:
    """Exact integer form of ``chain`` over accumulators in [amin, amax] (per channel)."""
    q = chain.quant
    if q is None:
        raise InputError(f"{node}: the ops after the accumulator end without a quantiser", "only a Quant can follow")
    desc = chain.slope_sign() <= 0               # falling channels, and zero-scale ones (constant)
    c = len(amin)
    chs = np.arange(c)
    f = lambda a, ch: chain.eval(np.asarray(a, dtype=np.float64), np.asarray(ch, dtype=int)).astype(np.int64)
    f_min, f_max = f(amin, chs), f(amax, chs)
    lo, hi = np.minimum(f_min, f_max), np.maximum(f_min, f_max)
    step = 2 if q.rounding == "BIPOLAR" else 1      # +-1: one threshold from -1 to +1
    nt = int(max((hi - lo).max(), 0)) // step
    ch_grid = np.repeat(chs, nt)
    levels = (lo[ch_grid] + step * np.tile(np.arange(1, nt + 1), c)).astype(np.int64)
    thr = _thresholds(f, amin.astype(np.int64), amax.astype(np.int64), levels, ch_grid, desc).reshape(c, nt) if nt else np.zeros((c, 0), object)
    qlo, qhi = q.lo, q.hi
    if q.kind == "trunc" and not q.clamp:        # Trunc v1 does not clamp: the grid is what is reachable
        qlo, qhi = min(int(lo.min()), 0), max(int(hi.max()), 1)
        b = max((-qlo - 1).bit_length(), qhi.bit_length()) + 1 if qlo < 0 else qhi.bit_length()
        qlo, qhi = (-(1 << (b - 1)), (1 << (b - 1)) - 1) if qlo < 0 else (0, (1 << b) - 1)
    bits = int(round(np.log2(qhi - qlo + 1))) if qlo < 0 else int(np.ceil(np.log2(qhi + 1)))
    base = dict(lo=lo, hi=hi, out_bits=max(bits, 1), out_signed=qlo < 0, acc_min=amin, acc_max=amax, node=node,
                desc=desc)
    th = Requant("thresholds", thresholds=thr, step=step, **base)
    if prefer == "thresholds" or step != 1:
        return th
    a_lin0 = chain.eval(np.zeros(c), chs, linear=True)
    a_lin1 = chain.eval(np.ones(c), chs, linear=True)
    slope, offset = a_lin1 - a_lin0, a_lin0
    for s in _shift_candidates(slope, offset):
        mult = np.array([int(v) for v in np.round(slope * 2.0 ** s)], dtype=object)
        bias = np.array([int(v) for v in np.round(offset * 2.0 ** s)], dtype=object)
        cand = Requant("multiply_shift", shift=s, mult=mult, bias=bias, rounding=ROUNDING[q.rounding.upper()], **base)
        g = lambda a, ch: cand.apply(np.asarray(a), np.asarray(ch, dtype=int)).astype(np.int64)
        if np.array_equal(g(amin, chs), f_min) and np.array_equal(g(amax, chs), f_max) and np.array_equal(
                np.sign(mult.astype(np.int64)) < 0, chain.slope_sign() < 0) and (nt == 0 or np.array_equal(
                _thresholds(g, amin.astype(np.int64), amax.astype(np.int64), levels, ch_grid, desc).reshape(c, nt), thr)):
            if prefer == "auto" and needs_multiplier(mult) and nt <= THRESHOLDS_MAX_LEVELS:
                th.shared = cand
                return th
            return cand
    return th


def _shift_candidates(slope: np.ndarray, offset: np.ndarray) -> list[int]:
    """The exact dyadic shift if slope and offset are dyadic, else growing shifts."""
    def dyadic_shift(v):
        for s in range(0, 48):
            if np.all(v * 2.0 ** s == np.round(v * 2.0 ** s)):
                return s
        return None
    s = [dyadic_shift(slope), dyadic_shift(offset)]
    out = []
    if None not in s:
        out.append(max(1, *s))
    return out + [k for k in (16, 20, 24, 28, 32, 40) if not out or k > out[0]]
