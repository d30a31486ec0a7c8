"""Vivado out-of-context synthesis measurer of RTL sources -> CostRow (post_synth).

Runs ``vivado -mode batch -source templates/vivado/ooc_synth.tcl`` in ``work_dir``; values reach
the script only through ``ohq_ooc_params.tcl``. Utilisation and timing come from the
``report_utilization`` / ``report_timing_summary`` files via the report parsers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ohq_flow.errors import InputError
from ohq_flow.tables.costs import CostRow
from ohq_flow.hw.measurers.base import Measurer
from ohq_flow.hw.tools import run_tool

from ._common import (TEMPLATES, VENDOR_TOOL_HINT, check_files, parse_vivado_report, record_to_row, tool_argv,
                      tool_path_version, write_tcl_params)

TEMPLATE = TEMPLATES / "vivado" / "ooc_synth.tcl"
PARAMS_FILE = "ohq_ooc_params.tcl"
UTIL_RPT = "ohq_utilization_synth.rpt"
TIMING_RPT = "ohq_timing_summary_synth.rpt"


def measure_vivado_ooc(rtl_files: Sequence[str | os.PathLike], top: str, part: str, clock_ns: float,
                       log_path: str | os.PathLike, timeout_s: float, *, work_dir: str | os.PathLike | None = None,
                       layer: str | None = None, w_bits: int = 0, a_bits: int = 0, clock_port: str = "clk",
                       latency_cycles: float | None = None, ii_cycles: float | None = None,
                       settings: str | os.PathLike | None = None) -> CostRow:
    """Synthesise ``rtl_files`` out of context and return utilisation + timing as a CostRow.

    ``latency_cycles``/``ii_cycles`` come from the generator (synthesis does not know them).
    Without a ``clock_port`` in the design, input-to-output paths are timed against a virtual clock.
    """
    if not rtl_files:
        raise InputError("measure_vivado_ooc needs at least one RTL file")
    files = check_files(rtl_files, "Vivado OOC synthesis")
    if clock_ns is None or clock_ns <= 0:
        raise InputError(f"clock_ns must be > 0, got {clock_ns}")
    argv = tool_argv("vivado", settings)
    work = Path(work_dir).resolve() if work_dir else Path(log_path).resolve().parent / f"{top}_vivado_ooc"
    work.mkdir(parents=True, exist_ok=True)
    util, timing = work / UTIL_RPT, work / TIMING_RPT
    for f in (util, timing):
        f.unlink(missing_ok=True)  # never read a stale report
    write_tcl_params(work / PARAMS_FILE, "ohq", {
        "sources": [str(f) for f in files], "top": top, "part": part, "clock_ns": f"{float(clock_ns):g}",
        "clock_port": clock_port, "util_rpt": str(util), "timing_rpt": str(timing)})
    res = run_tool(argv + ["-mode", "batch", "-nojournal", "-notrace", "-source", str(TEMPLATE)],
                   log_path=log_path, timeout_s=timeout_s, cwd=work)
    u = parse_vivado_report(util, "vivado_utilization", res.log_path)
    t = parse_vivado_report(timing, "vivado_timing", res.log_path)
    row = record_to_row(u, layer=layer or top, w_bits=w_bits, a_bits=a_bits, source="vivado", fidelity="post_synth",
                        log_path=res.log_path, clock_ns=float(clock_ns), wns_ns=t.wns_ns)
    row.part = row.part or part
    row.latency_cycles = latency_cycles
    row.ii_cycles = ii_cycles
    row.latency_ns = latency_cycles * row.clock_ns if latency_cycles is not None else None
    row.elapsed_s = res.elapsed_s
    return row


# ---------------------------------------------------------------------------- the vivado measurer
def run(ctx) -> CostRow:
    """da4ml RTL of the layer kernel, Vivado out-of-context synthesis (utilisation + timing)."""
    from ohq_flow.hw.generators.da4ml import generate_cmvm_rtl
    from ohq_flow.hw.profile import LayerHW, streaming
    p = LayerHW.from_json(ctx.payload)
    design = generate_cmvm_rtl(p.w_int, w_bits=p.w_bits, a_bits=p.a_bits, a_signed=p.a_signed, out_dir=ctx.workdir / "rtl",
                               latency_cutoff=p.latency_cutoff, part=p.part, clock_ns=p.clock_ns)
    srcs = [s for s in design.sources if not s.name.endswith("_wrapper.v")]
    row = measure_vivado_ooc(srcs, design.top, p.part, p.clock_ns, ctx.workdir / "vivado.log", ctx.remaining_s(),
                             work_dir=ctx.workdir / "vivado", layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits,
                             latency_cycles=float(design.latency_cycles), ii_cycles=1.0)
    return streaming(row, p.pixels)


def _version() -> str:
    return tool_path_version("vivado")


MEASURER = Measurer(name="vivado", fidelity="post_synth", run=run, version=_version, key_settings=("latency_cutoff",),
                    key_templates=("vivado/ooc_synth.tcl",), tool="vivado", tool_hint=VENDOR_TOOL_HINT, generator="da4ml")
