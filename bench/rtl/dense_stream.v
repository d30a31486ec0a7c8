// bench: a da4ml dense kernel (${kernel}) behind the streaming-top contract, one frame in flight.
// A frame is one beat; the input is registered, the output is taken LAT + 1 cycles later.
`default_nettype none
module ohq_top #(parameter integer IN_W = 8, parameter integer OUT_W = 8, parameter integer LAT = 0) (
    input  wire             clk,
    input  wire             rst,
    input  wire [IN_W-1:0]  s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [OUT_W-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready,
    output wire             m_axis_tlast
);
    reg [IN_W-1:0] x;
    reg [OUT_W-1:0] q;
    reg busy, qv;
    reg [7:0] cnt;
    wire [OUT_W-1:0] y;
    ${kernel} u_kernel (.clk(clk), .model_inp(x), .model_out(y));
    assign s_axis_tready = !busy && !qv;
    assign m_axis_tdata = q;
    assign m_axis_tvalid = qv;
    assign m_axis_tlast = 1'b1;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; qv <= 1'b0; cnt <= 8'd0;
        end else begin
            if (qv && m_axis_tready) qv <= 1'b0;
            if (s_axis_tvalid && s_axis_tready) begin
                x <= s_axis_tdata; busy <= 1'b1; cnt <= 8'd0;
            end else if (busy) begin
                if (cnt == LAT) begin
                    q <= y; qv <= 1'b1; busy <= 1'b0;
                end
                cnt <= cnt + 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
