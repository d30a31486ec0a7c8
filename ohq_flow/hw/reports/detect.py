"""``parse_report``: recognise a report by its content and hand it to the right parser."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from ohq_flow.errors import ReportParseError

from . import finn, hls, nextpnr, vivado
from ._text import NotAReportError, head, read_text
from .network import mark_network_top
from .record import ReportRecord

_KNOWN = ("HLS csynth .rpt/.xml, Vitis csynth.rpt summary, Vivado report_utilization / "
          "report_timing_summary, HLS export .rpt / vivado_impl.xml, FINN report JSON")


def sniff(path: str | Path) -> bool:
    """Cheap check: could this file be a report we parse? (reads only its first bytes)"""
    try:
        h = head(path, 4096).lstrip("\ufeff \t\r\n")
    except OSError:
        return False
    if h.startswith("<"):
        return "<profile" in h
    if h.startswith("{"):
        return True
    return any(k in h for k in ("HLS Report for", "Synthesis Summary Report of", "report_utilization",
                                "report_timing_summary", "Implementation tool:",
                                "Utilization Design Information", "Timing Summary Report"))


def _parse_xml(path: str, text: str) -> list[ReportRecord]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ReportParseError(path, f"XML is not well-formed ({exc}); the file looks truncated",
                               "re-run the tool step that writes it") from exc
    if root.tag == "profile" and root.find("UserAssignments") is not None:
        return hls.parse_csynth_xml(path, root)
    if root.tag == "profile" and root.find("RunData") is not None:
        return vivado.parse_export_xml(path, root)
    if root.tag == "profile":
        raise ReportParseError(path, "XML <profile> has neither UserAssignments (HLS csynth) "
                               "nor RunData (export_design); truncated or unknown")
    raise NotAReportError(path, f"XML root <{root.tag}> is not a known tool report", _KNOWN)


def parse_report(path: str | Path) -> list[ReportRecord]:
    """Parse one report file into records (top first). Raises ReportParseError on
    an empty, truncated or unrecognised file; never returns an empty list."""
    p = str(path)
    text = read_text(p)
    s = text.lstrip("\ufeff \t\n")
    if s.startswith("<"):
        recs = _parse_xml(p, s)
    elif s.startswith(("{", "[")):
        try:
            data = json.loads(s)
        except json.JSONDecodeError as exc:
            raise ReportParseError(p, f"JSON does not parse ({exc.msg} at line {exc.lineno}); "
                                   "the file looks truncated") from exc
        recs = nextpnr.parse_nextpnr_json(p, data) if nextpnr.is_nextpnr_report(data) else finn.parse_finn_json(p, data)
    elif "HLS Report for '" in s:
        recs = hls.parse_csynth_rpt(p, s)
    elif "== Synthesis Summary Report of '" in s:
        recs = hls.parse_summary_rpt(p, s)
    elif "== Design Size Report" in s:
        raise NotAReportError(p, "HLS design-size report has no cost figures")
    elif "report_utilization" in s[:3000] and "-hierarchical" in s[:3000]:
        raise NotAReportError(p, "hierarchical utilization reports are not parsed",
                              "use the flat report_utilization output")
    elif "report_utilization" in s[:3000] or "Utilization Design Information" in s[:3000]:
        recs = vivado.parse_utilization(p, s)
    elif "report_timing_summary" in s[:3000] or "Timing Summary Report" in s[:3000]:
        recs = vivado.parse_timing_summary(p, s)
    elif "Implementation tool:" in s[:2000]:
        recs = vivado.parse_export_rpt(p, s)
    else:
        raise NotAReportError(p, "not a recognised tool report", f"known kinds: {_KNOWN}")
    if not recs:
        raise ReportParseError(p, "report holds no records")
    for rec in recs:
        check_record(rec)
    return mark_network_top(recs)


# figures that cannot be negative; slack-like figures (WNS, TNS, slack) may be, but must be finite
_NON_NEGATIVE = ("lut", "ff", "dsp", "bram18", "uram", "latency_min_cycles", "latency_max_cycles", "ii_min_cycles",
                 "ii_max_cycles", "target_clock_ns", "estimated_clock_ns", "achieved_clock_ns",
                 "clock_uncertainty_ns")
_SIGNED = ("wns_ns", "tns_ns", "slack_ns")


def check_record(rec: ReportRecord) -> ReportRecord:
    """``rec`` if every figure is possible; ReportParseError naming the file, module and field otherwise."""
    where = f"{rec.module or rec.top or 'top'}"
    for name in _NON_NEGATIVE + _SIGNED:
        v = getattr(rec, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ReportParseError(rec.file, f"{where}: {name} is {v!r}, not a finite number")
        if name in _NON_NEGATIVE and v < 0:
            raise ReportParseError(rec.file, f"{where}: {name} is {v!r}; it cannot be negative",
                                   "the report was edited or damaged; re-run the tool step that writes it")
    return rec
