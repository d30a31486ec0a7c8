// Folded matrix-vector unit (FINN-style MVAU): out[j] = sum_i x[i] * W[i][j] for an MW-input,
// MH-output constant matrix, PE output rows and SIMD input columns per cycle.
// One input beat = one vector (MW elements of IW bits, element 0 in the LSBs; signed if ISIGNED);
// one output beat = MH accumulators of AW bits (two's complement), the format of a kernel stage.
// Weights (WB-bit two's complement) are a ROM of NF*SF words, NF = MH/PE neuron folds, SF = MW/SIMD
// synapse folds; word nf*SF+sf holds W[sf*SIMD+s][nf*PE+p] at bits (p*SIMD+s)*WB.
// Weight memory (MEM): 0 = ROM read combinationally (LUT logic), 1 = ROM read through a
// register (synchronous read: block RAM, DP16KD on ECP5, RAMB18/36 on AMD), prefetched one cycle ahead so
// the cycle behaviour is the same. Products (MUL): 0 = partial products of the weight bits (LUT logic:
// no multiplier cell for the synthesis tool to put into a DSP), 1 = `*` (a DSP slice per lane where the
// tool maps it; a 1-bit-wide partial product is never put into a DSP). ohq_flow.design.mvau chooses both, and prices
// them, by one rule.
// Timing: a vector accepted in cycle t is computed in cycles t+1..t+NF*SF (one fold per cycle)
// and its result is valid from t+NF*SF+1. The next vector is accepted in the last compute cycle,
// so back to back the unit takes one vector every NF*SF cycles (II). The sum is exact modulo
// 2**AW; AW covers the reachable accumulator range, so the result is exact.
`timescale 1ns/1ps
module ohq_mvau #(
  parameter MW = 4, parameter MH = 4, parameter PE = 1, parameter SIMD = 1,
  parameter IW = 8, parameter ISIGNED = 1, parameter WB = 8, parameter AW = 24, parameter CW = 16,
  parameter MEM = 0, parameter MUL = 0,
  parameter NF = MH / PE, parameter SF = MW / SIMD,
  parameter [NF*SF*PE*SIMD*WB-1:0] WROM = 0
) (
  input  wire            clk,
  input  wire            rst,
  input  wire [MW*IW-1:0] s_tdata,
  input  wire            s_tvalid,
  output wire            s_tready,
  output reg  [MH*AW-1:0] m_tdata,
  output reg             m_tvalid,
  input  wire            m_tready
);
  localparam WORD = PE * SIMD * WB;
  localparam T = NF * SF;

  reg [MW*IW-1:0] x;                     // the vector being computed
  reg [MW*IW-1:0] xs;                    // x shifted by SIMD elements per synapse fold (lanes in the LSBs)
  reg busy;
  reg [CW-1:0] nf, sf, addr;
  reg [PE*AW-1:0] acc;
  reg [MH*AW-1:0] res;                   // finished neuron folds, shifted in from the top
  wire last = busy && nf == NF - 1 && sf == SF - 1;
  wire stall = last && m_tvalid && !m_tready;
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

  // PE dot products of SIMD lanes, added to the running sums (the first synapse fold starts from 0)
  reg [PE*AW-1:0] nxt;
  reg signed [AW-1:0] sum;
  reg signed [WB-1:0] we;
  reg signed [IW:0] xe;
  integer p, s, b;
  always @* begin
    for (p = 0; p < PE; p = p + 1) begin
      sum = (sf == 0) ? {AW{1'b0}} : acc[p * AW +: AW];
      for (s = 0; s < SIMD; s = s + 1) begin
        we = wv[(p * SIMD + s) * WB +: WB];
        xe = ISIGNED ? {xs[s * IW + IW - 1], xs[s * IW +: IW]} : {1'b0, xs[s * IW +: IW]};
        if (MUL == 1) sum = sum + we * xe;
        else begin                       // partial products of the weight bits (the top bit weighs -2^(WB-1))
          for (b = 0; b < WB - 1; b = b + 1)
            sum = sum + ($signed(xe & {(IW + 1){we[b]}}) <<< b);
          sum = sum - ($signed(xe & {(IW + 1){we[WB - 1]}}) <<< (WB - 1));
        end
      end
      nxt[p * AW +: AW] = sum;
    end
  end
  wire [MH*AW-1:0] res_next;
  generate
    if (NF == 1) begin : g_one
      assign res_next = nxt;
    end else begin : g_many
      assign res_next = {nxt, res[MH*AW-1:PE*AW]};
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0; m_tvalid <= 1'b0; nf <= 0; sf <= 0; addr <= 0;
    end else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      if (step) begin
        acc <= nxt;
        if (sf == SF - 1) begin
          res <= res_next;
          xs <= x;
          sf <= 0;
          nf <= (nf == NF - 1) ? 0 : nf + 1;
        end else begin
          xs <= xs >> (SIMD * IW);
          sf <= sf + 1;
        end
        addr <= addr_n;
        if (last) begin
          m_tdata <= res_next;
          m_tvalid <= 1'b1;
          busy <= 1'b0;
        end
      end
      if (s_tvalid && s_tready) begin
        x <= s_tdata;
        xs <= s_tdata;
        busy <= 1'b1;
      end
    end
  end
endmodule
