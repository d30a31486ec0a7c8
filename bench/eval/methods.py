"""Bit-allocation baselines over one Problem (same candidates, costs and budgets as the ILP).

Every function returns an assignment ``{layer: (w_bits, a_bits)}`` within the problem's budgets,
or ``{}`` when it finds none. ``score`` callables map an assignment to a number to maximise
(e.g. validation accuracy); ``damage`` is the candidate's table value (MQE KL) to minimise.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Callable, Iterator, Mapping

from ohq_flow.solve.ilp import totals_of, within_budgets
from ohq_flow.solve.problem import Problem

Assignment = dict[str, tuple[int, int]]


def fits(problem: Problem, assignment: Mapping[str, tuple[int, int]], budgets: Mapping[str, float] | None = None) -> bool:
    """Whether ``assignment`` meets every budget (and the ties) of ``problem``."""
    if not ties_hold(problem, assignment):
        return False
    return not within_budgets(problem, totals_of(problem, assignment), budgets)


def ties_hold(problem: Problem, assignment: Mapping[str, tuple[int, int]]) -> bool:
    """Tied layers share a_bits (and w_bits when the tie says so)."""
    for tie in problem.ties:
        vals = {assignment[l] if tie.same_w_bits else assignment[l][1] for l in tie.layers}
        if len(vals) > 1:
            return False
    return True


def uniform(problem: Problem, score: Callable[[Assignment], float]) -> Assignment:
    """The uniform-precision design (one (w, a) for every layer) within budget with the best ``score``."""
    common = set.intersection(*({c.bits for c in cands} for cands in problem.candidates.values()))
    designs = [{l: wa for l in problem.candidates} for wa in sorted(common)]
    feasible = [d for d in designs if fits(problem, d)]
    return max(feasible, key=score) if feasible else {}


def greedy(problem: Problem) -> Assignment:
    """Greedy bit lowering: from the costliest candidate of every layer, repeatedly take the move
    (one layer to a cheaper candidate) with the least added damage per unit of budget freed,
    until every budget is met. Budget use is measured as the sum over budgeted metrics of
    cost/budget. Ties are not supported (raise)."""
    if problem.ties:
        raise ValueError("greedy baseline: tied layers are not supported")
    metrics = [m for m in problem.budgets if m != "ii_cycles"]

    def load(c) -> float:
        return sum(c.cost[m] / max(problem.budgets[m], 1e-9) for m in metrics)

    # start: the costliest candidate of each layer, the least damaging among equally costly ones
    current = {l: max(cands, key=lambda c: (load(c), -c.damage)) for l, cands in problem.candidates.items()}
    while not fits(problem, {l: c.bits for l, c in current.items()}):
        best = None
        for layer, cands in problem.candidates.items():
            cur = current[layer]
            for c in cands:
                freed = load(cur) - load(c)
                if freed <= 0:
                    continue
                ratio = (c.damage - cur.damage) / freed
                if best is None or ratio < best[0]:
                    best = (ratio, layer, c)
        if best is None:
            return {}
        current[best[1]] = best[2]
    return {l: c.bits for l, c in current.items()}


def _random_feasible(problem: Problem, rng: random.Random, tries: int = 200) -> Assignment:
    layers = list(problem.candidates)
    for _ in range(tries):
        asg = {l: rng.choice(problem.candidates[l]).bits for l in layers}
        # repair: lower the layer with the largest budget load until it fits
        for _ in range(10 * len(layers)):
            if fits(problem, asg):
                return asg
            over = within_budgets(problem, totals_of(problem, asg))
            if not over:
                break
            m = over[0]
            layer = max(layers, key=lambda l: problem.candidate(l, asg[l]).cost[m])
            cheaper = [c for c in problem.candidates[layer] if c.cost[m] < problem.candidate(layer, asg[layer]).cost[m]]
            if not cheaper:
                break
            asg[layer] = rng.choice(cheaper).bits
    return {}


def evolutionary(problem: Problem, score: Callable[[Assignment], float], evaluations: int, *, population: int = 16,
                 seed: int = 0) -> tuple[Assignment, int]:
    """HAQ-style search by evaluated score: random feasible start, then (mu+lambda) evolution with
    one- or two-layer mutations. At most ``evaluations`` distinct assignments are scored (repeats
    are remembered, infeasible ones never scored). Returns (best assignment, evaluations used)."""
    rng = random.Random(seed)
    seen: dict[tuple, float] = {}

    def evaluate(asg: Assignment) -> float:
        key = tuple(sorted(asg.items()))
        if key not in seen:
            seen[key] = score(asg)
        return seen[key]

    pop = []
    for _ in range(population):
        if len(seen) >= evaluations:
            break
        asg = _random_feasible(problem, rng)
        if asg:
            pop.append((evaluate(asg), asg))
    if not pop:
        return {}, len(seen)
    stale = 0
    while len(seen) < evaluations and stale < 50 * population:
        pop.sort(key=lambda t: -t[0])
        parent = pop[min(int(rng.expovariate(1.0 / 3)), len(pop) - 1)][1]
        child = dict(parent)
        for layer in rng.sample(list(child), k=min(len(child), rng.choice((1, 1, 2)))):
            child[layer] = rng.choice(problem.candidates[layer]).bits
        if not fits(problem, child) or tuple(sorted(child.items())) in seen:
            stale += 1
            continue
        stale = 0
        pop.append((evaluate(child), child))
        pop = sorted(pop, key=lambda t: -t[0])[:population]
    best = max(pop, key=lambda t: t[0])[1]
    return best, len(seen)


def enumerate_all(problem: Problem) -> Iterator[Assignment]:
    """Every assignment (ties respected), in a fixed order."""
    layers = list(problem.candidates)
    for combo in itertools.product(*(problem.candidates[l] for l in layers)):
        asg = {l: c.bits for l, c in zip(layers, combo)}
        if ties_hold(problem, asg):
            yield asg


def space_size(problem: Problem) -> int:
    """How many assignments :func:`enumerate_all` would visit at most."""
    return math.prod(len(c) for c in problem.candidates.values())
