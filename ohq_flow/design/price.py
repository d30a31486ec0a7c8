"""What each stage of the complete design costs, in the board family's own units — the one price list.

The ILP (through :mod:`ohq_flow.design.terms`), the build's prediction and the benchmarks all price a
design from its stage records (``design.json``'s ``stages``, or the same records planned without RTL)
with :func:`stage_price`:

* **glue blocks** (window, requantiser, pooling, collect, FIFO, fork + add, argmax, a kernel's output
  FIFO and control, the top): a linear model of a few features of the record (:func:`features`:
  compared/added/stored bits, channels, buffer bits) with coefficients fitted to Yosys runs of that
  block alone at several widths and geometries (``glue_fit_<family>.json``, made by
  ``python -m bench.calibrate_glue --family <family>``; the points, the fit and its largest error per
  block are in the file);
* **folded layers** (``mvau``): :mod:`ohq_flow.design.mvau` (its LUT/FF fit lives in the same file);
* **unrolled kernels**: the cost table's row of the layer candidate (measured by the profile step),
  plus the kernel's output FIFO and control (glue).

Families: ``xc7`` (LUT6, Yosys ``synth_xilinx``; ``xcup``/``xcu`` use it too, stated in reports) and
``ecp5`` (LUT4-equivalents as :func:`ohq_flow.hw.rtl.yosys.resource_counts` counts them, ``synth_ecp5``).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from ohq_flow.design.mvau import BRAM_MIN_DEPTH, MvauShape, rule_counts
from ohq_flow.design.mvau import features as mvau_features
from ohq_flow.design.requant import needs_multiplier
from ohq_flow.errors import InputError

METRICS = ("lut", "ff", "dsp", "bram18")
FIT_DIR = Path(__file__).parent
LUTRAM_WORDS = {"ecp5": 16, "xc7": 32}       # words of one distributed-RAM primitive (DPR16X4, RAM32M)
LUTRAM_MAX_WORDS_XC7 = 64                    # xc7: deeper line buffers go to block RAM (the rule seen in calibration)


def fit_family(family: str) -> str:
    """The calibrated family a Yosys family is priced with (UltraScale parts: the 7-series fit)."""
    return "ecp5" if family == "ecp5" else "xc7"


def fit_path(family: str) -> Path:
    return FIT_DIR / f"glue_fit_{fit_family(family)}.json"


@lru_cache(maxsize=4)
def fit_doc(family: str) -> dict:
    """The calibration file of ``family`` (InputError naming the command that makes it when missing)."""
    path = fit_path(family)
    if not path.is_file():
        raise InputError(f"no design calibration for family {family!r} ({path.name})",
                         f"run python -m bench.calibrate_glue --family {fit_family(family)}")
    return json.loads(path.read_text())


def lutram_line_buffer(words: int, width: int, family: str) -> bool:
    """Whether Yosys maps a line buffer of ``words`` x ``width`` bits to distributed RAM (else block RAM).

    ECP5: ``memory_libmap``'s cost comparison (``share/yosys/ecp5/lutrams.txt``, ``brams.txt``): DPR16X4
    primitives (16 words x 4 bits, cost 4 each) against PDPW16KD blocks (36 bits wide, cost 128 each), a tie
    going to block RAM — it agrees with every calibrated window. xc7: up to 64 words, or narrower than 32 bits."""
    if fit_family(family) == "ecp5":
        return 4 * math.ceil(words / 16) * math.ceil(width / 4) < 128 * math.ceil(width / 36)
    return words <= LUTRAM_MAX_WORDS_XC7 or width < 32


def block(s: dict) -> str:
    """The calibrated block a stage record is an instance of."""
    if s["kind"] == "requant":
        fused = "_fused" if s.get("fused") else ""
        return f"requant{fused}_thr" if s["method"] == "thresholds" else f"requant{fused}_ms"
    if s["kind"] == "window" and s.get("H") == 1:     # 1-D (a row of pixels): calibrated apart from 2-D windows
        return "window1d"
    return s["kind"]


def multiplier_tiles(a: int, b: int, family: str) -> int:
    """DSP blocks of one ``a`` x ``b``-bit signed product: MULT18X18D tiles on ECP5, DSP48E1 (25 x 18) on AMD."""
    if a <= 0 or b <= 0:
        return 0
    a, b = max(a, b), min(a, b)
    return math.ceil(a / (18 if fit_family(family) == "ecp5" else 25)) * math.ceil(b / 18)


def features(s: dict, family: str = "xc7") -> dict:
    """The fitted model's inputs for one stage record (every value >= 0)."""
    fam = fit_family(family)
    k = block(s)
    if k == "kernel":      # the output FIFO of ohq_kernel_ctrl: OUT_W bits x (LAT + 2) words
        w, d = s["out_width"], s.get("latency", 0) + 2
        return {"width": w, "width_x_deep": w * max(0, math.ceil(d / LUTRAM_WORDS[fam]) - 1), "one": 1}
    if k.startswith("requant_fused"):        # inside an MVAU, P lanes over N steps: the lanes, the constants' ROM, the results
        lanes, n, aw = s["lanes"], s["steps"], s["acc_width"]
        c = lanes * n
        tw = s.get("tw", aw + 2)
        per_lut = LUTRAM_WORDS[fam] if fam == "ecp5" else 64
        if k == "requant_fused_thr":
            nt = s.get("nt", s.get("levels", 1))
            dir_bit = 1 if s.get("falling") or s.get("const_channels") else 0   # the ROM's direction column (else 0)
            kw = (nt + 1) * tw + dir_bit            # one channel's constants (a registered ROM word per lane)
            return {"cmp_bits": lanes * nt * tw, "rom_bits": lanes * kw * math.ceil(n / per_lut), "const_bits": lanes * kw,
                    "res_bits": c * s["out_bits"], "one": 1}
        # one factor for every channel, a power of two: a constant shift, no multiplier
        mul = needs_multiplier(s["mult"]) or len(set(s["mult"])) > 1
        mbits = max(abs(int(v)) for v in s["mult"]).bit_length() + 1 if mul else 0
        return {"add_bits": lanes * tw, "mul_bits": lanes * aw * mbits, "multipliers": lanes * multiplier_tiles(mbits, aw + 1, fam),
                "rom_bits": lanes * 4 * tw * math.ceil(n / per_lut), "const_bits": lanes * 4 * tw, "res_bits": c * s["out_bits"],
                "one": 1}
    if k.startswith("requant"):
        c = s["out_width"] // max(1, s["out_bits"])
        aw = s["in_width"] // max(1, c)
        live = c - s.get("const_channels", 0)         # a channel of one code is a constant: no logic
        if k == "requant_thr":
            nt = s.get("nt", s.get("levels", 1))      # a falling channel's direction inverts constant comparators: free
            return {"cmp_bits": live * nt * aw, "channels": c, "out_bits": s["out_width"]}
        mbits = max(abs(int(v)) for v in s["mult"]).bit_length()
        pow2 = not needs_multiplier(s["mult"])
        tw = s.get("tw", aw + mbits + 2)
        return {"add_bits": live * tw, "mul_bits": 0 if pow2 else live * aw * mbits, "multipliers": 0 if pow2 else live,
                "out_bits": s["out_width"]}
    if k in ("window", "window1d"):
        # the line buffer: R*W words of one pixel, read KH rows at a time, in distributed or block RAM
        # (lutram_line_buffer); read from distributed RAM, the window's output is registered apart (lutram_elem_bits)
        # and each output bit selects among the buffer's distributed-RAM banks (lutram_mux_bits)
        words, rows = s["R"] * s["W"], s.get("KH", 1)
        lutram = lutram_line_buffer(words, s["in_width"], fam)
        banks = math.ceil(words / LUTRAM_WORDS[fam])
        return {"elem_bits": s["out_width"], "lutram_elem_bits": s["out_width"] if lutram else 0,
                "lutram_mux_bits": s["out_width"] * (banks - 1) if lutram else 0, "pix_bits": s["in_width"],
                "lutram_bits": s["in_width"] * rows * math.ceil(words / LUTRAM_WORDS[fam]) if lutram else 0,
                "bram_buffers": 0 if lutram else rows * math.ceil(s["in_width"] / 36), "one": 1}
    if k == "maxpool":
        return {"cmp_bits": s["C"] * s["EW"] * (s["K"] - 1), "channels": s["C"], "out_bits": s["out_width"]}
    if k == "sumpool":
        return {"add_bits": s["C"] * s.get("OW", s["EW"]) * (s["K"] - 1), "out_bits": s["out_width"]}
    if k == "collect":
        return {"bits": s["N"] * s["BW"], "one": 1}
    if k == "fifo":
        return {"width": s["W"], "width_x_deep": s["W"] * max(0, math.ceil(s["DEPTH"] / LUTRAM_WORDS[fam]) - 1), "one": 1}
    if k == "add":                    # with the fork before it
        return {"bits": s["C"] * s["OW"], "one": 1}
    if k == "argmax":
        return {"bits": s["C"] * (s["EW"] + s["IW"]), "one": 1}
    if k == "mvau":
        return mvau_features(mvau_shape(s), fam, s.get("fused", 0))
    return {"one": 1}                 # the top (once per design)


