"""The ILP of bit-width selection (PuLP): one candidate per layer, least summed damage within budgets.

Binary ``x[layer, c]`` over the candidates (w_bits, a_bits, fold); ``sum_c x = 1`` per layer;
minimise ``sum damage·x`` (or a metric: the reverse problem, with the damage as a budget); one
linear constraint per summed budget; a dataflow ``ii_cycles`` budget removes the candidates whose
II exceeds it (the pipeline's II is the largest layer II). Ties: per tie group and per a_bits value
(per (w, a) pair with ``same_w_bits``), the chosen-candidate indicator sums of the layers are equal;
folds are free. Pins keep only the pinned bits (every fold of them).

The design clock (latency_ns): the smallest fmax of the chosen candidates, capped by clock_mhz.
It is handled exactly by an outer loop over the distinct clock values c: keep only candidates
with fmax >= c, price latency_ns as cycles·1000/c, solve, and keep the best over all c (the
optimum's real clock is one of these values, and at that c its constraints are exact).

Candidates dominated within their layer (another one, tie-compatible, is no worse in the
objective and in every budgeted metric, and — where the clock matters — at that clock level) are
left out of the model; this does not change the optimum and shrinks large problems a lot.

Statuses: ``optimal`` (proven), ``time_limit_feasible`` (the time limit cut the search; the
assignment is feasible, maybe not optimal), ``infeasible`` (proven; a :class:`Diagnosis` is
attached), ``time_limit_no_solution``, ``not_solved``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pulp

from ohq_flow.errors import InputError
from ohq_flow.solve.problem import METRICS, Candidate, Problem, build_problem, resolve_budgets  # noqa: F401

_TOL = 1e-6
PRUNE_DOMINATED = True      # switch off only to measure what pruning saves (bench/bench_ilp.py)


@dataclass
class Solution:
    """The chosen bit-widths and what they cost."""

    status: str
    objective: float | None
    assignment: dict[str, tuple[int, int]]
    totals: dict[str, float]
    solve_time_s: float
    solver: str
    budgets: dict[str, float] = field(default_factory=dict)
    diagnosis: object | None = None          # ohq_flow.solve.diagnose.Diagnosis when infeasible
    objective_name: str = "kl"
    latency_mode: str = "sequential"
    dropped: list = field(default_factory=list)
    folds: dict[str, str] = field(default_factory=dict)     # layer -> fold label of the chosen candidate
    minimize: str | None = None                              # None: objective is the damage; else that metric
    clock_mhz: float | None = None                           # the cap given (the design clock is in totals)

    @property
    def feasible(self) -> bool:
        return bool(self.assignment)

    def choices(self) -> dict[str, tuple[int, int, str]]:
        """layer -> (w_bits, a_bits, fold)."""
        return {l: (w, a, self.folds.get(l, "")) for l, (w, a) in self.assignment.items()}

    def to_json_dict(self) -> dict:
        d = {"status": self.status, "objective": self.objective,
             "assignment": {k: {"w_bits": w, "a_bits": a, "fold": f} for k, (w, a, f) in self.choices().items()},
             "totals": dict(self.totals), "budgets": dict(self.budgets), "objective_name": self.objective_name,
             "minimize": self.minimize or "damage", "clock_mhz_cap": self.clock_mhz,
             "latency_mode": self.latency_mode, "solver": self.solver, "solve_time_s": round(self.solve_time_s, 4),
             "dropped": [str(x) for x in self.dropped]}
        if self.diagnosis is not None:
            d["diagnosis"] = self.diagnosis.to_dict()
        return d


# ----------------------------------------------------------------------------- totals
def totals_of(problem: Problem, assignment: Mapping) -> dict[str, float]:
    """Totals of an assignment for every metric all chosen candidates have, plus ``damage``.

    ``assignment``: layer -> (w, a), (w, a, fold) or Candidate. Sums, except ``ii_cycles`` in
    dataflow mode: the largest layer II (the pipeline's II; not reported in sequential mode).
    With a clock model: ``clock_mhz`` (the design clock) and ``latency_ns`` = cycles·1000/clock.
    """
    chosen = [problem.candidate(layer, v) for layer, v in assignment.items()]
    out: dict[str, float] = {}
    for metric in METRICS:
        if metric == "ii_cycles" and problem.latency_mode != "dataflow":
            continue
        if metric == "latency_ns" and problem.clock_model:
            clock = problem.design_clock(chosen)
            if clock is not None and "latency_cycles" in out:
                out["clock_mhz"] = clock
                out["latency_ns"] = out["latency_cycles"] * 1000.0 / clock
            continue
        vals = [c.cost.get(metric) for c in chosen]
        if vals and all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in vals):
            out[metric] = float(max(vals) if metric == "ii_cycles" else sum(vals))
    out["damage"] = float(sum(c.damage for c in chosen))
    return out


def within_budgets(problem: Problem, totals: Mapping[str, float], budgets: Mapping[str, float] | None = None) -> list[str]:
    """The budgeted metrics an assignment's totals exceed (tolerance 1e-6 relative); [] if none."""
    budgets = problem.budgets if budgets is None else budgets
    return [m for m, v in budgets.items() if m not in totals or totals[m] > v + _TOL * max(1.0, abs(v))]


# ----------------------------------------------------------------------------- model
def _coef(c: Candidate, key: str) -> float:
    return float(c.damage) if key == "damage" else float(c.cost[key])


def _tie_class(problem: Problem, layer: str):
    """Which bits a layer must share with its tie partners: None, 'a' or 'wa'."""
    kinds = [t.same_w_bits for t in problem.ties if layer in t.layers]
    return None if not kinds else ("wa" if any(kinds) else "a")


def _class_of(c: Candidate, kind) -> object:
    return None if kind is None else (c.bits if kind == "wa" else c.a_bits)


def _non_dominated(k: np.ndarray) -> list[int]:
    """Rows of ``k`` not dominated by another row (no worse everywhere; equal rows: the first wins)."""
    n = k.shape[0]
    if n <= 1:
        return list(range(n))
    le = np.all(k[:, None, :] <= k[None, :, :], axis=2)      # le[j, i]: row j no worse than row i
    lt = np.any(k[:, None, :] < k[None, :, :], axis=2)
    earlier = np.tri(n, k=-1, dtype=bool).T                    # earlier[j, i]: j < i
    dominated = np.any(le & (lt | earlier), axis=0)
    return [i for i in range(n) if not dominated[i]]


def _needs_clock_loop(problem: Problem, budgets: Mapping[str, float], objective: str | None) -> bool:
    return problem.clock_model and ("latency_ns" in budgets or objective == "latency_ns")


def clock_levels(problem: Problem, budgets: Mapping[str, float], objective: str | None) -> list[float | None]:
    """The design clocks to try, fastest first: [None] when the clock does not enter the model."""
    if not _needs_clock_loop(problem, budgets, objective):
        return [None]
    levels = {problem.capped_fmax(c) for cs in problem.candidates.values() for c in cs}
    return sorted((f for f in levels if math.isfinite(f)), reverse=True)


def _active(problem: Problem, budgets: Mapping[str, float], objective: str | None,
            clock: float | None = None) -> dict[str, list[Candidate]]:
    """Per layer, the candidates the model needs: pins applied, dataflow II cut, clock level applied
    (fmax >= clock, latency_ns priced at that clock), dominated ones left out."""
    keys = ([objective] if objective is not None else []) + [m for m in budgets if m != "ii_cycles" and m != objective]
    ii_limit = budgets.get("ii_cycles") if problem.latency_mode == "dataflow" else None
    out = {}
    for layer, cands in problem.candidates.items():
        if layer in problem.pins:
            cands = [c for c in cands if c.bits == problem.pins[layer]]
        if ii_limit is not None:
            cands = [c for c in cands if c.cost["ii_cycles"] <= ii_limit + _TOL * max(1.0, ii_limit)]
        if clock is not None:
            cands = [replace(c, cost={**c.cost, "latency_ns": float(c.cost["latency_cycles"]) * 1000.0 / clock})
                     for c in cands if problem.capped_fmax(c) >= clock * (1 - 1e-12)]
        cands = sorted(cands, key=lambda c: -problem.capped_fmax(c))   # equal rows: the faster clock wins
        kind = _tie_class(problem, layer)
        kept = []
        for cls in dict.fromkeys(_class_of(c, kind) for c in cands):
            group = [c for c in cands if _class_of(c, kind) == cls]
            table = np.array([[_coef(c, k) for k in keys] for c in group], dtype=float).reshape(len(group), len(keys))
            kept += [group[i] for i in (_non_dominated(table) if PRUNE_DOMINATED else range(len(group)))]
        out[layer] = sorted(kept, key=lambda c: c.key)
    return out


@dataclass
class _Model:
    lp: pulp.LpProblem
    x: dict[tuple[str, int], pulp.LpVariable]
    active: dict[str, list[Candidate]]


def build_model(problem: Problem, budgets: Mapping[str, float] | None = None,
                objective: str | None = "damage", clock: float | None = None) -> _Model:
    """The PuLP model at one clock level. ``objective``: "damage", a metric to minimise, or None (feasibility)."""
    budgets = problem.budgets if budgets is None else budgets
    active = _active(problem, budgets, objective, clock)
    lp = pulp.LpProblem("ohq_bits", pulp.LpMinimize)
    x = {}
    for layer, cands in active.items():
        for i in range(len(cands)):
            x[layer, i] = pulp.LpVariable(f"x{len(x)}", cat="Binary")
        if cands:                                     # a layer left empty makes run_model report infeasible
            lp += pulp.lpSum(x[layer, i] for i in range(len(cands))) == 1
    for tie in problem.ties:
        kind = "wa" if tie.same_w_bits else "a"
        classes = sorted({_class_of(c, kind) for l in tie.layers for c in active[l]})
        first = tie.layers[0]
        for other in tie.layers[1:]:
            for cls in classes:
                lp += (pulp.lpSum(x[first, i] for i, c in enumerate(active[first]) if _class_of(c, kind) == cls)
                       == pulp.lpSum(x[other, i] for i, c in enumerate(active[other]) if _class_of(c, kind) == cls))
    for metric, limit in budgets.items():
        if metric == "ii_cycles":
            continue                                  # dataflow: handled by _active
        lp += pulp.lpSum(_coef(c, metric) * x[l, i] for l, cands in active.items()
                         for i, c in enumerate(cands)) <= limit, f"budget_{metric}"
    if objective == "ii_cycles":                      # min over assignments of the largest layer II
        z = pulp.LpVariable("z_ii", lowBound=0)
        for l, cands in active.items():
            lp += z >= pulp.lpSum(_coef(c, "ii_cycles") * x[l, i] for i, c in enumerate(cands))
        lp += z
    elif objective is not None:
        lp += pulp.lpSum(_coef(c, objective) * x[l, i] for l, cands in active.items() for i, c in enumerate(cands))
    return _Model(lp, x, active)


def make_solver(name: str, time_limit_s: float):
    """PuLP solver: "cbc" (bundled) or "highs" (needs highspy); both asked for a proven optimum."""
    if name == "cbc":
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=0.0, gapAbs=1e-9)
    if name == "highs":
        solver = pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=0.0, gapAbs=1e-9)
        if not solver.available():
            raise InputError("solver 'highs' is not available: the highspy package is not installed",
                             "pip install highspy, or use solver cbc")
        return solver
    raise InputError(f"solver '{name}' unknown", "one of: cbc, highs")


