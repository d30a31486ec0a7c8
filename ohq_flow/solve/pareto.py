"""Pareto sweeps (damage vs one budget), uniform-precision reference designs, pareto.csv.

Sweep spec: ``metric=START:STOP:N`` — N budget values evenly spaced from START to STOP, both
included (N=1 gives START alone). START/STOP are absolute numbers or percentages of the
board total of that metric (``lut=30%:100%:8``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_text
from ohq_flow.solve.ilp import solve, totals_of, within_budgets
from ohq_flow.solve.problem import METRICS, Problem, _did_you_mean, resolve_budget

_SPEC = re.compile(r"^\s*(\w+)\s*=\s*([^:]+?)\s*:\s*([^:]+?)\s*:\s*(\d+)\s*$")
CSV_COLUMNS = ["kind", "label", "budget_metric", "budget", "status", "objective", *METRICS, "assignment"]


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


def assignment_text(asg: Mapping[str, tuple[int, int]]) -> str:
    """Compact form: ``fc0=w4a8;fc1=w2a8``."""
    return ";".join(f"{layer}=w{w}a{a}" for layer, (w, a) in asg.items())


def parse_sweep(spec: str, total: float | Mapping[str, float] | None = None) -> tuple[str, list[float]]:
    """``metric=START:STOP:N`` -> (metric, N values, START..STOP inclusive).

    ``total`` is the board total of that metric, or a dict of board totals; needed only for %.
    """
    m = _SPEC.match(spec)
    if not m:
        raise InputError(f"sweep {spec!r} must look like 'metric=START:STOP:N', e.g. 'lut=30%:100%:8'")
    metric, start, stop, n = m.group(1), m.group(2), m.group(3), int(m.group(4))
    if metric not in METRICS:
        raise InputError(f"sweep metric '{metric}' unknown" + _did_you_mean(metric, METRICS), f"one of: {', '.join(METRICS)}")
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
                                  sol.totals, sol.assignment))
    return points


def uniform_designs(problem: Problem) -> list[ParetoPoint]:
    """Every (w, a) that all layers have, applied to all layers (pins ignored): damage and totals.

    Status says whether the design fits the problem's budgets: ``within_budgets`` or
    ``over_budget:lut,dsp``.
    """
    common = None
    for cands in problem.candidates.values():
        s = {c.bits for c in cands}
        common = s if common is None else common & s
    points = []
    for w, a in sorted(common or (), reverse=True):
        asg = {layer: (w, a) for layer in problem.candidates}
        totals = totals_of(problem, asg)
        over = within_budgets(problem, totals)
        damage = float(sum(problem.candidate(layer, (w, a)).damage for layer in asg))
        points.append(ParetoPoint("uniform", f"W{w}A{a}", "", None,
                                  "over_budget:" + ",".join(over) if over else "within_budgets", damage, totals, asg))
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
                    *(_cell(p.totals.get(m)) for m in METRICS), assignment_text(p.assignment)])
    return buf.getvalue()


def write_pareto_csv(points: Sequence[ParetoPoint], uniforms: Sequence[ParetoPoint], path: str | Path) -> Path:
    """pareto.csv (atomically): kind,label,budget_metric,budget,status,objective,<metrics>,assignment."""
    return atomic_write_text(path, pareto_csv_text(points, uniforms))
