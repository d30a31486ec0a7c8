"""The folded matrix-vector unit (``templates/rtl/ohq_mvau.v``): its parameters, its implementation rule and its price.

One place decides how a folded layer is built and what it costs, so the cost table, the ILP and the
RTL cannot drift:

* **weight memory** (``MEM``): block RAM (synchronous read, DP16KD on ECP5, RAMB18/36 on AMD) when
  the ROM is deep and large enough for block RAM to pay — at least :data:`BRAM_MIN_DEPTH` words and
  :data:`BRAM_MIN_BITS` bits — else a LUT-ROM read combinationally;
* **products** (``MUL``): a DSP slice per lane (``*``) when both operands are wider than
  :data:`DSP_MIN_BITS` bits (FINN's ``resType`` rule), else shift-and-add LUT logic (no multiplier
  cell the synthesis tool could put into a DSP).

:func:`ohq_flow.design.price.mvau_price` prices it: LUT/FF from a linear model of :func:`features`
fitted to Yosys runs of the template (``python -m bench.calibrate_glue``), DSP one per lane with
``MUL``, block RAMs counted from the memory's shape (:func:`bram_blocks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ohq_flow.errors import InputError

DSP_MIN_BITS = 4            # products of operands both wider than this go into DSP slices
BRAM_MIN_DEPTH = 64         # a ROM shallower than this stays in LUTs (a LUT4/LUT6 holds 16/64 words of one bit)
BRAM_MIN_BITS = 4096
# block RAM aspect ratios (data bits x words): RAMB18 (UG473) and DP16KD (Lattice TN1264) have the same
BRAM_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
ROM_WORDS_PER_LUT = {"ecp5": 16, "xc7": 64, "xcup": 64, "xcu": 64}


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def largest_divisor(n: int, cap: int) -> int:
    """The largest divisor of ``n`` not above ``cap`` (a fold that divides the matrix)."""
    cap = max(1, min(cap, n))
    return next(d for d in range(cap, 0, -1) if n % d == 0)


def signed_bits(lo, hi) -> int:
    """Two's complement width holding every integer in [min(lo), max(hi)]."""
    lo, hi = int(np.min(lo)), int(np.max(hi))
    return max(2, max(hi, 0).bit_length() + 1, max(-lo - 1, 0).bit_length() + 1)


def bram_blocks(depth: int, width: int) -> int:
    """18-kbit block RAMs for a ``depth`` x ``width`` memory: the narrowest fitting shape, tiled."""
    if depth <= 0 or width <= 0:
        return 0
    for cols, rows in BRAM_SHAPES[:4]:
        if width <= cols:
            return math.ceil(depth / rows)
    if width <= 18 or depth > 512:
        return math.ceil(depth / 1024) * math.ceil(width / 18)
    return math.ceil(depth / 512) * math.ceil(width / 36)


@dataclass(frozen=True)
class MvauShape:
    """What an MVAU instance is: matrix MW x MH, folds PE x SIMD, operand and accumulator widths."""

    mw: int
    mh: int
    pe: int
    simd: int
    iw: int                  # input element bits
    wb: int                  # weight bits (two's complement)
    aw: int                  # accumulator bits
    dead: int = 0            # lanes whose weights are all zero (pruned inputs): left out of the adder trees

    @property
    def nf(self) -> int:
        return self.mh // self.pe

    @property
    def sf(self) -> int:
        return self.mw // self.simd

    @property
    def cycles(self) -> int:
        """Cycles per input vector: (MH/PE) x (MW/SIMD)."""
        return self.nf * self.sf

    @property
    def word(self) -> int:
        return self.pe * self.simd * self.wb

    @property
    def lanes(self) -> int:
        return self.pe * self.simd

    @property
    def live(self) -> int:
        """Lanes with a nonzero weight: the ones that cost logic, DSPs and weight-memory columns."""
        return self.lanes - self.dead

    @property
    def mem(self) -> int:
        """1: weights in block RAM, 0: LUT-ROM (the rule in the module docstring)."""
        return int(self.cycles >= BRAM_MIN_DEPTH and self.cycles * self.word >= BRAM_MIN_BITS)

    @property
    def mul(self) -> int:
        """1: a DSP per lane, 0: LUT shift-and-add."""
        return int(self.wb > DSP_MIN_BITS and self.iw > DSP_MIN_BITS)

    def check(self, node: str = "?") -> None:
        bad = [f"PE must divide MH={self.mh}: one of {divisors(self.mh)}"] if self.mh % self.pe else []
        bad += [f"SIMD must divide MW={self.mw}: one of {divisors(self.mw)}"] if self.mw % self.simd else []
        if bad:
            raise InputError(f"fold pe{self.pe}_simd{self.simd} of layer {node}: " + "; ".join(bad),
                             "choose PE and SIMD from the allowed values (solution.json's fold)")


def rule_counts(u: MvauShape) -> dict[str, float]:
    """What the rule counts (not fitted): a DSP slice per live lane with DSP products, the 18-kbit block RAMs of the
    weight memory's live columns."""
    return {"dsp": float(u.live if u.mul else 0), "bram18": float(bram_blocks(u.cycles, u.live * u.wb) if u.mem else 0)}