def run_model(problem: Problem, budgets: Mapping[str, float] | None = None, objective: str | None = "damage"
              ) -> tuple[str, dict[str, tuple[int, int, str]], float]:
    """Solve (over every clock level when the clock matters); returns (status, layer -> (w, a, fold) or {},
    seconds). Any assignment is re-checked against the budgets with its real design clock."""
    budgets = problem.budgets if budgets is None else budgets
    t0 = time.perf_counter()
    best, best_value, statuses = {}, math.inf, []
    for clock in clock_levels(problem, budgets, objective):
        left = problem.time_limit_s - (time.perf_counter() - t0)
        status, asg = _run_level(problem, budgets, objective, clock, max(1.0, left))
        statuses.append(status)
        if not asg:
            continue
        value = 0.0 if objective is None else totals_of(problem, asg)[objective]
        if value < best_value - _TOL * max(1.0, abs(best_value) if math.isfinite(best_value) else 1.0):
            best, best_value = asg, value
        if objective is None:
            break                                     # feasibility: any assignment will do
    elapsed = time.perf_counter() - t0
    if best:
        exact = all(s in ("optimal", "infeasible") for s in statuses)
        return ("optimal" if exact else "time_limit_feasible"), best, elapsed
    if statuses and all(s == "infeasible" for s in statuses) or not statuses:
        return "infeasible", {}, elapsed
    if "time_limit_no_solution" in statuses:
        return "time_limit_no_solution", {}, elapsed
    return "not_solved", {}, elapsed


