// Argmax of a vector of C integers (EW bits, two's complement if SIGNED): the index (IW bits) of the first
// largest element, registered; one vector in, one index out per beat. Output register: ohq_out_reg (ohq_common.v).
`timescale 1ns/1ps
module ohq_argmax #(parameter C = 10, parameter EW = 8, parameter SIGNED = 1, parameter IW = 4) (
  input  wire            clk,
  input  wire            rst,
  input  wire [C*EW-1:0] s_tdata,
  input  wire            s_tvalid,
  output wire            s_tready,
  output wire [IW-1:0]   m_tdata,
  output wire            m_tvalid,
  input  wire            m_tready
);
  wire signed [EW:0] best [0:C-1] /* verilator split_var */;
  wire [IW-1:0] idx [0:C-1] /* verilator split_var */;
  genvar k;
  generate
    for (k = 0; k < C; k = k + 1) begin : g_k
      wire [EW-1:0] e = s_tdata[k * EW +: EW];
      wire signed [EW:0] v = SIGNED ? $signed({e[EW-1], e}) : $signed({1'b0, e});
      if (k == 0) begin : g_first
        assign best[0] = v;
        assign idx[0] = 0;
      end else begin : g_next
        wire gt = v > best[k-1];          // strictly greater: the first maximum wins (numpy's argmax)
        assign best[k] = gt ? v : best[k-1];
        assign idx[k] = gt ? k : idx[k-1];
      end
    end
  endgenerate
  ohq_out_reg #(.W(IW)) u_out (.clk(clk), .rst(rst), .d(idx[C-1]), .s_tvalid(s_tvalid), .s_tready(s_tready),
                               .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
