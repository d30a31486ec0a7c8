"""The board shell + network simulated by Verilator behind a pseudo-terminal (no board needed).

``start_uart_sim`` builds (once per content) and starts the simulation; the host driver then talks
to the printed pty path exactly as to a USB-UART.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ohq_flow.errors import FlowError, InputError
from ohq_flow.fileio import sha256_file, sha256_json
from ohq_flow.hw.tools import run_tool

from .design import DesignSpec
from .shell import CORE, shell_params, shell_sources
from ohq_flow.resources import TEMPLATES

HARNESS = TEMPLATES / "verilator" / "uart_pty_bridge.cpp"


def build_uart_sim(spec: DesignSpec, sources: list[Path], include_dirs: list[Path], work: Path, *, clks_per_bit: int = 16,
                   throttle: bool = True, timeout_s: float = 600.0) -> Path:
    """Compile shell + network + pty harness with Verilator; returns the executable (reused when unchanged)."""
    verilator = shutil.which("verilator")
    if verilator is None:
        raise InputError("verilator is not installed", "apt-get install verilator (scripts/install_system_deps.sh)")
    work.mkdir(parents=True, exist_ok=True)
    files = shell_sources(spec, sources, work, board_top=False)
    params = {**shell_params(spec, clks_per_bit), "THROTTLE": int(throttle)}
    key = sha256_json({"files": [sha256_file(f) for f in files + [HARNESS]], "params": params})[:16]
    exe = work / f"obj_{key}" / "Vohq_board_core"
    if exe.is_file():
        return exe
    argv = [verilator, "--cc", "--exe", "--build", "-j", "1", "-O1", "--top-module", CORE, "-Wno-fatal", "-Wno-lint",
            "-Wno-style", "--Mdir", str(exe.parent), *[f"-G{k}={int(v)}" for k, v in params.items()],
            *[f"-I{d}" for d in include_dirs], "-CFLAGS", f"-DOHQ_CPB={clks_per_bit}",
            "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",      # a few thousand cycles per frame: compile fast
            *map(str, files), str(HARNESS)]
    run_tool(argv, log_path=work / "verilator.log", timeout_s=timeout_s, cwd=work)
    if not exe.is_file():
        raise FlowError(f"verilator built no {exe}; log: {work / 'verilator.log'}")
    return exe


def start_uart_sim(exe: Path) -> tuple[subprocess.Popen, str]:
    """Start the simulation; returns (process, pty path). Stop it with ``proc.terminate()``."""
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("PTY "):
        proc.kill()
        raise FlowError(f"the UART simulation did not start: {line or 'no output'}")
    return proc, line[4:]
