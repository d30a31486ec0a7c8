// ohq_flow: Verilator harness that connects the simulated board's UART pins to a pseudo-terminal.
// The host driver (ohq-flow board-run --port <pty>) talks to it like to a USB-UART: bytes written to
// the pty are sent bit by bit (8N1, OHQ_CPB clocks per bit) on uart_rx; bits on uart_tx are
// decoded and written back to the pty. Prints "PTY <path>" when ready; stops on SIGTERM/SIGINT.
#include "Vohq_board_core.h"
#include "verilated.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#ifndef OHQ_CPB
#error "compile with -DOHQ_CPB=<clocks per UART bit>"
#endif

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int) { g_stop = 1; }
double sc_time_stamp() { return 0; }

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) { std::perror("posix_openpt"); return 1; }
    const char* name = ptsname(master);
    int keep = open(name, O_RDWR | O_NOCTTY);      // held open: the master never sees a hang-up
    termios tio;
    tcgetattr(keep, &tio);
    cfmakeraw(&tio);
    tcsetattr(keep, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    std::printf("PTY %s\n", name);
    std::fflush(stdout);

    Vohq_board_core* top = new Vohq_board_core;
    auto tick = [&]() { top->clk = 1; top->eval(); top->clk = 0; top->eval(); };
    top->clk = 0; top->rst = 1; top->uart_rx = 1;
    for (int i = 0; i < 16; ++i) tick();
    top->rst = 0;

    std::deque<unsigned char> pending;      // host -> board bytes not yet serialised
    unsigned frame = 0; int ser_bits = 0, ser_cnt = 0;
    int des_state = 0, des_bit = 0, des_cnt = 0; unsigned char des_byte = 0;
    long idle = 0;
    while (!g_stop && !Verilated::gotFinish()) {
        if (pending.empty() && ser_bits == 0) {
            unsigned char buf[256];
            ssize_t n = read(master, buf, sizeof buf);
            for (ssize_t i = 0; i < n; ++i) pending.push_back(buf[i]);
        }
        if (ser_bits == 0 && !pending.empty()) {
            frame = (1u << 9) | (unsigned(pending.front()) << 1);   // stop, data, start
            pending.pop_front();
            ser_bits = 10; ser_cnt = OHQ_CPB;
        }
        top->uart_rx = ser_bits ? (frame & 1u) : 1u;
        tick();
        if (ser_bits && --ser_cnt == 0) { frame >>= 1; --ser_bits; ser_cnt = OHQ_CPB; }
        if (des_state == 0) {
            if (!top->uart_tx) { des_state = 1; des_bit = 0; des_byte = 0; des_cnt = OHQ_CPB + OHQ_CPB / 2; }
        } else if (--des_cnt == 0) {
            if (des_bit < 8) {
                des_byte |= (top->uart_tx & 1u) << des_bit; ++des_bit; des_cnt = OHQ_CPB;
            } else {
                if (write(master, &des_byte, 1) != 1) std::perror("pty write");
                des_state = 0;
            }
        }
        bool busy = ser_bits || des_state || !pending.empty() || !top->uart_tx;
        idle = busy ? 0 : idle + 1;
        if (idle > 200000 && idle % 1000 == 0) {   // nothing on the wires for a while: wait for the host
            pollfd p = {master, POLLIN, 0};
            poll(&p, 1, 5);
        }
    }
    top->final();
    delete top;
    return 0;
}
