"""Shared parts of the vendor measurers: finding the tool, Tcl parameter files, report -> CostRow."""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path
from typing import Sequence

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_text
from ohq_flow.tables.costs import STATUS_OK, CostRow
from ohq_flow.resources import TEMPLATES


# environment variables (read, never set) naming an installation whose bin/ holds the tool
TOOL_ENV = {"vitis_hls": ("XILINX_HLS", "XILINX_VITIS"), "vivado_hls": ("XILINX_HLS", "XILINX_VIVADO"),
            "vivado": ("XILINX_VIVADO",)}
INSTALL_HINT = {
    "vitis_hls": "install AMD Vitis HLS (or Vitis) and put vitis_hls on PATH, or set XILINX_HLS/XILINX_VITIS to the "
                 "installation, or pass its settings64.sh; in Docker, mount the host installation read-only "
                 "(e.g. -v /tools/Xilinx:/tools/Xilinx:ro)",
    "vivado_hls": "install Vivado HLS (Vivado <= 2020.1) and put vivado_hls on PATH, or set XILINX_HLS/XILINX_VIVADO, "
                  "or pass its settings64.sh; in Docker, mount the host installation read-only",
    "vivado": "install AMD Vivado and put vivado on PATH, or set XILINX_VIVADO to the installation, or pass its "
              "settings64.sh; in Docker, mount the host installation read-only (e.g. -v /tools/Xilinx:/tools/Xilinx:ro)",
}
# a settings file is sourced by a constant script; its path and the tool argv are positional arguments
_SOURCE_AND_EXEC = '. "$1" >/dev/null 2>&1 || exit 127; shift; exec "$@"'


def tool_argv(tool: str, settings: str | os.PathLike | None = None) -> list[str]:
    """argv prefix that runs ``tool``: via a settings file, on PATH, or from XILINX_* (in that order).

    Raises InputError naming what to install or mount when the tool is not found.
    """
    if tool not in TOOL_ENV:
        raise InputError(f"unknown vendor tool '{tool}'", f"one of {', '.join(TOOL_ENV)}")
    if settings is not None:
        settings = Path(settings)
        if not settings.is_file():
            raise InputError(f"settings file {settings} for {tool} does not exist", INSTALL_HINT[tool])
        return ["bash", "-c", _SOURCE_AND_EXEC, "ohq_flow", str(settings), tool]
    found = shutil.which(tool)
    if found:
        return [found]
    for var in TOOL_ENV[tool]:
        root = os.environ.get(var)
        if root:
            cand = Path(root) / "bin" / tool
            if cand.is_file() and os.access(cand, os.X_OK):
                return [str(cand)]
    raise InputError(f"{tool} not found (not on PATH, not under ${'/$'.join(TOOL_ENV[tool])}/bin)", INSTALL_HINT[tool])


_SAFE = re.compile(r"^[^{}\\\"\[\]$\x00-\x1f\x7f]*$")


def tcl_value(value) -> str:
    """A brace-quoted Tcl word for ``value`` (lists become Tcl lists); refuses characters that could escape."""
    if isinstance(value, (list, tuple)):
        return "[list " + " ".join(tcl_value(v) for v in value) + "]"
    text = "" if value is None else str(value)
    if not _SAFE.match(text):
        raise InputError(f"value {text!r} has characters not allowed in a tool parameter ({{}}\\[]$\" or a control character)",
                         "rename the file/directory or top name")
    return "{" + text + "}"


def write_tcl_params(path: Path, prefix: str, params: dict) -> Path:
    """Write ``set <prefix>_<name> {value}`` lines (the only way values reach the Tcl templates)."""
    lines = ["# written by ohq_flow; read by the template script"]
    lines += [f"set {prefix}_{k} {tcl_value(v)}" for k, v in params.items()]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def record_to_row(rec, *, layer: str, w_bits: int, a_bits: int, source: str, fidelity: str,
                  log_path: str | os.PathLike = "", clock_ns: float | None = None, wns_ns: float | None = None) -> CostRow:
    """CostRow from a ReportRecord (``ohq_flow.hw.reports``); missing figures stay None.

    Latency/II are the worst case (``*_max_cycles``; None when the tool reported them undefined).
    ``clock_ns`` is the period the design achieves: for HLS the larger of target and estimated
    period, for Vivado target − WNS when timing fails (else the target).
    """
    target = clock_ns if clock_ns is not None else rec.target_clock_ns
    period = target
    if rec.estimated_clock_ns and target and rec.estimated_clock_ns > target:
        period = rec.estimated_clock_ns
    wns = wns_ns if wns_ns is not None else rec.wns_ns
    if wns is not None and target is not None and wns < 0:
        period = target - wns
    undef = bool(getattr(rec, "latency_undef", False))
    lat = None if undef or rec.latency_max_cycles is None else float(rec.latency_max_cycles)
    ii = None if undef or rec.ii_max_cycles is None else float(rec.ii_max_cycles)
    notes = [f"target_clock_ns={target}"]
    if rec.estimated_clock_ns is not None:
        notes.append(f"est_clock_ns={rec.estimated_clock_ns}")
    if wns is not None:
        notes.append(f"wns_ns={wns}")

    def num(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    return CostRow(layer=layer, w_bits=int(w_bits), a_bits=int(a_bits), latency_cycles=lat, ii_cycles=ii,
                   clock_ns=period, lut=num(rec.lut), ff=num(rec.ff), dsp=num(rec.dsp), bram18=num(rec.bram18),
                   uram=num(rec.uram), source=source, fidelity=fidelity, tool=rec.tool or source,
                   tool_version=rec.tool_version or "", part=rec.part or "", status=STATUS_OK,
                   error=" ".join(notes), log_path=str(log_path))


def check_files(paths: Sequence[str | os.PathLike], what: str) -> list[Path]:
    out = [Path(p).resolve() for p in paths]
    missing = [str(p) for p in out if not p.is_file()]
    if missing:
        raise InputError(f"{what}: file(s) not found: {', '.join(missing)}")
    return out


VENDOR_TOOL_HINT = ("put the tool on PATH (source the Xilinx settings64.sh, or mount /tools/Xilinx in the Docker "
                    "image) or choose yosys / da4ml_estimate / analytic")


def tool_path_version(tool: str) -> str:
    """The resolved install path of ``tool`` (it names the version; part of the cache key)."""
    import shutil
    return str(Path(shutil.which(tool) or tool).resolve())


def parse_vivado_report(path: Path, kind: str, log_path):
    """The top-level record of ``kind`` in a Vivado report; a missing/unreadable/foreign report is a FlowError."""
    from ohq_flow.errors import FlowError, ReportParseError
    from ohq_flow.hw.reports import parse_report
    if not path.is_file():
        raise FlowError(f"vivado finished but wrote no {path.name}; log: {log_path}", "see the log's ERROR lines")
    try:
        recs = [r for r in parse_report(path) if r.kind == kind]
    except ReportParseError as exc:
        raise FlowError(f"vivado report {path} is unreadable: {exc}; log: {log_path}") from None
    if not recs:
        raise FlowError(f"{path} is not a {kind} report; log: {log_path}")
    return next((r for r in recs if r.level == "top"), recs[0])
