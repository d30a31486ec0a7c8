// N beats of BW bits -> one beat of N*BW bits (beat 0 in the LSBs): pixels -> a dense layer's vector.
`timescale 1ns/1ps
module ohq_collect #(parameter N = 4, parameter BW = 8, parameter CW = 16) (
  input  wire            clk,
  input  wire            rst,
  input  wire [BW-1:0]   s_tdata,
  input  wire            s_tvalid,
  output wire            s_tready,
  output reg  [N*BW-1:0] m_tdata,
  output reg             m_tvalid,
  input  wire            m_tready
);
  reg [CW-1:0] n;
  reg [N*BW-1:0] acc;
  assign s_tready = !rst && (!m_tvalid || m_tready || n != N - 1);
  always @(posedge clk) begin
    if (rst) begin
      n <= 0; m_tvalid <= 1'b0;
    end else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      if (s_tvalid && s_tready) begin
        if (n == N - 1) begin
          m_tdata <= acc;
          m_tdata[(N - 1) * BW +: BW] <= s_tdata;
          m_tvalid <= 1'b1;
          n <= 0;
        end else begin
          acc[n * BW +: BW] <= s_tdata;
          n <= n + 1;
        end
      end
    end
  end
endmodule
