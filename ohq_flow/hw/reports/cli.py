"""``ohq-flow parse-report PATH [--json]``."""

from __future__ import annotations

import sys

from ohq_flow.errors import ReportParseError

from .discover import parse_path
from .formatting import format_table, records_to_json


def main_parse_report(path: str, as_json: bool) -> int:
    """Print the records of a report file or directory; 0 on success, 2 on a parse error."""
    try:
        records = parse_path(path)
    except ReportParseError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(records_to_json(records) if as_json else format_table(records))
    return 0
