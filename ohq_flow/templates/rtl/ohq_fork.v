// Broadcast one stream to two (a residual block's branches); registered, each output drains independently.
`timescale 1ns/1ps
module ohq_fork #(parameter W = 8) (
  input  wire         clk,
  input  wire         rst,
  input  wire [W-1:0] s_tdata,
  input  wire         s_tvalid,
  output wire         s_tready,
  output reg  [W-1:0] m0_tdata,
  output reg          m0_tvalid,
  input  wire         m0_tready,
  output reg  [W-1:0] m1_tdata,
  output reg          m1_tvalid,
  input  wire         m1_tready
);
  wire free0 = !m0_tvalid || m0_tready;
  wire free1 = !m1_tvalid || m1_tready;
  assign s_tready = !rst && free0 && free1;
  always @(posedge clk) begin
    if (rst) begin
      m0_tvalid <= 1'b0; m1_tvalid <= 1'b0;
    end else begin
      if (m0_tvalid && m0_tready) m0_tvalid <= 1'b0;
      if (m1_tvalid && m1_tready) m1_tvalid <= 1'b0;
      if (s_tvalid && s_tready) begin
        m0_tdata <= s_tdata; m0_tvalid <= 1'b1;
        m1_tdata <= s_tdata; m1_tvalid <= 1'b1;
      end
    end
  end
endmodule
