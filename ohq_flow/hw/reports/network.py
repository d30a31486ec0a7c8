"""Which module of an HLS report is the network (a wrapper top, such as hls4ml's ``*_axi``, wraps it)."""

from __future__ import annotations

from .record import ReportRecord


def network_top(top: str | None, modules: set[str]) -> str | None:
    """The module a wrapper top wraps (hls4ml's ``<project>_axi`` -> ``<project>``), else the top itself."""
    if top and top.endswith("_axi") and top[:-len("_axi")] in modules:
        return top[:-len("_axi")]
    return top


def mark_network_top(recs: list[ReportRecord]) -> list[ReportRecord]:
    """Set ``network_top``/``wrapper`` on the HLS records of one report (its modules are all it knows)."""
    modules = {r.module for r in recs if r.module}
    for r in recs:
        if r.kind in ("hls_csynth", "hls_summary") and r.top:
            r.network_top = network_top(r.top, modules)
            r.wrapper = r.level == "top" and r.module == r.top and r.network_top != r.top
    return recs
