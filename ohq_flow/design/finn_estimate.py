"""FINN's published estimate of a folded MVAU and its sliding-window generator — the ``analytic`` measurer's model.

This is the one place FINN's estimate formulas live. The design's own price of a folded unit is
:func:`ohq_flow.design.price.mvau_price` (fitted to Yosys runs of ``ohq_mvau``); this model answers
"what would FINN estimate" (``hardware.measurer: analytic``, the time-boxed da4ml fallback, the
FINN bundle's ``resType``, ``bench/finn_check.py`` against FINN's own reports). The unit is
described by the design's :class:`~ohq_flow.design.mvau.MvauShape`: its cycles per vector, its
weight word, its block-RAM packing (:func:`~ohq_flow.design.mvau.bram_blocks`) and its DSP rule
(``MvauShape.mul``) are the design's. Formulas re-derived from the publications, not copied code:

* **Cycles** — FINN-R (Blott et al., ACM TRETS 2018, §4): ``(MH/PE)·(MW/SIMD)`` per input vector
  (``MvauShape.cycles``); a convolution feeds one vector per output pixel.
* **LUT** — the FINN-R LUT model as documented by FINN (``c0 + c1·PE·(mult + adder tree +
  accumulator + thresholds) + c2``; c0 = 300, c1 = 1.1 are the published fit constants): a LUT
  multiplier of ``W×A`` bits costs ``(2·ceil((W+A)/6) − 1)·(W+A)`` LUTs per SIMD lane, the adder
  tree ``(W+A)·(2·SIMD − 1)``, the accumulator one LUT per bit; activation thresholds held in LUTs
  add ``2·(2^B − 1)·acc·ceil(TMEM/64)`` (storage + comparators, B output bits, TMEM = MH/PE);
  weights in distributed RAM add ``c2 = PE·SIMD·W·ceil(WMEM/64)``.
* **Accumulator width** — the data-type bound on a dot product of MW terms (FINN's minimal
  accumulator rule, A2Q, Colbert et al. 2023): ``α = log2(MW) + W + A − 1 − signed(A)``,
  ``acc = ceil(α + log2(1 + 2^−α) + 1)``; a known width (e.g. the thresholds') can be given instead.
* **BRAM18** — the weight memory (depth ``WMEM = MH·MW/(PE·SIMD)``, width ``PE·SIMD·W``) in RAMB18
  aspect ratios (:func:`~ohq_flow.design.mvau.bram_blocks`); zero when the memory is distributed.
* **DSP** — ``PE·SIMD·ceil((W+A)/48)`` DSP48 slices when both operands are wider than 4 bits
  (FINN's ``resType=dsp``, the design's ``MvauShape.mul`` rule), else LUT multipliers.
* **FF** — FINN publishes no FF model; a rough register count (one per accumulator bit and per
  operand bit of each lane) is given and labelled as such.
* **Clock** (not FINN's; an estimate, labelled so): multiplier levels (LUT: ``ceil((W+A)/6)``, DSP: 2)
  + the SIMD adder tree (``ceil(log2 SIMD)``) + the accumulator (1), in the Yosys measurer's depth model
  (:func:`ohq_flow.hw.rtl.yosys.depth_delay_ns`).
* **SWG** — the convolution input generator buffers ``(k_h − 1)·IFM_W·C + k_w·C`` elements and
  emits ``OFM_pixels·k_h·k_w·C/SIMD`` words; its cycles are that plus the buffer fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ohq_flow.design.mvau import MvauShape, bram_blocks, largest_divisor
from ohq_flow.errors import InputError
from ohq_flow.model.geometry import mvau_dims
from ohq_flow.tables.costs import CostRow

C0, C1 = 300.0, 1.1
LUTRAM_DEPTH = 64              # bits per LUT as distributed RAM (RAM64X1), FINN's constant


def min_accumulator_bits(mw: int, w_bits: int, a_bits: int, a_signed: bool) -> int:
    """Smallest accumulator for MW products of W- and A-bit operands (FINN's data-type bound)."""
    alpha = math.log2(max(mw, 1)) + w_bits + a_bits - 1 - int(a_signed)
    return int(math.ceil(alpha + math.log2(1 + 2.0 ** -alpha) + 1))


@dataclass
class MVAU:
    """FINN's attributes of one folded matrix-vector(-activation) unit."""

    mh: int                      # matrix height = outputs (channels)
    mw: int                      # matrix width = inputs per output (C_in/g·k_h·k_w for a conv)
    pe: int = 1
    simd: int = 1
    w_bits: int = 8
    a_bits: int = 8
    pixels: int = 1              # input vectors per inference (output pixels of a conv)
    a_signed: bool = True
    acc_bits: int | None = None  # known accumulator width (None: data-type bound)
    out_bits: int | None = None  # thresholding activation output bits (None: no thresholds in the unit)
    threshold_luts: bool = False  # thresholds stored in LUTs (FINN-R/FINN 0.x estimate)
    ram_style: str = "auto"      # auto | block | distributed (weight memory)
    res_type: str = "auto"       # auto | lut | dsp (multipliers)

    def shape(self) -> MvauShape:
        """The design's description of this unit, PE/SIMD reduced to divisors of MH/MW (FINN's folding rule)."""
        acc = self.acc_bits if self.acc_bits is not None else min_accumulator_bits(self.mw, self.w_bits, self.a_bits,
                                                                                   self.a_signed)
        return MvauShape(mw=self.mw, mh=self.mh, pe=largest_divisor(self.mh, self.pe),
                         simd=largest_divisor(self.mw, self.simd), iw=self.a_bits, wb=self.w_bits, aw=acc)


def mvau_estimate(u: MVAU) -> dict:
    """Cycles, LUT, FF, BRAM18, DSP of one MVAU (module docstring for the formulas)."""
    if min(u.mh, u.mw, u.pe, u.simd, u.w_bits, u.a_bits, u.pixels) < 1:
        raise InputError(f"MVAU parameters must be >= 1, got {u}")
    s = u.shape()
    p, q, w, a, acc = s.pe, s.simd, s.wb, s.iw, s.aw
    use_dsp = u.res_type == "dsp" or (u.res_type == "auto" and bool(s.mul))
    mult = 0 if use_dsp else q * (2 * math.ceil((w + a) / 6) - 1) * (w + a)
    adder = (w + a) * (2 * q - 1)
    thr = comp = 0
    if u.out_bits is not None and u.threshold_luts:
        levels = 2 ** u.out_bits - 1
        thr = levels * acc * math.ceil(s.nf / LUTRAM_DEPTH)
        comp = levels * acc
    distributed = u.ram_style == "distributed"
    c2 = s.word * math.ceil(s.cycles / LUTRAM_DEPTH) if distributed else 0
    lut = int(C0 + C1 * p * (mult + adder + acc + thr + comp) + c2)
    bram = 0 if distributed else bram_blocks(s.cycles, s.word)
    dsp = s.lanes * math.ceil((w + a) / 48) if use_dsp else 0
    ff = p * (acc + q * (w + a))
    return {"cycles": s.cycles * u.pixels, "lut": float(lut), "ff": float(ff), "bram18": float(bram), "dsp": float(dsp),
            "uram": 0.0, "acc_bits": acc, "wmem_depth": s.cycles, "pe": p, "simd": q}


@dataclass
class SWG:
    """FINN's attributes of a sliding-window (convolution input) generator."""

    ifm_dim: tuple[int, int]     # input height, width (padding included)
    channels: int
    kernel: tuple[int, int]
    ofm_dim: tuple[int, int]
    a_bits: int
    simd: int = 1


def swg_estimate(s: SWG) -> dict:
    """Cycles, buffer size and LUT/BRAM of the sliding-window generator (estimate)."""
    simd = largest_divisor(s.channels, s.simd)
    kh, kw = s.kernel
    buf_elems = (kh - 1) * s.ifm_dim[1] * s.channels + kw * s.channels
    fill = math.ceil(buf_elems / simd)
    out_words = s.ofm_dim[0] * s.ofm_dim[1] * kh * kw * s.channels // simd
    depth, width = math.ceil(buf_elems / simd), simd * s.a_bits
    in_lutram = depth <= 2 * LUTRAM_DEPTH
    lut = C0 + (math.ceil(depth / LUTRAM_DEPTH) * width if in_lutram else 0)
    return {"cycles": out_words + fill, "fill_cycles": fill, "buffer_bits": buf_elems * s.a_bits, "lut": float(lut),
            "bram18": 0.0 if in_lutram else float(bram_blocks(depth, width)), "ff": float(width * kh), "dsp": 0.0}


def layer_swg(layer, a_bits: int, simd: int = 1) -> SWG:
    """The sliding-window generator of a 2-D conv layer (its input padded as a stride-1 view needs)."""
    kh, kw = layer.kernel_shape
    oh, ow = layer.output_shape[2:]
    ih, iw = layer.input_shape[2:]
    return SWG((max(ih, oh + kh - 1), max(iw, ow + kw - 1)), layer.input_shape[1], (kh, kw), (oh, ow), a_bits, simd)


def fmax_estimate(w_bits: int, a_bits: int, simd: int, use_dsp: bool, family: str = "xc7") -> float:
    """Estimated Fmax (MHz) of an MVAU from its logic depth (module docstring)."""
    from ohq_flow.hw.rtl.yosys import depth_delay_ns
    levels = (2 if use_dsp else math.ceil((w_bits + a_bits) / 6)) + math.ceil(math.log2(max(simd, 1))) + 1
    return round(1000.0 / depth_delay_ns(levels, family), 3)


def estimate_layer(layer, w_bits: int, a_bits: int, *, pe: int = 1, simd: int = 1, clock_ns: float | None = None,
                   part: str = "", ram_style: str = "auto", res_type: str = "auto",
                   acc_bits: int | None = None, family: str | None = None) -> CostRow:
    """The ``analytic`` CostRow of a LayerInfo (dense: one MVAU; conv: SWG + MVAU in a stream).

    Conv: MH = C_out, MW = C_in/g·k_h·k_w (a grouped conv is costed as its block-diagonal kernel,
    without zero-skipping), vectors = output pixels. Latency = SWG fill + MVAU cycles; II = the
    slower of the two. With ``family`` the row carries the depth-model ``fmax_mhz``.
    """
    a_signed = bool(layer.input_quant.signed) if layer.input_quant is not None and layer.input_quant.signed is not None else True
    mh, mw, pixels = mvau_dims(layer)
    est = mvau_estimate(MVAU(mh=mh, mw=mw, pe=pe, simd=simd, w_bits=w_bits, a_bits=a_bits, pixels=pixels,
                             a_signed=a_signed, acc_bits=acc_bits, ram_style=ram_style, res_type=res_type))
    lat, ii = float(est["cycles"]), float(est["cycles"])
    res = {m: est[m] for m in ("lut", "ff", "bram18", "dsp", "uram")}
    note = f"MH={mh} MW={mw} PE={est['pe']} SIMD={est['simd']} acc={est['acc_bits']}"
    if layer.op_type == "Conv" and len(layer.input_shape) == 4 and len(layer.kernel_shape) == 2:
        sw = swg_estimate(layer_swg(layer, a_bits, simd))
        lat = float(sw["fill_cycles"] + est["cycles"])
        ii = float(max(sw["cycles"], est["cycles"]))
        for m in ("lut", "ff", "bram18"):
            res[m] += sw[m]
        note += f" SWG buffer={sw['buffer_bits']}b"
    fmax = None
    if family is not None:
        fmax = fmax_estimate(w_bits, a_bits, est["simd"], res["dsp"] > 0, family)
        note += f" fmax=estimate({fmax:g} MHz)"
    return CostRow(layer=layer.name, w_bits=int(w_bits), a_bits=int(a_bits), latency_cycles=lat, ii_cycles=ii,
                   clock_ns=clock_ns, fmax_mhz=fmax, source="analytic", fidelity="estimate", tool="ohq_flow.analytic",
                   tool_version="1", part=part, error=note, **res)


__all__ = ["C0", "C1", "MVAU", "SWG", "estimate_layer", "fmax_estimate", "layer_swg", "min_accumulator_bits",
           "mvau_estimate", "swg_estimate"]
