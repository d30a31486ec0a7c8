"""Cost measurers beyond Yosys: ``analytic`` (FINN-style), ``vendor`` (Vitis/Vivado HLS, Vivado OOC), ``board``."""
