"""From the complete design to a bitstream: the board I/O shell (UART), ECP5 (Yosys ->
nextpnr-ecp5 -> ecppack) and Xilinx (Vivado Tcl) implementation, and the host-side driver."""