def _run_level(problem: Problem, budgets: Mapping[str, float], objective: str | None, clock: float | None,
               time_limit_s: float) -> tuple[str, dict[str, tuple[int, int, str]]]:
    solver = make_solver(problem.solver, time_limit_s)
    t0 = time.perf_counter()
    model = build_model(problem, budgets, objective, clock)
    if any(not cands for cands in model.active.values()):    # e.g. a pinned layer over the II budget
        return "infeasible", {}
    model.lp.solve(solver)
    elapsed = time.perf_counter() - t0
    st, sst = model.lp.status, model.lp.sol_status
    assignment = {}
    if sst in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        assignment = _extract(problem, model, budgets)
    if assignment and sst == pulp.LpSolutionOptimal:
        return "optimal", assignment
    if assignment:
        return "time_limit_feasible", assignment
    if st == pulp.LpStatusInfeasible or sst == pulp.LpSolutionInfeasible:
        return "infeasible", {}
    if elapsed >= 0.95 * time_limit_s:
        return "time_limit_no_solution", {}
    return "not_solved", {}


def _extract(problem: Problem, model: _Model, budgets: Mapping[str, float]) -> dict[str, tuple[int, int, str]]:
    """The assignment the solver chose, or {} if it is incomplete or breaks a budget."""
    out = {}
    for layer, cands in model.active.items():
        on = [c for i, c in enumerate(cands) if (model.x[layer, i].value() or 0.0) > 0.5]
        if len(on) != 1:
            return {}
        out[layer] = on[0].key
    if within_budgets(problem, totals_of(problem, out), budgets):
        return {}
    return out


