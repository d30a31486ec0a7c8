// Pieces shared by the building blocks (shipped with every design, listed first in its sources).
//   ohq_out_reg    a registered stream output (the output register of ohq_requant, ohq_maxreduce, ohq_argmax)
//   ohq_round_clip t / 2**S rounded by RND, clipped to [lo, hi] (ohq_requant's multiply-shift, see there)
//   ohq_thr_count  lo + STEP * #{k < NT : (acc >= thr_k) xor dir} (ohq_requant's thresholds, see there)
//   ohq_seq_out    the control of a sequential unit (ohq_requant_seq): one beat in, N steps, the result
//                  collected PW bits per step from the top, out valid the cycle after the last step. ohq_mvau
//                  keeps the same control inline: as a separate module Yosys maps the MVAU differently
//                  (ECP5 -5% LUT on the calibration points), below what the calibrated price list predicts.
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

// A beat is taken when idle or in the last step (done while busy) unless the output is stalled; every step with
// push shifts part into the result from the top (N parts of PW bits make W); the last step's result goes out.
module ohq_seq_out #(parameter W = 8, parameter PW = 8, parameter N = 1) (
  input  wire          clk,
  input  wire          rst,
  input  wire          done,
  input  wire          push,
  input  wire [PW-1:0] part,
  input  wire          s_tvalid,
  output wire          s_tready,
  output reg           busy,
  output wire          step,
  output wire          last,
  output reg  [W-1:0]  m_tdata,
  output reg           m_tvalid,
  input  wire          m_tready
);
  reg [W-1:0] res;
  assign last = busy && done;
  wire stall = last && m_tvalid && !m_tready;
  assign step = busy && !stall;
  assign s_tready = !rst && (!busy || (last && !stall));
  wire [W-1:0] res_next;
  generate
    if (N == 1) begin : g_one
      assign res_next = part;
    end else begin : g_many
      assign res_next = {part, res[W-1:PW]};
    end
  endgenerate
  always @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0; m_tvalid <= 1'b0;
    end else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      if (step) begin
        if (push) res <= res_next;
        if (last) begin
          m_tdata <= res_next;
          m_tvalid <= 1'b1;
          busy <= 1'b0;
        end
      end
      if (s_tvalid && s_tready) busy <= 1'b1;
    end
  end
endmodule
