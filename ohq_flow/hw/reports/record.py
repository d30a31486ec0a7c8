"""The one record every report parser returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Number = int | float


@dataclass
class ReportRecord:
    """Figures read from one tool report (or one module/layer inside it).

    Every field is ``None`` where the report does not state it; nothing defaults to 0.
    ``bram18`` always counts 18K blocks (a 36K tile is 2, half a tile is 1).
    """

    file: str
    kind: str  # hls_csynth, hls_summary, vivado_utilization, vivado_timing, hls_export, finn_*
    top: str | None = None
    network_top: str | None = None  # the module holding the network (top, or the module a wrapper wraps)
    wrapper: bool = False  # this record is a wrapper top (hls4ml's <project>_axi around <project>)
    tool: str | None = None  # vivado_hls, vitis_hls, vivado, finn
    tool_version: str | None = None
    part: str | None = None
    target_clock_ns: float | None = None
    estimated_clock_ns: float | None = None
    latency_min_cycles: int | None = None
    latency_max_cycles: int | None = None
    ii_min_cycles: int | None = None
    ii_max_cycles: int | None = None
    lut: Number | None = None
    ff: Number | None = None
    dsp: Number | None = None
    bram18: float | None = None
    uram: Number | None = None
    wns_ns: float | None = None
    # --- extras ---
    module: str | None = None  # the module/layer this record describes
    level: str = "top"  # "top" or "module"
    stage: str | None = None  # hls, synth, opt, place, route, estimate, rtlsim
    achieved_clock_ns: float | None = None
    tns_ns: float | None = None
    clock_uncertainty_ns: float | None = None
    slack_ns: float | None = None  # HLS summary slack (an estimate, not a WNS)
    timing_met: bool | None = None
    latency_undef: bool = False  # the tool printed ?/undef for latency or II
    pipeline_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    notes: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)
