// ohq_flow: UART shell around a streaming network (AXI-Stream in and out), one frame at a time.
//
// Protocol (bytes on the UART, 8N1; multi-byte words little-endian; a beat is ceil(W/8) bytes,
// bit 0 of the beat in the first byte):
//   host 'F' + IN_BEATS beats     -> board 'R', status, OUT_BEATS beats, 32-bit cycle count
//   host 'I'                      -> board 'I', IN_W, IN_BEATS, OUT_W, OUT_BEATS (32 bits each)
// The input frame is buffered first, then streamed into the network at full rate; the output
// frame is buffered, then sent. cycles = clock cycles from the first input beat accepted to the
// last output beat. status bit 0: tlast came with the last output beat; bit 1: tlast came early.
// THROTTLE = 1 drops m_axis_tready every other cycle (exercises back-pressure in simulation).
`default_nettype none
module ohq_uart_shell #(
    parameter integer IN_W = 8,
    parameter integer IN_BEATS = 1,
    parameter integer OUT_W = 8,
    parameter integer OUT_BEATS = 1,
    parameter integer CLKS_PER_BIT = 217,
    parameter integer THROTTLE = 0
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             uart_rx,
    output wire             uart_tx,
    // to the network's s_axis
    output wire [IN_W-1:0]  n_in_tdata,
    output wire             n_in_tvalid,
    input  wire             n_in_tready,
    // from the network's m_axis
    input  wire [OUT_W-1:0] n_out_tdata,
    input  wire             n_out_tvalid,
    output wire             n_out_tready,
    input  wire             n_out_tlast
);
    localparam integer IN_BPB  = (IN_W + 7) / 8;
    localparam integer OUT_BPB = (OUT_W + 7) / 8;
    localparam integer IW = IN_BPB * 8;
    localparam integer OW = OUT_BPB * 8;
    localparam integer IBW = $clog2(IN_BEATS + 1);
    localparam integer OBW = $clog2(OUT_BEATS + 1);
    localparam integer IYW = $clog2(IN_BPB + 1);
    localparam integer OYW = $clog2(OUT_BPB + 1);
    localparam [7:0] CMD_FRAME = 8'h46, CMD_INFO = 8'h49, REPLY = 8'h52;
    localparam [2:0] S_CMD = 3'd0, S_RXF = 3'd1, S_RUN = 3'd2, S_TX = 3'd3;
    // transmit phases
    localparam [2:0] T_HEAD = 3'd0, T_STATUS = 3'd1, T_DATA = 3'd2, T_CYCLES = 3'd3, T_INFO = 3'd4;
    localparam [127:0] INFO = {OUT_BEATS[31:0], OUT_W[31:0], IN_BEATS[31:0], IN_W[31:0]};

    wire [7:0] rx_data;
    wire       rx_valid;
    reg  [7:0] tx_data;
    reg        tx_valid;
    wire       tx_ready;
    ohq_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (.clk(clk), .rst(rst), .rx(uart_rx), .data(rx_data), .valid(rx_valid));
    ohq_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (.clk(clk), .rst(rst), .data(tx_data), .valid(tx_valid),
                                                     .ready(tx_ready), .tx(uart_tx));

    reg [IN_W-1:0]  inmem  [0:IN_BEATS-1];
    reg [OUT_W-1:0] outmem [0:OUT_BEATS-1];
    reg [2:0]   state;
    reg [IBW-1:0] ibeat;         // receive: beats written; run: beats sent to the network
    reg [IYW-1:0] ibyte;
    reg [IW-1:0]  in_sr;
    reg [OBW-1:0] obeat;         // run: beats received; transmit: beats sent
    reg [OYW-1:0] obyte;
    reg [OW-1:0]  out_sr;
    reg [2:0]   phase;
    reg [4:0]   k;               // byte index in the status / cycles / info words
    reg [31:0]  count;
    reg [31:0]  cycles;
    reg         running;
    reg [1:0]   status;
    reg         tick;

    wire [IW+7:0] in_cat = {rx_data, in_sr};
    assign n_in_tdata   = inmem[ibeat];
    assign n_in_tvalid  = (state == S_RUN) && (ibeat < IN_BEATS);
    assign n_out_tready = (state == S_RUN) && (obeat < OUT_BEATS) && (THROTTLE == 0 || tick);
    wire in_fire  = n_in_tvalid && n_in_tready;
    wire out_fire = n_out_tvalid && n_out_tready;
    wire last_out = out_fire && (obeat == OUT_BEATS - 1);
    wire [OW+7:0] out_zext = {{(OW + 8 - OUT_W){1'b0}}, outmem[obeat]};

    always @(posedge clk) begin
        tick <= ~tick;
        if (rst) begin
            state <= S_CMD; phase <= T_HEAD; tx_valid <= 1'b0; tx_data <= 8'd0; running <= 1'b0;
            ibeat <= 0; ibyte <= 0; obeat <= 0; obyte <= 0; k <= 0; count <= 0; cycles <= 0; status <= 2'b00;
            tick <= 1'b0;
        end else begin
            if (tx_valid && tx_ready) tx_valid <= 1'b0;
            case (state)
            S_CMD: if (rx_valid) begin
                if (rx_data == CMD_FRAME) begin
                    state <= S_RXF; ibeat <= 0; ibyte <= 0;
                end else if (rx_data == CMD_INFO) begin
                    state <= S_TX; phase <= T_HEAD; tx_data <= CMD_INFO; tx_valid <= 1'b1; k <= 0;
                end
            end
            S_RXF: if (rx_valid) begin
                in_sr <= in_cat[IW+7:8];
                if (ibyte == IN_BPB - 1) begin
                    inmem[ibeat] <= in_cat[IN_W+7:8];
                    ibyte <= 0;
                    if (ibeat == IN_BEATS - 1) begin
                        state <= S_RUN; ibeat <= 0; obeat <= 0; running <= 1'b0; count <= 0; status <= 2'b00;
                    end else begin
                        ibeat <= ibeat + 1'b1;
                    end
                end else begin
                    ibyte <= ibyte + 1'b1;
                end
            end
            S_RUN: begin
                if (in_fire) ibeat <= ibeat + 1'b1;
                if (running) count <= count + 1'b1;
                if (in_fire && ibeat == 0) begin
                    running <= 1'b1; count <= 0;
                end
                if (out_fire) begin
                    outmem[obeat] <= n_out_tdata;
                    obeat <= obeat + 1'b1;
                    if (n_out_tlast && !last_out) status[1] <= 1'b1;
                    if (n_out_tlast && last_out) status[0] <= 1'b1;
                end
                if (last_out) begin
                    cycles <= (running && !(in_fire && ibeat == 0)) ? count + 1'b1 : 32'd0;
                    running <= 1'b0;
                    state <= S_TX; phase <= T_HEAD; tx_data <= REPLY; tx_valid <= 1'b1; obeat <= 0; obyte <= 0; k <= 0;
                end
            end
            S_TX: if (!tx_valid || tx_ready) begin
                // the previous byte is taken (or about to be): queue the next one
                tx_valid <= 1'b1;
                case (phase)
                T_HEAD: if (tx_data == CMD_INFO) begin
                            phase <= T_INFO; tx_data <= INFO[7:0]; k <= 1;
                        end else begin
                            phase <= T_STATUS; tx_data <= {6'd0, status};
                        end
                T_STATUS: begin
                    phase <= T_DATA; tx_data <= out_zext[7:0]; out_sr <= out_zext[OW+7:8];
                    obyte <= 1;
                end
                T_DATA: begin
                    if (obyte == OUT_BPB) begin
                        if (obeat == OUT_BEATS - 1) begin
                            phase <= T_CYCLES; tx_data <= cycles[7:0]; k <= 1;
                        end else begin
                            obeat <= obeat + 1'b1; obyte <= 0; tx_valid <= 1'b0;   // one cycle to read the next beat
                        end
                    end else if (obyte == 0) begin
                        tx_data <= out_zext[7:0]; out_sr <= out_zext[OW+7:8]; obyte <= 1;
                    end else begin
                        tx_data <= out_sr[7:0]; out_sr <= out_sr >> 8; obyte <= obyte + 1'b1;
                    end
                end
                T_CYCLES: if (k == 4) begin
                              tx_valid <= 1'b0; state <= S_CMD;
                          end else begin
                              tx_data <= cycles[8*k +: 8]; k <= k + 1'b1;
                          end
                default: if (k == 16) begin                                        // T_INFO
                             tx_valid <= 1'b0; state <= S_CMD;
                         end else begin
                             tx_data <= INFO[8*k +: 8]; k <= k + 1'b1;
                         end
                endcase
            end
            default: state <= S_CMD;
            endcase
        end
    end
endmodule
`default_nettype wire
