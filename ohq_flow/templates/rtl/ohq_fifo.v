// Stream FIFO (first-word fall-through): DEPTH entries of W bits; push and pop in one cycle.
`timescale 1ns/1ps
module ohq_fifo #(parameter W = 8, parameter DEPTH = 2, parameter CW = 8) (
  input  wire         clk,
  input  wire         rst,
  input  wire [W-1:0] s_tdata,
  input  wire         s_tvalid,
  output wire         s_tready,
  output wire [W-1:0] m_tdata,
  output wire         m_tvalid,
  input  wire         m_tready,
  output reg  [CW-1:0] count
);
  reg [W-1:0] mem [0:DEPTH-1];
  reg [CW-1:0] rd, wr;
  wire push = s_tvalid && s_tready;
  wire pop = m_tvalid && m_tready;
  assign s_tready = count < DEPTH;
  assign m_tvalid = count != 0;
  assign m_tdata = mem[rd];
  always @(posedge clk) begin
    if (rst) begin
      rd <= 0; wr <= 0; count <= 0;
    end else begin
      if (push) begin
        mem[wr] <= s_tdata;
        wr <= (wr == DEPTH - 1) ? 0 : wr + 1;
      end
      if (pop) rd <= (rd == DEPTH - 1) ? 0 : rd + 1;
      count <= count + (push ? 1 : 0) - (pop ? 1 : 0);
    end
  end
endmodule
