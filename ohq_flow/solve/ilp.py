"""The ILP of bit-width selection (PuLP): one candidate per layer, minimum summed sensitivity.

Budgets (sums over layers): lut, ff, dsp, bram18, uram, latency_cycles / latency_ns
(sequential: the sum of per-layer latencies; dataflow: the sum too, as end-to-end latency),
ii_cycles (dataflow: every layer's II <= budget; sequential: the sum), weight_bits
(params × w_bits) and bops (MACs × w_bits × a_bits). Tied layers take equal activation bits;
pinned layers their pin. An infeasible problem gets a :class:`Diagnosis`, not a solver status.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field

import pulp

from ohq_flow.errors import InputError

RESOURCES = ("lut", "ff", "dsp", "bram18", "uram")
METRICS = RESOURCES + ("latency_cycles", "ii_cycles", "latency_ns", "weight_bits", "bops")
_PERCENT = re.compile(r"^\s*(\d+(\.\d+)?)\s*%\s*$")


@dataclass
class Candidate:
    w_bits: int
    a_bits: int
    damage: float
    cost: dict[str, float | None]

    @property
    def label(self) -> str:
        return f"w{self.w_bits}a{self.a_bits}"


@dataclass
class Problem:
    """Candidates per layer (in network order), budgets, ties and pins."""

    candidates: dict[str, list[Candidate]]
    budgets: dict[str, float] = field(default_factory=dict)
    latency_mode: str = "sequential"
    ties: list[list[str]] = field(default_factory=list)
    pins: dict[str, tuple[int, int]] = field(default_factory=dict)
    solver: str = "cbc"
    time_limit_s: float = 60.0
    dropped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for metric in self.budgets:
            if metric not in METRICS:
                raise InputError(f"unknown budget metric '{metric}'", f"budgets can be: {', '.join(METRICS)}")
            for layer, cands in self.candidates.items():
                for c in cands:
                    if c.cost.get(metric) is None:
                        raise InputError(f"budget on '{metric}' but layer {layer} candidate {c.label} has no {metric} value",
                                         "measure it (profile) or drop that budget; a missing cost is never taken as 0")
        for layer, (w, a) in self.pins.items():
            if layer not in self.candidates:
                raise InputError(f"pinned layer '{layer}' is not in the tables")
            if not any(c.w_bits == w and c.a_bits == a for c in self.candidates[layer]):
                raise InputError(f"pinned layer '{layer}': candidate w{w}a{a} is not in both tables")
        for group in self.ties:
            for layer in group:
                if layer not in self.candidates:
                    raise InputError(f"tied layer '{layer}' is not in the tables")


@dataclass
class Solution:
    status: str                       # optimal | feasible_time_limit | infeasible | not_solved
    objective: float | None
    assignment: dict[str, tuple[int, int]]
    totals: dict[str, float]
    solve_time_s: float
    solver: str
    budgets: dict[str, float] = field(default_factory=dict)
    diagnosis: "Diagnosis | None" = None

    def to_json_dict(self) -> dict:
        d = {"status": self.status, "objective": self.objective,
             "assignment": {k: {"w_bits": w, "a_bits": a} for k, (w, a) in self.assignment.items()},
             "totals": self.totals, "budgets": self.budgets, "solver": self.solver,
             "solve_time_s": round(self.solve_time_s, 4)}
        if self.diagnosis is not None:
            d["diagnosis"] = self.diagnosis.to_dict()
        return d


def resolve_budget(metric: str, value, total: float | None) -> float:
    """A number, or "NN%" of the board total."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _PERCENT.match(str(value))
    if not m:
        try:
            return float(value)
        except ValueError:
            raise InputError(f"budget {metric}={value!r} is not a number or a percentage") from None
    if total is None:
        raise InputError(f"budget {metric}={value} is a percentage but {metric} has no board total",
                         "give an absolute number")
    return float(m.group(1)) / 100.0 * total


def _value(problem: Problem, c: Candidate, metric: str) -> float:
    return float(c.cost[metric])