def mvau_shape(s: dict) -> MvauShape:
    """The MVAU of a stage record (``kind: mvau``)."""
    return MvauShape(mw=s["inputs"], mh=s["outputs"], pe=s["PE"], simd=s["SIMD"], iw=s["a_bits"], wb=s["wb"], dead=s.get("dead", 0),
                     aw=s["acc_width"])


def _linear(fit: dict, x: dict, metric: str) -> float:
    return float(sum(c * x[n] for c, n in zip(fit[metric], fit["features"])))


def glue_price(s: dict, family: str) -> dict[str, float]:
    """lut/ff/dsp/bram18 of one stage record's glue (a kernel stage: its FIFO and control, not the kernel;
    a fork: priced with the add it feeds); InputError for a block without a calibration."""
    fit = fit_doc(family)["fit"].get(block(s))
    if fit is None:
        if s["kind"] == "fork":                 # calibrated with the add it feeds
            return dict.fromkeys(METRICS, 0.0)
        raise InputError(f"{fit_path(family).name} has no calibration of block {block(s)} (a cost is never taken as 0)",
                         f"run python -m bench.calibrate_glue --family {fit_family(family)} --only {block(s)}")
    x = features(s, family)
    return {m: max(0.0, _linear(fit, x, m)) for m in METRICS}


