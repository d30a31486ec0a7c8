"""The ``analytic`` measurer: FINN's estimate of the layer as a folded MVAU (+ sliding window), no tool;
fidelity ``estimate``. The formulas are :mod:`ohq_flow.design.finn_estimate`'s."""

from __future__ import annotations

from ohq_flow.hw.measurers.base import Measurer


def run(ctx):
    """FINN's estimate of the layer at the job's PE/SIMD."""
    from ohq_flow.design.finn_estimate import estimate_layer
    from ohq_flow.hw.profile import LayerHW
    p = LayerHW.from_json(ctx.payload)
    row = estimate_layer(p.extra["layer"], p.w_bits, p.a_bits, pe=p.pe, simd=p.simd, clock_ns=p.clock_ns, part=p.part)
    row.layer, row.w_bits, row.a_bits = p.layer, p.w_bits, p.a_bits
    return row


MEASURER = Measurer(name="analytic", fidelity="estimate", run=run, key_settings=("pe", "simd"))
