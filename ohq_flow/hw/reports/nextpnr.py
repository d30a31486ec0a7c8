"""nextpnr ``--report`` JSON (post-route utilisation, achieved Fmax per clock, critical paths).

The report states neither the part nor the tool version (the implementation step records both).
Resources: ``lut`` = TRELLIS_COMB (LUT4 and carry halves), ``ff`` = TRELLIS_FF, ``dsp`` =
MULT18X18D, ``bram18`` = DP16KD (one 18Kb EBR each). Fmax: the slowest clock relative to its
constraint decides the top record; each clock also gets a record of its own.
"""

from __future__ import annotations

from ._text import NotAReportError, count
from .record import ReportRecord

_RES = {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram18": "DP16KD"}
_ECP5_MARKERS = ("TRELLIS_COMB", "TRELLIS_FF", "TRELLIS_IO")


def is_nextpnr_report(data) -> bool:
    """True for the dict nextpnr writes with --report (utilization + fmax sections)."""
    return isinstance(data, dict) and isinstance(data.get("utilization"), dict) and "fmax" in data


def _used(util: dict, cell: str):
    entry = util.get(cell)
    return count(entry.get("used")) if isinstance(entry, dict) else None


def _clock(name: str, f: dict) -> dict:
    achieved, target = float(f["achieved"]), f.get("constraint")
    target = float(target) if target else None
    return {"clock": name, "achieved_mhz": achieved, "target_mhz": target,
            "met": None if target is None else achieved >= target}


def _path_delays(data: dict) -> list[dict]:
    out = []
    for p in data.get("critical_paths") or []:
        steps = p.get("path") or []
        logic = sum(float(s.get("delay", 0)) for s in steps if s.get("type") == "logic")
        route = sum(float(s.get("delay", 0)) for s in steps if s.get("type") == "routing")
        out.append({"from": p.get("from"), "to": p.get("to"), "delay_ns": round(sum(float(s.get("delay", 0)) for s in steps), 3),
                    "logic_ns": round(logic, 3), "routing_ns": round(route, 3),
                    "levels": sum(1 for s in steps if s.get("type") == "logic"),
                    "from_cell": (steps[0].get("from") or {}).get("cell") if steps else None,
                    "to_cell": (steps[-1].get("to") or {}).get("cell") if steps else None})
    return out


def parse_nextpnr_json(path: str, data: dict) -> list[ReportRecord]:
    """Records of one nextpnr report: the design (top) first, then one per clock."""
    util = data["utilization"]
    if not isinstance(data.get("fmax"), dict):
        raise NotAReportError(path, "nextpnr report without an fmax section")
    tool = "nextpnr-ecp5" if any(k in util for k in _ECP5_MARKERS) else "nextpnr"
    res = {k: _used(util, cell) for k, cell in _RES.items()}
    if res["bram18"] is not None:
        res["bram18"] = float(res["bram18"])
    available = {k: count(util[cell].get("available")) for k, cell in _RES.items() if isinstance(util.get(cell), dict)}
    clocks = [_clock(name, f) for name, f in sorted(data["fmax"].items()) if isinstance(f, dict) and "achieved" in f]
    base = dict(file=path, kind="nextpnr_report", tool=tool, stage="route")
    extra = {"available": available, "clocks": clocks, "critical_paths": _path_delays(data),
             "utilization": {k: v for k, v in util.items() if isinstance(v, dict) and v.get("used")}}
    if not clocks:  # a design without a clocked path: resources only
        return [ReportRecord(**base, **res, extra=extra, notes="no clock domain in the report: no Fmax")]
    worst = min(clocks, key=lambda c: c["achieved_mhz"] / c["target_mhz"] if c["target_mhz"] else float("inf"))
    recs = [ReportRecord(**base, **res, **_timing(worst), extra=extra, notes=f"slowest clock: {worst['clock']}")]
    if len(clocks) > 1:
        recs += [ReportRecord(**base, module=c["clock"], level="module", **_timing(c)) for c in clocks]
    return recs


def _timing(c: dict) -> dict:
    achieved_ns = 1000.0 / c["achieved_mhz"]
    target_ns = 1000.0 / c["target_mhz"] if c["target_mhz"] else None
    return {"achieved_clock_ns": round(achieved_ns, 4), "target_clock_ns": None if target_ns is None else round(target_ns, 4),
            "wns_ns": None if target_ns is None else round(target_ns - achieved_ns, 4),
            "timing_met": c["met"]}
