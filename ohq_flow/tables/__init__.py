"""The run's tables, each with one record type, one reader and one writer (validated on read).

| file | record | reader | writer |
|---|---|---|---|
| ``costs.csv`` / ``costs.json`` | :class:`CostRow` | :func:`read_costs` / :func:`read_costs_json` | :func:`write_costs` |
| ``sensitivity.csv`` (and MQE's parts) | :class:`SensitivityRow` | :func:`read_sensitivity_rows` | :func:`write_sensitivity` |
| ``solution.json`` | :class:`Solution` (+ strategy fields) | :func:`read_solution` | :func:`write_solution` |

Stages import these from here, never from each other.
"""

from ohq_flow.tables.costs import (COST_METRICS, STATUS_FAILED, STATUS_OK, STATUS_TIMEOUT, CostRow, check_row,
                                   read_costs, read_costs_json, row_from_dict, write_costs)
from ohq_flow.tables.sensitivity import SensitivityRow, read_sensitivity, read_sensitivity_rows, write_sensitivity
from ohq_flow.tables.solution import Solution, read_solution, write_solution

__all__ = ["COST_METRICS", "STATUS_FAILED", "STATUS_OK", "STATUS_TIMEOUT", "CostRow", "SensitivityRow", "Solution",
           "check_row", "read_costs", "read_costs_json", "read_sensitivity", "read_sensitivity_rows", "read_solution",
           "row_from_dict", "write_costs", "write_sensitivity", "write_solution"]
