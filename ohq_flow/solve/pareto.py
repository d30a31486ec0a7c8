"""Pareto sweeps (damage vs one budget), uniform-precision reference designs, pareto.csv.

Sweep spec: ``metric=START:STOP:N`` — N budget values evenly spaced from START to STOP, both
included (N=1 gives START alone). START/STOP are absolute numbers or percentages of the
board total of that metric (``lut=30%:100%:8``). Latency and II budgets sweep the same way
(``latency_ns=2000:8000:6`` at fixed resource budgets gives damage vs latency); ``damage``
sweeps the bound of the reverse problem (minimise a latency metric).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_text
from ohq_flow.metrics import SWEEP, SWEEP_HINT
from ohq_flow.solve.ilp import solve, totals_of, within_budgets
from ohq_flow.solve.problem import BUDGETABLE, METRICS, Problem, did_you_mean, resolve_budget

CSV_COLUMNS = ["kind", "label", "budget_metric", "budget", "status", "objective", *METRICS, "clock_mhz", "damage",
               "assignment"]


@dataclass
class ParetoPoint:
    """One design: a sweep point (kind "sweep") or a uniform-precision design (kind "uniform")."""

    kind: str
    label: str
    budget_metric: str
    budget: float | None
    status: str
    objective: float | None
    totals: dict[str, float] = field(default_factory=dict)
    assignment: dict[str, tuple[int, int]] = field(default_factory=dict)
    folds: dict[str, str] = field(default_factory=dict)


def assignment_text(asg: Mapping[str, tuple[int, int]], folds: Mapping[str, str] | None = None) -> str:
    """Compact form: ``fc0=w4a8;fc1=w2a8`` (``fc0=w4a8@pe2_simd4`` with a fold)."""
    folds = folds or {}
    return ";".join(f"{layer}=w{w}a{a}" + (f"@{folds[layer]}" if folds.get(layer) else "")
                    for layer, (w, a) in asg.items())


def parse_sweep(spec: str, total: float | Mapping[str, float] | None = None) -> tuple[str, list[float]]:
    """``metric=START:STOP:N`` -> (metric, N values, START..STOP inclusive).

    ``total`` is the board total of that metric, or a dict of board totals; needed only for %.
    """
    m = SWEEP.match(spec)
    if not m:
        raise InputError(f"sweep {spec!r} {SWEEP_HINT}")
    metric, start, stop, n = m.group(1), m.group(2), m.group(3), int(m.group(4))
    if metric not in BUDGETABLE:
        raise InputError(f"sweep metric '{metric}' unknown" + did_you_mean(metric, BUDGETABLE),
                         f"one of: {', '.join(BUDGETABLE)}")
    if isinstance(total, Mapping):
        total = total.get(metric)
    lo, hi = resolve_budget(start, total, metric), resolve_budget(stop, total, metric)
    if n < 1:
        raise InputError(f"sweep {spec!r}: N must be >= 1")
    if hi < lo:
        raise InputError(f"sweep {spec!r}: STOP ({hi:g}) is below START ({lo:g})")
    if n == 1:
        return metric, [lo]
    return metric, [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def sweep(problem: Problem, metric: str, values: Sequence[float]) -> list[ParetoPoint]:
    """Solve once per value of the ``metric`` budget (the problem's other budgets kept)."""
    points = []
    for v in values:
        sol = solve(problem.with_budgets({**problem.budgets, metric: float(v)}), diagnose=False)
        points.append(ParetoPoint("sweep", f"{metric}<={v:.6g}", metric, float(v), sol.status, sol.objective,
                                  sol.totals, sol.assignment, sol.folds))
    return points


def _fastest_metric(problem: Problem) -> str | None:
    """The latency metric to pick a uniform design's folds by: the one minimised, budgeted, or known."""
    if problem.minimize:
        return problem.minimize
    for m in ("latency_ns", "latency_cycles", "ii_cycles"):
        if m in problem.budgets:
            return m
    for m in ("latency_ns", "latency_cycles"):
        try:
            problem._check_metric_known(m)
            return m
        except InputError:
            continue
    return None


def uniform_designs(problem: Problem) -> list[ParetoPoint]:
    """Every (w, a) that all layers have, applied to all layers (pins ignored): damage and totals.

    Status says whether the design fits the problem's budgets: ``within_budgets`` or
    ``over_budget:lut,dsp``. With folds, each uniform design takes its best folding: the one
    minimising the latency metric (the one minimised, else budgeted, else latency_ns/cycles)
    within the budgets; when none fits, the fastest folding regardless of budgets.
    """
    common = None
    for cands in problem.candidates.values():
        s = {c.bits for c in cands}
        common = s if common is None else common & s
    points = []
    target = _fastest_metric(problem) if problem.has_folds else None
    if target == "ii_cycles" and problem.latency_mode != "dataflow":
        target = "latency_cycles"
    for w, a in sorted(common or (), reverse=True):
        if problem.has_folds:
            pinned = {layer: (w, a) for layer in problem.candidates}
            sol = solve(problem.with_budgets(problem.budgets, pins=pinned, minimize=target), diagnose=False)
            if not sol.assignment:
                sol = solve(problem.with_budgets({}, pins=pinned, minimize=target), diagnose=False)
            choice = sol.choices()
        else:
            choice = {layer: problem.candidate(layer, (w, a)).key for layer in problem.candidates}
        totals = totals_of(problem, choice)
        over = within_budgets(problem, totals)
        points.append(ParetoPoint("uniform", f"W{w}A{a}", "", None,
                                  "over_budget:" + ",".join(over) if over else "within_budgets", totals["damage"],
                                  totals, {l: (w, a) for l in choice}, {l: k[2] for l, k in choice.items()}))
    return points


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)


def pareto_csv_text(points: Sequence[ParetoPoint], uniforms: Sequence[ParetoPoint] = ()) -> str:
    """The CSV text of :func:`write_pareto_csv`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in list(points) + list(uniforms):
        w.writerow([p.kind, p.label, p.budget_metric, _cell(p.budget), p.status, _cell(p.objective),
                    *(_cell(p.totals.get(m)) for m in METRICS), _cell(p.totals.get("clock_mhz")),
                    _cell(p.totals.get("damage")), assignment_text(p.assignment, p.folds)])
    return buf.getvalue()


def write_pareto_csv(points: Sequence[ParetoPoint], uniforms: Sequence[ParetoPoint], path: str | Path) -> Path:
    """pareto.csv (atomically): kind,label,budget_metric,budget,status,objective,<metrics>,assignment."""
    return atomic_write_text(path, pareto_csv_text(points, uniforms))
