"""Refine the ILP's choice by joint evaluation: a set of candidate designs, the least damaged kept.

The ILP minimises the *sum* of per-layer damages; layers interact, so the sum misranks close designs. The
refinement gathers candidates and scores each jointly (``score``: all layers masked at once on the MQE inputs,
data-free), keeping the one with the least joint damage:

- ``top``: the ILP's best assignment, its bits cut (every fold of them: a no-good cut), the ILP asked again,
  ``k`` times;
- ``uniform``: every uniform design (one bit pair on every layer) within the budgets;
- ``neighbours``: the ILP optimum with one layer's bits changed, within the budgets.

Uniform designs and neighbours are ILP solutions with every layer's bits pinned (the user's pins kept), so each
takes the folds the ILP prices best within the budgets, ties and exclusions. Candidates are scored in that
order; on equal joint damage the earlier one is kept (the ILP's optimum first).
"""

from __future__ import annotations

import logging
from typing import Callable

from ohq_flow.solve.problem import Problem
from ohq_flow.tables.solution import Solution

log = logging.getLogger(__name__)

POOLS = ("top", "uniform", "neighbours")


def top_assignments(problem: Problem, first: Solution, k: int, solve: Callable[[Problem], Solution]) -> list[Solution]:
    """``first`` and up to ``k - 1`` further ILP solutions, each with the bits of all earlier ones cut."""
    out, p = [first], problem.with_budgets(problem.budgets, exclude=list(problem.exclude) + [dict(first.assignment)])
    while len(out) < k:
        s = solve(p)
        if not s.assignment:
            break
        out.append(s)
        p.exclude.append(dict(s.assignment))
    return out


def pinned_design(problem: Problem, bits: dict, solve: Callable[[Problem], Solution]) -> Solution | None:
    """The ILP's best folds for ``bits`` on every layer (the problem's own pins win), or None if none fits."""
    s = solve(problem.with_budgets(problem.budgets, pins={**bits, **problem.pins}))
    return s if s.assignment else None


def uniform_assignments(problem: Problem, solve: Callable[[Problem], Solution]) -> list[Solution]:
    """Every uniform design (a bit pair all layers have) within the budgets, highest bits first."""
    common = set.intersection(*({c.bits for c in cs} for cs in problem.candidates.values()))
    found = (pinned_design(problem, {l: wa for l in problem.candidates}, solve) for wa in sorted(common, reverse=True))
    return [s for s in found if s is not None]


def neighbour_assignments(problem: Problem, first: Solution, solve: Callable[[Problem], Solution]) -> list[Solution]:
    """``first`` with one layer's bits changed to each of its other bit pairs, those within the budgets."""
    out = []
    for layer, cands in problem.candidates.items():
        if layer in problem.pins:
            continue
        for wa in sorted({c.bits for c in cands} - {first.assignment[layer]}, reverse=True):
            s = pinned_design(problem, {**first.assignment, layer: wa}, solve)
            if s is not None:
                out.append(s)
    return out


def candidates(problem: Problem, first: Solution, k: int, solve: Callable[[Problem], Solution],
               pools=("top",)) -> list[tuple[str, Solution]]:
    """(pool, solution) of every distinct bit assignment the ``pools`` give, ``first`` first."""
    unknown = set(pools) - set(POOLS)
    if unknown:
        raise ValueError(f"unknown refine pool(s) {sorted(unknown)}; known: {', '.join(POOLS)}")
    gathered = [("top", s) for s in (top_assignments(problem, first, k, solve) if "top" in pools else [first])]
    if "uniform" in pools:
        gathered += [("uniform", s) for s in uniform_assignments(problem, solve)]
    if "neighbours" in pools:
        gathered += [("neighbours", s) for s in neighbour_assignments(problem, first, solve)]
    seen, out = set(), []
    for pool, s in gathered:
        key = tuple(sorted(s.assignment.items()))
        if key not in seen:
            seen.add(key)
            out.append((pool, s))
    return out


def refine(problem: Problem, first: Solution, k: int, score: Callable[[dict], float],
           solve: Callable[[Problem], Solution], pools=("top",)) -> tuple[Solution, dict]:
    """The least jointly damaged of the candidates (:func:`candidates`), and the record of all of them."""
    sols = candidates(problem, first, k, solve, pools)
    scored = [(score(dict(s.assignment)), i, pool, s) for i, (pool, s) in enumerate(sols)]
    best_score, best_i, _, best = min(scored, key=lambda t: (t[0], t[1]))
    info = {"k": k, "pools": list(pools), "evaluated": len(sols), "kept": best_i,
            "candidates": [{"rank": i, "pool": pool, "predicted": s.totals.get("damage"), "joint": j,
                            "assignment": {l: f"w{w}a{a}" for l, (w, a) in s.assignment.items()}}
                           for j, i, pool, s in scored]}
    log.info("refine: %d candidates scored jointly; kept #%d (%s, joint %.4g; the ILP's optimum %.4g)",
             len(sols), best_i, scored[best_i][2], best_score, scored[0][0])
    return best, info
