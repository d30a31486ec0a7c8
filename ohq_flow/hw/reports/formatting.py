"""Render records as an aligned terminal table or as JSON."""

from __future__ import annotations

import json
import math
import os

from .record import ReportRecord

_COLS = [("file", 28), ("kind", 18), ("module", 40), ("tool", 18), ("part", 20), ("clk", 7),
         ("est", 7), ("latency", 15), ("II", 15), ("LUT", 8), ("FF", 8), ("DSP", 6),
         ("BRAM18", 7), ("URAM", 5), ("WNS", 8)]


def _n(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:g}" if not math.isnan(x) else "-"
    return str(x)


def _pair(a, b, undef: bool) -> str:
    if a is None and b is None:
        return "?" if undef else "-"
    return _n(a) if a == b else f"{_n(a)}-{_n(b)}"


def _clip(s: str, w: int) -> str:
    return s if len(s) <= w else s[: w - 1] + "~"


def _row(r: ReportRecord) -> list[str]:
    name = r.module or r.top or "-"
    tool = f"{r.tool or '-'} {r.tool_version or ''}".strip()
    return [os.path.basename(r.file), r.kind + ("" if r.level == "top" else "*"), name, tool,
            r.part or "-", _n(r.target_clock_ns), _n(r.estimated_clock_ns or r.achieved_clock_ns),
            _pair(r.latency_min_cycles, r.latency_max_cycles, r.latency_undef),
            _pair(r.ii_min_cycles, r.ii_max_cycles, r.latency_undef),
            _n(r.lut), _n(r.ff), _n(r.dsp), _n(r.bram18), _n(r.uram), _n(r.wns_ns)]


def format_table(records: list[ReportRecord]) -> str:
    """A plain aligned text table; '*' after the kind marks a module-level row, '-' a missing value."""
    rows = [[_clip(c, w) for c, (_, w) in zip(_row(r), _COLS)] for r in records]
    heads = [h for h, _ in _COLS]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths)),
             "  ".join("-" * w for w in widths)]
    for r in rows:
        lines.append("  ".join(c.rjust(w) if i >= 5 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines)


def records_to_json(records: list[ReportRecord]) -> str:
    """JSON array of the records' fields (missing values are null)."""
    return json.dumps([r.to_dict() for r in records], indent=2, allow_nan=False)
