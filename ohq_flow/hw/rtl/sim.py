"""RTL simulation of a generated layer with Icarus Verilog, compared with integer numpy.

The testbench drives the da4ml wrapper (inputs packed LSB-first, ``in_bits`` each; outputs
``out_width`` bits each in one common fixed-point format), holds each vector for latency + 2 cycles, and prints
the outputs in hex. Values are decoded with each output's fractional bits.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ohq_flow.errors import InputError
from ohq_flow.hw.rtl.cmvm import RtlDesign
from ohq_flow.hw.tools import run_tool


def _pack(vec: np.ndarray, bits: int) -> int:
    word = 0
    for i, v in enumerate(vec.astype(np.int64)):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


def _testbench(design: RtlDesign, n_vectors: int, vec_file: Path) -> str:
    in_w = design.n_inputs * design.in_bits
    out_w = design.n_outputs * design.out_width
    hold = design.latency_cycles + 2
    clk = design.stages > 0
    return f"""`timescale 1ns/1ps
module tb;
  reg clk = 0;
  reg [{in_w - 1}:0] vecs [0:{n_vectors - 1}];
  reg [{in_w - 1}:0] inp;
  wire [{out_w - 1}:0] out;
  integer i, c;
  {design.top}_wrapper dut ({'.clk(clk), ' if clk else ''}.model_inp(inp), .model_out(out));
  initial begin
    $readmemh("{vec_file}", vecs);
    for (i = 0; i < {n_vectors}; i = i + 1) begin
      inp = vecs[i];
      for (c = 0; c < {hold}; c = c + 1) begin #5 clk = 1; #5 clk = 0; end
      $display("OUT %h", out);
    end
    $finish;
  end
endmodule
"""


def simulate(design: RtlDesign, x_int: np.ndarray, work_dir: Path, timeout_s: float = 600) -> np.ndarray:
    """Run the design on integer input vectors [N, n_inputs]; returns the outputs [N, n_outputs]."""
    if shutil.which("iverilog") is None:
        raise InputError("iverilog is not installed", "make test installs it (apt-get install iverilog)")
    work_dir.mkdir(parents=True, exist_ok=True)
    x_int = np.atleast_2d(np.asarray(x_int))
    vec_file = work_dir / "vectors.hex"
    hexw = (design.n_inputs * design.in_bits + 3) // 4
    vec_file.write_text("\n".join(f"{_pack(v, design.in_bits):0{hexw}x}" for v in x_int) + "\n")
    (work_dir / "tb.v").write_text(_testbench(design, len(x_int), vec_file))
    sources = [s for s in design.sources]
    run_tool(["iverilog", "-g2012", "-o", str(work_dir / "sim.vvp"), str(work_dir / "tb.v"), *map(str, sources)],
             log_path=work_dir / "iverilog.log", timeout_s=timeout_s, cwd=design.out_dir / "src")
    res = run_tool(["vvp", "-n", str(work_dir / "sim.vvp")], log_path=work_dir / "vvp.log", timeout_s=timeout_s,
                   cwd=design.out_dir / "src")
    words = [int(line.split()[1], 16) for line in res.stdout.splitlines() if line.startswith("OUT ")]
    if len(words) != len(x_int):
        raise InputError(f"simulation printed {len(words)} of {len(x_int)} outputs; log: {work_dir / 'vvp.log'}")
    w = design.out_width
    out = np.zeros((len(words), design.n_outputs), dtype=np.float64)
    for n, word in enumerate(words):
        for j in range(design.n_outputs):
            v = (word >> (j * w)) & ((1 << w) - 1)
            if v >> (w - 1):
                v -= 1 << w
            out[n, j] = v * 2.0 ** (-design.out_frac)
    return out
