"""Kept for existing imports: the sensitivity table lives in :mod:`ohq_flow.tables.sensitivity`."""

from ohq_flow.tables.sensitivity import (OPTIONAL, REQUIRED, SensitivityRow, read_sensitivity,  # noqa: F401
                                         read_sensitivity_rows, write_sensitivity)
