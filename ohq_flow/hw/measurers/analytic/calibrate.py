"""Calibrating analytic estimates against measured rows (least-squares scale per metric)."""

from __future__ import annotations

from dataclasses import replace

from ohq_flow.errors import InputError
from ohq_flow.hw.costs import CostRow

CALIBRATED_METRICS = ("lut", "ff", "dsp", "bram18", "latency_cycles", "ii_cycles")


def calibrate(rows_measured: list[CostRow], rows_analytic: list[CostRow],
              metrics: tuple[str, ...] = CALIBRATED_METRICS) -> dict[str, float]:
    """Per metric, the factor s minimising Σ(measured − s·analytic)² over rows paired by (layer, w, a).

    s = Σ m·a / Σ a². Metrics without a pair where both are known (and a ≠ 0) are left out.
    """
    analytic = {(r.layer, r.w_bits, r.a_bits): r for r in rows_analytic if r.ok}
    pairs = [(m, analytic[(m.layer, m.w_bits, m.a_bits)]) for m in rows_measured
             if m.ok and (m.layer, m.w_bits, m.a_bits) in analytic]
    if not pairs:
        raise InputError("calibration needs measured and analytic rows of the same (layer, w_bits, a_bits)")
    factors = {}
    for metric in metrics:
        xy = [(getattr(a, metric), getattr(m, metric)) for m, a in pairs]
        xy = [(x, y) for x, y in xy if x is not None and y is not None]
        den = sum(x * x for x, _ in xy)
        if xy and den > 0:
            factors[metric] = sum(x * y for x, y in xy) / den
    return factors


def apply_calibration(row: CostRow, factors: dict[str, float]) -> CostRow:
    """A copy of an analytic row with each metric scaled by its factor (tool notes the calibration)."""
    changes = {m: getattr(row, m) * f for m, f in factors.items() if getattr(row, m) is not None}
    if "latency_cycles" in changes and row.clock_ns is not None:
        changes["latency_ns"] = changes["latency_cycles"] * row.clock_ns
    return replace(row, **changes, tool=f"{row.tool}+calibrated" if changes else row.tool)
