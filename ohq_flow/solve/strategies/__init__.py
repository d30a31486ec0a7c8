"""Selection strategies: one interface, one registry.

    from ohq_flow.solve.strategies import select
    sol = select(problem, {"lut": 12000}, strategy="haq", seed=0)

Every strategy is ``fn(problem, budgets, *, seed, **options) -> Solution`` (the ILP's
:class:`~ohq_flow.solve.ilp.Solution`, so reports and write-back work unchanged) and returns
only assignments within the budgets, ties and pins, or an ``infeasible`` Solution with a reason.
A strategy is one module of this package plus one line in :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping

from ohq_flow.errors import InputError

# name -> "module:function" (imported on first use; torch is loaded only by haq)
REGISTRY: dict[str, str] = {
    "ilp": "ohq_flow.solve.strategies.ilp:select",
    "greedy": "ohq_flow.solve.strategies.greedy:select",
    "evolutionary": "ohq_flow.solve.strategies.evolutionary:select",
    "uniform": "ohq_flow.solve.strategies.uniform:select",
    "haq": "ohq_flow.solve.strategies.haq:select",
}
DEFAULT = "ilp"
NAMES = tuple(REGISTRY)


def check_name(name: str) -> str:
    """``name`` if registered, else InputError naming the allowed strategies."""
    if name not in REGISTRY:
        from ohq_flow.solve.problem import did_you_mean
        raise InputError(f"unknown selection strategy '{name}'" + did_you_mean(name, REGISTRY),
                         f"strategy must be one of: {', '.join(NAMES)}")
    return name


def get_strategy(name: str) -> Callable:
    """The select function of a registered strategy."""
    module, fn = REGISTRY[check_name(name)].split(":")
    return getattr(importlib.import_module(module), fn)


def select(problem, budgets: Mapping[str, float] | None = None, *, strategy: str = DEFAULT, seed: int = 0, **options):
    """Run ``strategy`` on ``problem`` at ``budgets`` (default: the problem's own budgets)."""
    fn = get_strategy(strategy)
    return fn(problem, dict(problem.budgets if budgets is None else budgets), seed=seed, **options)


def sweep(problem, metric: str, values, *, budgets: Mapping[str, float] | None = None, strategy: str = DEFAULT,
          seed: int = 0, **options) -> list:
    """Pareto sweep with any strategy: one selection per value of the ``metric`` budget, the other
    budgets (default: the problem's) kept."""
    from ohq_flow.solve.pareto import ParetoPoint
    base = dict(problem.budgets if budgets is None else budgets)
    if strategy == "ilp":
        from ohq_flow.solve.pareto import sweep as ilp_sweep
        return ilp_sweep(problem.with_budgets(base), metric, values)
    points = []
    for v in values:
        sol = select(problem, {**base, metric: float(v)}, strategy=strategy, seed=seed, **options)
        points.append(ParetoPoint("sweep", f"{metric}<={v:.6g}", metric, float(v), sol.status, sol.objective,
                                  sol.totals, sol.assignment, sol.folds))
    return points


__all__ = ["DEFAULT", "NAMES", "REGISTRY", "check_name", "get_strategy", "select", "sweep"]
