"""Strategy ``ilp`` (the default): the exact PuLP model of :mod:`ohq_flow.solve.ilp`."""

from __future__ import annotations

from typing import Mapping

from ohq_flow.solve.ilp import Solution, solve
from ohq_flow.solve.problem import Problem


def select(problem: Problem, budgets: Mapping[str, float], *, seed: int = 0, diagnose: bool = True, **_) -> Solution:
    """The proven optimum within ``budgets`` (deterministic: ``seed`` is unused)."""
    sol = solve(problem.with_budgets(budgets), diagnose=diagnose)
    sol.strategy_info = {}
    return sol
