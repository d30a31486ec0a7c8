// Requantisation of C accumulators (AW bits, two's complement, or unsigned if ASIGNED = 0) to C output integers (OW bits),
// per channel, registered (ohq_common.v: ohq_round_clip, ohq_thr_count, ohq_out_reg). The parameters are computed and verified exact by ohq_flow.design.
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
  output wire [C*OW-1:0] m_tdata,
  output wire            m_tvalid,
  input  wire            m_tready
);
  wire [C*OW-1:0] q;
  genvar c;
  generate
    for (c = 0; c < C; c = c + 1) begin : g_c
      wire [AW-1:0] raw = s_tdata[c * AW +: AW];
      wire signed [TW-1:0] accx = ASIGNED ? {{(TW-AW){raw[AW-1]}}, raw} : {{(TW-AW){1'b0}}, raw};
      wire signed [TW-1:0] lo = $signed(LO[c * TW +: TW]);
      if (MODE == 0) begin : g_ms
        wire signed [TW-1:0] t = accx * $signed(MULT[c * TW +: TW])
                                 + $signed(BIAS[c * TW +: TW]);
        ohq_round_clip #(.TW(TW), .S(S), .RND(RND), .OW(OW)) u_rc (
          .t(t), .lo(lo), .hi($signed(HI[c * TW +: TW])), .q(q[c * OW +: OW]));
      end else begin : g_th
        ohq_thr_count #(.TW(TW), .NT(NT), .STEP(STEP), .OW(OW)) u_th (
          .acc(accx), .thr(THR[c * NT * TW +: NT * TW]), .dir(DIR[c]), .lo(lo), .q(q[c * OW +: OW]));
      end
    end
  endgenerate
  ohq_out_reg #(.W(C * OW)) u_out (.clk(clk), .rst(rst), .d(q), .s_tvalid(s_tvalid), .s_tready(s_tready),
                                   .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
