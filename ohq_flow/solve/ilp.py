"""The ILP of bit-width selection (PuLP): one candidate per layer, least summed damage within budgets.

Binary ``x[layer, c]``; ``sum_c x = 1`` per layer; minimise ``sum damage·x``; one linear
constraint per summed budget; a dataflow ``ii_cycles`` budget removes the candidates whose II
exceeds it. Ties: per tie group and per a_bits value (per (w, a) pair with ``same_w_bits``), the
chosen-candidate indicator sums of the layers are equal. Pins keep only the pinned candidate.

Candidates dominated within their layer (another one, tie-compatible, is no worse in the
objective and in every budgeted metric) are left out of the model; this does not change the
optimum and shrinks large problems a lot.

Statuses: ``optimal`` (proven), ``time_limit_feasible`` (the time limit cut the search; the
assignment is feasible, maybe not optimal), ``infeasible`` (proven; a :class:`Diagnosis` is
attached), ``time_limit_no_solution``, ``not_solved``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
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

    @property
    def feasible(self) -> bool:
        return bool(self.assignment)

    def to_json_dict(self) -> dict:
        d = {"status": self.status, "objective": self.objective,
             "assignment": {k: {"w_bits": w, "a_bits": a} for k, (w, a) in self.assignment.items()},
             "totals": dict(self.totals), "budgets": dict(self.budgets), "objective_name": self.objective_name,
             "latency_mode": self.latency_mode, "solver": self.solver, "solve_time_s": round(self.solve_time_s, 4),
             "dropped": [str(x) for x in self.dropped]}
        if self.diagnosis is not None:
            d["diagnosis"] = self.diagnosis.to_dict()
        return d


# ----------------------------------------------------------------------------- totals
def totals_of(problem: Problem, assignment: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """Totals of an assignment for every metric all chosen candidates have.

    Sums, except ``ii_cycles`` in dataflow mode: the largest layer II (the pipeline's II);
    ``ii_cycles`` is not reported in sequential mode.
    """
    chosen = [problem.candidate(layer, wa) for layer, wa in assignment.items()]
    out: dict[str, float] = {}
    for metric in METRICS:
        if metric == "ii_cycles" and problem.latency_mode != "dataflow":
            continue
        vals = [c.cost.get(metric) for c in chosen]
        if vals and all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in vals):
            out[metric] = float(max(vals) if metric == "ii_cycles" else sum(vals))
    return out


def within_budgets(problem: Problem, totals: Mapping[str, float], budgets: Mapping[str, float] | None = None) -> list[str]:
    """The budgeted metrics an assignment's totals exceed (tolerance 1e-6 relative); [] if none."""
    budgets = problem.budgets if budgets is None else budgets
    return [m for m, v in budgets.items() if totals[m] > v + _TOL * max(1.0, abs(v))]


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


def _active(problem: Problem, budgets: Mapping[str, float], objective: str | None) -> dict[str, list[Candidate]]:
    """Per layer, the candidates the model needs: pins applied, dataflow II cut, dominated ones left out."""
    keys = ([objective] if objective is not None else []) + [m for m in budgets if m != "ii_cycles" and m != objective]
    ii_limit = budgets.get("ii_cycles") if problem.latency_mode == "dataflow" else None
    out = {}
    for layer, cands in problem.candidates.items():
        if layer in problem.pins:
            cands = [problem.candidate(layer, problem.pins[layer])]
        if ii_limit is not None:
            cands = [c for c in cands if c.cost["ii_cycles"] <= ii_limit + _TOL * max(1.0, ii_limit)]
        kind = _tie_class(problem, layer)
        kept = []
        for cls in dict.fromkeys(_class_of(c, kind) for c in cands):
            group = [c for c in cands if _class_of(c, kind) == cls]
            table = np.array([[_coef(c, k) for k in keys] for c in group], dtype=float).reshape(len(group), len(keys))
            kept += [group[i] for i in (_non_dominated(table) if PRUNE_DOMINATED else range(len(group)))]
        out[layer] = sorted(kept, key=lambda c: c.bits)
    return out


@dataclass
class _Model:
    lp: pulp.LpProblem
    x: dict[tuple[str, int], pulp.LpVariable]
    active: dict[str, list[Candidate]]


def build_model(problem: Problem, budgets: Mapping[str, float] | None = None,
                objective: str | None = "damage") -> _Model:
    """The PuLP model. ``objective``: "damage", a metric to minimise (diagnosis), or None (feasibility)."""
    budgets = problem.budgets if budgets is None else budgets
    active = _active(problem, budgets, objective)
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
              ) -> tuple[str, dict[str, tuple[int, int]], float]:
    """Build and solve; returns (status, assignment or {}, seconds). Any assignment is re-checked here."""
    budgets = problem.budgets if budgets is None else budgets
    solver = make_solver(problem.solver, problem.time_limit_s)
    t0 = time.perf_counter()
    model = build_model(problem, budgets, objective)
    if any(not cands for cands in model.active.values()):    # e.g. a pinned layer over the II budget
        return "infeasible", {}, time.perf_counter() - t0
    model.lp.solve(solver)
    elapsed = time.perf_counter() - t0
    st, sst = model.lp.status, model.lp.sol_status
    assignment = {}
    if sst in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        assignment = _extract(problem, model, budgets)
    if assignment and sst == pulp.LpSolutionOptimal:
        return "optimal", assignment, elapsed
    if assignment:
        return "time_limit_feasible", assignment, elapsed
    if st == pulp.LpStatusInfeasible or sst == pulp.LpSolutionInfeasible:
        return "infeasible", {}, elapsed
    if elapsed >= 0.95 * problem.time_limit_s:
        return "time_limit_no_solution", {}, elapsed
    return "not_solved", {}, elapsed


