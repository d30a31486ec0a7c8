"""ILP bit-width selection, infeasibility diagnosis, Pareto sweeps.

    from ohq_flow.solve import solve_tables, format_solution
    sol = solve_tables("sensitivity.csv", "costs.csv", {"lut": "30%"}, board_totals={"lut": 53200})
    print(format_solution(sol))

Modules: ``problem`` (candidates, budgets, ties, pins; building from tables), ``ilp`` (PuLP
model, :class:`Solution`), ``diagnose`` (why infeasible), ``pareto`` (sweeps, uniform designs,
pareto.csv), ``sensitivity_table`` (the sensitivity CSV).
"""

from ohq_flow.solve.diagnose import Diagnosis, describe_assignment, diagnose
from ohq_flow.solve.ilp import Solution, format_solution, problem_from_tables, solve, solve_tables, totals_of
from ohq_flow.solve.pareto import (ParetoPoint, assignment_text, parse_sweep, sweep, uniform_designs,
                                   write_pareto_csv)
from ohq_flow.solve.problem import (METRICS, RESOURCES, Candidate, DroppedCandidate, Problem, Tie, build_problem,
                                    resolve_budget, resolve_budgets)
from ohq_flow.tables.sensitivity import (SensitivityRow, read_sensitivity, read_sensitivity_rows,
                                              write_sensitivity)

__all__ = ["Candidate", "Diagnosis", "DroppedCandidate", "METRICS", "ParetoPoint", "Problem", "RESOURCES",
           "SensitivityRow", "Solution", "Tie", "assignment_text", "build_problem", "describe_assignment",
           "diagnose", "format_solution", "parse_sweep", "read_sensitivity", "read_sensitivity_rows",
           "problem_from_tables", "resolve_budget", "resolve_budgets", "solve", "solve_tables", "sweep", "totals_of",
           "uniform_designs", "write_pareto_csv", "write_sensitivity"]
