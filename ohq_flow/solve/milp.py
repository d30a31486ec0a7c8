"""The ILP model (PuLP) behind :func:`ohq_flow.solve.ilp.solve` and :func:`ohq_flow.solve.diagnose.diagnose`:
totals of an assignment, the budget check, dominated-candidate pruning, the model and its solver
loop over clock levels (see :mod:`ohq_flow.solve.ilp` for the formulation)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import pulp

from ohq_flow.errors import InputError
from ohq_flow.solve.problem import METRICS, Candidate, Problem

TOL = 1e-6


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
    return [m for m, v in budgets.items() if m not in totals or totals[m] > v + TOL * max(1.0, abs(v))]


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
            cands = [c for c in cands if c.cost["ii_cycles"] <= ii_limit + TOL * max(1.0, ii_limit)]
        if clock is not None:
            cands = [replace(c, cost={**c.cost, "latency_ns": float(c.cost["latency_cycles"]) * 1000.0 / clock})
                     for c in cands if problem.capped_fmax(c) >= clock * (1 - 1e-12)]
        cands = sorted(cands, key=lambda c: -problem.capped_fmax(c))   # equal rows: the faster clock wins
        kind = _tie_class(problem, layer)
        kept = []
        for cls in dict.fromkeys(_class_of(c, kind) for c in cands):
            group = [c for c in cands if _class_of(c, kind) == cls]
            table = np.array([[_coef(c, k) for k in keys] for c in group], dtype=float).reshape(len(group), len(keys))
            kept += [group[i] for i in (_non_dominated(table) if problem.prune_dominated else range(len(group)))]
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


def make_solver(name: str, time_limit_s: float, preprocess: bool = False):
    """PuLP solver: "cbc" (bundled) or "highs" (needs highspy); both asked for a proven optimum.

    CBC 2.10.3's Cgl preprocessing wrongly fixed a variable and reported a worse design as
    optimal (tests/solve/test_latency.py::test_cbc_preprocessing_regression), so it is off; that
    build then crashes on problems its presolve finds infeasible, and :func:`run_model` retries
    those with preprocessing on (which reports them infeasible).
    """
    if name == "cbc":
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=0.0, gapAbs=1e-9,
                                 options=[] if preprocess else ["preprocess off"])
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
        if value < best_value - TOL * max(1.0, abs(best_value) if math.isfinite(best_value) else 1.0):
            best, best_value = asg, value
        if objective is None:
            break                                     # feasibility: any assignment will do
    elapsed = time.perf_counter() - t0
    if best:
        exact = all(s in ("optimal", "infeasible") for s in statuses)
        return ("optimal" if exact else "time_limit_feasible"), best, elapsed
    if all(s == "infeasible" for s in statuses):      # also: no clock level at all
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
    try:
        model.lp.solve(solver)
    except pulp.PulpSolverError:
        if problem.solver != "cbc":
            raise
        model.lp.solve(make_solver("cbc", time_limit_s, preprocess=True))
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
