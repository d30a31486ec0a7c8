"""``parse_path``: parse one report file, or find and parse every report under a directory.

For a directory, HLS records of one report folder are merged into one record per module:
the project top (named by ``csynth.xml``/``csynth.rpt`` when present, else the module with
the largest LUT+FF) with ``level="top"`` and every other module with ``level="module"``. Every
record names ``network_top``: the top itself, or for hls4ml's AXI wrapper (``myproject_axi``, then
``wrapper: true``) the network it wraps (``myproject``).
Where several files describe the same module the preferred source is its own ``<m>_csynth.xml``,
then ``<m>_csynth.rpt``, then ``csynth.xml`` ModuleInformation, the Vitis summary, and the
parent's instance table; disagreements on core figures are noted on the kept record.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from pathlib import Path

from ohq_flow.errors import ReportParseError

from ._text import NotAReportError
from .detect import parse_report, sniff
from .network import network_top
from .record import ReportRecord

_EXTS = (".rpt", ".xml", ".json")
_SKIP_DIRS = {".git", ".Xil", "__pycache__", "node_modules", ".venv"}
_CORE = ("latency_min_cycles", "latency_max_cycles", "ii_min_cycles", "ii_max_cycles",
         "lut", "ff", "dsp", "bram18", "uram")


def parse_path(path: str | Path) -> list[ReportRecord]:
    """Records from a report file, or from every report found under a directory."""
    p = Path(path)
    if p.is_dir():
        return discover(p)
    if not p.exists():
        raise ReportParseError(str(p), "no such file or directory")
    return parse_report(p)


def report_files(root: Path) -> list[Path]:
    """Files under ``root`` (sorted, recursive) that look like reports we parse."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            f = Path(dirpath) / name
            try:
                empty = f.stat().st_size == 0
            except OSError:                      # a dangling symlink
                continue
            if name.lower().endswith(_EXTS) and (empty or sniff(f)):
                out.append(f)
    return out


def discover(root: Path) -> list[ReportRecord]:
    """Parse every report below ``root``; files that are not reports are skipped,
    broken reports (empty, truncated) raise."""
    recs: list[ReportRecord] = []
    for f in report_files(root):
        try:
            recs.extend(parse_report(f))
        except NotAReportError:
            continue
    if not recs:
        raise ReportParseError(str(root), "no tool reports found in this directory",
                               "expected *_csynth.xml/.rpt, Vivado utilization/timing .rpt, "
                               "*_export.rpt, vivado_*.xml or FINN report/*.json")
    hls_kinds = ("hls_csynth", "hls_summary")
    by_dir: dict[str, list[ReportRecord]] = defaultdict(list)
    for r in recs:
        if r.kind in hls_kinds:
            by_dir[os.path.dirname(r.file)].append(r)
    out: list[ReportRecord] = []
    for d in dict.fromkeys(os.path.dirname(r.file) for r in recs if r.kind in hls_kinds):
        out.extend(merge_hls(by_dir[d]))
    out.extend(r for r in recs if r.kind not in hls_kinds)
    return out


def _project_top(recs: list[ReportRecord]) -> str | None:
    for r in recs:
        if os.path.basename(r.file) in ("csynth.xml", "csynth.rpt") and r.level == "top":
            return r.top
    tops = [r for r in recs if r.level == "top"]
    if not tops:
        return None
    return max(tops, key=lambda r: ((r.lut or 0) + (r.ff or 0), -len(r.module or ""))).module


def _rank(r: ReportRecord) -> tuple:
    name = os.path.basename(r.file)
    own = name.startswith(f"{r.module}_csynth.") or (name == "csynth.xml" and r.level == "top")
    return (not own, not name.endswith(".xml"), r.kind != "hls_csynth", r.level != "top")


def merge_hls(recs: list[ReportRecord]) -> list[ReportRecord]:
    """One record per module for one HLS report folder: the top first, then the modules."""
    top = _project_top(recs)
    groups: dict[str, list[ReportRecord]] = defaultdict(list)
    for r in recs:
        groups[r.module or r.top or "?"].append(r)
    network = network_top(top, set(groups))
    out = []
    for name, group in groups.items():
        best = min(group, key=_rank)
        diffs = sorted({f"{os.path.basename(o.file)}: {k}={getattr(o, k)}" for o in group
                        if o is not best for k in _CORE
                        if getattr(o, k) is not None and getattr(best, k) is not None
                        and getattr(o, k) != getattr(best, k)})
        note = "; ".join(x for x in (best.notes, "other sources differ: " + ", ".join(diffs)
                                     if diffs else None) if x)
        out.append(dataclasses.replace(best, top=top or best.top, extra=dict(best.extra),
                                       level="top" if name == top else "module",
                                       network_top=network or best.top, wrapper=name == top and network != top,
                                       notes=note or None))
    out.sort(key=lambda r: r.level != "top")
    return out
