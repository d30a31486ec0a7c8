"""FINN build report JSONs (``report/*.json``), old (StreamingFCLayer_Batch_N) and new
(MVAU_hls_N, ...) node names. FINN never states the part or clock in them."""

from __future__ import annotations

import math

from ohq_flow.errors import ReportParseError

from ._text import NotAReportError, count
from .record import ReportRecord

_RES_KEYS = {"LUT", "BRAM_18K", "DSP", "URAM", "FF", "DSP48E"}


def _res(d: dict) -> dict:
    dsp = d.get("DSP") if d.get("DSP") is not None else d.get("DSP48E")
    bram = count(d.get("BRAM_18K"))
    return {"lut": count(d.get("LUT")), "ff": count(d.get("FF")), "dsp": count(dsp),
            "bram18": None if bram is None else float(bram), "uram": count(d.get("URAM"))}


def _number(path: str, key: str, v) -> float | None:
    """A finite JSON number (or None when absent); ReportParseError naming the key otherwise."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ReportParseError(path, f"'{key}' is {v!r}, not a finite number")
    return float(v)


def _positive(path: str, key: str, v) -> float | None:
    v = _number(path, key, v)
    if v is not None and v <= 0:
        raise ReportParseError(path, f"'{key}' is {v!r}; a frequency is > 0")
    return v


def _base(path: str, kind: str, stage: str) -> dict:
    return dict(file=path, kind=kind, tool="finn", stage=stage)


def _layer_resources(path: str, data: dict) -> list[ReportRecord]:
    hls = any(isinstance(v, str) for d in data.values() if isinstance(d, dict) for v in d.values())
    kind, stage = ("finn_hls_synth", "hls") if hls else ("finn_estimate", "estimate")
    out = []
    for name, d in data.items():
        if name == "total":
            continue
        out.append(ReportRecord(**_base(path, kind, stage), module=name, level="module", **_res(d)))
    if isinstance(data.get("total"), dict):
        out.insert(0, ReportRecord(**_base(path, kind, stage), **_res(data["total"]),
                                   notes="sum over layers"))
    return out


def _layer_cycles(path: str, data: dict) -> list[ReportRecord]:
    return [ReportRecord(**_base(path, "finn_estimate", "estimate"), module=name, level="module",
                         latency_min_cycles=c, latency_max_cycles=c, ii_min_cycles=c, ii_max_cycles=c,
                         notes="FINN expected cycles per frame for this layer")
            for name, c in data.items()]


def _network(path: str, d: dict) -> list[ReportRecord]:
    cp, mx = count(d.get("critical_path_cycles")), count(d.get("max_cycles"))
    rec = ReportRecord(**_base(path, "finn_estimate", "estimate"),
                       latency_min_cycles=cp, latency_max_cycles=cp, ii_min_cycles=mx, ii_max_cycles=mx,
                       extra={k: d[k] for k in ("max_cycles_node_name", "estimated_throughput_fps",
                                                "estimated_latency_ns") if k in d},
                       notes="latency = critical_path_cycles, II = max_cycles")
    return [rec]


def _ooc(path: str, d: dict) -> list[ReportRecord]:
    if "BRAM_18K" in d or "BRAM_36K" in d:
        bram = float((count(d.get("BRAM_18K")) or 0) + 2 * (count(d.get("BRAM_36K")) or 0))
    else:
        tiles = count(d.get("BRAM"))
        bram = None if tiles is None else 2.0 * float(tiles)  # Vivado BRAM tiles
    fmax = _positive(path, "fmax_mhz", d.get("fmax_mhz"))
    ver = d.get("vivado_version")
    return [ReportRecord(
        **_base(path, "finn_ooc_synth", "synth"), lut=count(d.get("LUT")), ff=count(d.get("FF")),
        dsp=count(d.get("DSP")), bram18=bram, uram=count(d.get("URAM")), wns_ns=_number(path, "WNS", d.get("WNS")),
        achieved_clock_ns=round(1000.0 / fmax, 6) if fmax else None,
        extra={k: d[k] for k in ("LUTRAM", "Carry", "Delay", "fmax_mhz", "estimated_throughput_fps")
               if k in d} | ({"vivado_version": str(ver)} if ver is not None else {}),
        notes="out-of-context Vivado synthesis run by FINN; target clock not recorded")]


def _rtlsim(path: str, d: dict) -> list[ReportRecord]:
    lat = count(d.get("latency_cycles", d.get("cycles")))
    fclk = _positive(path, "fclk[mhz]", d.get("fclk[mhz]"))
    return [ReportRecord(
        **_base(path, "finn_rtlsim", "rtlsim"), latency_min_cycles=lat, latency_max_cycles=lat,
        target_clock_ns=round(1000.0 / fclk, 6) if fclk else None,
        extra={k: d[k] for k in ("cycles", "N", "runtime[ms]", "throughput[images/s]",
                                 "stable_throughput[images/s]", "fclk[mhz]") if k in d},
        notes="measured by RTL simulation; clock is the simulated fclk")]


def parse_finn_json(path: str, data) -> list[ReportRecord]:
    """Dispatch on the JSON's keys (file names vary between FINN versions)."""
    if not isinstance(data, dict) or not data:
        raise NotAReportError(path, "JSON is not a FINN report (expected a non-empty object)")
    if "critical_path_cycles" in data:
        return _network(path, data)
    if "fmax_mhz" in data or ("WNS" in data and "LUT" in data):
        return _ooc(path, data)
    if "fclk[mhz]" in data or "latency_cycles" in data:
        return _rtlsim(path, data)
    vals = list(data.values())
    if all(isinstance(v, dict) for v in vals) and any(_RES_KEYS & set(v) for v in vals):
        if any(isinstance(v2, list) for v in vals for v2 in v.values()):
            raise NotAReportError(path, "JSON is a FINN config, not a report")
        return _layer_resources(path, data)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return _layer_cycles(path, data)
    raise NotAReportError(path, "JSON is not a FINN cost report (no resource, cycle or timing keys)",
                          "expected estimate_layer_resources*, estimate_layer_cycles, "
                          "estimate_network_performance, ooc_synth_and_timing or rtlsim_performance")
