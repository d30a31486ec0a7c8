"""The solve step: a selection strategy (the ILP by default) over sensitivity.csv and costs.csv
-> solution.json, solution.txt, pareto.csv. With HAQ on demand, costs are measured as the agent
needs them (``costs_on_demand.csv`` lists them) instead of read from a full costs.csv."""

from __future__ import annotations

import math
from pathlib import Path

from ohq_flow.errors import FlowError
from ohq_flow.fileio import atomic_write_text
from ohq_flow.solve.ilp import format_solution, problem_from_tables
from ohq_flow.tables.solution import Solution, write_solution
from ohq_flow.solve.pareto import parse_sweep, uniform_designs, write_pareto_csv
from ohq_flow.solve.problem import METRICS, SOLVERS, resolve_budgets
from ohq_flow.solve.strategies import select, sweep


def board_totals(board) -> dict[str, float]:
    """{metric: total} of the board's resources (empty without a board)."""
    if board is None:
        return {}
    return {m: board.total(m) for m in METRICS if board.total(m) is not None}


RESOURCES = ("lut", "ff", "dsp", "bram18", "uram")


def board_budgets(budgets: dict, board) -> dict:
    """``budgets`` with every resource the board has budgeted at 100% unless the user set it: a design must fit."""
    totals = board_totals(board)
    return {**{m: "100%" for m in RESOURCES if totals.get(m)}, **budgets}


def budgets_over_board(budgets: dict, board) -> list[str]:
    """Warnings for absolute resource budgets above the board's total (allowed: e.g. to target a larger part)."""
    totals, out = board_totals(board), []
    for m in RESOURCES:
        v = budgets.get(m)
        if isinstance(v, (int, float)) and totals.get(m) and v > totals[m]:
            out.append(f"budgets.{m} = {v:,.0f} is above {board.name}'s {totals[m]:,.0f} {m}: a design within it may not "
                       "fit this board")
    return out


def layer_meta(layers) -> dict[str, dict]:
    """Per layer: weight count and MACs (for the weight_bits and bops budgets)."""
    return {l.name: {"params": int(math.prod(l.weight_shape)), "macs": l.macs} for l in layers}


