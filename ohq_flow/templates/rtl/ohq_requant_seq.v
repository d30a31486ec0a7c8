// Sequential requantisation: the function of ohq_requant (same parameters and rounding; see there) on C
// accumulators, P channels per cycle over N = C / P cycles, for a stream that brings one beat every N or
// more cycles (after a folded layer). Each lane's per-channel constants are a small ROM indexed by the step g
// (filled from the parameter vectors), so the datapath is P channels wide, not C. MB: the multipliers' bits.
// Timing (as ohq_mvau): a beat accepted in cycle t is computed in cycles t+1..t+N, its result valid from
// t+N+1; the next beat is accepted in the last compute cycle, so back to back the unit takes one beat
// every N cycles. Control: ohq_seq_out, rounding and thresholds: ohq_round_clip, ohq_thr_count (ohq_common.v).
`timescale 1ns/1ps
module ohq_requant_seq #(
  parameter C = 1, parameter P = 1, parameter AW = 16, parameter OW = 8, parameter MODE = 0, parameter ASIGNED = 1,
  parameter TW = 32, parameter S = 1, parameter RND = 1, parameter NT = 1, parameter STEP = 1, parameter GW = 8,
  parameter MB = TW,
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
  localparam N = C / P;
  reg [C*AW-1:0] xs;                     // the beat, shifted down by P channels per step
  reg [GW-1:0] g;
  wire busy, step;
  wire [P*OW-1:0] q;
  ohq_seq_out #(.W(C * OW), .PW(P * OW), .N(N)) u_ctl (
    .clk(clk), .rst(rst), .done(g == N - 1), .push(1'b1), .part(q), .s_tvalid(s_tvalid), .s_tready(s_tready),
    .busy(busy), .step(step), .last(), .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));

  localparam KW = (MODE == 0) ? MB + 3 * TW : (NT + 1) * TW + 1; // one channel's constants
  integer i;
  genvar p;
  generate
    for (p = 0; p < P; p = p + 1) begin : g_p
      reg [KW-1:0] rom [0:N-1];
      initial for (i = 0; i < N; i = i + 1)
        rom[i] = (MODE == 0) ? {MULT[(i * P + p) * TW +: MB], BIAS[(i * P + p) * TW +: TW], HI[(i * P + p) * TW +: TW],
                                LO[(i * P + p) * TW +: TW]}
                             : {DIR[i * P + p], THR[(i * P + p) * NT * TW +: NT * TW], LO[(i * P + p) * TW +: TW]};
      wire [KW-1:0] cst = rom[g];
      wire [AW-1:0] raw = xs[p * AW +: AW];
      wire signed [AW:0] acc1 = ASIGNED ? {raw[AW-1], raw} : {1'b0, raw};
      wire signed [TW-1:0] accx = acc1;
      wire signed [TW-1:0] lo = $signed(cst[0 +: TW]);
      if (MODE == 0) begin : g_ms
        wire signed [MB-1:0] mult = $signed(cst[3 * TW +: MB]);
        wire signed [TW-1:0] t = acc1 * mult + $signed(cst[2 * TW +: TW]);
        ohq_round_clip #(.TW(TW), .S(S), .RND(RND), .OW(OW)) u_rc (
          .t(t), .lo(lo), .hi($signed(cst[TW +: TW])), .q(q[p * OW +: OW]));
      end else begin : g_th
        ohq_thr_count #(.TW(TW), .NT(NT), .STEP(STEP), .OW(OW)) u_th (
          .acc(accx), .thr(cst[TW +: NT * TW]), .dir(cst[(NT + 1) * TW]), .lo(lo), .q(q[p * OW +: OW]));
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) g <= 0;
    else if (step) begin
      xs <= xs >> (P * AW);
      g <= (g == N - 1) ? 0 : g + 1'b1;
    end
    if (!rst && s_tvalid && s_tready) xs <= s_tdata;
  end
endmodule
