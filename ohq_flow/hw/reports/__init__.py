"""Parsers for vendor tool reports (Vivado/Vitis HLS, Vivado, FINN) into :class:`ReportRecord`.

``parse_report(file)`` recognises a report by its content; ``parse_path(file_or_dir)`` also
walks directories. Problems raise :class:`ohq_flow.errors.ReportParseError`.
"""

from .detect import parse_report
from .discover import parse_path
from .formatting import format_table, records_to_json
from .record import ReportRecord

__all__ = ["ReportRecord", "format_table", "parse_path", "parse_report", "records_to_json"]
