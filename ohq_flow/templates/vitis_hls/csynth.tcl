# ohq_flow: C-synthesis of one HLS project (Vitis HLS / Vivado HLS), run by
# ohq_flow.hw.measurers.xilinx.vitis_hls with the project directory as working directory.
# Every value comes from ohq_csynth_params.tcl, written next to the sources by ohq_flow
# (brace-quoted Tcl values; nothing is substituted into this script).
source [file join [pwd] ohq_csynth_params.tcl]

open_project -reset $ohq_project
set_top $ohq_top
foreach src $ohq_sources {
    add_files $src -cflags $ohq_cflags
}
if {$ohq_tool eq "vitis_hls"} {
    open_solution -reset $ohq_solution -flow_target vivado
} else {
    open_solution -reset $ohq_solution
}
set_part $ohq_part
create_clock -period $ohq_clock_ns -name default
if {$ohq_clock_uncertainty ne ""} {
    set_clock_uncertainty $ohq_clock_uncertainty
}
csynth_design
exit
