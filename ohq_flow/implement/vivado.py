"""AMD/Xilinx implementation: a non-project Vivado run of the board top (templates/vivado/impl.tcl)
with an XDC generated from the board file. Where Vivado is not installed the scripts are written
and impl.json says how to run them (status ``scripted``); never a number without a Vivado run.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Callable

from ohq_flow.boards import Board
from ohq_flow.errors import FlowError, InputError
from ohq_flow.fileio import atomic_write_json, atomic_write_text
from ohq_flow.hw.measurers.xilinx._common import TEMPLATES, parse_vivado_report, tool_argv, write_tcl_params
from ohq_flow.hw.tools import run_tool

from .design import DesignSpec
from .record import IMPL_JSON, format_impl, impl_record
from .shell import BOARD_TOP, clks_per_bit, shell_params, shell_sources

TCL = TEMPLATES / "vivado" / "impl.tcl"
XDC = TEMPLATES / "vivado" / "board.xdc"
READ_SOURCES = TEMPLATES / "vivado" / "read_sources.tcl"
PARAMS_FILE = "ohq_impl_params.tcl"
UTIL_RPT, TIMING_RPT = "ohq_utilization_routed.rpt", "ohq_timing_summary_routed.rpt"


def write_xdc(board: Board, path: Path) -> Path:
    if board.pins is None:
        raise InputError(f"board file {board.file or board.name} has no 'pins:' section (clock, uart_tx, uart_rx)",
                         "add the oscillator and UART pins (see boards/arty-a7-100t.yaml) to implement on this board")
    p = board.pins
    return atomic_write_text(path, string.Template(XDC.read_text()).substitute(
        board=board.name, clk_site=p.clock.site, clk_period_ns=f"{1000.0 / p.clock.mhz:.3f}", tx_site=p.uart_tx.site,
        rx_site=p.uart_rx.site, io_type=p.io_type))


def implement_vivado(spec: DesignSpec, sources: list[Path], include_dirs: list[Path], board: Board, out_dir: Path, *,
                     run_dir: Path, timeout_s: float, baud: int, settings: str | None = None,
                     echo: Callable[[str], None] = print) -> dict:
    """Write the Vivado scripts under ``out_dir/vivado`` and run them where Vivado is installed.

    The network runs on the board oscillator (no MMCM); impl.json follows the ECP5 one with
    LUT/FF/DSP/BRAM18 and the routed timing from the existing report parsers.
    """
    work = (out_dir / "vivado").resolve()
    work.mkdir(parents=True, exist_ok=True)
    xdc = write_xdc(board, work / "board.xdc")
    clock_mhz = float(board.pins.clock.mhz)
    files = shell_sources(spec, sources, work)
    params = {**shell_params(spec, clks_per_bit(clock_mhz, baud)), "USE_PLL": 0}
    bit, util, timing = work / f"{spec.top}.bit", work / UTIL_RPT, work / TIMING_RPT
    for f in (bit, util, timing):
        f.unlink(missing_ok=True)  # never read a stale report
    write_tcl_params(work / PARAMS_FILE, "ohq", {
        "sources": [str(f) for f in files], "include_dirs": [str(d) for d in include_dirs], "top": BOARD_TOP,
        "part": board.part, "xdc": str(xdc), "generics": [x for k, v in params.items() for x in (k, int(v))],
        "util_rpt": str(util), "timing_rpt": str(timing), "bitstream": str(bit)})
    tcl = atomic_write_text(work / "impl.tcl", TCL.read_text())
    atomic_write_text(work / READ_SOURCES.name, READ_SOURCES.read_text())
    command = ["vivado", "-mode", "batch", "-nojournal", "-notrace", "-source", tcl.name]
    base = {"tool": "vivado", "device": board.part, "board": board.name, "target_mhz": clock_mhz, "clock_source": "oscillator",
            "script": str(tcl.relative_to(run_dir.resolve())) if tcl.is_relative_to(run_dir.resolve()) else str(tcl)}
    try:
        argv = tool_argv("vivado", settings)
    except InputError as exc:
        msg = (f"Vivado is not installed here; the implementation script is ready: cd {work} && {' '.join(command)}")
        echo(f"implement: {msg}")
        rec = {**base, "status": "scripted", "message": msg, "reason": exc.message, "command": command, "bitstream": None}
        atomic_write_json(run_dir / IMPL_JSON, rec)
        return rec
    echo(f"[implement] vivado: synth_design/place/route/write_bitstream for {board.part} (timeout {timeout_s:g} s) ...")
    res = run_tool(argv + command[1:], log_path=work / "vivado.log", timeout_s=timeout_s, cwd=work)
    u = parse_vivado_report(util, "vivado_utilization", res.log_path)
    t = parse_vivado_report(timing, "vivado_timing", res.log_path)
    if not bit.is_file():
        raise FlowError(f"vivado wrote no bitstream {bit}; log: {res.log_path}")
    period = 1000.0 / clock_mhz
    achieved = period - t.wns_ns if t.wns_ns is not None else None
    result = {**base, "tool_version": u.tool_version or t.tool_version, "fmax_mhz": round(1000.0 / achieved, 3) if achieved else None,
              "timing_met": t.wns_ns is not None and t.wns_ns >= 0, "wns_ns": t.wns_ns, "lut": u.lut, "ff": u.ff,
              "dsp": u.dsp, "bram18": u.bram18, "seconds": {"vivado": round(res.elapsed_s, 2)},
              "reports": [str(util), str(timing)]}
    rec = impl_record(result, spec, run_dir, bit)
    rec["status"] = "ok" if rec["timing_met"] else "timing_not_met"
    atomic_write_json(run_dir / IMPL_JSON, rec)
    echo(format_impl(rec, board))
    return rec
