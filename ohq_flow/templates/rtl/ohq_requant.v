// Requantisation of C accumulators (AW bits, two's complement, or unsigned if ASIGNED = 0) to C output integers (OW bits),
// per channel, registered. The parameters are computed and verified exact by ohq_flow.design.
//   MODE 0 (multiply-shift): t = acc * MULT_c + BIAS_c; q = round(t / 2**S) with rounding RND
//          (0 floor, 1 half-even, 2 ceil, 3 half-up (ties away from 0), 4 half-down (ties to 0),
//          5 up (away from 0), 6 down (to 0)); out = clip(q, LO_c, HI_c). MULT/BIAS are TW-bit
//          signed, t is TW bits wide.
//   MODE 1 (thresholds): out = LO_c + STEP * #{k < NT : (acc >= THR_{c,k}) xor DIR_c} (THR TW-bit signed,
//          one per level; DIR_c: the channel falls with the accumulator; STEP 2 for a +-1 BipolarQuant output).
`timescale 1ns/1ps
module ohq_requant #(
  parameter C = 1, parameter AW = 16, parameter OW = 8, parameter MODE = 0, parameter ASIGNED = 1,
  parameter TW = 32, parameter S = 1, parameter RND = 1, parameter NT = 1, parameter STEP = 1,
  parameter [C*TW-1:0] MULT = 0, parameter [C*TW-1:0] BIAS = 0,
  parameter [C*TW-1:0] LO = 0, parameter [C*TW-1:0] HI = 0,
  parameter [C*NT*TW-1:0] THR = 0, parameter [C-1:0] DIR = 0
) (
  input  wire            clk,
  input  wire            rst,
  input  wire [C*AW-1:0] s_tdata,
  input  wire            s_tvalid,
  output wire            s_tready,
  output reg  [C*OW-1:0] m_tdata,
  output reg             m_tvalid,
  input  wire            m_tready
);
  assign s_tready = !m_tvalid || m_tready;
  wire [C*OW-1:0] q;
  genvar c, k;
  generate
    for (c = 0; c < C; c = c + 1) begin : g_c
      wire [AW-1:0] raw = s_tdata[c * AW +: AW];
      wire signed [TW-1:0] accx = ASIGNED ? {{(TW-AW){raw[AW-1]}}, raw} : {{(TW-AW){1'b0}}, raw};
      wire signed [TW-1:0] lo = $signed(LO[c * TW +: TW]);
      wire signed [TW-1:0] hi = $signed(HI[c * TW +: TW]);
      if (MODE == 0) begin : g_ms
        wire signed [TW-1:0] t = accx * $signed(MULT[c * TW +: TW])
                                 + $signed(BIAS[c * TW +: TW]);
        wire signed [TW-1:0] fl = t >>> S;
        wire [S-1:0] r = t[S-1:0];
        wire [S-1:0] half = {1'b1, {(S-1){1'b0}}};
        wire neg = t[TW-1];
        wire nz = r != 0;
        wire up = (RND == 0) ? 1'b0 :
                  (RND == 1) ? (r > half || (r == half && fl[0])) :
                  (RND == 2) ? nz :
                  (RND == 3) ? (neg ? r > half : r >= half) :
                  (RND == 4) ? (neg ? r >= half : r > half) :
                  (RND == 5) ? (neg ? 1'b0 : nz) :
                               (neg ? nz : 1'b0);
        wire signed [TW-1:0] rq = fl + (up ? 1 : 0);
        wire signed [TW-1:0] cl = rq < lo ? lo : (rq > hi ? hi : rq);
        assign q[c * OW +: OW] = cl[OW-1:0];
      end else begin : g_th
        localparam CNTW = $clog2(NT + 1) + 1;
        wire [CNTW-1:0] cnt [0:NT] /* verilator split_var */;
        assign cnt[0] = 0;
        for (k = 0; k < NT; k = k + 1) begin : g_k
          assign cnt[k + 1] = cnt[k] + ((accx >= $signed(THR[(c * NT + k) * TW +: TW])) != DIR[c] ? 1 : 0);
        end
        wire signed [TW-1:0] o = lo + STEP * $signed({1'b0, cnt[NT]});
        assign q[c * OW +: OW] = o[OW-1:0];
      end
    end
  endgenerate
  always @(posedge clk) begin
    if (rst) m_tvalid <= 1'b0;
    else if (s_tready) begin
      m_tvalid <= s_tvalid;
      if (s_tvalid) m_tdata <= q;
    end
  end
endmodule
