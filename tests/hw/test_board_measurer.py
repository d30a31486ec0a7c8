"""Board measurer: a user command (argument list, placeholders per argument) printing JSON."""

from __future__ import annotations

import sys

import pytest

from ohq_flow.errors import FlowError, InputError
from ohq_flow.hw.measurers.board import measure_board, substitute_argv

SCRIPT = """
import json, sys
layer, w, a, project, mode = sys.argv[1:6]
print("measuring", layer, w, a, project)
if mode == "ok":
    print(json.dumps({"latency_cycles": 10 * int(w) + int(a), "clock_ns": 5.0, "lut": 123, "tool": "pynq"}))
elif mode == "ns":
    print(json.dumps({"latency_ns": 812.5}))
elif mode == "nojson":
    print("latency: 5 us")
elif mode == "nokey":
    print(json.dumps({"throughput": 3}))
elif mode == "badvalue":
    print(json.dumps({"latency_ns": "fast"}))
elif mode == "fail":
    sys.exit(4)
"""


@pytest.fixture
def command(tmp_path):
    script = tmp_path / "measure.py"
    script.write_text(SCRIPT)

    def make(mode: str):
        return [sys.executable, str(script), "{layer}", "{w_bits}", "{a_bits}", "prj={project}", mode]
    return make


def test_measured_row(command, tmp_path):
    row = measure_board(command("ok"), layer="fc0", w_bits=4, a_bits=6, log_path=tmp_path / "b.log", timeout_s=30,
                        project=tmp_path / "p")
    assert (row.layer, row.w_bits, row.a_bits, row.source, row.fidelity) == ("fc0", 4, 6, "board", "measured")
    assert row.latency_cycles == 46.0 and row.clock_ns == 5.0 and row.latency_ns == 230.0 and row.lut == 123.0
    assert row.tool == "pynq" and row.ff is None
    assert f"measuring fc0 4 6 prj={tmp_path / 'p'}" in (tmp_path / "b.log").read_text()


def test_latency_ns_only(command, tmp_path):
    row = measure_board(command("ns"), layer="c", w_bits=2, a_bits=2, log_path=tmp_path / "b.log", timeout_s=30)
    assert row.latency_ns == 812.5 and row.latency_cycles is None


@pytest.mark.parametrize("mode,match", [("nojson", "no JSON"), ("nokey", "neither 'latency_ns'"),
                                        ("badvalue", "finite number"), ("fail", "exited with code 4")])
def test_errors_name_the_log(command, tmp_path, mode, match):
    log = tmp_path / f"{mode}.log"
    with pytest.raises(FlowError, match=match) as exc:
        measure_board(command(mode), layer="c", w_bits=2, a_bits=2, log_path=log, timeout_s=30)
    assert str(log) in str(exc.value)


def test_placeholders_are_not_a_shell(tmp_path):
    argv = substitute_argv(["run", "--layer={layer}", "{w_bits}{a_bits}", "{other}"],
                           {"layer": "a; rm -rf /", "w_bits": 3, "a_bits": 8})
    assert argv == ["run", "--layer=a; rm -rf /", "38", "{other}"]
    with pytest.raises(InputError):
        measure_board([], layer="c", w_bits=2, a_bits=2, log_path=tmp_path / "x.log", timeout_s=5)


def test_timeout(tmp_path):
    argv = [sys.executable, "-c", "import time; time.sleep(10)"]
    with pytest.raises(FlowError, match="timed out"):
        measure_board(argv, layer="c", w_bits=2, a_bits=2, log_path=tmp_path / "t.log", timeout_s=0.5)
