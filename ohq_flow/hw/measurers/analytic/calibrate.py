"""Calibrating analytic estimates against measured rows (least-squares scale per metric)."""

from __future__ import annotations

from dataclasses import replace

from ohq_flow.errors import InputError
from ohq_flow.tables.costs import CostRow

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


def holdout_errors(rows_measured: list[CostRow], rows_analytic: list[CostRow], metrics: tuple[str, ...] = ("lut", "ff"),
                   holdout: float = 0.3, seed: int = 0) -> dict[str, dict]:
    """Fit :func:`calibrate` on part of the paired rows, report its error on the rest (held out).

    Per metric: the factor, the number of rows fitted/held out, and the median and largest
    absolute relative error on the held-out rows (uncalibrated median too, for comparison).
    """
    import random
    analytic = {(r.layer, r.w_bits, r.a_bits): r for r in rows_analytic if r.ok}
    pairs = [(m, analytic[(m.layer, m.w_bits, m.a_bits)]) for m in rows_measured
             if m.ok and (m.layer, m.w_bits, m.a_bits) in analytic]
    random.Random(seed).shuffle(pairs)
    n_test = max(1, int(round(holdout * len(pairs)))) if len(pairs) >= 2 else 0
    test, fit = pairs[:n_test], pairs[n_test:]
    out = {}
    if not fit or not test:
        return out
    factors = calibrate([m for m, _ in fit], [a for _, a in fit], metrics)
    for metric, f in factors.items():
        errs, raw = [], []
        for m, a in test:
            y, x = getattr(m, metric), getattr(a, metric)
            if y is not None and x is not None and y > 0:
                errs.append(abs(f * x - y) / y)
                raw.append(abs(x - y) / y)
        if errs:
            out[metric] = {"factor": f, "n_fit": len(fit), "n_test": len(errs), "median_rel_error": float(sorted(errs)[len(errs) // 2]),
                           "max_rel_error": float(max(errs)), "uncalibrated_median_rel_error": float(sorted(raw)[len(raw) // 2])}
    return out


def holdout_text(errors: dict[str, dict]) -> list[str]:
    """Lines for costs_checks.txt."""
    if not errors:
        return ["analytic model vs measured rows: too few paired rows to fit and hold out"]
    return [f"analytic model vs measured rows, {metric}: factor {e['factor']:.3g} fitted on {e['n_fit']} rows; "
            f"held-out error ({e['n_test']} rows) median {100 * e['median_rel_error']:.0f}%, max {100 * e['max_rel_error']:.0f}% "
            f"(uncalibrated median {100 * e['uncalibrated_median_rel_error']:.0f}%)" for metric, e in errors.items()]
