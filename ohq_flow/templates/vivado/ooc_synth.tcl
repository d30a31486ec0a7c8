# ohq_flow: out-of-context synthesis of one RTL design with Vivado, run by
# ohq_flow.hw.measurers.xilinx.vivado with the work directory as working directory.
# Every value comes from ohq_ooc_params.tcl (brace-quoted Tcl values written by ohq_flow).
source [file join [pwd] ohq_ooc_params.tcl]

source [file join [file dirname [info script]] read_sources.tcl]
ohq_read_sources $ohq_sources
synth_design -top $ohq_top -part $ohq_part -mode out_of_context
if {[llength [get_ports -quiet $ohq_clock_port]]} {
    create_clock -period $ohq_clock_ns -name ohq_clk [get_ports $ohq_clock_port]
} else {
    # combinational design: time input-to-output paths against a virtual clock
    create_clock -period $ohq_clock_ns -name ohq_vclk
    set_input_delay 0 -clock ohq_vclk [all_inputs]
    set_output_delay 0 -clock ohq_vclk [all_outputs]
}
report_utilization -file $ohq_util_rpt
report_timing_summary -file $ohq_timing_rpt
exit
