// Sliding-window unit for 2-D (H x W) and 1-D (H = 1) convolution and pooling.
// Input: one pixel (C elements of EW bits, channel 0 in the LSBs) per beat, raster order.
// Output: one window per beat, elements ordered (channel, kh, kw), zero outside the image
// (padding PT/PL at the top/left; bottom/right padding follows from OH/OW).
// The line buffer holds R rows (R = power of two >= KH + SH); an input row is written only when
// the row it replaces is no longer needed, so frames stream back to back without a bubble.
`timescale 1ns/1ps
module ohq_window #(
  parameter C = 1, parameter EW = 8, parameter H = 8, parameter W = 8,
  parameter KH = 3, parameter KW = 3, parameter SH = 1, parameter SW = 1,
  parameter PT = 1, parameter PL = 1, parameter OH = 8, parameter OW = 8,
  parameter R = 4, parameter RB = 2
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
  reg [PW-1:0] lbuf [0:R*W-1];
  reg [31:0] in_g;    // global row of the next input pixel (frame f, row y: R + f*H + y)
  reg [31:0] in_x;    // its column
  reg [31:0] base;    // global row of the current output frame's row 0
  reg [31:0] oy, ox;  // current output window
  wire [31:0] first_g = base + oy * SH - PT;  // first (global) row the current window reads
  wire [31:0] need_y = (oy * SH + KH - 1 - PT > H - 1) ? H - 1 : oy * SH + KH - 1 - PT;
  wire [31:0] need_x = (ox * SW + KW - 1 - PL > W - 1) ? W - 1 : ox * SW + KW - 1 - PL;
  wire win_ready = (in_g > base + need_y) || (in_g == base + need_y && in_x > need_x);
  assign s_tready = !rst && (in_g < first_g + R);
  wire load = win_ready && (!m_tvalid || m_tready);

  wire [C*KH*KW*EW-1:0] win;
  genvar kh, kw, c;
  generate
    for (kh = 0; kh < KH; kh = kh + 1) begin : g_kh
      wire signed [31:0] iy = $signed(oy * SH) + kh - PT;
      wire [RB-1:0] slot = first_g[RB-1:0] + kh;
      for (kw = 0; kw < KW; kw = kw + 1) begin : g_kw
        wire signed [31:0] ix = $signed(ox * SW) + kw - PL;
        wire inb = iy >= 0 && iy < H && ix >= 0 && ix < W;
        wire [PW-1:0] pix = inb ? lbuf[slot * W + ix[15:0]] : {PW{1'b0}};
        for (c = 0; c < C; c = c + 1) begin : g_c
          assign win[((c * KH + kh) * KW + kw) * EW +: EW] = pix[c * EW +: EW];
        end
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) begin
      in_g <= R; in_x <= 0; base <= R; oy <= 0; ox <= 0; m_tvalid <= 1'b0;
    end else begin
      if (s_tvalid && s_tready) begin
        lbuf[in_g[RB-1:0] * W + in_x] <= s_tdata;
        if (in_x == W - 1) begin
          in_x <= 0; in_g <= in_g + 1;
        end else in_x <= in_x + 1;
      end
      if (m_tvalid && m_tready && !load) m_tvalid <= 1'b0;
      if (load) begin
        m_tdata <= win;
        m_tvalid <= 1'b1;
        if (ox == OW - 1) begin
          ox <= 0;
          if (oy == OH - 1) begin
            oy <= 0; base <= base + H;
          end else oy <= oy + 1;
        end else ox <= ox + 1;
      end
    end
  end
endmodule
