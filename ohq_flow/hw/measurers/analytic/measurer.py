"""The ``analytic`` measurer: FINN-style folded MVAU (+ sliding window) formulas, no tool."""

from __future__ import annotations

from ohq_flow.hw.measurers.base import Measurer


def run(ctx):
    """FINN-style folded MVAU (+ sliding window for convolutions) estimate of the layer."""
    from ohq_flow.hw.measurers.analytic import estimate_layer
    from ohq_flow.hw.profile import LayerHW
    p = LayerHW.from_json(ctx.payload)
    row = estimate_layer(p.extra["layer"], p.w_bits, p.a_bits, pe=p.pe, simd=p.simd, clock_ns=p.clock_ns, part=p.part)
    row.layer, row.w_bits, row.a_bits = p.layer, p.w_bits, p.a_bits
    return row


MEASURER = Measurer(name="analytic", fidelity="estimate", run=run, key_settings=("pe", "simd"))
