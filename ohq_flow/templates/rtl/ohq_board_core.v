// ohq_flow: the network ${top} behind the UART shell (generated from templates/rtl/ohq_board_core.v;
// only the network's module name is filled in, everything else is a parameter).
`default_nettype none
module ohq_board_core #(
    parameter integer IN_W = 8,
    parameter integer IN_BEATS = 1,
    parameter integer OUT_W = 8,
    parameter integer OUT_BEATS = 1,
    parameter integer CLKS_PER_BIT = 217,
    parameter integer THROTTLE = 0
) (
    input  wire clk,
    input  wire rst,
    input  wire uart_rx,
    output wire uart_tx
);
    wire [IN_W-1:0]  in_tdata;
    wire             in_tvalid, in_tready;
    wire [OUT_W-1:0] out_tdata;
    wire             out_tvalid, out_tready, out_tlast;
    ohq_uart_shell #(.IN_W(IN_W), .IN_BEATS(IN_BEATS), .OUT_W(OUT_W), .OUT_BEATS(OUT_BEATS),
                     .CLKS_PER_BIT(CLKS_PER_BIT), .THROTTLE(THROTTLE)) u_shell (
        .clk(clk), .rst(rst), .uart_rx(uart_rx), .uart_tx(uart_tx),
        .n_in_tdata(in_tdata), .n_in_tvalid(in_tvalid), .n_in_tready(in_tready),
        .n_out_tdata(out_tdata), .n_out_tvalid(out_tvalid), .n_out_tready(out_tready), .n_out_tlast(out_tlast));
    ${top} u_net (
        .clk(clk), .rst(rst),
        .s_axis_tdata(in_tdata), .s_axis_tvalid(in_tvalid), .s_axis_tready(in_tready),
        .m_axis_tdata(out_tdata), .m_axis_tvalid(out_tvalid), .m_axis_tready(out_tready), .m_axis_tlast(out_tlast));
endmodule
`default_nettype wire