def _build(problem: Problem, budgets: dict[str, float], objective: str | None = "damage"):
    prob = pulp.LpProblem("ohq_bits", pulp.LpMinimize)
    x = {}
    for layer, cands in problem.candidates.items():
        for i, c in enumerate(cands):
            x[layer, i] = pulp.LpVariable(f"x_{len(x)}", cat="Binary")
        prob += pulp.lpSum(x[layer, i] for i in range(len(cands))) == 1
        if layer in problem.pins:
            w, a = problem.pins[layer]
            for i, c in enumerate(cands):
                if (c.w_bits, c.a_bits) != (w, a):
                    prob += x[layer, i] == 0
    for group in problem.ties:
        a_values = sorted({c.a_bits for l in group for c in problem.candidates[l]})
        first = group[0]
        for other in group[1:]:
            for a in a_values:
                prob += (pulp.lpSum(x[first, i] for i, c in enumerate(problem.candidates[first]) if c.a_bits == a)
                         == pulp.lpSum(x[other, i] for i, c in enumerate(problem.candidates[other]) if c.a_bits == a))
    for metric, limit in budgets.items():
        if metric == "ii_cycles" and problem.latency_mode == "dataflow":
            for layer, cands in problem.candidates.items():
                for i, c in enumerate(cands):
                    if _value(problem, c, metric) > limit + 1e-9:
                        prob += x[layer, i] == 0
            continue
        prob += pulp.lpSum(_value(problem, c, metric) * x[layer, i]
                           for layer, cands in problem.candidates.items() for i, c in enumerate(cands)) <= limit + 1e-9
    if objective == "damage":
        prob += pulp.lpSum(c.damage * x[layer, i] for layer, cands in problem.candidates.items() for i, c in enumerate(cands))
    elif objective is not None:
        prob += pulp.lpSum(_value(problem, c, objective) * x[layer, i]
                           for layer, cands in problem.candidates.items() for i, c in enumerate(cands))
    return prob, x


def _solver(problem: Problem):
    if problem.solver == "highs":
        solver = pulp.HiGHS(msg=False, timeLimit=problem.time_limit_s)
        if not solver.available():
            raise InputError("solver 'highs' is not available", "pip install highspy, or use solver.backend: cbc")
        return solver
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=problem.time_limit_s)


def totals_of(problem: Problem, assignment: dict[str, tuple[int, int]]) -> dict[str, float]:
    """Summed cost of an assignment for every metric all its candidates have (II: max in dataflow)."""
    out: dict[str, float] = {}
    chosen = [next(c for c in problem.candidates[l] if (c.w_bits, c.a_bits) == wa) for l, wa in assignment.items()]
    for metric in METRICS:
        vals = [c.cost.get(metric) for c in chosen]
        if vals and all(v is not None for v in vals):
            out[metric] = float(max(vals) if metric == "ii_cycles" and problem.latency_mode == "dataflow" else sum(vals))
    out["damage"] = float(sum(c.damage for c in chosen))
    return out


def _run(problem: Problem, budgets: dict[str, float], objective="damage"):
    prob, x = _build(problem, budgets, objective)
    t0 = time.perf_counter()
    prob.solve(_solver(problem))
    elapsed = time.perf_counter() - t0
    status = pulp.LpStatus[prob.status]
    assignment = {}
    if status == "Optimal" or (prob.sol_status in (pulp.LpSolutionIntegerFeasible,)):
        for layer, cands in problem.candidates.items():
            for i, c in enumerate(cands):
                if (x[layer, i].value() or 0) > 0.5:
                    assignment[layer] = (c.w_bits, c.a_bits)
    if len(assignment) != len(problem.candidates):
        assignment = {}
    if prob.sol_status == pulp.LpSolutionOptimal and assignment:
        state = "optimal"
    elif assignment:
        state = "feasible_time_limit"
    elif status == "Infeasible" or prob.sol_status == pulp.LpSolutionInfeasible:
        state = "infeasible"
    else:
        state = "not_solved" if prob.sol_status == pulp.LpSolutionNoSolutionFound else "infeasible"
    return state, assignment, elapsed


def solve(problem: Problem) -> Solution:
    """Solve; on infeasibility attach a diagnosis."""
    state, assignment, elapsed = _run(problem, problem.budgets)
    if assignment:
        totals = totals_of(problem, assignment)
        return Solution(state, totals["damage"], assignment, totals, elapsed, problem.solver, dict(problem.budgets))
    sol = Solution(state, None, {}, {}, elapsed, problem.solver, dict(problem.budgets))
    if state == "infeasible":
        sol.diagnosis = diagnose(problem)
    return sol


# ------------------------------------------------------------------------------ diagnosis
@dataclass
class Diagnosis:
    minimum: dict[str, float]                      # smallest achievable value per budgeted metric alone
    cheapest: dict[str, dict[str, tuple[int, int]]]
    impossible: list[str]                          # budgets below their own minimum
    conflicts: list[tuple[str, str]]               # feasible alone, infeasible together
    budgets: dict[str, float]

    def to_dict(self) -> dict:
        return {"minimum": self.minimum, "impossible": self.impossible, "conflicts": [list(c) for c in self.conflicts],
                "cheapest": {m: {l: f"w{w}a{a}" for l, (w, a) in asg.items()} for m, asg in self.cheapest.items()}}

    def format(self) -> str:
        lines = ["The budgets cannot all be met:"]
        for m, limit in self.budgets.items():
            low = self.minimum.get(m)
            if low is None:
                continue
            verdict = "IMPOSSIBLE on its own" if m in self.impossible else "achievable on its own"
            asg = self.cheapest.get(m, {})
            lines.append(f"  {m} budget {limit:,.6g} vs minimum achievable {low:,.6g} — {verdict}"
                         + (f" (cheapest: {', '.join(f'{l}=w{w}a{a}' for l, (w, a) in asg.items())})" if asg else ""))
        for a, b in self.conflicts:
            lines.append(f"  {a} and {b} conflict: each can be met alone, not both")
        if not self.impossible and not self.conflicts:
            lines.append("  no single budget or pair fails alone: three or more budgets conflict together")
        lines.append("  fix: raise the budgets above, or widen the search (more low bit-widths)")
        return "\n".join(lines)


