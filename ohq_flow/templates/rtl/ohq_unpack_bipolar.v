// A packed +-1 stream (1 bit per element, bit b means 2b - 1) widened to 2-bit two's complement per element
// (b = 1: 2'b01 = +1, b = 0: 2'b11 = -1) at a kernel's input; combinational, no state.
`timescale 1ns/1ps
module ohq_unpack_bipolar #(parameter N = 1) (
  input  wire [N-1:0]   s,
  output wire [2*N-1:0] m
);
  genvar i;
  generate
    for (i = 0; i < N; i = i + 1) begin : g_e
      assign m[2 * i +: 2] = {~s[i], 1'b1};
    end
  endgenerate
endmodule
