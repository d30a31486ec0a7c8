"""The cost rows of each (layer, bits, fold) when the per-layer kernels are budgeted (``build.design: false``).

Fold labels and the choice among folds are :mod:`ohq_flow.design.folds`'. Two kinds of layers:

* **folded** (analytic measurer: FINN's estimate, :mod:`ohq_flow.design.finn_estimate`): ``pe{P}_simd{S}`` with ``P | MH`` and
  ``S | MW``; cycles = MH/P · MW/S · output pixels. ``search.folds: auto`` models every divisor
  pair, keeps the Pareto front of (cycles, LUT, DSP, BRAM18) and at most ``search.max_folds``
  of it (spread evenly over log cycles, fastest and smallest always kept); an explicit list is
  checked against every folded layer's dimensions.
* **streamed** (a measured, fully parallel kernel: one output pixel per cycle): ``px{K}`` computes
  K pixels per cycle with K kernels, ``K | pixels``: II = pixels/K, latency = kernel latency +
  pixels/K − 1, LUT/FF/DSP/BRAM × K. The ``px1`` row is the measured one; the others are derived
  from it (fidelity ``estimate``). A dense kernel (one pixel) keeps its one fully parallel option.

Everything here is a formula over a row or a layer: no tool runs, so the grid is pruned before
anything is costed and :class:`FoldReport` says how many rows were measured vs modelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ohq_flow.design.finn_estimate import MVAU, estimate_layer, mvau_estimate
from ohq_flow.design.folds import Fold, pareto_front, parse_fold, spread_log
from ohq_flow.design.mvau import divisors
from ohq_flow.errors import InputError
from ohq_flow.model.geometry import mvau_dims, n_pixels
from ohq_flow.tables.costs import CostRow

_EST_CLOCK = re.compile(r"est_clock_ns=([0-9.]+)")

@dataclass
class FoldReport:
    """How many (layer, bits, fold) rows were modelled, pruned and measured."""

    modelled: int = 0            # candidates costed by formula (before pruning)
    kept: int = 0                # rows written to costs.csv
    measured: int = 0            # of those, rows from a synthesis/HLS/board run (px1 / unrolled rows)
    per_layer: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        return (f"folds: {self.modelled} candidates modelled, {self.kept} kept after dominance pruning "
                f"({self.measured} measured by a tool, {self.kept - self.measured} modelled)")


def _folded_candidates(layer, w: int, a: int) -> list[tuple[Fold, dict]]:
    mh, mw, pixels = mvau_dims(layer)
    return [(Fold(pe, simd), mvau_estimate(MVAU(mh=mh, mw=mw, pe=pe, simd=simd, w_bits=w, a_bits=a, pixels=pixels)))
            for pe in divisors(mh) for simd in divisors(mw)]


def _listed(layer, folds, streamed: bool, fits, dims: str, allowed: str) -> list[Fold]:
    """The folds of an explicit list that apply to this kind of layer, each checked with ``fits``."""
    out = []
    for label in folds:
        f = parse_fold(label)
        if bool(f.px) != streamed or f.px == 1:
            continue                                   # the other kind of layer's folds (px1 is implicit)
        if not fits(f):
            raise InputError(f"search.folds: {f.label} does not fit layer {layer.name} ({dims})", allowed)
        out.append(f)
    return out


def folded_folds(layer, w: int, a: int, folds, max_folds: int, report: FoldReport | None = None) -> list[Fold]:
    """The folds of a folded layer: ``"auto"`` (Pareto front, capped) or an explicit list (checked;
    pe1_simd1 when the list names no PE/SIMD fold)."""
    mh, mw, _ = mvau_dims(layer)
    if folds == "auto":
        cands = _folded_candidates(layer, w, a)
        out = [f for f, _ in spread_log(pareto_front(cands), lambda x: x[1]["cycles"], max_folds)]
    else:
        cands = out = _listed(layer, folds, False, lambda f: mh % f.pe == 0 and mw % f.simd == 0, f"MH={mh}, MW={mw}",
                              f"PE must divide MH: one of {divisors(mh)}; SIMD must divide MW: one of {divisors(mw)}")
        out = out or [Fold(1, 1)]
    if report is not None:
        report.modelled += len(cands)
    return out


def streamed_folds(layer, pixels: int, folds, max_folds: int, report: FoldReport | None = None) -> list[Fold]:
    """The parallel-pixel folds of a streamed layer: ``"auto"`` (divisors of pixels, capped) or a list
    (checked; px1, the measured kernel, always included)."""
    if pixels <= 1:
        return [Fold(px=1)]
    if folds == "auto":
        ks = divisors(pixels)
        out = [Fold(px=k) for k in spread_log(ks, lambda k: pixels / k, max_folds)]
    else:
        out = [Fold(px=1)] + _listed(layer, folds, True, lambda f: pixels % f.px == 0, f"{pixels} output pixels",
                                     f"parallel pixels must divide the pixel count: one of {divisors(pixels)}")
    if report is not None:
        report.modelled += len(ks) if folds == "auto" else len(out)
    return out


def streamed_row(row: CostRow, pixels: int, k: int) -> CostRow:
    """The row of ``k`` kernels in parallel from the measured one-kernel streaming row."""
    fmax = row.fmax_mhz
    if fmax is None:
        m = _EST_CLOCK.search(row.error or "")
        fmax = round(1000.0 / float(m.group(1)), 3) if m and float(m.group(1)) > 0 else None
    if k == 1:
        return replace(row, fold="px1" if pixels > 1 else "", fmax_mhz=fmax)
    kernel_lat = (row.latency_cycles - (pixels - 1)) if row.latency_cycles is not None else None
    lat = kernel_lat + pixels // k - 1 if kernel_lat is not None else None
    scaled = {m: getattr(row, m) * k for m in ("lut", "ff", "dsp", "bram18", "uram", "carry") if getattr(row, m) is not None}
    return replace(row, fold=f"px{k}", fmax_mhz=fmax, latency_cycles=lat, ii_cycles=float(pixels // k),
                   latency_ns=lat * row.clock_ns if lat is not None and row.clock_ns else None,
                   fidelity="estimate", tool=f"{row.tool}+px{k}", cached=False, **scaled)


def calibration_check(rows: list[CostRow], layers, family: str) -> list[str]:
    """The analytic model (fully parallel: PE = MH, SIMD = MW) against every measured row: fitted
    factor and held-out error per metric, as lines for costs_checks.txt (reported, not applied)."""
    from .calibrate import holdout_errors, holdout_text
    by_name = {l.name: l for l in layers}
    measured = [r for r in rows if r.ok and r.source != "analytic" and r.fidelity != "estimate" and r.layer in by_name
                and r.fold in ("", "px1")]
    analytic = []
    for r in measured:
        mh, mw, _ = mvau_dims(by_name[r.layer])
        analytic.append(estimate_layer(by_name[r.layer], r.w_bits, r.a_bits, pe=mh, simd=mw, family=family))
    return holdout_text(holdout_errors(measured, analytic, ("lut", "ff", "latency_cycles")))


def expand_folds(rows: list[CostRow], layers, folds, max_folds: int, family: str) -> tuple[list[CostRow], FoldReport]:
    """One row per (layer, bits, fold) from one row per (layer, bits): analytic rows re-costed per
    PE/SIMD, measured streaming rows replicated per parallel-pixel count. Failed rows pass through."""
    by_name = {l.name: l for l in layers}
    report, out = FoldReport(), []
    for row in rows:
        layer = by_name.get(row.layer)
        if not row.ok or layer is None:
            out.append(row)
            continue
        if row.source == "analytic":
            new = []
            for f in folded_folds(layer, row.w_bits, row.a_bits, folds, max_folds, report):
                r = estimate_layer(layer, row.w_bits, row.a_bits, pe=f.pe, simd=f.simd, clock_ns=row.clock_ns,
                                   part=row.part, family=family)
                new.append(replace(r, fold=f.label, cache_key=row.cache_key))
        else:
            pixels = n_pixels(layer)
            new = [streamed_row(row, pixels, f.px) for f in streamed_folds(layer, pixels, folds, max_folds, report)]
            report.measured += row.fidelity != "estimate"
        report.per_layer[row.layer] = report.per_layer.get(row.layer, 0) + len(new)
        out += new
    report.kept = sum(1 for r in out if r.ok)
    return out, report
