"""First-order LUT estimate of the complete design: the kernels (da4ml's own cost) plus the glue.

The ILP budgets kernels only; this adds what the streaming glue costs, per stage, from the stage
records of ``design.json`` (7-series / ECP5 LUT counts, no packing):

* requant, thresholds: one constant comparison per threshold, ~TW/2 LUTs (carry chain), plus the level count;
* requant, multiply-shift: the bias add, rounding and clip, ~3 LUTs per bit of TW, plus the product when M > 1;
* window: the zero-padding/stride multiplexers, one LUT per window element bit, plus line buffers in LUT-RAM
  (64 bits per LUT);
* max/sum pool: one compare-and-select (or add) per element bit and window position;
* fifo (skip) and each kernel's output FIFO: LUT-RAM, 32 bits per LUT, plus pointers;
* add: one LUT per output bit; collect, fork: registers only.

It is a model, not a measurement: ``bench/bench_design.py`` sets it against Yosys.
"""

from __future__ import annotations

import math


def _tw(s: dict) -> int:
    lo, hi = s.get("acc_range", [0, 1])
    return max(abs(int(lo)), abs(int(hi)), 1).bit_length() + 2


def stage_lut(s: dict) -> float:
    """Estimated LUTs of one stage record (kernels: da4ml's cost + the output FIFO)."""
    k = s["kind"]
    if k == "kernel":
        fifo_bits = s["out_width"] * (s.get("latency", 0) + 2)
        return float(s.get("da4ml_cost", 0.0)) + fifo_bits / 32 + 8
    if k == "requant":
        c, tw = s["out_width"] // max(1, s["out_bits"]), _tw(s)
        if s["method"] == "thresholds":
            return c * (s["levels"] * tw / 2 + s["out_bits"])
        mult = max(int(v) for v in s["mult"])
        prod = 0 if mult & (mult - 1) == 0 else tw * mult.bit_length() / 2
        return c * (3 * tw + prod)
    if k == "window":
        elem_bits = s["out_width"]
        buf_bits = s["R"] * s["W"] * s["in_width"]
        return elem_bits + buf_bits / 64 + 2 * math.ceil(math.log2(max(2, s["W"] * s["H"])))
    if k in ("maxpool", "sumpool"):
        return s["out_width"] * (s["K"] - 1)
    if k == "fifo":
        return s["W"] * s["DEPTH"] / 32 + 2 * s["CW"]
    if k == "add":
        return s["out_width"]
    if k == "argmax":
        return s["C"] * (s["EW"] + s["IW"])
    return 0.0


def estimate_lut(meta: dict) -> dict:
    """{"kernels": da4ml's LUT sum, "glue": the glue model, "total": both} for a design.json."""
    kernels = sum(float(s.get("da4ml_cost", 0.0)) for s in meta["stages"] if s["kind"] == "kernel")
    total = sum(stage_lut(s) for s in meta["stages"])
    return {"kernels": round(kernels), "glue": round(total - kernels), "total": round(total)}
