"""Out-of-context place and route of one layer kernel on an ECP5 device (no shell, no I/O pads).

``ooc_ecp5`` runs Yosys ``synth_ecp5`` and ``nextpnr-ecp5 --out-of-context`` (no I/O buffers, no
global clock network) on any RTL; ``ooc_layer`` first generates the da4ml kernel of a layer
candidate (the same RTL the Yosys measurer synthesises). The record has the post-route LUT4 /
FF / MULT18X18D / DP16KD counts and the post-route Fmax of the kernel's clock, plus the
synthesis-only counts for comparison. No cache here: a measurer built on it caches its rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ohq_flow.boards import Board
from ohq_flow.errors import FlowError
from ohq_flow.hw.rtl.yosys import find_yosys, yosys_version

from ._run import run_streaming
from .ecp5 import NEXTPNR, Ecp5Settings, child_cpu, comb_cells, find_yowasp, pnr_argv, require_device, synthesise, tool_version


def ooc_ecp5(sources: list[Path], top: str, board: Board, work_dir: Path, *, target_mhz: float = 100.0,
             settings: Ecp5Settings = Ecp5Settings()) -> dict:
    """Synthesise and place and route ``top`` out of context on ``board``'s ECP5 device."""
    require_device(board)
    return ooc_device(sources, top, board.ecp5.nextpnr_args(), board.part, work_dir, target_mhz=target_mhz,
                      settings=settings)


def ooc_device(sources: list[Path], top: str, device_args: list[str], part: str, work_dir: Path, *,
               target_mhz: float = 100.0, settings: Ecp5Settings = Ecp5Settings()) -> dict:
    """:func:`ooc_ecp5` for nextpnr-ecp5 device flags (``device_args``, e.g. ``--85k --package CABGA381``);
    ``settings.timeout_s`` bounds synthesis and place and route together."""
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    yosys, nextpnr = find_yosys(), find_yowasp(NEXTPNR)
    cpu = [child_cpu()]
    syn, netlist, cells = synthesise(yosys, [Path(s) for s in sources], top, work, timeout_s=settings.timeout_s)
    cpu.append(child_cpu())
    (work / "nextpnr_report.json").unlink(missing_ok=True)   # never read the report of an earlier run
    argv = pnr_argv(nextpnr, device_args, netlist.name, target_mhz, settings, ["--out-of-context"])
    code, pnr_s, tail = run_streaming(argv, log_path=work / "nextpnr.log", cwd=work,
                                      timeout_s=max(1.0, settings.timeout_s - syn.elapsed_s))
    cpu.append(child_cpu())
    if code != 0 or not (work / "nextpnr_report.json").is_file():
        errors = [line for line in tail.splitlines() if "ERROR" in line] or tail.splitlines()[-3:]
        raise FlowError(f"nextpnr-ecp5 --out-of-context failed (exit {code}) for {top} on {part}: "
                        f"{' | '.join(errors)}; log: {work / 'nextpnr.log'}")
    from ohq_flow.hw.reports.detect import parse_report
    rec = parse_report(work / "nextpnr_report.json")[0]
    fmax = round(1000.0 / rec.achieved_clock_ns, 3) if rec.achieved_clock_ns else None
    return {"tool": "nextpnr-ecp5", "device": part, "top": top, "out_of_context": True,
            "versions": {"yosys": yosys_version(yosys), "nextpnr": tool_version(nextpnr)},
            "lut4": rec.lut, "ff": rec.ff, "mult18": rec.dsp, "dp16kd": int(rec.bram18 or 0),
            "fmax_mhz": fmax, "target_mhz": target_mhz, "timing_met": rec.timing_met,
            "critical_path": (rec.extra.get("critical_paths") or [None])[0],
            "synth": {"lut4": comb_cells(cells), "ff": cells.get("TRELLIS_FF", 0), "mult18": cells.get("MULT18X18D", 0),
                      "dp16kd": cells.get("DP16KD", 0)},
            "seconds": {"synth": round(syn.elapsed_s, 2), "pnr": round(pnr_s, 2)},
            "cpu_seconds": dict(zip(("synth", "pnr"), (round(b - a, 2) for a, b in zip(cpu, cpu[1:])))),
            "log": str(work / "nextpnr.log"), "report": str(work / "nextpnr_report.json")}


def ooc_layer(w_int: np.ndarray, *, w_bits: int, a_bits: int, a_signed: bool, board: Board, work_dir: Path,
              latency_cutoff: float | None = 5.0, clock_ns: float | None = None, target_mhz: float = 100.0,
              settings: Ecp5Settings = Ecp5Settings()) -> dict:
    """The da4ml kernel of ``y = x @ w_int`` (one layer candidate), placed and routed out of context.

    The kernel is generated as the Yosys measurer generates it (``latency_cutoff``, ``clock_ns``: the
    flow's clock; default the P&R target), so the two measure the same RTL (``sources``, ``top``).
    """
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    work = Path(work_dir)
    d = generate_cmvm_rtl(w_int, w_bits=w_bits, a_bits=a_bits, a_signed=a_signed, out_dir=work / "kernel", top="layer",
                          latency_cutoff=latency_cutoff, part=board.part, clock_ns=clock_ns or 1000.0 / target_mhz)
    res = ooc_ecp5(d.sources, f"{d.top}_wrapper", board, work / "ooc", target_mhz=target_mhz, settings=settings)
    return {**res, "w_bits": w_bits, "a_bits": a_bits, "kernel_stages": d.stages, "da4ml_cost": d.da4ml_cost,
            "sources": [str(x) for x in d.sources]}
