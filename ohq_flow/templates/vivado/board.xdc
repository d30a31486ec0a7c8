# ohq_flow: pins and clock of the I/O shell on ${board} (generated from templates/vivado/board.xdc and the board file)
set_property -dict {PACKAGE_PIN ${clk_site} IOSTANDARD ${io_type}} [get_ports clk_osc]
create_clock -name clk_osc -period ${clk_period_ns} [get_ports clk_osc]
set_property -dict {PACKAGE_PIN ${tx_site} IOSTANDARD ${io_type}} [get_ports uart_tx]
set_property -dict {PACKAGE_PIN ${rx_site} IOSTANDARD ${io_type}} [get_ports uart_rx]
set_false_path -from [get_ports uart_rx]
set_false_path -to [get_ports uart_tx]