def mvau_price(s: dict, family: str) -> dict[str, float]:
    """lut, ff (calibrated), dsp (one per lane with DSP products), bram18 (the weight memory's shape) of an MVAU; a
    lane whose weights are all zero costs none of them (its memory columns and products are constants)."""
    u = mvau_shape(s)
    fit = fit_doc(family)["fit"].get("mvau")
    if fit is None:
        raise InputError(f"{fit_path(family).name} has no MVAU calibration",
                         f"run python -m bench.calibrate_glue --family {fit_family(family)} --only mvau")
    x = features(s, family)
    return {**{m: max(0.0, _linear(fit, x, m)) for m in ("lut", "ff")}, **rule_counts(u)}


def stage_price(s: dict, family: str, kernel: dict | None = None) -> dict[str, float]:
    """Everything one stage record costs: glue blocks and MVAUs from the calibration; an unrolled kernel stage from
    ``kernel`` (its measured lut/ff/dsp/bram18, e.g. the cost table's row) plus its output FIFO and control."""
    if s["kind"] == "mvau":
        return mvau_price(s, family)
    out = glue_price(s, family)
    if s["kind"] == "kernel":
        if kernel is None:
            raise InputError(f"stage {s.get('node')}: an unrolled kernel needs its measured cost to be priced")
        for m in METRICS:
            v = kernel.get(m)
            if v is None:
                raise InputError(f"stage {s.get('node')}: the kernel's {m} is not known (a cost is never taken as 0)")
            out[m] += float(v)
    return out


def top_price(family: str) -> dict[str, float]:
    """The top's own logic (the frame's tlast counter), once per design."""
    return glue_price({"kind": "top"}, family)


def max_rel_error(family: str) -> dict[str, dict[str, float]]:
    """Per calibrated block, the fit's largest relative error per metric (the label of a glue estimate)."""
    return {b: {m: f.get(f"{m}_max_rel_err") for m in METRICS} for b, f in fit_doc(family)["fit"].items()}


def post_route_fit(family: str, implemented: bool = True) -> dict[str, dict]:
    """The family's synthesis -> place-and-route calibration (``impl_fit_<family>.json``, made by
    ``python -m bench.calibrate_impl`` from measured implementations): metric -> {coef: {synth metric: factor},
    const (the board shell and what place and route adds, when ``implemented``), max_rel_err, points, describe}.
    Empty when the family has none (no open place and route for it here)."""
    path = FIT_DIR / f"impl_fit_{family}.json"
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text())
    out = {}
    for m, f in doc["fit"].items():
        const = float(f.get("const", 0.0)) if implemented else 0.0
        terms = " + ".join(f"{c:g}*{k}" for k, c in f["coef"].items())
        out[m] = {"coef": dict(f["coef"]), "const": const, "max_rel_err": f.get("max_rel_err"), "points": f.get("points"),
                  "describe": f"post-route = {terms}" + (f" + {const:,.0f}" if const else "")
                              + f" (max error {100 * f.get('max_rel_err', 0):.0f}% on {f.get('points')} designs)"}
    return out


def post_route(synth: dict[str, float], fit: dict[str, dict]) -> dict[str, float]:
    """Predicted post-route counts of synthesised ``synth`` counts (metrics without a calibration: as synthesised)."""
    out = dict(synth)
    for m, f in fit.items():
        out[m] = sum(c * float(synth.get(k, 0.0)) for k, c in f["coef"].items()) + f["const"]
    return out


__all__ = ["post_route", "post_route_fit", "BRAM_MIN_DEPTH", "METRICS", "block", "features", "fit_doc", "fit_path", "glue_price",
           "lutram_line_buffer", "max_rel_error",
           "mvau_price", "mvau_shape", "stage_price", "top_price"]
