"""The ``da4ml`` generator: Verilog of a layer kernel's constant matrix-vector product
(implementation: :mod:`ohq_flow.hw.rtl.cmvm`, shared with the complete-design generator)."""

from __future__ import annotations

from ohq_flow.hw.generators.base import Generator
from ohq_flow.hw.rtl.cmvm import RtlDesign, generate_cmvm_rtl


def _version() -> str:
    import importlib.metadata as md
    return md.version("da4ml")


GENERATOR = Generator(name="da4ml", output="rtl", generate=generate_cmvm_rtl, version=_version)

__all__ = ["GENERATOR", "RtlDesign", "generate_cmvm_rtl"]
