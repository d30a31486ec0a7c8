// Sequential requantisation: the function of ohq_requant (same parameters and rounding; see there) on C
// accumulators, P channels per cycle over N = C / P cycles, for a stream that brings one beat every N or
// more cycles (after a folded layer). Each lane's per-channel constants are a small ROM indexed by the step g
// (filled from the parameter vectors), so the datapath is P channels wide, not C. MB: the multipliers' bits.
// Timing (as ohq_mvau): a beat accepted in cycle t is computed in cycles t+1..t+N, its result valid from
// t+N+1; the next beat is accepted in the last compute cycle, so back to back the unit takes one beat
// every N cycles.
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
  output reg  [C*OW-1:0] m_tdata,
  output reg             m_tvalid,
  input  wire            m_tready
);
  localparam N = C / P;
  reg [C*AW-1:0] xs;                     // the beat, shifted down by P channels per step
  reg [C*OW-1:0] res;                    // finished channels, shifted in from the top
  reg busy;
  reg [GW-1:0] g;
  wire last = busy && g == N - 1;
  wire stall = last && m_tvalid && !m_tready;
  wire step = busy && !stall;
  assign s_tready = !rst && (!busy || (last && !stall));

  wire [P*OW-1:0] q;
  localparam KW = (MODE == 0) ? MB + 3 * TW : (NT + 1) * TW + 1; // one channel's constants
  integer i;
  genvar p, k;
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
        wire signed [TW-1:0] hi = $signed(cst[TW +: TW]);
        wire signed [MB-1:0] mult = $signed(cst[3 * TW +: MB]);
        wire signed [TW-1:0] t = acc1 * mult + $signed(cst[2 * TW +: TW]);
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
        assign q[p * OW +: OW] = cl[OW-1:0];
      end else begin : g_th
        localparam CNTW = $clog2(NT + 1) + 1;
        wire [CNTW-1:0] cnt [0:NT] /* verilator split_var */;
        assign cnt[0] = 0;
        for (k = 0; k < NT; k = k + 1) begin : g_k
          assign cnt[k + 1] = cnt[k] + ((accx >= $signed(cst[(k + 1) * TW +: TW])) != cst[(NT + 1) * TW] ? 1 : 0);
        end
        wire signed [TW-1:0] o = lo + STEP * $signed({1'b0, cnt[NT]});
        assign q[p * OW +: OW] = o[OW-1:0];
      end
    end
  endgenerate
  wire [C*OW-1:0] res_next;
  generate
    if (N == 1) begin : g_one
      assign res_next = q;
    end else begin : g_many
      assign res_next = {q, res[C*OW-1:P*OW]};
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0; m_tvalid <= 1'b0; g <= 0;
    end else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      if (step) begin
        res <= res_next;
        xs <= xs >> (P * AW);
        g <= (g == N - 1) ? 0 : g + 1'b1;
        if (last) begin
          m_tdata <= res_next;
          m_tvalid <= 1'b1;
          busy <= 1'b0;
        end
      end
      if (s_tvalid && s_tready) begin
        xs <= s_tdata;
        busy <= 1'b1;
      end
    end
  end
endmodule
