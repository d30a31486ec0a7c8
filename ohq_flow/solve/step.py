"""The solve step: ILP over sensitivity.csv and costs.csv -> solution.json, solution.txt, pareto.csv."""

from __future__ import annotations

import math
from pathlib import Path

from ohq_flow.errors import FlowError
from ohq_flow.fileio import atomic_write_json, atomic_write_text
from ohq_flow.solve.ilp import Solution, format_solution, problem_from_tables, solve
from ohq_flow.solve.pareto import parse_sweep, sweep, uniform_designs, write_pareto_csv
from ohq_flow.solve.problem import METRICS


def board_totals(board) -> dict[str, float]:
    """{metric: total} of the board's resources (empty without a board)."""
    if board is None:
        return {}
    return {m: board.total(m) for m in METRICS if board.total(m) is not None}


def layer_meta(layers) -> dict[str, dict]:
    """Per layer: weight count and MACs (for the weight_bits and bops budgets)."""
    return {l.name: {"params": int(math.prod(l.weight_shape)), "macs": l.macs} for l in layers}


def solve_run(sens_csv: Path, costs_csv: Path, out_dir: Path, *, budgets: dict, board, layers=None, ties=None, pins=None,
              latency_mode="sequential", objective="kl", solver="cbc", time_limit_s=60.0, sweeps=(),
              clock_mhz: float | None = None, minimize: str | None = None, max_damage: float | None = None) -> Solution:
    """Solve, sweep, write solution.json/.txt and pareto.csv; raise FlowError (with diagnosis) when infeasible.

    ``minimize`` a metric (the reverse problem) with ``max_damage`` as the damage bound;
    ``clock_mhz`` caps the design clock. The FlowError carries the Solution as ``.solution``.
    """
    totals = board_totals(board)
    budgets = dict(budgets)
    minimize = None if minimize == "damage" else minimize
    if max_damage is not None:
        budgets["damage"] = max_damage
    problem = problem_from_tables(sens_csv, costs_csv, budgets, board_totals=totals,
                                  layer_meta=layer_meta(layers) if layers else None,
                                  layer_order=[l.name for l in layers] if layers else None, latency_mode=latency_mode,
                                  ties=ties, pins=pins, objective=objective, solver=solver, time_limit_s=time_limit_s,
                                  clock_mhz=clock_mhz, minimize=minimize)
    sol = solve(problem)
    points = []
    for spec in sweeps:
        metric, values = parse_sweep(spec, totals)
        points += sweep(problem, metric, values)
    write_pareto_csv(points, uniform_designs(problem), out_dir / "pareto.csv")
    atomic_write_json(out_dir / "solution.json", sol.to_json_dict())
    atomic_write_text(out_dir / "solution.txt", format_solution(sol, totals) + "\n")
    if not sol.assignment:
        err = FlowError("the ILP found no assignment within the budgets:\n" +
                        (sol.diagnosis.format() if sol.diagnosis else f"solver status {sol.status}"))
        err.solution = sol
        raise err
    return sol
