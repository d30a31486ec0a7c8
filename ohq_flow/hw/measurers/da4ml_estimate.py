"""The ``da4ml_estimate`` measurer: da4ml's own adder-graph cost of the layer kernel (seconds, no tool).

da4ml's cost counts adder bits, which track Yosys' LUT6 count of the kernel on AMD parts within ~2%. On
ECP5 (LUT4 fabric, carry chains in CCU2C cells) the same kernels synthesise to 1.40x that count in
LUT4-equivalents (median of 45 digits-CNN kernels, W2A4..W8A8, synth_ecp5; range 1.21-1.49x): an ECP5 row is
the cost times :data:`ECP5_LUT4_PER_COST`, and says so with its measured range.
"""

from __future__ import annotations

from ohq_flow.hw.measurers.base import Measurer, package_version


ECP5_LUT4_PER_COST = 1.40
ECP5_RANGE = "1.21-1.49"
COUNTING = "2"            # part of the version (the cache key): ECP5 rows in LUT4-equivalents


def run(ctx):
    """da4ml's own adder-graph cost (LUT ≈ cost, FF = register bits): seconds instead of minutes."""
    import da4ml
    from ohq_flow.hw.generators.da4ml import generate_cmvm_rtl
    from ohq_flow.hw.profile import LayerHW, streaming
    p = LayerHW.from_json(ctx.payload)
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    lut, note = float(design.da4ml_cost), f"da4ml_cost={design.da4ml_cost:g}"
    if p.family == "ecp5":
        lut = round(lut * ECP5_LUT4_PER_COST)
        note += f"; ECP5 LUT4-equivalents = {ECP5_LUT4_PER_COST} x cost (measured {ECP5_RANGE}x)"
    row = MEASURER.row(p, latency_cycles=float(design.latency_cycles), ii_cycles=1.0, lut=lut,
                       ff=float(design.reg_bits), dsp=0.0, bram18=0.0, uram=0.0, tool="da4ml",
                       tool_version=getattr(da4ml, "__version__", ""), error=note)
    return streaming(row, p.pixels)


def _version() -> str:
    return f"{package_version('da4ml')}+counting{COUNTING}"


MEASURER = Measurer(name="da4ml_estimate", fidelity="estimate", run=run, version=_version, key_settings=("latency_cutoff",), generator="da4ml")
