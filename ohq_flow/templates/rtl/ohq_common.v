// Pieces shared by the building blocks (shipped with every design, listed first in its sources).
//   ohq_out_reg    a registered stream output (the output register of ohq_requant, ohq_maxreduce, ohq_argmax)
//   ohq_round_clip t / 2**S rounded by RND, clipped to [lo, hi] (ohq_requant's multiply-shift, see there)
//   ohq_thr_count  lo + STEP * #{k < NT : (acc >= thr_k) xor dir} (ohq_requant's thresholds, see there)
//   ohq_rq_lane    lane L of P of a sequential requantiser (ohq_mvau's fused one): channel g*P+L's constants from
//                  a ROM indexed by the step g, then ohq_round_clip or ohq_thr_count; MC = 1: one multiply-shift
//                  factor for every channel, a constant (a power of two is a shift, no multiplier)
`timescale 1ns/1ps
module ohq_out_reg #(parameter W = 8) (
  input  wire         clk,
  input  wire         rst,
  input  wire [W-1:0] d,
  input  wire         s_tvalid,
  output wire         s_tready,
  output reg  [W-1:0] m_tdata,
  output reg          m_tvalid,
  input  wire         m_tready
);
  assign s_tready = !m_tvalid || m_tready;
  always @(posedge clk) begin
    if (rst) m_tvalid <= 1'b0;
    else if (s_tready) begin
      m_tvalid <= s_tvalid;
      if (s_tvalid) m_tdata <= d;
    end
  end
endmodule

module ohq_round_clip #(parameter TW = 32, parameter S = 1, parameter RND = 1, parameter OW = 8) (
  input  wire signed [TW-1:0] t,
  input  wire signed [TW-1:0] lo,
  input  wire signed [TW-1:0] hi,
  output wire [OW-1:0]        q
);
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
  assign q = cl[OW-1:0];
endmodule

module ohq_thr_count #(parameter TW = 32, parameter NT = 1, parameter STEP = 1, parameter OW = 8) (
  input  wire signed [TW-1:0] acc,
  input  wire [NT*TW-1:0]     thr,
  input  wire                 dir,
  input  wire signed [TW-1:0] lo,
  output wire [OW-1:0]        q
);
  localparam CNTW = $clog2(NT + 1) + 1;
  wire [CNTW-1:0] cnt [0:NT] /* verilator split_var */;
  assign cnt[0] = 0;
  genvar k;
  generate
    for (k = 0; k < NT; k = k + 1) begin : g_k
      assign cnt[k + 1] = cnt[k] + ((acc >= $signed(thr[k * TW +: TW])) != dir ? 1 : 0);
    end
  endgenerate
  wire signed [TW-1:0] o = lo + STEP * $signed({1'b0, cnt[NT]});
  assign q = o[OW-1:0];
endmodule

module ohq_rq_lane #(
  parameter C = 1, parameter P = 1, parameter L = 0, parameter AW = 16, parameter OW = 8, parameter MODE = 0,
  parameter ASIGNED = 1, parameter TW = 32, parameter S = 1, parameter RND = 1, parameter NT = 1, parameter STEP = 1,
  parameter GW = 8, parameter MB = TW, parameter MC = 0,
  parameter [C*TW-1:0] MULT = 0, parameter [C*TW-1:0] BIAS = 0,
  parameter [C*TW-1:0] LO = 0, parameter [C*TW-1:0] HI = 0,
  parameter [C*NT*TW-1:0] THR = 0, parameter [C-1:0] DIR = 0
) (
  input  wire [GW-1:0] g,
  input  wire [AW-1:0] raw,
  output wire [OW-1:0] q
);
  localparam N = C / P;
  localparam KW = (MODE == 0) ? MB + 3 * TW : (NT + 1) * TW + 1;   // one channel's constants
  (* rom_style = "logic" *) reg [KW-1:0] rom [0:N-1];
  integer i;
  initial for (i = 0; i < N; i = i + 1)
    rom[i] = (MODE == 0) ? {MULT[(i * P + L) * TW +: MB], BIAS[(i * P + L) * TW +: TW], HI[(i * P + L) * TW +: TW],
                            LO[(i * P + L) * TW +: TW]}
                         : {DIR[i * P + L], THR[(i * P + L) * NT * TW +: NT * TW], LO[(i * P + L) * TW +: TW]};
  wire [KW-1:0] cst = rom[g];
  wire signed [AW:0] acc1 = ASIGNED ? {raw[AW-1], raw} : {1'b0, raw};
  wire signed [TW-1:0] accx = acc1;
  wire signed [TW-1:0] lo = $signed(cst[0 +: TW]);
  generate
    if (MODE == 0) begin : g_ms
      wire signed [MB-1:0] mult = MC ? $signed(MULT[0 +: MB]) : $signed(cst[3 * TW +: MB]);
      wire signed [TW-1:0] t = acc1 * mult + $signed(cst[2 * TW +: TW]);
      ohq_round_clip #(.TW(TW), .S(S), .RND(RND), .OW(OW)) u_rc (.t(t), .lo(lo), .hi($signed(cst[TW +: TW])), .q(q));
    end else begin : g_th
      ohq_thr_count #(.TW(TW), .NT(NT), .STEP(STEP), .OW(OW)) u_th (
        .acc(accx), .thr(cst[TW +: NT * TW]), .dir(cst[(NT + 1) * TW]), .lo(lo), .q(q));
    end
  endgenerate
endmodule
