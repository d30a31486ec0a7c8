// Flow control around a free-running pipelined kernel (da4ml: no clock enable, LAT cycles).
// An input is admitted only when the output FIFO has room for everything in flight, so the
// kernel never has to stall. Kernel output for an input admitted in cycle t is pushed at t+LAT.
`timescale 1ns/1ps
module ohq_kernel_ctrl #(parameter OUT_W = 8, parameter LAT = 0, parameter DEPTH = LAT + 2, parameter CW = 8) (
  input  wire             clk,
  input  wire             rst,
  input  wire             s_tvalid,
  output wire             s_tready,
  input  wire [OUT_W-1:0] k_out,
  output wire [OUT_W-1:0] m_tdata,
  output wire             m_tvalid,
  input  wire             m_tready
);
  wire [CW-1:0] fifo_count;
  wire accept = s_tvalid && s_tready;
  wire exit_valid;
  reg [CW-1:0] inflight;
  generate
    if (LAT == 0) begin : g_comb
      assign exit_valid = accept;
      always @(posedge clk) inflight <= 0;
    end else begin : g_pipe
      reg [LAT-1:0] vsr;
      assign exit_valid = vsr[LAT-1];
      always @(posedge clk) begin
        if (rst) begin
          vsr <= 0; inflight <= 0;
        end else begin
          vsr <= (vsr << 1) | {{(LAT-1){1'b0}}, accept};
          inflight <= inflight + (accept ? 1 : 0) - (exit_valid ? 1 : 0);
        end
      end
    end
  endgenerate
  assign s_tready = !rst && (inflight + fifo_count < DEPTH);
  wire unused_ready;
  ohq_fifo #(.W(OUT_W), .DEPTH(DEPTH), .CW(CW)) u_fifo (
    .clk(clk), .rst(rst), .s_tdata(k_out), .s_tvalid(exit_valid), .s_tready(unused_ready),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready), .count(fifo_count));
endmodule
