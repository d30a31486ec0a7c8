// Whole-network testbench: streams N_IN input beats from in.hex into the top, optionally with
// random gaps on s_axis_tvalid (+GAP=percent) and random back-pressure on m_axis_tready
// (+BP=percent), seed +SEED=n. Prints "I <cycle>" per accepted input beat and
// "O <cycle> <hex> <tlast>" per output beat; stops after N_OUT output beats.
`timescale 1ns/1ps
module tb;
  parameter IN_W = 8;
  parameter OUT_W = 8;
  parameter N_IN = 1;
  parameter N_OUT = 1;
  parameter MAXCYC = 1000000;
  reg clk = 1'b0;
  reg rst = 1'b1;
  reg [IN_W-1:0] mem [0:N_IN-1];
  reg [IN_W-1:0] s_tdata;
  reg s_tvalid;
  wire s_tready;
  wire [OUT_W-1:0] m_tdata;
  wire m_tvalid, m_tlast;
  reg m_tready;
  integer gap, bp, cyc, ni, no;
  reg [31:0] rng;
  ohq_top dut (.clk(clk), .rst(rst), .s_axis_tdata(s_tdata), .s_axis_tvalid(s_tvalid), .s_axis_tready(s_tready),
               .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready), .m_axis_tlast(m_tlast));
  function [31:0] xorshift(input [31:0] x);
    reg [31:0] y;
    begin
      y = x ^ (x << 13); y = y ^ (y >> 17); xorshift = y ^ (y << 5);
    end
  endfunction
  always #5 clk = ~clk;
  initial begin
    $readmemh("in.hex", mem);
    if (!$value$plusargs("GAP=%d", gap)) gap = 0;
    if (!$value$plusargs("BP=%d", bp)) bp = 0;
    if (!$value$plusargs("SEED=%d", rng)) rng = 1;
    if (rng == 0) rng = 1;
    cyc = 0; ni = 0; no = 0; s_tvalid = 1'b0; s_tdata = 0; m_tready = 1'b0;
    repeat (3) @(posedge clk);
    #1 rst = 1'b0;
    while (no < N_OUT && cyc < MAXCYC) begin
      // drive for this cycle (after the previous edge)
      rng = xorshift(rng);
      s_tvalid = (ni < N_IN) && ((rng % 100) >= gap);
      s_tdata = (ni < N_IN) ? mem[ni] : 0;
      rng = xorshift(rng);
      m_tready = (rng % 100) >= bp;
      @(negedge clk);  // combinational handshakes settled
      if (s_tvalid && s_tready) begin
        $display("I %0d", cyc);
        ni = ni + 1;
      end
      if (m_tvalid && m_tready) begin
        $display("O %0d %h %0d", cyc, m_tdata, m_tlast);
        no = no + 1;
      end
      cyc = cyc + 1;
      @(posedge clk);
      #1;
    end
    if (no < N_OUT) $display("TIMEOUT after %0d cycles", cyc);
    $finish;
  end
endmodule
