"""Measurer plug-ins: each costs one layer candidate (see :class:`~ohq_flow.hw.measurers.base.Measurer`).

Adding one is one file (``<name>.py`` defining ``MEASURER``) plus its line in :data:`REGISTRY`;
the config's ``hardware.rules[].measurer`` accepts exactly these names (docs/architecture.md).
"""

from __future__ import annotations

from ohq_flow.registry import load

# name -> "module[:attribute]" (attribute default: MEASURER); imported only when used
REGISTRY = {
    "yosys": "ohq_flow.hw.measurers.yosys",
    "da4ml_estimate": "ohq_flow.hw.measurers.da4ml_estimate",
    "analytic": "ohq_flow.hw.measurers.analytic.measurer",
    "nextpnr": "ohq_flow.hw.measurers.nextpnr",
    "vitis_hls": "ohq_flow.hw.measurers.xilinx.vitis_hls:VITIS_HLS",
    "vivado_hls": "ohq_flow.hw.measurers.xilinx.vitis_hls:VIVADO_HLS",
    "vivado": "ohq_flow.hw.measurers.xilinx.vivado",
    "board": "ohq_flow.hw.measurers.board.command",
}
NAMES = tuple(REGISTRY)


def get(name: str):
    """The :class:`~ohq_flow.hw.measurers.base.Measurer` registered as ``name``."""
    m = load(REGISTRY, name, "measurer", "MEASURER")
    if m.name != name:
        raise RuntimeError(f"{REGISTRY[name]} registers {m.name!r}, not {name!r}")
    return m
