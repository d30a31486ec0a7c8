// ohq_flow: UART receiver, 8 data bits, no parity, 1 stop bit (8N1), LSB first.
// CLKS_PER_BIT = clock frequency / baud rate. The line is synchronised (2 flip-flops) and sampled
// in the middle of each bit; a start bit that is not low at its middle is ignored (glitch).
`default_nettype none
module ohq_uart_rx #(parameter integer CLKS_PER_BIT = 217) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rx,
    output reg  [7:0] data,
    output reg        valid      // one cycle per received byte
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    reg [1:0] sync;
    reg [CW-1:0] cnt;
    reg [3:0] bitn;              // 0: start bit, 1..8: data bits, 9: stop bit
    reg busy;
    reg [7:0] sr;
    wire line = sync[1];
    always @(posedge clk) begin
        sync  <= {sync[0], rx};
        valid <= 1'b0;
        if (rst) begin
            sync <= 2'b11; busy <= 1'b0; cnt <= 0; bitn <= 0; sr <= 8'd0; data <= 8'd0;
        end else if (!busy) begin
            if (!line) begin                     // falling edge: wait half a bit, then sample
                busy <= 1'b1; bitn <= 0; cnt <= CLKS_PER_BIT[CW-1:0] >> 1;
            end
        end else if (cnt != 0) begin
            cnt <= cnt - 1'b1;
        end else begin
            cnt <= CLKS_PER_BIT[CW-1:0] - 1'b1;
            if (bitn == 0) begin
                if (line) busy <= 1'b0;          // not a start bit after all
                bitn <= 1;
            end else if (bitn <= 8) begin
                sr   <= {line, sr[7:1]};
                bitn <= bitn + 1'b1;
            end else begin
                busy <= 1'b0;
                if (line) begin                  // a valid stop bit
                    data  <= sr;
                    valid <= 1'b1;
                end
            end
        end
    end
endmodule
`default_nettype wire
