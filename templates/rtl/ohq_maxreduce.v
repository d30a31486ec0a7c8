// Max over the K window elements of each of C channels (window ordered (channel, k)), registered.
`timescale 1ns/1ps
module ohq_maxreduce #(parameter C = 1, parameter K = 4, parameter EW = 8, parameter SIGNED = 0) (
  input  wire              clk,
  input  wire              rst,
  input  wire [C*K*EW-1:0] s_tdata,
  input  wire              s_tvalid,
  output wire              s_tready,
  output reg  [C*EW-1:0]   m_tdata,
  output reg               m_tvalid,
  input  wire              m_tready
);
  assign s_tready = !m_tvalid || m_tready;
  wire [C*EW-1:0] mx;
  genvar c, k;
  generate
    for (c = 0; c < C; c = c + 1) begin : g_c
      wire [EW-1:0] acc [0:K-1] /* verilator split_var */;
      assign acc[0] = s_tdata[c * K * EW +: EW];
      for (k = 1; k < K; k = k + 1) begin : g_k
        wire [EW-1:0] v = s_tdata[(c * K + k) * EW +: EW];
        wire gt = SIGNED ? ($signed(v) > $signed(acc[k-1])) : (v > acc[k-1]);
        assign acc[k] = gt ? v : acc[k-1];
      end
      assign mx[c * EW +: EW] = acc[K-1];
    end
  endgenerate
  always @(posedge clk) begin
    if (rst) m_tvalid <= 1'b0;
    else if (s_tready) begin
      m_tvalid <= s_tvalid;
      if (s_tvalid) m_tdata <= mx;
    end
  end
endmodule
