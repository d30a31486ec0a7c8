"""Estimates that finish: a da4ml estimate past its time box becomes a calibrated analytic row.

``da4ml_estimate`` solves the layer's constant-matrix problem; its run time grows much faster
than the kernel (docs/benchmarks.md, scale section). Each estimate job runs under
``hardware.estimate_timeout_s``; a job that times out (or fails) is replaced by the analytic
MVAU model of the *same architecture* the da4ml row describes — fully unrolled, one output
pixel per cycle (PE = MH, SIMD = MW) — scaled per metric by the factors fitted on this run's
finished da4ml rows (least squares, :func:`~ohq_flow.hw.measurers.analytic.calibrate`; with
fewer than 3 pairs the row stays uncalibrated and says so). The row is labelled: source
``analytic``, fidelity ``estimate``, tool ``analytic`` or ``analytic+calibrated``, and its
``error`` note names the time box it replaced.

A fallback row is cached under a key derived from the job's key and the time box, so a warm
run does not wait for the same time-out again, and a longer time box tries da4ml again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ohq_flow.hw.costs import CostRow

log = logging.getLogger(__name__)

MIN_PAIRS = 3


def fallback_key(job_key: str, timeout_s: float) -> str:
    """Cache key of the fallback row of a time-boxed estimate job."""
    from ohq_flow.hw.cache import make_key
    return make_key(fallback_of=job_key, estimate_timeout_s=float(timeout_s), method="analytic_unrolled")


def unrolled_analytic(layer, w_bits: int, a_bits: int, *, clock_ns: float | None, part: str) -> CostRow:
    """Analytic row of the fully unrolled kernel (PE = MH, SIMD = MW): the architecture da4ml costs."""
    from ohq_flow.design.finn_estimate import estimate_layer
    from ohq_flow.model.geometry import mvau_dims
    mh, mw, _ = mvau_dims(layer)
    row = estimate_layer(layer, w_bits, a_bits, pe=mh, simd=mw, clock_ns=clock_ns, part=part)
    row.layer, row.w_bits, row.a_bits = layer.name, w_bits, a_bits
    return row


def replace_timeouts(rows: list[CostRow], measurers: list[str], layers_by_name: dict, timeouts: list[float],
                     *, clock_ns: float | None, part: str) -> tuple[list[CostRow], list[int]]:
    """Rows with every failed/timed-out da4ml estimate replaced by its (calibrated) analytic row.

    ``measurers``/``timeouts`` are per row (the job's measurer and time box). Returns the new
    rows and the indices replaced.
    """
    from ohq_flow.hw.measurers.analytic import apply_calibration, calibrate
    bad = [i for i, r in enumerate(rows) if measurers[i] == "da4ml_estimate" and not r.ok]
    if not bad:
        return rows, []
    finished = [r for i, r in enumerate(rows) if measurers[i] == "da4ml_estimate" and r.ok and r.source == "da4ml_estimate"]
    pairs_analytic = [unrolled_analytic(layers_by_name[r.layer], r.w_bits, r.a_bits, clock_ns=clock_ns, part=part)
                      for r in finished]
    factors = {}
    if len(finished) >= MIN_PAIRS:
        factors = calibrate(finished, pairs_analytic, ("lut", "ff"))
    out = list(rows)
    for i in bad:
        old = rows[i]
        row = unrolled_analytic(layers_by_name[old.layer], old.w_bits, old.a_bits, clock_ns=clock_ns, part=part)
        if factors:
            row = apply_calibration(row, factors)
        what = "timed out" if old.status == "timeout" else "failed"
        cal = (f"calibrated on {len(finished)} finished da4ml rows (LUT x{factors.get('lut', 1):.3g})" if factors
               else f"uncalibrated ({len(finished)} finished da4ml rows, {MIN_PAIRS} needed)")
        row = replace(row, error=f"fallback: da4ml_estimate {what} (time box {timeouts[i]:g} s); analytic fully "
                                 f"unrolled kernel, {cal}", log_path=old.log_path, elapsed_s=old.elapsed_s,
                      cached=False)
        out[i] = row
    log.warning("cost jobs: %d da4ml estimate(s) did not finish in their time box; analytic rows (labelled) used instead",
                len(bad))
    return out, bad
