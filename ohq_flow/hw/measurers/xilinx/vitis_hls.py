"""HLS C-synthesis measurer (Vitis HLS or Vivado HLS) of a layer's HLS project -> CostRow (hls_estimate).

Runs ``<tool> -f templates/vitis_hls/csynth.tcl`` in the project directory; the values (top,
part, clock, sources) reach the script only through ``ohq_csynth_params.tcl``. The result is
read from ``<project>_prj/<solution>/syn/report/<top>_csynth.xml`` with the report parsers.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from ohq_flow.errors import FlowError, InputError, ReportParseError
from ohq_flow.tables.costs import CostRow
from ohq_flow.hw.measurers.base import Measurer
from ohq_flow.hw.tools import run_tool

from ._common import TEMPLATES, VENDOR_TOOL_HINT, record_to_row, tool_argv, tool_path_version, write_tcl_params

TEMPLATE = TEMPLATES / "vitis_hls" / "csynth.tcl"
PARAMS_FILE = "ohq_csynth_params.tcl"


def _project_settings(project_dir: Path, top, part, clock_ns, sources) -> tuple[str, str, float, list[str]]:
    """Top, part, clock and sources: arguments first, else the hls4ml project's ohq_project.json."""
    meta = {}
    if (project_dir / "ohq_project.json").is_file():
        from ohq_flow.hw.generators.hls4ml_gen import read_project_meta
        meta = read_project_meta(project_dir)
    top = top or meta.get("top")
    part = part or meta.get("part")
    clock_ns = clock_ns if clock_ns is not None else meta.get("clock_ns")
    if sources is None and top:
        sources = [f"firmware/{top}.cpp"]
    missing = [n for n, v in (("top", top), ("part", part), ("clock_ns", clock_ns)) if not v]
    if missing:
        raise InputError(f"{project_dir}: HLS measurement needs {', '.join(missing)}",
                         "pass them, or generate the project with write_hls4ml_project (writes ohq_project.json)")
    for s in sources:
        if not (project_dir / s).is_file():
            raise InputError(f"{project_dir}: HLS source {s} not found")
    return str(top), str(part), float(clock_ns), [str(s) for s in sources]


def csynth_report_path(project_dir: Path, top: str, project: str, solution: str) -> Path:
    return project_dir / project / solution / "syn" / "report" / f"{top}_csynth.xml"


def measure_vitis_hls(project_dir: str | os.PathLike, *, tool: str = "vitis_hls", log_path: str | os.PathLike,
                      timeout_s: float, layer: str | None = None, w_bits: int = 0, a_bits: int = 0,
                      top: str | None = None, part: str | None = None, clock_ns: float | None = None,
                      sources: list[str] | None = None, cflags: str = "-std=c++0x",
                      clock_uncertainty: str | None = None, settings: str | os.PathLike | None = None) -> CostRow:
    """C-synthesise the project with ``tool`` (vitis_hls | vivado_hls) and return its cost row."""
    if tool not in ("vitis_hls", "vivado_hls"):
        raise InputError(f"HLS tool must be vitis_hls or vivado_hls, got {tool!r}")
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise InputError(f"HLS project directory {project_dir} does not exist")
    top, part, clock_ns, sources = _project_settings(project_dir, top, part, clock_ns, sources)
    argv = tool_argv(tool, settings)
    prj, sol = f"{top}_prj", "solution1"
    write_tcl_params(project_dir / PARAMS_FILE, "ohq", {
        "tool": tool, "project": prj, "solution": sol, "top": top, "part": part, "clock_ns": f"{clock_ns:g}",
        "sources": sources, "cflags": cflags, "clock_uncertainty": clock_uncertainty or ""})
    report = csynth_report_path(project_dir, top, prj, sol)
    report.unlink(missing_ok=True)  # never read a stale report
    res = run_tool(argv + ["-f", str(TEMPLATE)], log_path=log_path, timeout_s=timeout_s, cwd=project_dir)
    if not report.is_file():
        raise FlowError(f"{tool} finished but wrote no {report.relative_to(project_dir)}; log: {res.log_path}",
                        "C-synthesis failed; see the log's ERROR lines")
    from ohq_flow.hw.reports import parse_report
    try:
        recs = [r for r in parse_report(report) if r.kind == "hls_csynth"]
    except ReportParseError as exc:
        raise FlowError(f"{tool} report {report} is unreadable: {exc}; log: {res.log_path}") from None
    if not recs:
        raise FlowError(f"{report} holds no C-synthesis figures; log: {res.log_path}")
    rec = next((r for r in recs if r.level == "top"), recs[0])
    row = record_to_row(rec, layer=layer or project_dir.name, w_bits=w_bits, a_bits=a_bits, source=tool,
                        fidelity="hls_estimate", log_path=res.log_path)
    row.elapsed_s = res.elapsed_s
    return row


def measure_vivado_hls(project_dir: str | os.PathLike, **kw) -> CostRow:
    """:func:`measure_vitis_hls` with Vivado HLS."""
    return measure_vitis_hls(project_dir, tool="vivado_hls", **kw)


# ------------------------------------------------------------------ the vitis_hls / vivado_hls measurers
def _hls_job(ctx, tool: str) -> CostRow:
    """hls4ml project of the extracted layer, C-synthesised by Vitis/Vivado HLS."""
    from qonnx.core.modelwrapper import ModelWrapper
    import onnx
    from ohq_flow.hw.generators.hls4ml_gen import write_hls4ml_project
    from ohq_flow.hw.profile import LayerHW
    p = LayerHW.from_json(ctx.payload)
    layer_model = ModelWrapper(onnx.load_from_string(p.extra["layer_onnx"]))
    project = write_hls4ml_project(layer_model, ctx.workdir / "hls4ml", part=p.part, clock_ns=p.clock_ns,
                                   io_type=p.extra["io_type"], reuse_factor=p.extra["reuse_factor"])
    row = measure_vitis_hls(project, tool=tool, log_path=ctx.workdir / f"{tool}.log", timeout_s=ctx.remaining_s(),
                            layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits, part=p.part, clock_ns=p.clock_ns)
    return row


def run_vitis_hls(ctx) -> CostRow:
    return _hls_job(ctx, "vitis_hls")


def run_vivado_hls(ctx) -> CostRow:
    return _hls_job(ctx, "vivado_hls")


def _hls_measurer(tool: str, run) -> Measurer:
    return Measurer(name=tool, fidelity="hls_estimate", run=run, version=partial(tool_path_version, tool),
                    key_settings=("io_type", "reuse_factor"), key_templates=("vitis_hls/csynth.tcl",), tool=tool,
                    tool_hint=VENDOR_TOOL_HINT, generator="hls4ml")


VITIS_HLS = _hls_measurer("vitis_hls", run_vitis_hls)
VIVADO_HLS = _hls_measurer("vivado_hls", run_vivado_hls)
