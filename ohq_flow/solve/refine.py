"""Refine the ILP's choice by joint evaluation: its K best distinct bit assignments, the least damaged kept.

The ILP minimises the *sum* of per-layer damages; layers interact, so the sum misranks close designs. The
refinement asks the ILP for its best assignment, cuts those bits (every fold of them: a no-good cut), asks
again, K times; every assignment is then scored jointly (``score``: all layers masked at once on the MQE
inputs, data-free) and the one with the least joint damage is kept. Every candidate is an ILP solution
within the budgets, with the folds the ILP chose for its bits.
"""

from __future__ import annotations

import logging
from typing import Callable

from ohq_flow.solve.problem import Problem
from ohq_flow.tables.solution import Solution

log = logging.getLogger(__name__)


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


def refine(problem: Problem, first: Solution, k: int, score: Callable[[dict], float],
           solve: Callable[[Problem], Solution]) -> tuple[Solution, dict]:
    """The least jointly damaged of the ILP's ``k`` best assignments, and the record of all of them."""
    sols = top_assignments(problem, first, k, solve)
    scored = [(score(dict(s.assignment)), i, s) for i, s in enumerate(sols)]
    best_score, best_i, best = min(scored, key=lambda t: (t[0], t[1]))
    info = {"k": k, "evaluated": len(sols), "kept": best_i,
            "candidates": [{"rank": i, "predicted": s.totals.get("damage"), "joint": j,
                            "assignment": {l: f"w{w}a{a}" for l, (w, a) in s.assignment.items()}}
                           for j, i, s in scored]}
    log.info("refine: %d ILP assignments scored jointly; kept rank %d (joint %.4g; the ILP's optimum %.4g)",
             len(sols), best_i, best_score, scored[0][0])
    return best, info
