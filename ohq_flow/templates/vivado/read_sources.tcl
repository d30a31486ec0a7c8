# ohq_flow: read HDL sources by their extension (sourced by the Vivado templates beside it).
proc ohq_read_sources {sources} {
    foreach src $sources {
        if {[string match -nocase *.sv $src]} {
            read_verilog -sv $src
        } elseif {[string match -nocase *.vhd* $src]} {
            read_vhdl $src
        } else {
            read_verilog $src
        }
    }
}
