"""The complete accelerator: the whole network as streaming RTL, verified bit-exact end to end."""

from ohq_flow.design.graph import build_ir, check_supported
from ohq_flow.design.rtl import Design, generate_design

__all__ = ["Design", "build_ir", "check_supported", "generate_design"]
