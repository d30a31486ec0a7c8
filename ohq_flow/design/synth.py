"""Whole-design Yosys synthesis, per part: each kernel on its own and the glue with the kernels as black boxes.

The flat run (``measure_yosys`` on every source with ``-flatten``) puts the whole network into one
module and one ABC run; its time is dominated by the largest kernels. Here each da4ml kernel (its
wrapper as top) is synthesised on its own, remembered in the content cache by its sources (a
kernel met again — the next run of the benchmark, the same layer at the same bits — costs
nothing), and the glue (the top and the building blocks) once with every kernel wrapper read as a
black box. The design's counts are the sums; the glue has its own line. No optimisation crosses a
kernel's boundary (the flat run may propagate constants, e.g. a kernel's constant output bits,
into the glue): docs/design.md compares the two on two designs.
"""

from __future__ import annotations

from pathlib import Path

from ohq_flow.hw.rtl.yosys import YosysResult, measure_yosys_cached

COUNTS = ("lut", "lutram", "ff", "carry", "dsp", "bram18")   # lut includes lutram (LUTs as memory)


def _counts(r: YosysResult) -> dict:
    return {k: getattr(r, k) for k in COUNTS}


def measure_design_parts(design, *, family: str, work_dir: Path, cache_dir: Path, timeout_s: float) -> dict:
    """{"kernels": {stage index: counts}, "glue": counts, "whole": sums, "seconds": Yosys time spent,
    "from_cache": how many parts came from the cache} for a generated :class:`~ohq_flow.design.rtl.Design`."""
    work_dir = Path(work_dir)
    rtl = {p.name: p for p in design.sources}
    kernels, wrappers, seconds, cached = {}, [], 0.0, 0
    for i, k in sorted(design.kernels.items()):
        srcs = [rtl[s.name] for s in k.sources]          # the copies in the design's rtl/ (what the top reads)
        wrapper = f"{k.top}_wrapper"
        wrappers += [p for p in srcs if p.name == f"{wrapper}.v"]
        res, hit = measure_yosys_cached(srcs, wrapper, family=family, work_dir=work_dir / f"kernel_{i}",
                                        timeout_s=timeout_s, cache_dir=cache_dir)
        kernels[i] = _counts(res)
        seconds, cached = seconds + (0.0 if hit else res.seconds), cached + hit
    kernel_files = {p.name for k in design.kernels.values() for p in k.sources}
    glue_srcs = [p for p in design.sources if p.name not in kernel_files]
    res, hit = measure_yosys_cached(glue_srcs, design.top, family=family, work_dir=work_dir / "glue", timeout_s=timeout_s,
                                    cache_dir=cache_dir, blackboxes=wrappers)
    glue = _counts(res)
    seconds, cached = seconds + (0.0 if hit else res.seconds), cached + hit
    whole = {c: glue[c] + sum(k[c] for k in kernels.values()) for c in COUNTS}
    return {"kernels": kernels, "glue": glue, "whole": whole, "seconds": round(seconds, 1), "from_cache": cached,
            "depth_glue": res.depth}
