"""The cost-job functions, one per measurer (run in a child process by :mod:`ohq_flow.hw.jobs`).

Each takes a :class:`~ohq_flow.hw.jobs.JobContext` whose payload is a
:class:`~ohq_flow.hw.profile.LayerHW` and returns a :class:`~ohq_flow.hw.costs.CostRow`.
"""

from __future__ import annotations

import math

from ohq_flow.hw.costs import CostRow
from ohq_flow.hw.profile import FIDELITY, LayerHW, streaming


def _row(p: LayerHW, source: str, **kw) -> CostRow:
    return CostRow(layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits, clock_ns=p.clock_ns, part=p.part,
                   source=source, fidelity=FIDELITY[source], **kw)


def job_yosys(ctx) -> CostRow:
    """da4ml RTL of the layer kernel, synthesised by Yosys synth_xilinx."""
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    from ohq_flow.hw.rtl.yosys import measure_yosys
    p: LayerHW = ctx.payload
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    srcs = [s for s in design.sources if not s.name.endswith("_wrapper.v")]
    res = measure_yosys(srcs, design.top, family=p.family, work_dir=ctx.workdir / "yosys", timeout_s=ctx.remaining_s())
    row = _row(p, "yosys", latency_cycles=float(design.latency_cycles), ii_cycles=1.0, lut=float(res.lut),
               ff=float(res.ff), dsp=float(res.dsp), bram18=res.bram18, uram=0.0, carry=float(res.carry),
               tool="yosys", tool_version=res.version, log_path=str(res.log_path))
    row.error = f"est_clock_ns={res.est_clock_ns} depth={res.depth} da4ml_cost={design.da4ml_cost:g}"
    return streaming(row, p.pixels)


def job_da4ml_estimate(ctx) -> CostRow:
    """da4ml's own adder-graph cost (LUT ≈ cost, FF = register bits): seconds instead of minutes."""
    import da4ml
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    p: LayerHW = ctx.payload
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    row = _row(p, "da4ml_estimate", latency_cycles=float(design.latency_cycles), ii_cycles=1.0, lut=design.da4ml_cost,
               ff=float(design.reg_bits), dsp=0.0, bram18=0.0, uram=0.0, tool="da4ml",
               tool_version=getattr(da4ml, "__version__", ""))
    return streaming(row, p.pixels)


def analytic_mvau(p: LayerHW) -> dict:
    """Folded matrix-vector unit (FINN-R style) estimate of one layer.

    MH = outputs, MW = inputs of the kernel matrix; PE rows and SIMD columns in parallel.
    cycles = (MH/PE)·(MW/SIMD)·pixels (FINN's MVAU cycle formula); LUT = PE·SIMD·w·a (a LUT-based
    w×a multiplier per lane, ~one LUT per partial-product bit) + PE·acc (adder tree/accumulator of
    acc = w + a + log2(MW) bits); weight memory in BRAM18 when the per-PE memory exceeds
    distributed-RAM size (depth > 64): PE·ceil(SIMD·w/36)·ceil(depth/512); DSP 0 (LUT multipliers).
    """
    mw, mh = p.w_int.shape
    pe, simd = min(p.pe, mh), min(p.simd, mw)
    depth = math.ceil(mh / pe) * math.ceil(mw / simd)
    acc = p.w_bits + p.a_bits + math.ceil(math.log2(max(mw, 2)))
    lut = pe * simd * p.w_bits * p.a_bits + pe * acc
    bram = pe * math.ceil(simd * p.w_bits / 36) * math.ceil(depth / 512) if depth > 64 else 0
    ff = pe * acc + simd * p.a_bits
    cycles = depth * p.pixels
    return {"lut": float(lut), "ff": float(ff), "bram18": float(bram), "dsp": 0.0, "uram": 0.0,
            "latency_cycles": float(cycles + 2), "ii_cycles": float(cycles)}


def job_analytic(ctx) -> CostRow:
    p: LayerHW = ctx.payload
    return _row(p, "analytic", tool="ohq_flow.analytic", **analytic_mvau(p))


JOB_FUNCTIONS = {"yosys": job_yosys, "da4ml_estimate": job_da4ml_estimate, "analytic": job_analytic}