def _extract(problem: Problem, model: _Model, budgets: Mapping[str, float]) -> dict[str, tuple[int, int]]:
    """The assignment the solver chose, or {} if it is incomplete or breaks a budget."""
    out = {}
    for layer, cands in model.active.items():
        on = [c for i, c in enumerate(cands) if (model.x[layer, i].value() or 0.0) > 0.5]
        if len(on) != 1:
            return {}
        out[layer] = on[0].bits
    if within_budgets(problem, totals_of(problem, out), budgets):
        return {}
    return out


# ----------------------------------------------------------------------------- solve
def solve(problem: Problem, *, diagnose: bool = True) -> Solution:
    """Solve; when proven infeasible (and ``diagnose``), attach a :class:`Diagnosis`."""
    status, assignment, elapsed = run_model(problem)
    common = dict(solve_time_s=elapsed, solver=problem.solver, budgets=dict(problem.budgets),
                  objective_name=problem.objective, latency_mode=problem.latency_mode, dropped=list(problem.dropped))
    if assignment:
        objective = float(sum(problem.candidate(l, wa).damage for l, wa in assignment.items()))
        return Solution(status, objective, assignment, totals_of(problem, assignment), **common)
    sol = Solution(status, None, {}, {}, **common)
    if status == "infeasible" and diagnose:
        from ohq_flow.solve.diagnose import diagnose as _diagnose
        sol.diagnosis = _diagnose(problem)
    return sol


def problem_from_tables(sensitivity_csv: str | Path, costs_csv: str | Path, budgets: Mapping[str, str | float], *,
                        board_totals: Mapping[str, float] | None = None, layer_meta: Mapping | None = None,
                        ties: Sequence | None = None, pins: Mapping | None = None, latency_mode: str = "sequential",
                        objective: str = "kl", solver: str = "cbc", time_limit_s: float = 60.0,
                        layer_order: Sequence[str] | None = None, mode: str | None = "joint") -> Problem:
    """Read both CSV tables, resolve budgets ("30%" against ``board_totals``) and build the Problem."""
    from ohq_flow.hw.costs import read_costs
    from ohq_flow.solve.sensitivity_table import read_sensitivity
    return build_problem(read_sensitivity(sensitivity_csv, objective, mode=mode), read_costs(costs_csv),
                         budgets=resolve_budgets(budgets, board_totals), layer_order=layer_order,
                         layer_meta=layer_meta, latency_mode=latency_mode, ties=ties, pins=pins,
                         objective=objective, solver=solver, time_limit_s=time_limit_s)


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
    lines = [head + f"; predicted damage (sum {solution.objective_name}): {solution.objective:.6g}"]
    if solution.status != "optimal":
        lines.append("  note: the time limit cut the search; this assignment is feasible but maybe not optimal")
    width = max(12, *(len(l) for l in solution.assignment))
    lines.append(f"{'layer':<{width}}  w_bits  a_bits")
    lines += [f"{l:<{width}}  {w:>6}  {a:>6}" for l, (w, a) in solution.assignment.items()]
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
