"""Vivado HLS / Vitis HLS C-synthesis reports: ``*_csynth.xml``, ``*_csynth.rpt``, ``csynth.rpt``."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ohq_flow.errors import ReportParseError

from ._text import count, is_undef, sections, table_after, table_block, to_float, to_int
from .record import ReportRecord

_DSP_NAMES = ("DSP", "DSP48E")


def hls_tool(version: str | None, flow_target: bool = False) -> str | None:
    """'vitis_hls' from 2020.2 on (or when the report names a flow target), else 'vivado_hls'."""
    if flow_target:
        return "vitis_hls"
    m = re.match(r"(\d{4})\.(\d+)", version or "")
    if not m:
        return None
    return "vitis_hls" if (int(m.group(1)), int(m.group(2))) >= (2020, 2) else "vivado_hls"


def _range(text: str | None) -> tuple[int | None, int | None]:
    """'16385 ~ 225281' -> (16385, 225281); '50' -> (50, 50); 'undef' -> (None, None)."""
    if is_undef(text):
        return None, None
    parts = [p.strip() for p in text.split("~")]
    lo, hi = to_int(parts[0]), to_int(parts[-1])
    return lo, hi


def _resources(res: ET.Element | None) -> dict:
    """Look the XML resource children up by name (their order varies)."""
    if res is None:
        return {}
    dsp = next((res.findtext(n) for n in _DSP_NAMES if res.find(n) is not None), None)
    bram = count(res.findtext("BRAM_18K"))
    return {
        "lut": count(res.findtext("LUT")),
        "ff": count(res.findtext("FF")),
        "dsp": count(dsp),
        "bram18": None if bram is None else float(bram),
        "uram": count(res.findtext("URAM")),
    }


def _latency(lat: ET.Element | None) -> dict:
    if lat is None:
        return {}
    best, worst = lat.findtext("Best-caseLatency"), lat.findtext("Worst-caseLatency")
    if lat.find("Interval-min") is not None or lat.find("Interval-max") is not None:
        ii_lo, ii_hi = to_int(lat.findtext("Interval-min")), to_int(lat.findtext("Interval-max"))
    else:  # ModuleInformation uses PipelineInitiationInterval, '68 ~ 69' or '1'
        ii_lo, ii_hi = _range(lat.findtext("PipelineInitiationInterval"))
    undef = any((v or "").strip().lower() in ("undef", "?")
                for v in (best, worst, lat.findtext("Interval-min"), lat.findtext("Interval-max")))
    return {
        "latency_min_cycles": to_int(best), "latency_max_cycles": to_int(worst),
        "ii_min_cycles": ii_lo, "ii_max_cycles": ii_hi, "latency_undef": undef,
    }


def parse_csynth_xml(path: str, root: ET.Element) -> list[ReportRecord]:
    """Top record (+ one per ``ModuleInformation/Module`` in a Vitis ``csynth.xml``)."""
    ua, pe = root.find("UserAssignments"), root.find("PerformanceEstimates")
    res = root.find("AreaEstimates/Resources")
    missing = [n for n, e in (("UserAssignments", ua), ("PerformanceEstimates", pe),
                              ("AreaEstimates/Resources", res)) if e is None]
    if missing:
        raise ReportParseError(path, f"HLS csynth XML has no {', '.join(missing)} (truncated?)")
    version = root.findtext("ReportVersion/Version")
    top = ua.findtext("TopModelName")
    common = dict(file=path, kind="hls_csynth", top=top,
                  tool=hls_tool(version, ua.find("FlowTarget") is not None),
                  tool_version=version, part=ua.findtext("Part"), stage="hls")
    rec = ReportRecord(
        **common, module=top,
        target_clock_ns=to_float(ua.findtext("TargetClockPeriod")),
        clock_uncertainty_ns=to_float(ua.findtext("ClockUncertainty")),
        estimated_clock_ns=to_float(pe.findtext("SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        pipeline_type=pe.findtext("PipelineType"),
        **_latency(pe.find("SummaryOfOverallLatency")), **_resources(res))
    if rec.lut is None and rec.ff is None:
        raise ReportParseError(path, "HLS csynth XML has no LUT/FF in AreaEstimates/Resources")
    out = [rec]
    for mod in root.findall("ModuleInformation/Module"):
        name = mod.findtext("Name")
        if not name or name == top:
            continue
        tim = mod.find("PerformanceEstimates/SummaryOfTimingAnalysis")
        lat = mod.find("PerformanceEstimates/SummaryOfOverallLatency")
        out.append(ReportRecord(
            **common, module=name, level="module",
            target_clock_ns=to_float(tim.findtext("TargetClockPeriod")) if tim is not None else None,
            clock_uncertainty_ns=to_float(tim.findtext("ClockUncertainty")) if tim is not None else None,
            estimated_clock_ns=to_float(tim.findtext("EstimatedClockPeriod")) if tim is not None else None,
            pipeline_type=lat.findtext("PipelineType") if lat is not None else None,
            **_latency(lat), **_resources(mod.find("AreaEstimates/Resources"))))
    return out


# ---------------------------------------------------------------- csynth.rpt (per-top report)

def _header(text: str, key: str) -> str | None:
    m = re.search(rf"^\s*\*\s*{key}:\s*(\S+)", text, flags=re.M)
    return m.group(1) if m else None


def _data_rows(rows: list[list[str]] | None, first: tuple[str, ...]) -> list[list[str]]:
    """Rows whose first cell is filled and is not a header word."""
    return [r for r in rows or [] if r and r[0] and r[0] not in first]


def _util_columns(header: list[str], row: list[str]) -> dict:
    cells = dict(zip(header, row))
    dsp = next((cells[n] for n in _DSP_NAMES if n in cells), None)
    bram = count(cells.get("BRAM_18K"))
    return {"lut": count(cells.get("LUT")), "ff": count(cells.get("FF")), "dsp": count(dsp),
            "bram18": None if bram is None else float(bram), "uram": count(cells.get("URAM"))}


def _lat_cells(cells: list[str]) -> dict | None:
    """Latency summary/instance cells without names: 5 (old layout) or 7 (with absolute)."""
    if len(cells) == 5:
        lmin, lmax, imin, imax, ptype = cells
    elif len(cells) == 7:
        lmin, lmax, _, _, imin, imax, ptype = cells
    else:
        return None
    vals = (lmin, lmax, imin, imax)
    return {"latency_min_cycles": to_int(lmin), "latency_max_cycles": to_int(lmax),
            "ii_min_cycles": to_int(imin), "ii_max_cycles": to_int(imax),
            "latency_undef": any(v.strip() == "?" for v in vals), "pipeline_type": ptype or None}


def parse_csynth_rpt(path: str, text: str) -> list[ReportRecord]:
    """``<top>_csynth.rpt``: the top record, then one record per sub-instance listed."""
    m = re.search(r"^== (Vivado|Vitis) HLS Report for '([^']+)'", text, flags=re.M)
    if not m:
        raise ReportParseError(path, "no '== Vivado/Vitis HLS Report for' banner")
    top = m.group(2)
    secs = sections(text)
    perf, util = secs.get("Performance Estimates"), secs.get("Utilization Estimates")
    missing = [n for n in ("Performance Estimates", "Utilization Estimates", "Interface")
               if n not in secs]
    if missing:
        raise ReportParseError(path, "report lacks its " + ", ".join(f"'== {n}'" for n in missing)
                               + " section (file truncated?)")
    common = dict(file=path, kind="hls_csynth", top=top, tool=f"{m.group(1).lower()}_hls",
                  tool_version=_header(text, "Version"), part=_header(text, "Target device"),
                  stage="hls")

    clk = _data_rows(table_after(perf, "* Summary:", max(perf.find("+ Timing"), 0)), ("Clock",))
    lat_rows = table_after(perf, "* Summary:", perf.find("+ Latency"))
    lat = _lat_cells(lat_rows[-1]) if lat_rows else None
    util_rows = table_after(util, "* Summary:") or []
    total = next((r for r in util_rows if r and r[0] == "Total"), None)
    problems = [n for n, v in (("timing summary row", clk), ("latency summary row", lat),
                               ("utilization Total row", total)) if not v]
    if problems:
        raise ReportParseError(path, "no " + ", ".join(problems) + " found (file truncated?)")
    c = clk[0] + [None] * 4
    rec = ReportRecord(**common, module=top, target_clock_ns=to_float(c[1]),
                       estimated_clock_ns=to_float(c[2]), clock_uncertainty_ns=to_float(c[3]),
                       **lat, **_util_columns(util_rows[0], total))
    return [rec] + _instances(perf, util, common, rec)


def _instances(perf: str, util: str, common: dict, top: ReportRecord) -> list[ReportRecord]:
    """Per-instance records from the Detail/Instance tables (latency and area joined by instance)."""
    det = perf.find("+ Detail:")
    lat_rows = table_after(perf, "* Instance:", det) if det >= 0 else None
    udet = util.find("+ Detail:")
    area_rows = table_after(util, "* Instance:", udet) if udet >= 0 else None
    area: dict[str, dict] = {}
    if area_rows:
        hdr = next((r for r in area_rows if r and r[0] == "Instance"), None)
        for r in _data_rows(area_rows, ("Instance", "Total")):
            if hdr:
                area[r[0]] = _util_columns(hdr, r)
    out = []
    for r in _data_rows(lat_rows, ("Instance",)):
        lat = _lat_cells(r[2:])
        if lat is None or len(r) < 2:
            continue
        out.append(ReportRecord(**common, module=r[1], level="module",
                                target_clock_ns=top.target_clock_ns,
                                clock_uncertainty_ns=top.clock_uncertainty_ns,
                                **lat, **area.get(r[0], {}), extra={"instance": r[0]}))
    return out


# ---------------------------------------------------------------- Vitis csynth.rpt (summary)

def parse_summary_rpt(path: str, text: str) -> list[ReportRecord]:
    """Vitis 'Synthesis Summary Report': the top row only (worst latency, max II, slack)."""
    m = re.search(r"^== Synthesis Summary Report of '([^']+)'", text, flags=re.M)
    if not m:
        raise ReportParseError(path, "no '== Synthesis Summary Report of' banner")
    rows, closed = table_block(text, "+ Performance & Resource Estimates:", allow_text=True)
    if not rows or len(rows) < 3 or not closed:
        raise ReportParseError(path, "no 'Performance & Resource Estimates' table (file truncated?)")
    hdr = rows[1]  # the first header row has merged cells; the second names every column
    row = next((r for r in rows[2:] if r and r[0].startswith("+")), None)
    if row is None or len(row) != len(hdr):
        raise ReportParseError(path, "no top-module row in the summary table (file truncated?)")
    cells = dict(zip(hdr, row))

    def res(name):  # in this table '-' means none used
        v = cells.get(name)
        return 0 if v is not None and v.strip() == "-" else count(v)

    version = _header(text, "Version")
    lat, ii = cells.get("(cycles)"), cells.get("Interval")
    bram = res("BRAM")
    return [ReportRecord(
        file=path, kind="hls_summary", top=m.group(1), module=m.group(1), tool="vitis_hls",
        tool_version=version, part=_header(text, "Target device"), stage="hls",
        latency_max_cycles=to_int(lat), ii_max_cycles=to_int(ii),
        latency_undef=any((v or "").strip() == "?" for v in (lat, ii)),
        slack_ns=to_float(cells.get("Slack")), pipeline_type=cells.get("Pipelined") or None,
        lut=res("LUT"), ff=res("FF"), dsp=res("DSP"), bram18=None if bram is None else float(bram),
        uram=res("URAM"), extra={"issue_type": cells.get("Type")},
        notes="summary report: worst-case latency and max interval only")]
