"""The board I/O shell: UART + framed protocol around the network top (templates/rtl/*.v)."""

from __future__ import annotations

import string
from pathlib import Path

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_text

from .design import DesignSpec
from ohq_flow.resources import TEMPLATES

RTL = TEMPLATES / "rtl"
SHELL_FILES = ("ohq_uart_rx.v", "ohq_uart_tx.v", "ohq_uart_shell.v")
BOARD_TOP = "ohq_board_top"
CORE = "ohq_board_core"


def clks_per_bit(clock_mhz: float, baud: int) -> int:
    """Clock cycles per UART bit; InputError when the baud rate cannot be made within 2 %."""
    n = round(clock_mhz * 1e6 / baud)
    if n < 4 or abs(clock_mhz * 1e6 / n - baud) / baud > 0.02:
        raise InputError(f"a {baud} baud UART cannot run from a {clock_mhz:g} MHz clock within 2 %",
                         "choose another implement.baud or implement.target_mhz")
    return n


def write_core(spec: DesignSpec, work: Path) -> Path:
    """``ohq_board_core.v`` with the network's module name filled in."""
    text = string.Template((RTL / f"{CORE}.v").read_text()).substitute(top=spec.top)
    return atomic_write_text(work / f"{CORE}.v", text)


def shell_sources(spec: DesignSpec, network_sources: list[Path], work: Path, *, board_top: bool = True) -> list[Path]:
    """Network sources, the shell modules, the core (and the board top), in compile order."""
    files = list(network_sources) + [RTL / f for f in SHELL_FILES] + [write_core(spec, work)]
    return files + ([RTL / f"{BOARD_TOP}.v"] if board_top else [])


def shell_params(spec: DesignSpec, cpb: int) -> dict[str, int]:
    return {"IN_W": spec.in_width, "IN_BEATS": spec.in_beats, "OUT_W": spec.out_width,
            "OUT_BEATS": spec.out_beats, "CLKS_PER_BIT": cpb}


def template_files() -> list[Path]:
    """Every shell template (their content is part of the implementation cache key)."""
    return [RTL / f for f in SHELL_FILES] + [RTL / f"{CORE}.v", RTL / f"{BOARD_TOP}.v"]
