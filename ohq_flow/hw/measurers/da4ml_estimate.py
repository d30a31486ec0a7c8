"""The ``da4ml_estimate`` measurer: da4ml's own adder-graph cost of the layer kernel (seconds, no tool)."""

from __future__ import annotations

from ohq_flow.hw.measurers.base import Measurer, package_version


def run(ctx):
    """da4ml's own adder-graph cost (LUT ≈ cost, FF = register bits): seconds instead of minutes."""
    import da4ml
    from ohq_flow.hw.generators.da4ml import generate_cmvm_rtl
    from ohq_flow.hw.profile import LayerHW, streaming
    p = LayerHW.from_json(ctx.payload)
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    row = MEASURER.row(p, latency_cycles=float(design.latency_cycles), ii_cycles=1.0, lut=design.da4ml_cost,
                       ff=float(design.reg_bits), dsp=0.0, bram18=0.0, uram=0.0, tool="da4ml",
                       tool_version=getattr(da4ml, "__version__", ""))
    return streaming(row, p.pixels)


def _version() -> str:
    return package_version("da4ml")


MEASURER = Measurer(name="da4ml_estimate", fidelity="estimate", run=run, version=_version, key_settings=("latency_cutoff",), generator="da4ml")
