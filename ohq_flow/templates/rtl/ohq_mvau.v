// Folded matrix-vector unit (FINN-style MVAU): out[j] = sum_i x[i] * W[i][j] for an MW-input,
// MH-output constant matrix, PE output rows and SIMD input columns per cycle, with the requantiser that
// follows it fused in (RQ = 1, FINN's MVAU with thresholds): each neuron fold's PE sums are requantised
// P lanes per cycle while the next fold is computed, so the unit keeps OW-bit results, not AW-bit sums.
// One input beat = one vector (MW elements of IW bits, element 0 in the LSBs; signed if ISIGNED);
// one output beat = MH results: OW-bit codes with RQ = 1 (ohq_requant's function, per-channel constants in
// a ROM per lane), AW-bit accumulators (two's complement) with RQ = 0 (P = PE, OW = AW).
// Weights (WB-bit two's complement) are a ROM of NF*SF words, NF = MH/PE neuron folds, SF = MW/SIMD
// synapse folds; word nf*SF+sf holds W[sf*SIMD+s][nf*PE+p] at bits (p*SIMD+s)*WB.
// Per PE the live lanes' products go through a balanced tree of two-input adders (DEAD = 1: only the lanes listed
// in LIX, NLV per PE; a lane whose weights are zero in every fold is left out and its memory column is unused).
// Weight memory (MEM): 0 = ROM read combinationally (LUT logic), 1 = ROM read through a
// register (synchronous read: block RAM, DP16KD on ECP5, RAMB18/36 on AMD), prefetched one cycle ahead so
// the cycle behaviour is the same. Products (MUL): 0 = partial products of the weight bits (LUT logic:
// no multiplier cell for the synthesis tool to put into a DSP), 1 = `*` (a DSP slice per lane where the
// tool maps it; a 1-bit-wide partial product is never put into a DSP). ohq_flow.design.mvau chooses both, and prices
// them, by one rule.
// Timing: a vector accepted in cycle t is computed in cycles t+1..t+NF*SF (one fold per cycle); a neuron
// fold's sums are requantised in the K = PE/P cycles after it (K <= SF, so before the next fold ends) and the
// result is valid from t+NF*SF+K+1. The next vector is accepted in the last compute cycle, so back to back
// the unit takes one vector every NF*SF cycles (II). The sum is exact modulo 2**AW; AW covers the reachable
// accumulator range, so the result is exact.
`timescale 1ns/1ps
module ohq_mvau #(
  parameter MW = 4, parameter MH = 4, parameter PE = 1, parameter SIMD = 1,
  parameter IW = 8, parameter ISIGNED = 1, parameter WB = 8, parameter AW = 24, parameter CW = 16,
  parameter MEM = 0, parameter MUL = 0,
  parameter NF = MH / PE, parameter SF = MW / SIMD,
  parameter [NF*SF*PE*SIMD*WB-1:0] WROM = 0,
  parameter DEAD = 0, parameter [PE*16-1:0] NLV = 0, parameter [PE*SIMD*16-1:0] LIX = 0,   // lanes left out: below
  // the fused requantiser (ohq_requant's parameters; C = MH channels, P lanes, GW: the step counter's bits)
  parameter RQ = 0, parameter P = PE, parameter OW = AW, parameter GW = 8,
  parameter MODE = 0, parameter TW = 32, parameter S = 1, parameter RND = 1, parameter NT = 1, parameter STEP = 1,
  parameter MB = TW, parameter MC = 0,
  parameter [MH*TW-1:0] MULT = 0, parameter [MH*TW-1:0] BIAS = 0,
  parameter [MH*TW-1:0] LO = 0, parameter [MH*TW-1:0] HI = 0,
  parameter [MH*NT*TW-1:0] THR = 0, parameter [MH-1:0] DIR = 0
) (
  input  wire            clk,
  input  wire            rst,
  input  wire [MW*IW-1:0] s_tdata,
  input  wire            s_tvalid,
  output wire            s_tready,
  output reg  [MH*OW-1:0] m_tdata,
  output reg             m_tvalid,
  input  wire            m_tready
);
  localparam WORD = PE * SIMD * WB;
  localparam T = NF * SF;
  localparam K = PE / P;                 // requantisation steps per neuron fold
  localparam N = MH / P;                 // ... per vector (the constants' ROM depth)

  reg [MW*IW-1:0] xs;                    // the vector, rotated by SIMD elements per synapse fold (lanes in the LSBs)
  reg busy;
  reg [CW-1:0] nf, sf, addr;
  reg [PE*AW-1:0] acc;
  reg [PE*AW-1:0] accd;                  // a finished neuron fold's sums, shifted down by P lanes per requant step
  reg dr, drl;                           // requantising; the fold is the vector's last
  reg [CW-1:0] j;
  reg [GW-1:0] g;
  reg [MH*OW-1:0] res;                   // finished results, shifted in from the top
  wire dlast = dr && j == K - 1;
  wire stall = dlast && drl && m_tvalid && !m_tready;
  wire last = busy && nf == NF - 1 && sf == SF - 1;
  wire step = busy && !stall;
  assign s_tready = !rst && (!busy || (last && !stall));
  wire [CW-1:0] addr_n = (addr == T - 1) ? {CW{1'b0}} : addr + 1'b1;
  wire [WORD-1:0] wv;
  integer i;
  generate
    if (MEM == 1) begin : g_bram
      (* rom_style = "block" *) reg [WORD-1:0] rom [0:T-1];
      initial for (i = 0; i < T; i = i + 1) rom[i] = WROM[i * WORD +: WORD];
      reg [WORD-1:0] wq;                 // the word of the next step: read one cycle ahead
      always @(posedge clk) wq <= rom[step ? addr_n : addr];
      assign wv = wq;
    end else begin : g_lutrom
      (* rom_style = "logic" *) reg [WORD-1:0] rom [0:T-1];
      initial for (i = 0; i < T; i = i + 1) rom[i] = WROM[i * WORD +: WORD];
      assign wv = rom[addr];
    end
  endgenerate

  // Each live lane's product at its own width (PW = WB + IW + 1 bits); per PE a balanced tree of two-input adders
  // over its live lanes (a dead lane's weights are zero in every fold), level k at PW + k bits (at most AW),
  // each adder its own module (ohq_tree_add: a carry chain; a whole-tree `+` would be merged by the synthesis tool
  // into one adder array at the accumulator's width), then the running sum.
  localparam PW = WB + IW + 1;
  reg [PE*SIMD*PW-1:0] prods;
  reg signed [PW-1:0] prod;
  reg signed [WB-1:0] we;
  reg signed [IW:0] xe;
  integer p, s, b;
  always @* begin
    for (p = 0; p < PE; p = p + 1)
      for (s = 0; s < SIMD; s = s + 1) begin
        we = wv[(p * SIMD + s) * WB +: WB];
        xe = ISIGNED ? {xs[s * IW + IW - 1], xs[s * IW +: IW]} : {1'b0, xs[s * IW +: IW]};
        if (MUL == 1) prod = we * xe;
        else begin                       // partial products of the weight bits (the top bit weighs -2^(WB-1))
          prod = {PW{1'b0}};
          for (b = 0; b < WB - 1; b = b + 1)
            prod = prod + ($signed(xe & {(IW + 1){we[b]}}) <<< b);
          prod = prod - ($signed(xe & {(IW + 1){we[WB - 1]}}) <<< (WB - 1));
        end
        prods[(p * SIMD + s) * PW +: PW] = prod;
      end
  end
  // live lanes: all (DEAD = 0), or per PE p a count NLV[p*16 +: 16] and the live lanes' indices LIX[(p*SIMD+k)*16 +: 16]
  function integer nlive(input integer pe); nlive = DEAD ? NLV[pe * 16 +: 16] : SIMD; endfunction
  function integer lane(input integer pe, input integer k); lane = DEAD ? LIX[(pe * SIMD + k) * 16 +: 16] : k; endfunction
  function integer levels(input integer n); levels = (n <= 1) ? 0 : $clog2(n); endfunction
  function integer tw(input integer k); tw = (PW + k < AW) ? PW + k : AW; endfunction
  function integer tn(input integer n, input integer k); tn = (n + (1 << k) - 1) >> k; endfunction
  wire [PE*AW-1:0] nxt;
  genvar pg, kg, ig;
  generate
    for (pg = 0; pg < PE; pg = pg + 1) begin : g_pe
      localparam NL = nlive(pg);
      localparam LV = levels(NL);
      wire signed [AW-1:0] root;
      if (NL == 0) begin : g_none
        assign root = {AW{1'b0}};
      end else begin : g_tree
        for (kg = 0; kg <= LV; kg = kg + 1) begin : lv
          localparam N = tn(NL, kg), W = tw(kg), NP = tn(NL, kg ? kg - 1 : 0), WP = tw(kg ? kg - 1 : 0);
          wire [N*W-1:0] v;
          for (ig = 0; ig < N; ig = ig + 1) begin : n
            if (kg == 0) begin : g_leaf
              assign v[ig * W +: W] = prods[(pg * SIMD + lane(pg, ig)) * PW +: W];
            end else if (2 * ig + 1 < NP) begin : g_add
              ohq_tree_add #(.W(WP), .O(W)) u_a (.a(lv[kg - 1].v[2 * ig * WP +: WP]), .b(lv[kg - 1].v[(2 * ig + 1) * WP +: WP]),
                                                .s(v[ig * W +: W]));
            end else begin : g_pass
              assign v[ig * W +: W] = $signed(lv[kg - 1].v[2 * ig * WP +: WP]);   // sign-extended
            end
          end
        end
        assign root = $signed(lv[LV].v);
      end
      assign nxt[pg * AW +: AW] = ((sf == 0) ? {AW{1'b0}} : acc[pg * AW +: AW]) + root;
    end
  endgenerate

  // P requantiser lanes on the low lanes of accd (RQ = 0: the sums as they are)
  wire [P*OW-1:0] q;
  genvar l;
  generate
    for (l = 0; l < P; l = l + 1) begin : g_q
      if (RQ == 1) begin : g_rq
        ohq_rq_lane #(.C(MH), .P(P), .L(l), .AW(AW), .OW(OW), .MODE(MODE), .ASIGNED(1), .TW(TW), .S(S), .RND(RND),
                      .NT(NT), .STEP(STEP), .GW(GW), .MB(MB), .MC(MC), .MULT(MULT), .BIAS(BIAS), .LO(LO), .HI(HI), .THR(THR),
                      .DIR(DIR)) u_l (.g(g), .raw(accd[l * AW +: AW]), .q(q[l * OW +: OW]));
      end else begin : g_id
        assign q[l * OW +: OW] = accd[l * AW +: AW];
      end
    end
  endgenerate
  wire [MH*OW-1:0] res_next;
  wire [MW*IW-1:0] xs_rot;
  generate
    if (N == 1) begin : g_one
      assign res_next = q;
    end else begin : g_many
      assign res_next = {q, res[MH*OW-1:P*OW]};
    end
    if (SF == 1) begin : g_norot
      assign xs_rot = xs;
    end else begin : g_rot
      assign xs_rot = {xs[SIMD*IW-1:0], xs[MW*IW-1:SIMD*IW]};
    end
  endgenerate

  // control
  always @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0; m_tvalid <= 1'b0; nf <= 0; sf <= 0; addr <= 0; dr <= 1'b0; j <= 0; g <= 0;
    end else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      if (dr && !stall) begin            // one requant step: P lanes into the result
        g <= (g == N - 1) ? 0 : g + 1'b1;
        j <= j + 1'b1;
        if (dlast) begin
          dr <= 1'b0;
          if (drl) m_tvalid <= 1'b1;
        end
      end
      if (step) begin
        if (sf == SF - 1) begin          // a neuron fold done: requantised in the next K cycles
          dr <= 1'b1;
          drl <= nf == NF - 1;
          j <= 0;
          sf <= 0;
          nf <= (nf == NF - 1) ? 0 : nf + 1;
        end else begin
          sf <= sf + 1;
        end
        addr <= addr_n;
        if (last) busy <= 1'b0;
      end
      if (s_tvalid && s_tready) busy <= 1'b1;
    end
  end
  // data: the wide registers' enables pass a module boundary (ohq_keep), else the synthesis tool copies the
  // control logic into every bit's next-state function
  wire x_load, x_step, f_done, r_step, o_load;
  ohq_keep #(.W(5)) u_en (.a({s_tvalid && s_tready, step, step && sf == SF - 1, dr && !stall, dr && !stall && dlast && drl}),
                          .y({x_load, x_step, f_done, r_step, o_load}));
  always @(posedge clk) begin
    if (x_load) xs <= s_tdata;
    else if (x_step) xs <= xs_rot;
    if (x_step) acc <= nxt;
    if (f_done) accd <= nxt;
    else if (r_step) accd <= accd >> (P * AW);
    if (r_step) res <= res_next;
    if (o_load) m_tdata <= res_next;
  end
endmodule

// One adder of the MVAU's tree: O-bit sum of two W-bit two's-complement operands. Its own module so Yosys keeps it
// a carry chain (alumacc merges a tree of `+` into one LUT adder array with every term at the widest width).
(* keep_hierarchy *)
module ohq_tree_add #(parameter W = 4, parameter O = 5) (
  input  wire [W-1:0] a,
  input  wire [W-1:0] b,
  output wire [O-1:0] s
);
  assign s = $signed(a) + $signed(b);
endmodule

// A net the synthesis tool must not optimise through (Yosys: kept as a module until the netlist is flattened).
(* keep_hierarchy *)
module ohq_keep #(parameter W = 1) (
  input  wire [W-1:0] a,
  output wire [W-1:0] y
);
  assign y = a;
endmodule
