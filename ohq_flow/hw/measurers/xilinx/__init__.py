"""Vendor-tool measurers: HLS C-synthesis (Vitis HLS / Vivado HLS) and Vivado out-of-context synthesis."""

from ._common import record_to_row, tool_argv
from .vitis_hls import measure_vitis_hls, measure_vivado_hls
from .vivado import measure_vivado_ooc

__all__ = ["measure_vitis_hls", "measure_vivado_hls", "measure_vivado_ooc", "record_to_row", "tool_argv"]
