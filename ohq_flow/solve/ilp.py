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

from pathlib import Path
from typing import Mapping, Sequence

from ohq_flow.solve.diagnose import diagnose as _diagnose
from ohq_flow.tables.solution import Solution
from ohq_flow.solve.problem import METRICS, Candidate, Problem, build_problem, resolve_budgets  # noqa: F401

# the model lives in milp.py; these names stay importable from here
from ohq_flow.solve.milp import (TOL as _TOL, build_model, clock_levels, make_solver, run_model,  # noqa: F401,E402
                                 totals_of, within_budgets)


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
        sol.diagnosis = _diagnose(problem)
    return sol


def problem_from_tables(sensitivity_csv: str | Path, costs_csv: str | Path, budgets: Mapping[str, str | float], *,
                        board_totals: Mapping[str, float] | None = None, layer_meta: Mapping | None = None,
                        ties: Sequence | None = None, pins: Mapping | None = None, latency_mode: str = "sequential",
                        objective: str = "kl", solver: str = "cbc", time_limit_s: float = 60.0,
                        layer_order: Sequence[str] | None = None, mode: str | None = "joint",
                        clock_mhz: float | None = None, minimize: str | None = None, design=None) -> Problem:
    """Read both CSV tables, resolve budgets ("30%" against ``board_totals``) and build the Problem
    (``design``: the complete design's terms, :class:`~ohq_flow.design.terms.DesignTerms`)."""
    from ohq_flow.tables.costs import read_costs
    from ohq_flow.tables.sensitivity import read_sensitivity
    return build_problem(read_sensitivity(sensitivity_csv, objective, mode=mode), read_costs(costs_csv),
                         budgets=resolve_budgets(budgets, board_totals), layer_order=layer_order,
                         layer_meta=layer_meta, latency_mode=latency_mode, ties=ties, pins=pins,
                         objective=objective, solver=solver, time_limit_s=time_limit_s, clock_mhz=clock_mhz,
                         minimize=minimize, design=design)


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
