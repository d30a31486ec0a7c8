"""Why a problem is infeasible: each budget's minimum on its own, impossible budgets, conflicting pairs.

For every budgeted metric the smallest value any assignment reaches (pins and ties respected,
other budgets ignored) is found with a small ILP; a budget below it is impossible on its own.
Pairs of budgets each feasible alone are then checked together. Pins and ties that cannot be
met even without budgets are reported first.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

from ohq_flow.solve.ilp import _TOL, run_model, totals_of
from ohq_flow.solve.problem import Problem


@dataclass
class Diagnosis:
    """The findings; :meth:`format` prints them plainly."""

    budgets: dict[str, float]
    minimum: dict[str, float] = field(default_factory=dict)                       # metric -> min alone
    cheapest: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)  # metric -> assignment
    impossible: list[str] = field(default_factory=list)                           # min alone > budget
    conflicts: list[tuple[str, str]] = field(default_factory=list)               # ok alone, not together
    structural: str | None = None                                                 # pins/ties alone fail
    inexact: list[str] = field(default_factory=list)                              # minimum not proven (time limit)

    def to_dict(self) -> dict:
        return {"budgets": dict(self.budgets), "minimum": dict(self.minimum), "impossible": list(self.impossible),
                "conflicts": [list(c) for c in self.conflicts], "structural": self.structural,
                "inexact": list(self.inexact),
                "cheapest": {m: {l: f"w{w}a{a}" for l, (w, a) in asg.items()} for m, asg in self.cheapest.items()}}

    def format(self) -> str:
        lines = ["The budgets cannot all be met:"]
        if self.structural:
            lines.append(f"  {self.structural}")
        for m, limit in self.budgets.items():
            if m not in self.minimum:
                continue
            low, asg = self.minimum[m], describe_assignment(self.cheapest.get(m, {}))
            approx = " (time limit: maybe lower)" if m in self.inexact else ""
            if m in self.impossible:
                lines.append(f"  {m} budget {_num(limit)} < minimum achievable {_num(low)}{approx} ({asg})")
            else:
                lines.append(f"  {m} budget {_num(limit)} >= minimum achievable {_num(low)}{approx}: "
                             f"met on its own ({asg})")
        for a, b in self.conflicts:
            lines.append(f"  {a} and {b} conflict: each budget can be met alone, not both together")
        if not self.structural and not self.impossible and not self.conflicts:
            lines.append(f"  no single budget or pair fails: the {len(self.budgets)} budgets conflict only all together")
        if self.impossible:
            need = ", ".join(f"{m} to at least {_num(self.minimum[m])}" for m in self.impossible)
            lines.append(f"  fix: raise {need}, or add lower bit-widths / cheaper candidates")
        elif self.conflicts or not self.structural:
            lines.append("  fix: relax one of the conflicting budgets")
        return "\n".join(lines)


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.6g}"


def describe_assignment(asg: dict[str, tuple[int, int]], max_layers: int = 8) -> str:
    """"all layers at w2a4", the full list for a few layers, else the most common choice."""
    if not asg:
        return "no assignment"
    counts = Counter(asg.values())
    (w, a), n = counts.most_common(1)[0]
    if n == len(asg):
        return f"all layers at w{w}a{a}"
    if len(asg) <= max_layers:
        return ", ".join(f"{l}=w{bw}a{ba}" for l, (bw, ba) in asg.items())
    return f"{n} of {len(asg)} layers at w{w}a{a}"


def _structural(problem: Problem) -> str | None:
    """None if pins and ties can be met without budgets, else what fails."""
    status, asg, _ = run_model(problem, {}, None)
    if asg or status != "infeasible":
        return None
    bad = []
    for tie in problem.ties:
        kind = (lambda c: c.bits) if tie.same_w_bits else (lambda c: c.a_bits)
        common = None
        for layer in tie.layers:
            cands = problem.candidates[layer]
            if layer in problem.pins:
                cands = [problem.candidate(layer, problem.pins[layer])]
            s = {kind(c) for c in cands}
            common = s if common is None else common & s
        if not common:
            what = "(w_bits, a_bits)" if tie.same_w_bits else "a_bits"
            bad.append(f"tie {list(tie.layers)} has no {what} common to all its layers (pins included)")
    return "; ".join(bad) or "the pins and ties cannot all be met together, even without budgets"


def diagnose(problem: Problem) -> Diagnosis:
    """Each budget's minimum alone (pins/ties kept), the impossible ones, and conflicting pairs."""
    d = Diagnosis(dict(problem.budgets))
    d.structural = _structural(problem)
    if d.structural:
        return d
    for metric, limit in problem.budgets.items():
        status, asg, _ = run_model(problem, {}, metric)
        if not asg:
            continue
        d.minimum[metric] = totals_of(problem, asg)[metric]
        d.cheapest[metric] = asg
        if status != "optimal":
            d.inexact.append(metric)
        if d.minimum[metric] > limit + _TOL * max(1.0, abs(limit)):
            d.impossible.append(metric)
    alone = [m for m in problem.budgets if m not in d.impossible]
    for a, b in itertools.combinations(alone, 2):
        status, asg, _ = run_model(problem, {a: problem.budgets[a], b: problem.budgets[b]}, None)
        if status == "infeasible":
            d.conflicts.append((a, b))
    return d