# ----------------------------------------------------------------------------- solve
def solve(problem: Problem, *, diagnose: bool = True) -> Solution:
    """Solve; when proven infeasible (and ``diagnose``), attach a :class:`Diagnosis`."""
    target = problem.minimize or "damage"
    status, choice, elapsed = run_model(problem, objective=target)
    common = dict(solve_time_s=elapsed, solver=problem.solver, budgets=dict(problem.budgets),
                  objective_name=problem.objective, latency_mode=problem.latency_mode, dropped=list(problem.dropped),
                  minimize=problem.minimize, clock_mhz=problem.clock_mhz)
    if choice:
        totals = totals_of(problem, choice)
        return Solution(status, totals[target], {l: (w, a) for l, (w, a, _) in choice.items()}, totals,
                        folds={l: f for l, (_, _, f) in choice.items()}, **common)
    sol = Solution(status, None, {}, {}, **common)
    if status == "infeasible" and diagnose:
        from ohq_flow.solve.diagnose import diagnose as _diagnose
        sol.diagnosis = _diagnose(problem)
    return sol


def problem_from_tables(sensitivity_csv: str | Path, costs_csv: str | Path, budgets: Mapping[str, str | float], *,
                        board_totals: Mapping[str, float] | None = None, layer_meta: Mapping | None = None,
                        ties: Sequence | None = None, pins: Mapping | None = None, latency_mode: str = "sequential",
                        objective: str = "kl", solver: str = "cbc", time_limit_s: float = 60.0,
                        layer_order: Sequence[str] | None = None, mode: str | None = "joint",
                        clock_mhz: float | None = None, minimize: str | None = None) -> Problem:
    """Read both CSV tables, resolve budgets ("30%" against ``board_totals``) and build the Problem."""
    from ohq_flow.hw.costs import read_costs
    from ohq_flow.solve.sensitivity_table import read_sensitivity
    return build_problem(read_sensitivity(sensitivity_csv, objective, mode=mode), read_costs(costs_csv),
                         budgets=resolve_budgets(budgets, board_totals), layer_order=layer_order,
                         layer_meta=layer_meta, latency_mode=latency_mode, ties=ties, pins=pins,
                         objective=objective, solver=solver, time_limit_s=time_limit_s, clock_mhz=clock_mhz,
                         minimize=minimize)


def solve_tables(sensitivity_csv: str | Path, costs_csv: str | Path, budgets: Mapping[str, str | float],
                 **options) -> Solution:
    """:func:`problem_from_tables` (same options), then :func:`solve`."""
    return solve(problem_from_tables(sensitivity_csv, costs_csv, budgets, **options))


def format_solution(solution: Solution, board_totals: Mapping[str, float] | None = None) -> str:
    """A plain-text table: status, per-layer bits, totals against budgets (and % of the board)."""
    head = f"status: {solution.status} ({solution.solver}, {solution.solve_time_s:.2f} s)"
    if not solution.assignment:
        lines = [head]
        if solution.diagnosis is not None:
            lines.append(solution.diagnosis.format())
        return "\n".join(lines)
    damage = solution.totals.get("damage", solution.objective)
    goal = f"; predicted damage (sum {solution.objective_name}): {damage:.6g}"
    if solution.minimize:
        goal = f"; minimised {solution.minimize}: {solution.objective:,.6g}" + goal
    lines = [head + goal]
    if solution.status != "optimal":
        lines.append("  note: the time limit cut the search; this assignment is feasible but maybe not optimal")
    width = max(12, *(len(l) for l in solution.assignment))
    folds = any(solution.folds.values())
    lines.append(f"{'layer':<{width}}  w_bits  a_bits" + ("  fold" if folds else ""))
    lines += [f"{l:<{width}}  {w:>6}  {a:>6}" + (f"  {f}" if folds else "") for l, (w, a, f) in solution.choices().items()]
    lines.append("predicted totals:")
    for m, v in solution.totals.items():
        extra = ""
        if m in solution.budgets:
            b = solution.budgets[m]
            extra += f"  budget {b:,.6g}" + (f" ({100 * v / b:.1f}% used)" if b > 0 else "")
        total = (board_totals or {}).get(m)
        if total:
            extra += f"  {100 * v / total:.1f}% of board"
        lines.append(f"  {m:<15} {v:>14,.6g}{extra}")
    if solution.dropped:
        lines.append(f"dropped candidates: {len(solution.dropped)} (listed in solution.json)")
    return "\n".join(lines)
