"""LUT/FF estimate of the complete design: the kernels (da4ml's own cost) plus the glue.

The ILP budgets kernels only; this adds what the streaming glue costs, per stage, from the stage
records of ``design.json``. Each glue block's count is a linear model of a few features of its
record (:func:`features`: compared/added/stored bits, channels, buffer bits) with coefficients
fitted to Yosys (``synth_xilinx -family xc7``) runs of that block alone at several widths and
geometries: ``glue_fit.json`` next to this file, made by ``python -m bench.calibrate_glue`` (the
points, the fit and its largest error per block are in the file). Kernels count da4ml's adder
cost (``da4ml_cost``); a kernel's output FIFO and flow control (``ohq_kernel_ctrl``) is glue.

It is a model, not a measurement: ``bench/bench_design.py`` sets it against Yosys on whole designs
(docs/benchmarks.md, section design).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

FIT_PATH = Path(__file__).with_name("glue_fit.json")


def block(s: dict) -> str:
    """The calibrated block a stage record is an instance of."""
    if s["kind"] == "requant":
        return "requant_thr" if s["method"] == "thresholds" else "requant_ms"
    return s["kind"]


def features(s: dict) -> dict:
    """The fitted model's inputs for one stage record (every value >= 0)."""
    k = block(s)
    if k == "kernel":      # the output FIFO of ohq_kernel_ctrl: OUT_W bits x (LAT + 2) words
        w, d = s["out_width"], s.get("latency", 0) + 2
        return {"width": w, "width_x_deep": w * max(0, math.ceil(d / 32) - 1), "one": 1}
    if k.startswith("requant"):
        c = s["out_width"] // max(1, s["out_bits"])
        aw = s["in_width"] // max(1, c)
        if k == "requant_thr":
            nt = s.get("nt", s.get("levels", 1))
            # NT constant comparisons of AW bits and the count of those passed: ~0.2-0.4 LUT per compared bit in the
            # calibration (1 to 255 thresholds), no clear trend with NT, so linear (extrapolates safely)
            return {"cmp_bits": c * nt * aw, "channels": c, "out_bits": s["out_width"]}
        mbits = max(int(v) for v in s["mult"]).bit_length()
        pow2 = all(int(v) & (int(v) - 1) == 0 for v in s["mult"])
        tw = s.get("tw", aw + mbits + 2)
        # M > 1: a constant multiplication, in DSP slices where Yosys maps it there
        return {"add_bits": c * tw, "mul_bits": 0 if pow2 else c * aw * mbits, "multipliers": 0 if pow2 else c,
                "out_bits": s["out_width"]}
    if k == "window":
        # the line buffer: R*W words of one pixel, read KH rows at a time; Yosys puts it into LUT-RAM
        # (RAM32M/RAM64M, ~2 LUTs per bit, row read and 32 words) up to 64 words, or narrower than 32 bits, else
        # into block RAM (the rule observed in the calibration runs)
        words, rows = s["R"] * s["W"], s.get("KH", 1)
        lutram = words <= 64 or s["in_width"] < 32
        return {"elem_bits": s["out_width"], "pix_bits": s["in_width"],
                "lutram_bits": s["in_width"] * rows * math.ceil(words / 32) if lutram else 0,
                "bram_buffers": 0 if lutram else rows * math.ceil(s["in_width"] / 36), "one": 1}
    if k == "maxpool":
        return {"cmp_bits": s["C"] * s["EW"] * (s["K"] - 1), "channels": s["C"], "out_bits": s["out_width"]}
    if k == "sumpool":
        return {"add_bits": s["C"] * s.get("OW", s["EW"]) * (s["K"] - 1), "out_bits": s["out_width"]}
    if k == "collect":
        return {"bits": s["N"] * s["BW"], "one": 1}
    if k == "fifo":
        return {"width": s["W"], "width_x_deep": s["W"] * max(0, math.ceil(s["DEPTH"] / 32) - 1), "one": 1}
    if k == "add":                    # with the fork before it
        return {"bits": s["C"] * s["OW"], "one": 1}
    if k == "argmax":
        return {"bits": s["C"] * (s["EW"] + s["IW"]), "one": 1}
    return {"one": 1}                 # the top (once per design)


@lru_cache(maxsize=1)
def _fit() -> dict:
    return json.loads(FIT_PATH.read_text())["fit"]


def stage_cost(s: dict, metric: str = "lut") -> float:
    """Estimated ``metric`` (lut, ff, dsp or bram18) of one stage's glue (a kernel stage: its FIFO and control, not the kernel)."""
    f = _fit().get(block(s))
    if f is None:                     # the fork is calibrated with the add it feeds (a residual block has one of each);
        return 0.0                    # a folded MVAU is listed by estimate_lut as not estimated
    x = features(s)
    return float(sum(c * x[n] for c, n in zip(f[metric], f["features"])))


def stage_lut(s: dict) -> float:
    """Estimated LUTs of one stage record (kernels: da4ml's cost + the output FIFO and control)."""
    return stage_cost(s) + (float(s.get("da4ml_cost", 0.0)) if s["kind"] == "kernel" else 0.0)


def estimate_lut(meta: dict) -> dict:
    """{"kernels": da4ml's LUT sum, "glue": the glue model's LUTs, "total": both, "glue_ff"/"glue_dsp"/"glue_bram18":
    the glue's other resources, "not_estimated": nodes of folded MVAU stages (neither kernel nor glue here)} for a
    design.json."""
    kernels = sum(float(s.get("da4ml_cost", 0.0)) for s in meta["stages"] if s["kind"] == "kernel")
    stages = [{"kind": "top"}] + list(meta["stages"])       # the top's own logic (the frame's tlast counter) once
    glue = sum(stage_cost(s) for s in stages)
    return {"kernels": round(kernels), "glue": round(glue), "total": round(kernels + glue),
            **{f"glue_{m}": round(sum(stage_cost(s, m) for s in stages), 1) for m in ("ff", "dsp", "bram18")},
            "not_estimated": [s["node"] for s in meta["stages"] if s["kind"] == "mvau"]}
