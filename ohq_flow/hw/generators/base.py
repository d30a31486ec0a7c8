"""The :class:`Generator` plug-in: what turns one layer candidate into a design a measurer costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Generator:
    """One generator: its name, what it produces and its entry point."""

    name: str
    output: str                          # "rtl" (Verilog sources + top) | "hls_project" (an HLS C++ project)
    generate: Callable[..., Any]         # the generator's entry point (see its module)
    version: Callable[[], str]           # version probe (its package), recorded with the designs it made
    needs_layer_onnx: bool = False       # it reads the extracted layer's ONNX (else the integer kernel matrix)
