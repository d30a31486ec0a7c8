// Elementwise sum of two integer streams on one scale (a residual Add), C elements, registered.
`timescale 1ns/1ps
module ohq_add #(parameter C = 1, parameter AW = 8, parameter BW = 8, parameter OW = 9,
                 parameter SA = 1, parameter SB = 1) (
  input  wire            clk,
  input  wire            rst,
  input  wire [C*AW-1:0] a_tdata,
  input  wire            a_tvalid,
  output wire            a_tready,
  input  wire [C*BW-1:0] b_tdata,
  input  wire            b_tvalid,
  output wire            b_tready,
  output reg  [C*OW-1:0] m_tdata,
  output reg             m_tvalid,
  input  wire            m_tready
);
  wire fire = a_tvalid && b_tvalid && (!m_tvalid || m_tready);
  assign a_tready = fire;
  assign b_tready = fire;
  wire [C*OW-1:0] sum;
  genvar c;
  generate
    for (c = 0; c < C; c = c + 1) begin : g_c
      wire [AW-1:0] a = a_tdata[c * AW +: AW];
      wire [BW-1:0] b = b_tdata[c * BW +: BW];
      wire signed [OW-1:0] ax = SA ? {{(OW-AW){a[AW-1]}}, a} : {{(OW-AW){1'b0}}, a};
      wire signed [OW-1:0] bx = SB ? {{(OW-BW){b[BW-1]}}, b} : {{(OW-BW){1'b0}}, b};
      assign sum[c * OW +: OW] = ax + bx;
    end
  endgenerate
  always @(posedge clk) begin
    if (rst) m_tvalid <= 1'b0;
    else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      if (fire) begin
        m_tdata <= sum; m_tvalid <= 1'b1;
      end
    end
  end
endmodule
