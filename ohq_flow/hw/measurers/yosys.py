"""The ``yosys`` measurer: the layer kernel's da4ml RTL synthesised by Yosys (``synth_xilinx``, or
``synth_ecp5`` for ECP5 boards) -> LUT/FF/CARRY/DSP/BRAM, fidelity ``post_synth``; the clock is an
estimate from the logic depth (:mod:`ohq_flow.hw.rtl.yosys`)."""

from __future__ import annotations

from ohq_flow.hw.measurers.base import Measurer


def _version() -> str:
    from ohq_flow.hw.rtl.yosys import yosys_version
    return yosys_version()


def run(ctx):
    """da4ml RTL of the layer kernel, synthesised by Yosys synth_xilinx."""
    from ohq_flow.hw.generators.da4ml import generate_cmvm_rtl
    from ohq_flow.hw.profile import LayerHW, streaming
    from ohq_flow.hw.rtl.yosys import measure_yosys
    p = LayerHW.from_json(ctx.payload)
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    srcs = [s for s in design.sources if not s.name.endswith("_wrapper.v")]
    res = measure_yosys(srcs, design.top, family=p.family, work_dir=ctx.workdir / "yosys", timeout_s=ctx.remaining_s())
    check_not_empty(res, p)
    row = MEASURER.row(p, latency_cycles=float(design.latency_cycles), ii_cycles=1.0, lut=float(res.lut),
                       ff=float(res.ff), dsp=float(res.dsp), bram18=res.bram18, uram=0.0, carry=float(res.carry),
                       tool="yosys", tool_version=res.version, log_path=str(res.log_path))
    row.error = f"est_clock_ns={res.est_clock_ns} depth={res.depth} da4ml_cost={design.da4ml_cost:g}"
    return streaming(row, p.pixels)


def check_not_empty(res, p) -> None:
    """A layer with an output that sums two or more weighted inputs needs logic: zero cells is a failed run."""
    import numpy as np
    from ohq_flow.errors import FlowError
    needs_logic = p.w_int.size and int((np.count_nonzero(p.w_int, axis=-2) >= 2).sum()) > 0  # per output (and group)
    if needs_logic and res.lut + res.ff + res.dsp + res.carry + res.bram18 == 0:
        raise FlowError(f"yosys reports no cells for {p.layer} w{p.w_bits}a{p.a_bits}, whose kernel needs adders; "
                        f"log: {res.log_path}", "the synthesis optimised the design away: check the generated RTL")


MEASURER = Measurer(name="yosys", fidelity="post_synth", run=run, version=_version, key_settings=("latency_cutoff",), generator="da4ml",
                    key_templates=("yosys/synth_xilinx.ys", "yosys/synth_ecp5_ooc.ys"), tool="yosys",
                    tool_hint="apt-get install yosys (make demo/test installs it)")
