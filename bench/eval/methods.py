"""Bit-allocation baselines over one Problem: thin wrappers over the product's selection
strategies (:mod:`ohq_flow.solve.strategies`), so the benchmark runs the code users run.

Every function returns an assignment ``{layer: (w_bits, a_bits)}`` within the problem's budgets,
or ``{}`` when it finds none. ``score`` callables map an assignment to a number to maximise
(e.g. validation accuracy). ``enumerate_all`` (the exhaustive oracle) stays bench-only.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Iterator, Mapping

from ohq_flow.solve.problem import Problem
from ohq_flow.solve.strategies import select
from ohq_flow.solve.strategies.base import fits as _fits
from ohq_flow.solve.strategies.base import ties_hold

Assignment = dict[str, tuple[int, int]]


def fits(problem: Problem, assignment: Mapping[str, tuple[int, int]], budgets: Mapping[str, float] | None = None) -> bool:
    """Whether ``assignment`` meets every budget, tie and pin of ``problem``."""
    return _fits(problem, assignment, problem.budgets if budgets is None else budgets)


def uniform(problem: Problem, score: Callable[[Assignment], float]) -> Assignment:
    """Strategy ``uniform``: the best-scoring uniform-precision design within budget."""
    return select(problem, strategy="uniform", score=score).assignment


def greedy(problem: Problem) -> Assignment:
    """Strategy ``greedy``: bit lowering by least damage per unit of budget freed."""
    return select(problem, strategy="greedy").assignment


def evolutionary(problem: Problem, score: Callable[[Assignment], float], evaluations: int, *, population: int = 16,
                 seed: int = 0) -> tuple[Assignment, int]:
    """Strategy ``evolutionary`` scored by ``score``: (best assignment, distinct evaluations used)."""
    sol = select(problem, strategy="evolutionary", score=score, evaluations=evaluations, population=population, seed=seed)
    return sol.assignment, sol.strategy_info["evaluations"]


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
