"""Strategy ``greedy``: bit lowering by least added damage per unit of budget freed.

Start from the costliest candidate of every layer (the least damaging among equally costly
ones); while a budget is broken, take the move (one layer to a candidate with a smaller budget
load) with the least added damage per unit of load freed. The load of a candidate is the sum
over the summed budget metrics of cost / budget. Tied layers are not supported.
"""

from __future__ import annotations

import time
from typing import Mapping

from ohq_flow.solve.ilp import Solution
from ohq_flow.solve.problem import Problem
from ohq_flow.solve.strategies.base import allowed, finish, fits, impossible, load, unsupported


def select(problem: Problem, budgets: Mapping[str, float], *, seed: int = 0, **_) -> Solution:
    t0 = time.perf_counter()
    unsupported("greedy", problem, budgets, ties=False)
    cands = allowed(problem, budgets)
    why = impossible(problem, cands, budgets)
    if why:
        return finish(problem, budgets, None, strategy="greedy", started=t0, reason=why)

    def ld(c):
        return load(problem, budgets, c)

    current = {l: max(cs, key=lambda c: (ld(c), -c.damage)) for l, cs in cands.items()}
    while not fits(problem, {l: c.key for l, c in current.items()}, budgets):
        best = None
        for layer, cs in cands.items():
            cur = current[layer]
            for c in cs:
                freed = ld(cur) - ld(c)
                if freed <= 0:
                    continue
                ratio = (c.damage - cur.damage) / freed
                if best is None or ratio < best[0]:
                    best = (ratio, layer, c)
        if best is None:
            return finish(problem, budgets, None, strategy="greedy", started=t0,
                          reason="every layer is at its cheapest candidate and a budget is still broken")
        current[best[1]] = best[2]
    return finish(problem, budgets, {l: c.key for l, c in current.items()}, strategy="greedy", started=t0)
