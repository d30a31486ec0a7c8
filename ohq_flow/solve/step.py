"""The solve step: ILP over sensitivity.csv and costs.csv -> solution.json, pareto.csv."""

from __future__ import annotations

import math
from pathlib import Path

from ohq_flow.errors import FlowError
from ohq_flow.fileio import atomic_write_json, atomic_write_text
from ohq_flow.hw.costs import read_costs
from ohq_flow.solve.ilp import Solution, parse_sweep, resolve_budget, solve, sweep, uniform_designs
from ohq_flow.solve.tables import build_problem, read_sensitivity, write_pareto_csv


def resolve_budgets(budgets: dict, board) -> dict[str, float]:
    """Config budgets ("25%" or numbers) -> absolute values using the board totals."""
    return {m: resolve_budget(m, v, board.total(m) if board is not None else None) for m, v in budgets.items()}


def format_solution(sol: Solution, board=None) -> str:
    """The chosen bit-widths and totals, for a terminal."""
    if not sol.assignment:
        text = f"status: {sol.status}"
        return text + ("\n" + sol.diagnosis.format() if sol.diagnosis else "")
    lines = [f"status: {sol.status} ({sol.solver}, {sol.solve_time_s:.2f} s); predicted damage (sum KL): {sol.objective:.4g}",
             "layer            w_bits  a_bits"]
    lines += [f"{layer:<16} {w:>6}  {a:>6}" for layer, (w, a) in sol.assignment.items()]
    parts = []
    for m, v in sol.totals.items():
        if m == "damage":
            continue
        budget = sol.budgets.get(m)
        total = board.total(m) if board is not None else None
        extra = f" / budget {budget:,.0f}" if budget is not None else ""
        extra += f" ({100 * v / total:.1f}% of board)" if total else ""
        parts.append(f"  {m}: {v:,.0f}{extra}")
    return "\n".join(lines + ["predicted totals:"] + parts)


def solve_run(sens_csv: Path, costs_csv: Path, out_dir: Path, *, budgets: dict, board, layers=None, ties=None, pins=None,
              latency_mode="sequential", objective="kl", solver="cbc", time_limit_s=60.0, sweeps=()) -> Solution:
    """Solve, sweep, write solution.json and pareto.csv; raise FlowError (with diagnosis) when infeasible."""
    meta = {l.name: {"params": l.params, "macs": l.macs, "weights": int(math.prod(l.weight_shape))}
            for l in layers} if layers else None
    order = [l.name for l in layers] if layers else None
    problem = build_problem(read_sensitivity(sens_csv, objective), read_costs(costs_csv), budgets=resolve_budgets(budgets, board),
                            layer_order=order, layer_meta=meta, latency_mode=latency_mode, ties=ties, pins=pins,
                            solver=solver, time_limit_s=time_limit_s)
    sol = solve(problem)
    points = uniform_designs(problem)
    for spec in sweeps:
        metric = spec.split("=")[0].strip()
        metric, values = parse_sweep(spec, board.total(metric) if board is not None else None)
        points += sweep(problem, metric, values)
    write_pareto_csv(points, out_dir / "pareto.csv")
    atomic_write_json(out_dir / "solution.json", sol.to_json_dict())
    atomic_write_text(out_dir / "solution.txt", format_solution(sol, board) + "\n")
    if not sol.assignment:
        raise FlowError("the ILP found no assignment within the budgets:\n" +
                        (sol.diagnosis.format() if sol.diagnosis else f"solver status {sol.status}"))
    return sol
