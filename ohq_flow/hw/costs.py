"""Kept for existing imports: the cost table lives in :mod:`ohq_flow.tables.costs`."""

from ohq_flow.tables.costs import (COST_METRICS, NUMERIC_FIELDS, STATUS_FAILED, STATUS_OK, STATUS_TIMEOUT,  # noqa: F401
                                   STATUSES, CostRow, check_row, read_costs, read_costs_json, row_from_dict,
                                   row_problems, write_costs)