def solve_run(sens_csv: Path, costs_csv: Path | None, out_dir: Path, *, budgets: dict, board, layers=None, ties=None,
              pins=None, latency_mode="sequential", objective="kl", solver="cbc", time_limit_s=60.0, sweeps=(),
              clock_mhz: float | None = None, minimize: str | None = None, max_damage: float | None = None,
              strategy: str = "ilp", seed: int = 0, options: dict | None = None, on_demand=None,
              design=None, exclude=(), refine: tuple | None = None) -> Solution:
    """Select, sweep, write solution.json/.txt and pareto.csv; raise FlowError (with diagnosis) when infeasible.

    ``strategy`` (a registered name) with ``seed`` and its ``options``; ``minimize`` a metric (the
    reverse problem, ILP only) with ``max_damage`` as the damage bound; ``clock_mhz`` caps the
    design clock. ``on_demand=(model, cfg)`` (HAQ): no costs.csv; the costs the agent needs are
    measured through the job runner and cache. ``design``: the complete design's terms (design_costs.json):
    every candidate is priced in the design the build makes. ``refine=(k, score[, pools])`` (ILP only): the ILP's
    ``k`` best distinct bit assignments (and the designs of the other ``pools``) scored by ``score(assignment) ->
    damage``, the least damaged kept (:mod:`ohq_flow.solve.refine`). The FlowError carries the Solution as ``.solution``.
    """
    totals = board_totals(board)
    budgets = dict(budgets)
    minimize = None if minimize == "damage" else minimize
    if max_damage is not None:
        budgets["damage"] = max_damage
    meta = layer_meta(layers) if layers else None
    settings = dict(latency_mode=latency_mode, ties=ties, pins=pins, objective=objective, solver=solver,
                    time_limit_s=time_limit_s, clock_mhz=clock_mhz, minimize=minimize)
    options = dict(options or {})
    if layers:
        options.setdefault("layer_info", {l.name: {"op_type": l.op_type, **meta[l.name]} for l in layers})
    source = None
    if on_demand is None:
        problem = problem_from_tables(sens_csv, costs_csv, budgets, board_totals=totals, layer_meta=meta,
                                      layer_order=[l.name for l in layers] if layers else None, design=design,
                                      **settings)
        problem.exclude = list(exclude)
        budgets_abs = problem.budgets
    else:
        problem, source, budgets_abs = _on_demand_problem(sens_csv, out_dir, budgets, totals, layers, meta, settings,
                                                          on_demand)
        options["costs"] = source
    sol = select(problem, budgets_abs, strategy=strategy, seed=seed, **options)
    pools = tuple(refine[2]) if refine is not None and len(refine) > 2 else ("top",)
    if (refine is not None and (refine[0] > 1 or pools != ("top",)) and strategy == "ilp" and source is None
            and sol.assignment):
        from ohq_flow.solve.refine import refine as refine_joint
        info = dict(getattr(sol, "strategy_info", {}))
        sol, info["refine"] = refine_joint(problem.with_budgets(budgets_abs), sol, refine[0], refine[1],
                                           lambda p: select(p, p.budgets, strategy="ilp", diagnose=False, **options),
                                           pools)
        sol.strategy_info = info
    points = []
    for spec in sweeps:
        metric, values = parse_sweep(spec, totals)
        points += sweep(problem, metric, values, budgets=budgets_abs, strategy=strategy, seed=seed, **options)
    write_pareto_csv(points, uniform_designs(problem) if source is None else [], out_dir / "pareto.csv")
    if source is not None:
        from ohq_flow.tables.costs import write_costs
        write_costs(list(source.rows.values()), out_dir / "costs_on_demand.csv")
    write_solution(out_dir / "solution.json", sol, strategy=strategy, seed=seed,
                   strategy_info=getattr(sol, "strategy_info", {}))
    atomic_write_text(out_dir / "solution.txt", format_result(sol, totals) + "\n")
    if not sol.assignment:
        what = "the ILP" if strategy == "ilp" else f"strategy {strategy}"
        err = FlowError(f"{what} found no assignment within the budgets:\n" +
                        (sol.diagnosis.format() if sol.diagnosis else f"solver status {sol.status}"))
        err.solution = sol
        raise err
    return sol


def _on_demand_problem(sens_csv, out_dir, budgets, totals, layers, meta, settings, on_demand):
    from ohq_flow.errors import InputError
    from ohq_flow.tables.sensitivity import read_sensitivity
    from ohq_flow.solve.strategies.costs import OnDemandCosts, skeleton_problem
    model, cfg = on_demand
    if not layers:
        raise InputError("on-demand costs need the model's layers (run from a config)")
    from ohq_flow.search_space import search_space
    sens = read_sensitivity(sens_csv, settings["objective"], mode="joint")
    problem = skeleton_problem(sens, layers, search_space(layers, cfg.search), layer_meta=meta,
                               **{k: v for k, v in settings.items() if k != "minimize"})
    source = OnDemandCosts(problem, model, layers, cfg, Path(out_dir) / "oqa")
    return problem, source, resolve_budgets(budgets, totals)


def format_result(sol: Solution, board_totals_: dict | None = None) -> str:
    """:func:`format_solution`, saying for a heuristic strategy that optimality is not proven."""
    text = format_solution(sol, board_totals_)
    if sol.solver not in SOLVERS:
        text = text.replace("  note: the time limit cut the search; this assignment is feasible but maybe not optimal",
                            f"  note: strategy {sol.solver} is a search heuristic: the assignment fits the budgets; "
                            "optimality is not proven")
    return text