def diagnose(problem: Problem) -> Diagnosis:
    """Per budget: its minimum alone (with pins/ties); which are impossible; which pairs conflict."""
    minimum, cheapest, impossible = {}, {}, []
    for metric, limit in problem.budgets.items():
        if metric == "ii_cycles" and problem.latency_mode == "dataflow":
            low = max(min(_value(problem, c, metric) for c in cands) for cands in problem.candidates.values())
            minimum[metric] = low
            if low > limit + 1e-9:
                impossible.append(metric)
            continue
        state, asg, _ = _run(problem, {}, objective=metric)
        if not asg:
            continue
        minimum[metric] = sum(_value(problem, next(c for c in problem.candidates[l] if (c.w_bits, c.a_bits) == wa), metric)
                              for l, wa in asg.items())
        cheapest[metric] = asg
        if minimum[metric] > limit + 1e-9:
            impossible.append(metric)
    conflicts = []
    feasible_alone = [m for m in problem.budgets if m not in impossible]
    for a, b in itertools.combinations(feasible_alone, 2):
        state, asg, _ = _run(problem, {a: problem.budgets[a], b: problem.budgets[b]}, objective=None)
        if not asg:
            conflicts.append((a, b))
    return Diagnosis(minimum, cheapest, impossible, conflicts, dict(problem.budgets))


# ------------------------------------------------------------------------------ Pareto
@dataclass
class ParetoPoint:
    kind: str            # sweep | uniform
    label: str
    budget_metric: str
    budget: float | None
    status: str
    objective: float | None
    totals: dict[str, float]
    assignment: dict[str, tuple[int, int]]


def parse_sweep(spec: str, total: float | None) -> tuple[str, list[float]]:
    """``metric=START:STOP:N`` (START/STOP absolute or % of the board) -> (metric, N values)."""
    m = re.fullmatch(r"\s*(\w+)\s*=\s*([\d.]+%?)\s*:\s*([\d.]+%?)\s*:\s*(\d+)\s*", spec)
    if not m:
        raise InputError(f"sweep {spec!r} must look like 'metric=START:STOP:N', e.g. 'lut=30%:100%:8'")
    metric, start, stop, n = m.group(1), m.group(2), m.group(3), int(m.group(4))
    if metric not in METRICS:
        raise InputError(f"sweep metric '{metric}' unknown", f"one of: {', '.join(METRICS)}")
    lo, hi = resolve_budget(metric, start, total), resolve_budget(metric, stop, total)
    if n < 1:
        raise InputError(f"sweep {spec!r}: N must be >= 1")
    return metric, [lo + (hi - lo) * i / max(n - 1, 1) for i in range(n)]


def sweep(problem: Problem, metric: str, values: list[float]) -> list[ParetoPoint]:
    """Solve once per budget value of ``metric`` (other budgets kept)."""
    points = []
    for v in values:
        p = Problem(problem.candidates, {**problem.budgets, metric: v}, problem.latency_mode, problem.ties,
                    problem.pins, problem.solver, problem.time_limit_s)
        state, asg, _ = _run(p, p.budgets)
        totals = totals_of(p, asg) if asg else {}
        points.append(ParetoPoint("sweep", f"{metric}<={v:,.0f}", metric, v, state, totals.get("damage"), totals, asg))
    return points


def uniform_designs(problem: Problem) -> list[ParetoPoint]:
    """Every (w, a) available for all layers applied to all layers (pins and ties respected)."""
    common = None
    for cands in problem.candidates.values():
        s = {(c.w_bits, c.a_bits) for c in cands}
        common = s if common is None else common & s
    points = []
    for w, a in sorted(common or [], reverse=True):
        asg = {l: (w, a) for l in problem.candidates}
        asg.update({l: wa for l, wa in problem.pins.items()})
        totals = totals_of(problem, asg)
        points.append(ParetoPoint("uniform", f"W{w}A{a}", "", None, "evaluated", totals["damage"], totals, asg))
    return points


def assignment_text(asg: dict[str, tuple[int, int]]) -> str:
    return ";".join(f"{l}=w{w}a{a}" for l, (w, a) in asg.items())
