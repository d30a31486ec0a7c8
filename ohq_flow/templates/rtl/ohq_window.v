// Sliding-window unit for 2-D (H x W) and 1-D (H = 1) convolution and pooling.
// Input: one pixel (C elements of EW bits, channel 0 in the LSBs) per beat, raster order.
// Output: one window per beat, elements ordered (channel, kh, kw), PADV outside the image (0: zero padding
// of a convolution; the smallest EW-bit value for a padded MaxPool, so a pad never wins)
// (padding PT/PL at the top/left; bottom/right padding follows from OH/OW).
// The line buffer holds R rows (R = power of two >= KH + SH); an input row is written only when
// the row it replaces is no longer needed, so frames stream back to back without a bubble.
// A window of more than MAXRD positions reads its own copy of the line buffer at each position (all copies
// written together): Yosys' memory_libmap searches every assignment of one memory's read ports to RAM ports,
// exponential in their number (a 5x5 window's 25-read-port memory passed 3.7 GB within 7 s), and builds a
// copy per read port (ECP5) anyway. Up to MAXRD (3x3: ~0.45 GB, 16 s) one memory keeps xc7's 3 reads per RAM32M.
// Positions are CW-bit signed (sized from the geometry, not 32-bit): rel = rows received minus
// the current output frame's first row; the line-buffer slots are kept modulo R.
`timescale 1ns/1ps
module ohq_window #(
  parameter C = 1, parameter EW = 8, parameter H = 8, parameter W = 8,
  parameter KH = 3, parameter KW = 3, parameter SH = 1, parameter SW = 1,
  parameter PT = 1, parameter PL = 1, parameter OH = 8, parameter OW = 8,
  parameter R = 4, parameter RB = 2, parameter [EW-1:0] PADV = 0
) (
  input  wire                    clk,
  input  wire                    rst,
  input  wire [C*EW-1:0]         s_tdata,
  input  wire                    s_tvalid,
  output wire                    s_tready,
  output reg  [C*KH*KW*EW-1:0]   m_tdata,
  output reg                     m_tvalid,
  input  wire                    m_tready
);
  localparam PW = C * EW;
  localparam CW = $clog2(2 * (H + W + R + KH + KW + PT + PL + SH * OH + SW * OW) + 4) + 1;
  localparam AD = $clog2(R * W);
  localparam signed [CW-1:0] CH = H, CWD = W, HM1 = H - 1, WM1 = W - 1;
  localparam [RB-1:0] R0 = R, H0 = H;
  localparam [PW-1:0] PADP = {C{PADV}};
  localparam MAXRD = 9;
  reg [PW-1:0] lbuf [0:R*W-1];
  reg signed [CW-1:0] rel;       // input rows received minus the output frame's first row (may be < 0)
  reg signed [CW-1:0] in_x;      // column of the next input pixel
  reg signed [CW-1:0] oy, ox;    // current output window
  reg [RB-1:0] in_slot;          // line-buffer row of the next input pixel
  reg [RB-1:0] base_slot;        // line-buffer row of the output frame's row 0
  wire signed [CW-1:0] oys = oy * SH;
  wire signed [CW-1:0] oxs = ox * SW;
  wire signed [CW-1:0] first_rel = oys - PT;              // first row the current window reads
  wire signed [CW-1:0] lim = first_rel + R;
  wire signed [CW-1:0] vy = oys + (KH - 1 - PT);
  wire signed [CW-1:0] vx = oxs + (KW - 1 - PL);
  wire signed [CW-1:0] need_y = (vy < 0 || vy > HM1) ? HM1 : vy;
  wire signed [CW-1:0] need_x = (vx < 0 || vx > WM1) ? WM1 : vx;
  wire win_ready = (rel > need_y) || (rel == need_y && in_x > need_x);
  assign s_tready = !rst && (rel < lim);
  wire load = win_ready && (!m_tvalid || m_tready);
  wire take = s_tvalid && s_tready;
  wire row_done = take && in_x == WM1;
  wire frame_done = load && ox == OW - 1 && oy == OH - 1;
  wire [RB-1:0] first_slot = base_slot + first_rel[RB-1:0];
  wire [AD-1:0] waddr = in_slot * W + in_x[AD-1:0];

  wire [C*KH*KW*EW-1:0] win;
  genvar kh, kw, c;
  generate
    for (kh = 0; kh < KH; kh = kh + 1) begin : g_kh
      wire signed [CW-1:0] iy = oys + (kh - PT);
      wire [RB-1:0] slot = first_slot + kh;
      for (kw = 0; kw < KW; kw = kw + 1) begin : g_kw
        wire signed [CW-1:0] ix = oxs + (kw - PL);
        wire inb = iy >= 0 && iy < CH && ix >= 0 && ix < CWD;
        wire [AD-1:0] addr = slot * W + ix[AD-1:0];
        wire [PW-1:0] word;
        if (KH * KW > MAXRD) begin : g_copy
          reg [PW-1:0] lbuf_copy [0:R*W-1];
          always @(posedge clk) if (take) lbuf_copy[waddr] <= s_tdata;
          assign word = lbuf_copy[addr];
        end else begin : g_one
          assign word = lbuf[addr];
        end
        wire [PW-1:0] pix = inb ? word : PADP;
        for (c = 0; c < C; c = c + 1) begin : g_c
          assign win[((c * KH + kh) * KW + kw) * EW +: EW] = pix[c * EW +: EW];
        end
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) begin
      rel <= 0; in_x <= 0; in_slot <= R0; base_slot <= R0; oy <= 0; ox <= 0; m_tvalid <= 1'b0;
    end else begin
      if (take) begin
        if (KH * KW <= MAXRD) lbuf[waddr] <= s_tdata;     // else never read: the copies hold the pixels
        if (row_done) begin
          in_x <= 0; in_slot <= in_slot + 1'b1;
        end else in_x <= in_x + 1;
      end
      rel <= rel + (row_done ? 1 : 0) - (frame_done ? H : 0);
      if (m_tvalid && m_tready && !load) m_tvalid <= 1'b0;
      if (load) begin
        m_tdata <= win;
        m_tvalid <= 1'b1;
        if (ox == OW - 1) begin
          ox <= 0;
          if (oy == OH - 1) begin
            oy <= 0; base_slot <= base_slot + H0;
          end else oy <= oy + 1;
        end else ox <= ox + 1;
      end
    end
  end
endmodule
