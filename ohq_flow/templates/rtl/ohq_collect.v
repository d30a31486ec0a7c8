// N beats of BW bits -> one beat of N*BW bits (beat 0 in the LSBs): pixels -> a dense layer's vector.
// The first N-1 beats shift into a register from the top (no variable part-select: no wide demux).
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
  assign s_tready = !rst && (!m_tvalid || m_tready || n != N - 1);
  wire take = s_tvalid && s_tready;
  generate
    if (N == 1) begin : g_one
      always @(posedge clk) if (take) m_tdata <= s_tdata;
    end else if (N == 2) begin : g_two
      reg [BW-1:0] sr;
      always @(posedge clk) if (take) begin
        if (n == N - 1) m_tdata <= {s_tdata, sr};
        else sr <= s_tdata;
      end
    end else begin : g_many
      reg [(N-1)*BW-1:0] sr;
      always @(posedge clk) if (take) begin
        if (n == N - 1) m_tdata <= {s_tdata, sr};
        else sr <= {s_tdata, sr[(N-1)*BW-1:BW]};
      end
    end
  endgenerate
  always @(posedge clk) begin
    if (rst) begin
      n <= 0; m_tvalid <= 1'b0;
    end else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      if (take) begin
        if (n == N - 1) begin
          m_tvalid <= 1'b1;
          n <= 0;
        end else n <= n + 1;
      end
    end
  end
endmodule