def shape_of(mat, pe: int, simd: int, iw: int, w_bits: int, acc_lo, acc_hi) -> MvauShape:
    """The MVAU of an integer matrix ``mat`` [MW, MH] at PE x SIMD with ``iw``-bit inputs."""
    mat = np.asarray(mat)
    mw, mh = mat.shape
    wb = max(int(w_bits), signed_bits(mat.min(), mat.max())) if mat.size else int(w_bits)
    return MvauShape(int(mw), int(mh), int(pe), int(simd), int(iw), wb, signed_bits(acc_lo, acc_hi), dead_lanes(mat, pe, simd))


def live_mask(mat, pe: int, simd: int) -> np.ndarray:
    """[PE, SIMD] bool: lane (p, s) of the PE x SIMD fold of ``mat`` [MW, MH] has a nonzero weight in some fold."""
    mat = np.asarray(mat)
    mw, mh = mat.shape
    if mw % simd or mh % pe:
        return np.ones((pe, simd), dtype=bool)
    return np.abs(mat).reshape(mw // simd, simd, mh // pe, pe).sum(axis=(0, 2)).T != 0


def dead_lanes(mat, pe: int, simd: int) -> int:
    """Lanes (p, s) of the PE x SIMD fold of ``mat`` [MW, MH] whose weights are zero in every fold."""
    return int(np.sum(~live_mask(mat, pe, simd)))


def tree_bits(u: MvauShape) -> int:
    """Adder bits of the PE adder trees over the live lanes (``ohq_mvau.v``: level k of two-input adders at
    WB + IW + 1 + k bits, at most AW; live lanes taken as evenly spread over the PEs)."""
    pw, bits = u.wb + u.iw + 1, 0
    for p in range(u.pe):
        n, k = u.live // u.pe + (p < u.live % u.pe), 0
        while n > 1:
            k += 1
            bits += (n // 2) * min(pw + k, u.aw)
            n = (n + 1) // 2
    return bits


def features(u: MvauShape, family: str, fused: int = 0) -> dict[str, float]:
    """The fitted model's inputs for one MVAU (every value >= 0), over its live lanes: LUT partial products (their
    count, summed at the product's width), the adder trees (carry chains), DSP products, the LUT-ROM, the input
    vector register and rotator, the running and finished fold's sums, the result registers (with a fused
    requantiser: priced with it, ``price.features`` of its stage), the fold counters, the weight word and the
    control."""
    per_lut = ROM_WORDS_PER_LUT.get(family, 64)
    lut_mul = 0 if u.mul else u.live * u.wb
    return {"pp_bits": float(lut_mul * (u.iw + 1)), "pp_add_bits": float(lut_mul * (u.iw + u.wb + 1)),
            "tree_bits": float(tree_bits(u)), "dsp_bits": float(u.live * (u.wb + u.iw + 1) if u.mul else 0),
            "rom_bits": 0.0 if u.mem else float(u.live * u.wb * math.ceil(u.cycles / per_lut)),
            "x_bits": float(u.mw * u.iw), "pend_bits": float(u.pe * u.aw), "res_bits": 0.0 if fused else float(u.mh * u.aw),
            "counter_bits": float(math.ceil(math.log2(u.cycles + 1))), "word": float(u.live * u.wb), "one": 1.0}


def _live_params(live: np.ndarray, vlit) -> list[tuple[str, object]]:
    """DEAD/NLV/LIX of a [PE, SIMD] live mask: per PE the live lanes' count and indices (none when all are live)."""
    if live.all():
        return [("DEAD", 0)]
    pe, simd = live.shape
    idx = np.zeros((pe, simd), dtype=np.int64)
    for p in range(pe):
        lanes = np.flatnonzero(live[p])
        idx[p, :lanes.size] = lanes
    return [("DEAD", 1), ("NLV", vlit(live.sum(axis=1), 16)), ("LIX", vlit(idx.reshape(-1), 16))]


def rtl_params(u: MvauShape, mat, isigned: bool, vlit) -> list[tuple[str, str]]:
    """The ``ohq_mvau`` parameters of shape ``u`` for integer matrix ``mat`` [MW, MH] (``vlit``: packed literal)."""
    mat = np.asarray(mat, dtype=np.int64)
    rom = mat.reshape(u.sf, u.simd, u.nf, u.pe).transpose(2, 0, 3, 1).reshape(-1)   # word nf*SF+sf, lane p*SIMD+s
    cw = max(2, (u.nf * u.sf).bit_length() + 1)
    p = [("MW", u.mw), ("MH", u.mh), ("PE", u.pe), ("SIMD", u.simd), ("IW", u.iw), ("ISIGNED", int(bool(isigned))), ("WB", u.wb), ("AW", u.aw),
         ("CW", cw), ("MEM", u.mem), ("MUL", u.mul), ("WROM", vlit(rom, u.wb)),
         *_live_params(live_mask(mat, u.pe, u.simd), vlit)]
    return [(k, str(v)) for k, v in p]
