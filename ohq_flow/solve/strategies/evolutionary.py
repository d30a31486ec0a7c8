"""Strategy ``evolutionary``: a (mu+lambda) search scored by a callable (HAQ-style black box).

Random feasible start (a random candidate per layer, then the layer with the largest share of a
broken budget lowered until it fits), then one- or two-layer mutations of a parent drawn from
the better part of the population. At most ``evaluations`` distinct assignments are scored;
infeasible ones are never scored. ``score`` maps ``{layer: (w_bits, a_bits)}`` to a number to
maximise (default: minus the summed damage; the benchmark passes validation accuracy).
"""

from __future__ import annotations

import random
import time
from typing import Callable, Mapping

from ohq_flow.solve.ilp import Solution, totals_of, within_budgets
from ohq_flow.solve.problem import Problem
from ohq_flow.solve.strategies.base import (Choice, allowed, finish, fits, impossible, metric_value, score_of,
                                            tie_compatible, unsupported)


def _random_choice(problem: Problem, cands: dict, rng: random.Random) -> Choice:
    choice: Choice = {}
    for layer, cs in cands.items():
        choice[layer] = rng.choice(tie_compatible(problem, layer, cs, choice) or cs).key
    return choice


def random_feasible(problem: Problem, cands: dict, budgets: Mapping[str, float], rng: random.Random,
                    tries: int = 200) -> Choice:
    """A random assignment repaired into the budgets (lowering the costliest layer), or {}."""
    layers = list(cands)
    for _ in range(tries):
        choice = _random_choice(problem, cands, rng)
        for _ in range(10 * len(layers)):
            if fits(problem, choice, budgets):
                return choice
            over = [m for m in within_budgets(problem, totals_of(problem, choice), budgets) if m != "ii_cycles"]
            if not over:
                break
            m = over[0]

            def cost(l, key):
                return metric_value(problem, problem.candidate(l, key), m) or 0.0
            layer = max(layers, key=lambda l: cost(l, choice[l]))
            cheaper = [c for c in cands[layer] if (metric_value(problem, c, m) or 0.0) < cost(layer, choice[layer])]
            if not cheaper:
                break
            choice[layer] = rng.choice(cheaper).key
    return {}


def select(problem: Problem, budgets: Mapping[str, float], *, seed: int = 0, evaluations: int = 2000,
           population: int = 16, score: Callable[[dict], float] | None = None, **_) -> Solution:
    t0 = time.perf_counter()
    unsupported("evolutionary", problem, budgets)
    rng = random.Random(seed)
    cands = allowed(problem, budgets)
    why = impossible(problem, cands, budgets)
    if why:
        return finish(problem, budgets, None, strategy="evolutionary", started=t0, reason=why, info={"evaluations": 0})
    seen: dict[tuple, float] = {}

    def evaluate(choice: Choice) -> float:
        key = tuple(sorted(choice.items()))
        if key not in seen:
            seen[key] = score_of(problem, score, choice)
        return seen[key]

    pop = []
    for _ in range(population):
        if len(seen) >= evaluations:
            break
        choice = random_feasible(problem, cands, budgets, rng)
        if choice:
            pop.append((evaluate(choice), choice))
    if not pop:
        return finish(problem, budgets, None, strategy="evolutionary", started=t0,
                      reason="no random assignment could be repaired into the budgets", info={"evaluations": len(seen)})
    stale = 0
    while len(seen) < evaluations and stale < 50 * population:
        pop.sort(key=lambda t: -t[0])
        parent = pop[min(int(rng.expovariate(1.0 / 3)), len(pop) - 1)][1]
        child = dict(parent)
        for layer in rng.sample(list(child), k=min(len(child), rng.choice((1, 1, 2)))):
            child[layer] = rng.choice(cands[layer]).key
        if not fits(problem, child, budgets) or tuple(sorted(child.items())) in seen:
            stale += 1
            continue
        stale = 0
        pop.append((evaluate(child), child))
        pop = sorted(pop, key=lambda t: -t[0])[:population]
    best = max(pop, key=lambda t: t[0])[1]
    return finish(problem, budgets, best, strategy="evolutionary", started=t0, info={"evaluations": len(seen)})
