// ohq_flow: board top for an FPGA: oscillator -> (PLL) -> clock, power-on reset, UART pins.
// USE_PLL = 0: the network runs on the oscillator. USE_PLL = 1 (ECP5 only): an EHXPLLL makes the
// clock (CLKI_DIV, CLKFB_DIV, CLKOP_DIV, CLKOP_CPHASE chosen by ohq_flow.implement.pll); reset is
// held until the PLL locks.
`default_nettype none
module ohq_board_top #(
    parameter integer IN_W = 8,
    parameter integer IN_BEATS = 1,
    parameter integer OUT_W = 8,
    parameter integer OUT_BEATS = 1,
    parameter integer CLKS_PER_BIT = 217,
    parameter integer USE_PLL = 0,
    parameter integer CLKI_DIV = 1,
    parameter integer CLKFB_DIV = 1,
    parameter integer CLKOP_DIV = 1,
    parameter integer CLKOP_CPHASE = 0
) (
    input  wire clk_osc,
    input  wire uart_rx,
    output wire uart_tx
);
    wire clk, locked;
    generate if (USE_PLL) begin : g_pll
        (* FREQUENCY_PIN_CLKI = "0" *)
        EHXPLLL #(
            .PLLRST_ENA("DISABLED"), .INTFB_WAKE("DISABLED"), .STDBY_ENABLE("DISABLED"), .DPHASE_SOURCE("DISABLED"),
            .OUTDIVIDER_MUXA("DIVA"), .OUTDIVIDER_MUXB("DIVB"), .OUTDIVIDER_MUXC("DIVC"), .OUTDIVIDER_MUXD("DIVD"),
            .CLKI_DIV(CLKI_DIV), .CLKOP_ENABLE("ENABLED"), .CLKOP_DIV(CLKOP_DIV), .CLKOP_CPHASE(CLKOP_CPHASE),
            .CLKOP_FPHASE(0), .FEEDBK_PATH("CLKOP"), .CLKFB_DIV(CLKFB_DIV)
        ) u_pll (
            .RST(1'b0), .STDBY(1'b0), .CLKI(clk_osc), .CLKOP(clk), .CLKFB(clk), .CLKINTFB(),
            .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b1), .PHASESTEP(1'b1), .PHASELOADREG(1'b1),
            .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0), .LOCK(locked));
    end else begin : g_osc
        assign clk = clk_osc;
        assign locked = 1'b1;
    end endgenerate

    reg [7:0] por = 8'd0;        // power-on reset: 255 cycles after lock
    wire rst = ~&por;
    always @(posedge clk) begin
        if (!locked) por <= 8'd0;
        else if (rst) por <= por + 1'b1;
    end

    ohq_board_core #(.IN_W(IN_W), .IN_BEATS(IN_BEATS), .OUT_W(OUT_W), .OUT_BEATS(OUT_BEATS),
                     .CLKS_PER_BIT(CLKS_PER_BIT)) u_core (.clk(clk), .rst(rst), .uart_rx(uart_rx), .uart_tx(uart_tx));
endmodule
`default_nettype wire
