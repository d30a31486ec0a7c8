# ohq_flow: non-project Vivado implementation of the complete design (board top + UART shell +
# network) -> bitstream, run by ohq_flow.implement.vivado with the work directory as working
# directory. Every value comes from ohq_impl_params.tcl (brace-quoted Tcl values written by ohq_flow).
source [file join [pwd] ohq_impl_params.tcl]

source [file join [file dirname [info script]] read_sources.tcl]
ohq_read_sources $ohq_sources
read_xdc $ohq_xdc
set generics {}
foreach {name value} $ohq_generics {
    lappend generics -generic "$name=$value"
}
set include_args {}
if {[llength $ohq_include_dirs]} {
    set include_args [list -include_dirs $ohq_include_dirs]
}
synth_design -top $ohq_top -part $ohq_part {*}$include_args {*}$generics
opt_design
place_design
phys_opt_design
route_design
report_utilization -file $ohq_util_rpt
report_timing_summary -file $ohq_timing_rpt
write_bitstream -force $ohq_bitstream
exit
