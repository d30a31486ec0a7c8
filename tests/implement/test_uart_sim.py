"""The board I/O shell and the host driver together: Verilator simulates shell + network behind a
pseudo-terminal, the driver talks to it through pyserial — the same code path as a real board."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import serial

from ohq_flow.implement.board_run import ShellLink, board_run, main_board_run, pack_frame, unpack_frame
from ohq_flow.implement.design import load_design
from ohq_flow.implement.uart_sim import build_uart_sim, start_uart_sim

from .conftest import make_run

needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")


@pytest.mark.parametrize("signed", [True, False])
def test_frame_packing_round_trip(signed):
    rng = np.random.default_rng(1)
    bits, channels, beats = 5, 3, 4
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1)) if signed else (0, 2 ** bits)
    x = rng.integers(lo, hi, size=(beats, channels))
    data = pack_frame(x, channels * bits + 1, bits)
    assert len(data) == beats * 2                                   # 16 bits -> 2 bytes per beat
    np.testing.assert_array_equal(unpack_frame(data, beats, channels * bits + 1, channels, bits, signed), x)


@needs_verilator
def test_board_run_over_simulated_uart(tmp_path, vectors):
    cfg = make_run(tmp_path)
    run = tmp_path / "run"
    x, y = vectors
    labels = y.reshape(len(y), -1).argmax(axis=1)
    labels[0] = 1 - labels[0]                                       # one wrong label: accuracy 23/24
    (run / "final/verify").mkdir(parents=True)
    np.savez(run / "final/verify/network_vectors.npz", x=x, y=y, labels=labels)
    (run / "final/impl").mkdir(parents=True)
    (run / "final/impl/impl.json").write_text(json.dumps({"target_mhz": 50.0}))
    spec, sources, incs = load_design(run / "final/design/design.json")
    exe = build_uart_sim(spec, sources, incs, tmp_path / "sim", clks_per_bit=8, throttle=True)
    proc, pty = start_uart_sim(exe)
    try:
        res = main_board_run(run, pty, timeout_s=20)
        assert res["frames"] == len(x) and res["bit_exact"] == len(x) and res["tlast_errors"] == 0
        assert res["accuracy"] == pytest.approx((len(x) - 1) / len(x))
        # the shell counts from the first input beat accepted to the last output beat: at least the
        # 3 further input beats, the output is registered
        assert 4 <= res["cycles_min"] <= res["cycles_max"] < 40
        assert res["latency_ns_median"] == pytest.approx(res["cycles_median"] * 1000 / 50.0)
        assert json.loads((run / "final/impl/board_run.json").read_text())["bit_exact"] == len(x)
        # a wrong expectation is reported frame by frame
        y_bad = y.copy()
        y_bad[3, 1, 0] += 1
        with serial.Serial(pty, 115200, timeout=20) as ser:
            bad = board_run(ShellLink(ser, spec), x[:6], y_bad[:6])
        assert bad.exact == 5 and bad.mismatches == [3]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
