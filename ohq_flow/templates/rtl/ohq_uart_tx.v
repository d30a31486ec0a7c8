// ohq_flow: UART transmitter, 8N1, LSB first. A byte is taken when valid && ready.
`default_nettype none
module ohq_uart_tx #(parameter integer CLKS_PER_BIT = 217) (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] data,
    input  wire       valid,
    output wire       ready,
    output wire       tx
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    reg [9:0] sr;                // stop bit, data, start bit (shifted out LSB first)
    reg [3:0] left;              // bits still to send
    reg [CW-1:0] cnt;
    assign ready = (left == 0);
    assign tx    = (left == 0) ? 1'b1 : sr[0];
    always @(posedge clk) begin
        if (rst) begin
            sr <= 10'h3ff; left <= 0; cnt <= 0;
        end else if (left == 0) begin
            if (valid) begin
                sr <= {1'b1, data, 1'b0}; left <= 4'd10; cnt <= CLKS_PER_BIT[CW-1:0] - 1'b1;
            end
        end else if (cnt != 0) begin
            cnt <= cnt - 1'b1;
        end else begin
            sr   <= {1'b1, sr[9:1]};
            left <= left - 1'b1;
            cnt  <= CLKS_PER_BIT[CW-1:0] - 1'b1;
        end
    end
endmodule
`default_nettype wire
