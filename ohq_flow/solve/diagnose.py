"""Why a problem is infeasible: each budget's minimum on its own, impossible budgets, conflicting pairs.

For every budgeted metric the smallest value any assignment reaches (pins and ties respected,
other budgets ignored) is found with a small ILP; a budget below it is impossible on its own.
Pairs of budgets each feasible alone are then checked together. Pins and ties that cannot be
met even without budgets are reported first. For a latency, II or clock budget the bottleneck
is named: the layer whose fastest candidate (bits, fold, cycles, LUT, fmax) is still the slowest.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

from ohq_flow.solve.milp import TOL, run_model, totals_of
from ohq_flow.solve.problem import LATENCY_METRICS, Candidate, Problem


@dataclass
class Diagnosis:
    """The findings; :meth:`format` prints them plainly."""

    budgets: dict[str, float]
    minimum: dict[str, float] = field(default_factory=dict)                       # metric -> min alone
    cheapest: dict[str, dict[str, tuple]] = field(default_factory=dict)          # metric -> assignment
    impossible: list[str] = field(default_factory=list)                           # min alone > budget
    conflicts: list[tuple[str, str]] = field(default_factory=list)               # ok alone, not together
    structural: str | None = None                                                 # pins/ties alone fail
    inexact: list[str] = field(default_factory=list)                              # minimum not proven (time limit)
    bottleneck: dict[str, dict] = field(default_factory=dict)                     # latency metric -> layer info

    def to_dict(self) -> dict:
        return {"budgets": dict(self.budgets), "minimum": dict(self.minimum), "impossible": list(self.impossible),
                "conflicts": [list(c) for c in self.conflicts], "structural": self.structural,
                "inexact": list(self.inexact), "bottleneck": {m: dict(b) for m, b in self.bottleneck.items()},
                "cheapest": {m: {l: _label(v) for l, v in asg.items()} for m, asg in self.cheapest.items()}}

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
                if m in self.bottleneck:
                    lines.append(f"    {format_bottleneck(m, self.bottleneck[m])}")
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


def _label(choice) -> str:
    """w4a8, or w4a8@pe2_simd4 with a fold."""
    w, a, *rest = choice
    fold = rest[0] if rest else ""
    return f"w{w}a{a}" + (f"@{fold}" if fold else "")


def describe_assignment(asg: dict[str, tuple], max_layers: int = 8) -> str:
    """"all layers at w2a4", the full list for a few layers, else the most common choice."""
    if not asg:
        return "no assignment"
    counts = Counter(_label(v) for v in asg.values())
    label, n = counts.most_common(1)[0]
    if n == len(asg):
        return f"all layers at {label}"
    if len(asg) <= max_layers:
        return ", ".join(f"{l}={_label(v)}" for l, v in asg.items())
    return f"{n} of {len(asg)} layers at {label}"


def format_bottleneck(metric: str, b: dict) -> str:
    """One line: the bottleneck layer, its fastest candidate, and the budget needed."""
    fold = f" {b['fold']}" if b.get("fold") else ""
    fmax = f", fmax {_num(b['fmax_mhz'])} MHz" if b.get("fmax_mhz") is not None else ""
    lut = f", {_num(b['lut'])} LUT" if b.get("lut") is not None else ""
    what = {"ii_cycles": "II", "latency_cycles": "latency", "latency_ns": "latency"}[metric]
    unit = "ns" if metric == "latency_ns" else "cycles"
    text = (f"bottleneck: layer {b['layer']}; its fastest candidate w{b['w_bits']}a{b['a_bits']}{fold} "
            f"has {what} {_num(b['value'])} {unit} ({_num(b['cycles'])} cycles{lut}{fmax})")
    if b.get("clock_layer"):
        text += (f"; the clock is limited to {_num(b['clock_limit_mhz'])} MHz by layer {b['clock_layer']}")
    return text + f"; needs {metric} >= {_num(b['needed'])}"


def _allowed(problem: Problem, layer: str) -> list[Candidate]:
    cands = problem.candidates[layer]
    return [c for c in cands if c.bits == problem.pins[layer]] if layer in problem.pins else cands


def bottleneck(problem: Problem, metric: str, needed: float) -> dict | None:
    """The layer whose fastest candidate is the slowest (II or latency), that candidate, and ``needed``.

    For latency_ns a candidate's time is its cycles at its own clock (fmax capped by clock_mhz);
    the layer whose best fmax is the lowest limits the design clock and is named too.
    """
    if metric not in LATENCY_METRICS:
        return None
    key = "ii_cycles" if metric == "ii_cycles" else "latency_cycles"

    def value(c: Candidate) -> float:
        if metric == "latency_ns":
            clock = problem.capped_fmax(c) if problem.clock_model else None
            return (float(c.cost[key]) * 1000.0 / clock if clock and clock != float("inf")
                    else float(c.cost.get("latency_ns") or 0.0))
        return float(c.cost[key])

    best = {}
    for layer in problem.candidates:
        cands = [c for c in _allowed(problem, layer) if c.cost.get(key) is not None]
        if cands:
            best[layer] = min(cands, key=lambda c: (value(c), c.cost.get("lut") or 0.0))
    if not best:
        return None
    layer = max(best, key=lambda l: value(best[l]))
    c = best[layer]
    out = {"layer": layer, "w_bits": c.w_bits, "a_bits": c.a_bits, "fold": c.fold, "value": value(c),
           "cycles": float(c.cost[key]), "lut": c.cost.get("lut"), "fmax_mhz": c.fmax, "needed": float(needed)}
    if metric == "latency_ns" and problem.clock_model:
        fastest = {l: max(problem.capped_fmax(x) for x in _allowed(problem, l)) for l in problem.candidates}
        slow = min(fastest, key=fastest.get)
        if fastest[slow] != float("inf") and (problem.clock_mhz is None or fastest[slow] < problem.clock_mhz):
            out.update(clock_layer=slow, clock_limit_mhz=fastest[slow])
    return out


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
            s = {kind(c) for c in _allowed(problem, layer)}
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
        if d.minimum[metric] > limit + TOL * max(1.0, abs(limit)):
            d.impossible.append(metric)
            b = bottleneck(problem, metric, d.minimum[metric])
            if b is not None:
                d.bottleneck[metric] = b
    alone = [m for m in problem.budgets if m not in d.impossible]
    for a, b in itertools.combinations(alone, 2):
        status, asg, _ = run_model(problem, {a: problem.budgets[a], b: problem.budgets[b]}, None)
        if status == "infeasible":
            d.conflicts.append((a, b))
    return d
