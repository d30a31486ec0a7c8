"""The cost-job functions, one per measurer (run in a child process by :mod:`ohq_flow.hw.jobs`).

Each takes a :class:`~ohq_flow.hw.jobs.JobContext` whose payload is the JSON form of a
:class:`~ohq_flow.hw.profile.LayerHW` and returns a :class:`~ohq_flow.hw.costs.CostRow`.
"""

from __future__ import annotations

from ohq_flow.hw.costs import CostRow
from ohq_flow.hw.profile import FIDELITY, LayerHW, streaming


def _row(p: LayerHW, source: str, **kw) -> CostRow:
    return CostRow(layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits, clock_ns=p.clock_ns, part=p.part,
                   source=source, fidelity=FIDELITY[source], **kw)


def job_yosys(ctx) -> CostRow:
    """da4ml RTL of the layer kernel, synthesised by Yosys synth_xilinx."""
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    from ohq_flow.hw.rtl.yosys import measure_yosys
    p = LayerHW.from_json(ctx.payload)
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    srcs = [s for s in design.sources if not s.name.endswith("_wrapper.v")]
    res = measure_yosys(srcs, design.top, family=p.family, work_dir=ctx.workdir / "yosys", timeout_s=ctx.remaining_s())
    check_not_empty(res, p)
    row = _row(p, "yosys", latency_cycles=float(design.latency_cycles), ii_cycles=1.0, lut=float(res.lut),
               ff=float(res.ff), dsp=float(res.dsp), bram18=res.bram18, uram=0.0, carry=float(res.carry),
               tool="yosys", tool_version=res.version, log_path=str(res.log_path))
    row.error = f"est_clock_ns={res.est_clock_ns} depth={res.depth} da4ml_cost={design.da4ml_cost:g}"
    return streaming(row, p.pixels)


def check_not_empty(res, p: LayerHW) -> None:
    """A layer with an output that sums two or more weighted inputs needs logic: zero cells is a failed run."""
    import numpy as np
    from ohq_flow.errors import FlowError
    needs_logic = p.w_int.size and int((np.count_nonzero(p.w_int, axis=-2) >= 2).sum()) > 0  # per output
    if needs_logic and res.lut + res.ff + res.dsp + res.carry + res.bram18 == 0:
        raise FlowError(f"yosys reports no cells for {p.layer} w{p.w_bits}a{p.a_bits}, whose kernel needs adders; "
                        f"log: {res.log_path}", "the synthesis optimised the design away: check the generated RTL")


def job_da4ml_estimate(ctx) -> CostRow:
    """da4ml's own adder-graph cost (LUT ≈ cost, FF = register bits): seconds instead of minutes."""
    import da4ml
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    p = LayerHW.from_json(ctx.payload)
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    row = _row(p, "da4ml_estimate", latency_cycles=float(design.latency_cycles), ii_cycles=1.0, lut=design.da4ml_cost,
               ff=float(design.reg_bits), dsp=0.0, bram18=0.0, uram=0.0, tool="da4ml",
               tool_version=getattr(da4ml, "__version__", ""))
    return streaming(row, p.pixels)


def job_analytic(ctx) -> CostRow:
    """FINN-style folded MVAU (+ sliding window for convolutions) estimate of the layer."""
    from ohq_flow.hw.measurers.analytic import estimate_layer
    p = LayerHW.from_json(ctx.payload)
    row = estimate_layer(p.extra["layer"], p.w_bits, p.a_bits, pe=p.pe, simd=p.simd, clock_ns=p.clock_ns, part=p.part)
    row.layer, row.w_bits, row.a_bits = p.layer, p.w_bits, p.a_bits
    return row


def _hls_job(ctx, tool: str) -> CostRow:
    """hls4ml project of the extracted layer, C-synthesised by Vitis/Vivado HLS."""
    from qonnx.core.modelwrapper import ModelWrapper
    import onnx
    from ohq_flow.hw.generators.hls4ml_gen import write_hls4ml_project
    from ohq_flow.hw.measurers.vendor import measure_vitis_hls
    p = LayerHW.from_json(ctx.payload)
    layer_model = ModelWrapper(onnx.load_from_string(p.extra["layer_onnx"]))
    project = write_hls4ml_project(layer_model, ctx.workdir / "hls4ml", part=p.part, clock_ns=p.clock_ns,
                                   io_type=p.extra["io_type"], reuse_factor=p.extra["reuse_factor"])
    row = measure_vitis_hls(project, tool=tool, log_path=ctx.workdir / f"{tool}.log", timeout_s=ctx.remaining_s(),
                            layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits, part=p.part, clock_ns=p.clock_ns)
    return row


def job_vitis_hls(ctx) -> CostRow:
    return _hls_job(ctx, "vitis_hls")


def job_vivado_hls(ctx) -> CostRow:
    return _hls_job(ctx, "vivado_hls")


def job_vivado(ctx) -> CostRow:
    """da4ml RTL of the layer kernel, Vivado out-of-context synthesis (utilisation + timing)."""
    from ohq_flow.hw.measurers.vendor import measure_vivado_ooc
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    p = LayerHW.from_json(ctx.payload)
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    srcs = [s for s in design.sources if not s.name.endswith("_wrapper.v")]
    row = measure_vivado_ooc(srcs, design.top, p.part, p.clock_ns, ctx.workdir / "vivado.log", ctx.remaining_s(),
                             work_dir=ctx.workdir / "vivado", layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits,
                             latency_cycles=float(design.latency_cycles), ii_cycles=1.0)
    return streaming(row, p.pixels)


def job_board(ctx) -> CostRow:
    """Measured latency from the user's board command (argument list, placeholders substituted)."""
    from ohq_flow.hw.measurers.board import measure_board
    p = LayerHW.from_json(ctx.payload)
    return measure_board(p.extra["board_command"], layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits,
                         log_path=ctx.workdir / "board.log", timeout_s=ctx.remaining_s(), project=str(ctx.workdir))


JOB_FUNCTIONS = {"yosys": job_yosys, "da4ml_estimate": job_da4ml_estimate, "analytic": job_analytic,
                 "vitis_hls": job_vitis_hls, "vivado_hls": job_vivado_hls, "vivado": job_vivado, "board": job_board}
# measurer -> executable it needs on PATH (checked before any job is planned)
REQUIRED_TOOL = {"yosys": "yosys", "vitis_hls": "vitis_hls", "vivado_hls": "vivado_hls", "vivado": "vivado"}
