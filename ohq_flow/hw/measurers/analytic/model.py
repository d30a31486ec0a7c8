"""FINN-R style resource and cycle model of a folded matrix-vector unit (MVAU) and its sliding window.

Sources (formulas re-derived from the publications, not copied code):

* **Cycles** — FINN-R (Blott et al., ACM TRETS 2018, §4): an MVAU with ``PE`` rows and ``SIMD``
  columns in parallel folds an ``MH × MW`` matrix into ``(MH/PE)·(MW/SIMD)`` cycles per input
  vector; a convolution feeds one vector per output pixel.
* **LUT** — the FINN-R LUT cost model as documented by FINN (``c0 + c1·PE·(mult + adder tree +
  accumulator + thresholds) + c2``; c0 = 300, c1 = 1.1 are the published fit constants):
  a LUT multiplier of ``W×A`` bits costs ``(2·ceil((W+A)/6) − 1)·(W+A)`` LUTs per SIMD lane, the
  adder tree ``(W+A)·(2·SIMD − 1)``, the accumulator one LUT per bit; activation thresholds held
  in LUTs add ``2·(2^B − 1)·acc·ceil(TMEM/64)`` (storage + comparators, B output bits,
  TMEM = MH/PE); weights in distributed RAM add ``c2 = PE·SIMD·W·ceil(WMEM/64)``.
* **Accumulator width** — the data-type bound on a dot product of MW terms (as in FINN's minimal
  accumulator rule, A2Q, Colbert et al. 2023): ``α = log2(MW) + W + A − 1 − signed(A)``,
  ``acc = ceil(α + log2(1 + 2^−α) + 1)``; a known accumulator width (e.g. the layer's threshold
  width) can be given instead.
* **BRAM18** — weight memory of depth ``WMEM = MH·MW/(PE·SIMD)`` and width ``PE·SIMD·W`` packed in
  RAMB18 simple-dual-port aspect ratios (Xilinx UG473/UG573: 16K×1, 8K×2, 4K×4, 2K×9, 1K×18,
  512×36): blocks = ceil(depth/rows)·ceil(width/cols) for the narrowest fitting ratio (≥ 18 bits wide
  memories deeper than 512 use 1K×18). Zero when the memory is distributed.
* **DSP** — 0 when either operand has ≤ 4 bits (LUT multipliers, FINN's ``resType=lut``);
  otherwise ``PE·SIMD·ceil((W+A)/48)`` DSP48 slices (FINN's ``resType=dsp`` rule) and no LUT multipliers.
* **FF** — FINN publishes no FF model; a rough register count (one per accumulator bit and per
  operand bit of each lane) is given and labelled as such.
* **Clock** (an estimate, labelled so): the MVAU's critical path is its multiplier (LUT
  multiplier: ``ceil((W+A)/6)`` logic levels; DSP: 2), its SIMD adder tree (``ceil(log2 SIMD)``
  levels) and the accumulator (1); the period is ``T0 + levels · T_LEVEL`` with the per-family
  delays the Yosys measurer uses. Wider SIMD and wider operands close timing at a lower clock.
* **SWG** — the convolution input generator buffers ``(k_h − 1)·IFM_W·C + k_w·C`` elements and
  emits ``OFM_pixels·k_h·k_w·C/SIMD`` words; its cycles are that plus the buffer fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ohq_flow.errors import InputError
from ohq_flow.tables.costs import CostRow

C0, C1 = 300.0, 1.1
LUTRAM_DEPTH = 64              # bits per LUT as distributed RAM (RAM64X1)
RAMB18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))


def largest_divisor(n: int, cap: int) -> int:
    cap = max(1, min(cap, n))
    return next(d for d in range(cap, 0, -1) if n % d == 0)


def min_accumulator_bits(mw: int, w_bits: int, a_bits: int, a_signed: bool) -> int:
    """Smallest accumulator for MW products of W- and A-bit operands (FINN's data-type bound)."""
    alpha = math.log2(max(mw, 1)) + w_bits + a_bits - 1 - int(a_signed)
    return int(math.ceil(alpha + math.log2(1 + 2.0 ** -alpha) + 1))


def bram18_for_memory(depth: int, width: int) -> int:
    """RAMB18 blocks for a depth × width memory in the SDP aspect ratios of UG573."""
    if depth <= 0 or width <= 0:
        return 0
    for cols, rows in RAMB18_SHAPES[:4]:  # narrow memories: one block column
        if width <= cols:
            return math.ceil(depth / rows)
    if width <= 18 or depth > 512:
        return math.ceil(depth / 1024) * math.ceil(width / 18)
    return math.ceil(depth / 512) * math.ceil(width / 36)


@dataclass
class MVAU:
    """One folded matrix-vector(-activation) unit."""

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

    def folded(self) -> "MVAU":
        """PE/SIMD reduced to divisors of MH/MW (FINN's folding constraint)."""
        from dataclasses import replace
        return replace(self, pe=largest_divisor(self.mh, self.pe), simd=largest_divisor(self.mw, self.simd))


def mvau_estimate(u: MVAU) -> dict:
    """Cycles, LUT, FF, BRAM18, DSP of one MVAU (module docstring for the formulas)."""
    if min(u.mh, u.mw, u.pe, u.simd, u.w_bits, u.a_bits, u.pixels) < 1:
        raise InputError(f"MVAU parameters must be >= 1, got {u}")
    u = u.folded()
    p, q, w, a = u.pe, u.simd, u.w_bits, u.a_bits
    wmem = (u.mh // p) * (u.mw // q)
    cycles = wmem * u.pixels
    acc = u.acc_bits if u.acc_bits is not None else min_accumulator_bits(u.mw, w, a, u.a_signed)
    use_dsp = u.res_type == "dsp" or (u.res_type == "auto" and min(w, a) > 4)
    mult = 0 if use_dsp else q * (2 * math.ceil((w + a) / 6) - 1) * (w + a)
    adder = (w + a) * (2 * q - 1)
    thr = comp = 0
    if u.out_bits is not None and u.threshold_luts:
        levels = 2 ** u.out_bits - 1
        thr = levels * acc * math.ceil((u.mh // p) / LUTRAM_DEPTH)
        comp = levels * acc
    distributed = u.ram_style == "distributed"
    c2 = p * q * w * math.ceil(wmem / LUTRAM_DEPTH) if distributed else 0
    lut = int(C0 + C1 * p * (mult + adder + acc + thr + comp) + c2)
    bram = 0 if distributed else bram18_for_memory(wmem, p * q * w)
    dsp = p * q * math.ceil((w + a) / 48) if use_dsp else 0
    ff = p * (acc + q * (w + a))
    return {"cycles": cycles, "lut": float(lut), "ff": float(ff), "bram18": float(bram), "dsp": float(dsp),
            "uram": 0.0, "acc_bits": acc, "wmem_depth": wmem, "pe": p, "simd": q}


@dataclass
class SWG:
    """Sliding-window (convolution input) generator."""

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
    buf_bits = buf_elems * s.a_bits
    depth, width = math.ceil(buf_elems / simd), simd * s.a_bits
    in_lutram = depth <= 2 * LUTRAM_DEPTH
    lut = C0 + (math.ceil(depth / LUTRAM_DEPTH) * width if in_lutram else 0)
    return {"cycles": out_words + fill, "fill_cycles": fill, "buffer_bits": buf_bits, "lut": float(lut),
            "bram18": 0.0 if in_lutram else float(bram18_for_memory(depth, width)), "ff": float(width * kh),
            "dsp": 0.0}


def fmax_estimate(w_bits: int, a_bits: int, simd: int, use_dsp: bool, family: str = "xc7") -> float:
    """Estimated Fmax (MHz) of an MVAU from its logic depth (module docstring)."""
    from ohq_flow.hw.rtl.yosys import LEVEL_DELAY_NS
    t0, per_level = LEVEL_DELAY_NS.get(family, LEVEL_DELAY_NS["xc7"])
    levels = (2 if use_dsp else math.ceil((w_bits + a_bits) / 6)) + math.ceil(math.log2(max(simd, 1))) + 1
    return round(1000.0 / (t0 + per_level * levels), 3)


def mvau_dims(layer) -> tuple[int, int, int]:
    """(MH, MW, input vectors) of a layer as an MVAU: conv MH = C_out, MW = C_in/g·k_h·k_w, vectors = pixels."""
    if layer.op_type == "Conv":
        c_out, cin_g = layer.weight_shape[0], layer.weight_shape[1]
        k = math.prod(layer.kernel_shape) if layer.kernel_shape else 1
        return c_out, cin_g * k, math.prod(layer.output_shape[2:])
    mw, mh = layer.weight_shape[0], layer.weight_shape[1]
    if layer.op_type == "Gemm" and len(layer.input_shape) == 2 and layer.input_shape[1] != mw:
        mh, mw = mw, mh  # transB
    pixels = math.prod(layer.output_shape[1:-1]) if len(layer.output_shape) > 2 else 1
    return mh, mw, pixels


def estimate_layer(layer, w_bits: int, a_bits: int, *, pe: int = 1, simd: int = 1, clock_ns: float | None = None,
                   part: str = "", ram_style: str = "auto", res_type: str = "auto",
                   acc_bits: int | None = None, family: str | None = None) -> CostRow:
    """Analytic CostRow of a LayerInfo (dense: one MVAU; conv: SWG + MVAU in a stream).

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
        kh, kw = layer.kernel_shape
        oh, ow = layer.output_shape[2:]
        ih, iw = layer.input_shape[2:]
        ih, iw = max(ih, oh + kh - 1), max(iw, ow + kw - 1)  # with padding (stride 1 view)
        sw = swg_estimate(SWG((ih, iw), layer.input_shape[1], (kh, kw), (oh, ow), a_bits, simd))
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
