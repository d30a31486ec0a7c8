"""Strategy ``uniform``: one (w_bits, a_bits) for every layer — the best-scoring one within budget.

With folds, each layer takes the fold with the smallest budget load. ``score`` maps
``{layer: (w_bits, a_bits)}`` to a number to maximise (default: minus the summed damage).
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

from ohq_flow.solve.ilp import Solution
from ohq_flow.solve.problem import Problem
from ohq_flow.solve.strategies.base import allowed, finish, fits, load, score_of, unsupported


def select(problem: Problem, budgets: Mapping[str, float], *, seed: int = 0,
           score: Callable[[dict], float] | None = None, **_) -> Solution:
    t0 = time.perf_counter()
    unsupported("uniform", problem, budgets)
    cands = allowed(problem, budgets)
    common = set.intersection(*({c.bits for c in cs} for cs in cands.values()))
    designs = []
    for wa in sorted(common):
        choice = {l: min((c for c in cs if c.bits == wa), key=lambda c: load(problem, budgets, c)).key
                  for l, cs in cands.items()}
        if fits(problem, choice, budgets):
            designs.append(choice)
    best = max(designs, key=lambda d: score_of(problem, score, d)) if designs else None
    return finish(problem, budgets, best, strategy="uniform", started=t0,
                  reason=f"none of the {len(common)} uniform designs fits the budgets")
