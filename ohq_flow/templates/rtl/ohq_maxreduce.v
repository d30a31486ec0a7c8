// Reduction over the K window elements of each of C channels (window ordered (channel, k)), registered:
// OP 0 = max (MaxPool), OP 1 = sum (AveragePool; the division is folded into the next requantiser).
// Elements are EW bits (two's complement if SIGNED), results OW bits (OW = EW for max). Output register: ohq_out_reg (ohq_common.v).
`timescale 1ns/1ps
module ohq_maxreduce #(parameter C = 1, parameter K = 4, parameter EW = 8, parameter SIGNED = 0,
                       parameter OP = 0, parameter OW = EW) (
  input  wire              clk,
  input  wire              rst,
  input  wire [C*K*EW-1:0] s_tdata,
  input  wire              s_tvalid,
  output wire              s_tready,
  output wire [C*OW-1:0]   m_tdata,
  output wire              m_tvalid,
  input  wire              m_tready
);
  wire [C*OW-1:0] red;
  genvar c, k;
  generate
    for (c = 0; c < C; c = c + 1) begin : g_c
      wire [OW-1:0] acc [0:K-1] /* verilator split_var */;
      wire [EW-1:0] e0 = s_tdata[c * K * EW +: EW];
      wire signed [OW-1:0] v0 = SIGNED ? $signed(e0) : $signed({1'b0, e0});
      assign acc[0] = v0;
      for (k = 1; k < K; k = k + 1) begin : g_k
        wire [EW-1:0] e = s_tdata[(c * K + k) * EW +: EW];
        wire signed [OW-1:0] v = SIGNED ? $signed(e) : $signed({1'b0, e});
        wire gt = SIGNED ? ($signed(v) > $signed(acc[k-1])) : (v > acc[k-1]);
        assign acc[k] = OP ? acc[k-1] + v : (gt ? v : acc[k-1]);
      end
      assign red[c * OW +: OW] = acc[K-1];
    end
  endgenerate
  ohq_out_reg #(.W(C * OW)) u_out (.clk(clk), .rst(rst), .d(red), .s_tvalid(s_tvalid), .s_tready(s_tready),
                                   .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
