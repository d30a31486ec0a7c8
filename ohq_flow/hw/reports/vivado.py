"""Vivado reports: ``report_utilization``, ``report_timing_summary`` and the HLS
``export_design`` results (``<top>_export.rpt``, ``vivado_impl.xml``, ``vivado_syn.xml``)."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

from ohq_flow.errors import ReportParseError

from ._text import count, split_row, to_float
from .record import ReportRecord

_STAGES = {"synthesized": "synth", "optimized": "opt", "fully placed": "place",
           "placed": "place", "routed": "route", "fully routed": "route"}


def _hdr(text: str, key: str) -> str | None:
    """A value from the '| Key : value' banner at the top of a Vivado report."""
    m = re.search(rf"^\|\s*{key}\s*:\s*(.+?)\s*$", text, flags=re.M)
    return m.group(1) if m else None


def _version(tool_line: str | None) -> str | None:
    m = re.search(r"v\.?(\d{4}\.\d+(?:\.\d+)?)", tool_line or "")
    return m.group(1) if m else None


def _common(path: str, text: str, kind: str) -> dict:
    state = (_hdr(text, "Design State") or "").strip()
    return dict(file=path, kind=kind, tool="vivado", top=_hdr(text, "Design"),
                tool_version=_version(_hdr(text, "Tool Version")), part=_hdr(text, "Device"),
                stage=_STAGES.get(state.lower(), state.lower() or None),
                extra={"design_state": state} if state else {})


def parse_utilization(path: str, text: str) -> list[ReportRecord]:
    """report_utilization: LUT/Reg/BRAM tile/URAM/DSP from the first (whole-device) tables.

    Values are read from the column whose header is ``Used`` (never by position): a table
    without that column is an error naming the file, not a zero.
    """
    names = {"lut": ("Slice LUTs", "CLB LUTs"), "ff": ("Slice Registers", "CLB Registers"),
             "bram_tiles": ("Block RAM Tile",), "uram": ("URAM",), "dsp": ("DSPs",)}
    found: dict[str, str] = {}
    used_col: int | None = None                       # "Used" column of the table being read
    for line in text.split("\n"):
        if line.startswith("+"):
            continue
        if not line.startswith("|"):
            used_col = None                           # a table ends at the first non-table line
            continue
        cells = split_row(line)
        if len(cells) < 2:
            continue
        if cells[0] == "Site Type":
            used_col = cells.index("Used") if "Used" in cells else -1
            continue
        site = cells[0].rstrip("*").strip()  # synthesized reports mark 'CLB LUTs*'
        for key, alts in names.items():
            if key not in found and site in alts:
                if used_col is None or used_col < 0 or used_col >= len(cells):
                    raise ReportParseError(path, f"the table holding '{site}' has no 'Used' column "
                                           "(header 'Site Type | Used | ...' missing or edited)")
                found[key] = cells[used_col]
    _check_toc(path, text)
    missing = [alts[0] for k, alts in names.items() if k not in found and k != "uram"]
    if missing:
        raise ReportParseError(path, "utilization report has no " + ", ".join(
            f"'{m}'" for m in missing) + " row (file truncated?)")
    for key in ("lut", "ff", "dsp", "bram_tiles"):
        if count(found[key]) is None:
            raise ReportParseError(path, f"'Used' value {found[key]!r} of '{names[key][0]}' is not a number")
    tiles = to_float(found["bram_tiles"])
    rec = ReportRecord(**_common(path, text, "vivado_utilization"),
                       lut=count(found["lut"]), ff=count(found["ff"]), dsp=count(found["dsp"]),
                       bram18=None if tiles is None else 2.0 * tiles,
                       uram=count(found.get("uram")))  # no URAM row on parts without URAM
    rec.extra["bram_tiles"] = tiles
    return [rec]


def _check_toc(path: str, text: str) -> None:
    """The last section named in the Table of Contents must be present (else: truncated)."""
    m = re.search(r"^Table of Contents\s*\n-+\s*\n((?:.+\n)+)", text, flags=re.M)
    if m is None:
        raise ReportParseError(path, "utilization report has no Table of Contents (truncated?)")
    last = m.group(1).strip().split("\n")[-1].strip()
    if not re.search(rf"^{re.escape(last)}\s*$", text[m.end():], flags=re.M):
        raise ReportParseError(path, f"report ends before section '{last}' listed in its "
                               "Table of Contents (file truncated?)")


_CLOCK = re.compile(r"^\s*(\S+)\s+\{[^}]*\}\s+([-\d.]+)\s+([-\d.]+)\s*$")


def parse_timing_summary(path: str, text: str) -> list[ReportRecord]:
    """report_timing_summary: WNS/TNS from 'Design Timing Summary', clocks from 'Clock Summary'."""
    i = text.find("| Design Timing Summary")
    m = re.search(r"^\s*WNS\(ns\).*\n\s*-{3,}.*\n\s*(\S.*)$", text[i:], flags=re.M) if i >= 0 else None
    if m is None:
        raise ReportParseError(path, "no 'Design Timing Summary' data line (file truncated?)")
    if "| Timing Details" not in text:
        raise ReportParseError(path, "report ends before its 'Timing Details' section (truncated?)")
    vals = m.group(1).split()
    wns, tns = to_float(vals[0]), to_float(vals[1]) if len(vals) > 1 else None
    clocks = []
    j = text.find("| Clock Summary")
    if j >= 0:
        block = text[j:].split("\n")[5:]
        for line in block:
            if not line.strip():
                if clocks:
                    break
                continue
            cm = _CLOCK.match(line)
            if cm:
                clocks.append((cm.group(1), float(cm.group(2)), float(cm.group(3))))
    met = (True if "All user specified timing constraints are met" in text
           else False if "Timing constraints are not met" in text else None)
    rec = ReportRecord(**_common(path, text, "vivado_timing"), wns_ns=wns, tns_ns=tns, timing_met=met)
    if len(vals) > 2:
        rec.extra["failing_endpoints"] = int(vals[2]) if vals[2].isdigit() else None
        rec.extra["total_endpoints"] = int(vals[3]) if len(vals) > 3 and vals[3].isdigit() else None
    rec.extra["clocks"] = {n: p for n, p, _ in clocks}
    if len(clocks) == 1:
        rec.target_clock_ns = clocks[0][1]
        if wns is not None:
            rec.achieved_clock_ns = round(clocks[0][1] - wns, 6)
    elif clocks:
        rec.notes = f"{len(clocks)} clocks; target/achieved clock left empty (see extra.clocks)"
    return [rec]


def parse_export_rpt(path: str, text: str) -> list[ReportRecord]:
    """HLS export_design summary ``<top>_export.rpt`` (BRAM already in 18K units; the top
    name is taken from the file name, the report itself does not state it)."""
    kv = dict(re.findall(r"^([A-Za-z][A-Za-z -]*?):\s+(\S.*?)\s*$", text, flags=re.M))
    impl = "Post-Implementation Resource usage" in text
    if not impl and "Post-Synthesis Resource usage" not in text:
        raise ReportParseError(path, "export report has no resource-usage section")
    if "LUT" not in kv or "CP required" not in kv or not re.search(r"^Timing (not )?met", text, re.M):
        raise ReportParseError(path, "export report lacks LUT, 'CP required' or the final "
                               "'Timing met' line (file truncated?)")
    achieved = kv.get("CP achieved post-implementation") if impl else kv.get("CP achieved post-synthesis")
    met = True if re.search(r"^Timing met", text, flags=re.M) else (
        False if re.search(r"^Timing not met", text, flags=re.M) else None)
    bram = count(kv.get("BRAM"))
    stem = os.path.basename(path)
    top = stem[: -len("_export.rpt")] if stem.endswith("_export.rpt") else None  # <top>_export.rpt
    return [ReportRecord(
        file=path, kind="hls_export", top=top, tool="vivado", tool_version=_version(kv.get("Implementation tool")),
        part=kv.get("Device target"), stage="route" if impl else "synth",
        target_clock_ns=to_float(kv["CP required"]), achieved_clock_ns=to_float(achieved),
        lut=count(kv.get("LUT")), ff=count(kv.get("FF")), dsp=count(kv.get("DSP")),
        bram18=None if bram is None else float(bram), uram=count(kv.get("URAM")), timing_met=met,
        extra={k.lower(): count(kv.get(k)) for k in ("SRL", "CLB", "SLICE", "LATCH") if k in kv}
        | {"cp_achieved_post_synthesis_ns": to_float(kv.get("CP achieved post-synthesis"))})]


def parse_export_xml(path: str, root: ET.Element) -> list[ReportRecord]:
    """HLS export_design ``vivado_impl.xml`` / ``vivado_syn.xml``."""
    tr, res = root.find("TimingReport"), root.find("AreaReport/Resources")
    if tr is None or res is None:
        raise ReportParseError(path, "export XML has no TimingReport or AreaReport/Resources")
    run = (root.findtext("RunData/RUN_TYPE") or "").strip().lower()
    wns = next((to_float(tr.findtext(t)) for t in ("WNS_FINAL", "WNS_ROUTE", "WNS_SYNTH")
                if to_float(tr.findtext(t)) is not None), None)
    tns = to_float(tr.findtext("TNS_FINAL"))
    top_mod = next((m.get("ORIG_REF_NAME") for m in root.findall("RtlModules/RtlModule")
                    if m.get("DEPTH") == "0"), None)
    met = (tr.findtext("TIMING_MET") or "").strip().upper()
    bram = count(res.findtext("BRAM"))
    return [ReportRecord(
        file=path, kind="hls_export", top=top_mod, tool="vivado",
        tool_version=_version(root.findtext("RunData/VIVADO_VERSION")),
        stage={"impl": "route", "synth": "synth"}.get(run, run or None),
        target_clock_ns=to_float(tr.findtext("TargetClockPeriod")),
        achieved_clock_ns=to_float(tr.findtext("AchievedClockPeriod")), wns_ns=wns, tns_ns=tns,
        timing_met={"TRUE": True, "FALSE": False}.get(met),
        lut=count(res.findtext("LUT")), ff=count(res.findtext("FF")), dsp=count(res.findtext("DSP")),
        bram18=None if bram is None else float(bram), uram=count(res.findtext("URAM")),
        extra={k.lower(): count(res.findtext(k)) for k in ("SRL", "CLB", "LATCH")
               if res.find(k) is not None})]
