"""Benchmark of the ECP5 implementation: P&R wall time vs design size, post-route Fmax vs the
Yosys depth estimate.

Three da4ml dense kernels (N x N, 4-bit signed weights and inputs, random weights, pipelined at
``latency_cutoff`` 5) are each wrapped in a streaming top (bench/rtl/dense_stream.v) and the
board UART shell, then synthesised (synth_ecp5), placed and routed (nextpnr-ecp5, router2) and
packed (ecppack) for the ULX3S 85F at 100 MHz (PLL from 25 MHz) with no cache. The same kernel
is also synthesised out of context by the Yosys measurer (synth_xilinx xc7, and synth_ecp5) for
its logic depth and clock estimate. Prints a markdown table and writes docs/bench_impl.json.

    (from the repository root) .venv/bin/python -m bench.bench_impl [--sizes 8 16 32]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import string
import tempfile
from pathlib import Path

import numpy as np

from ohq_flow.boards import resolve_board
from ohq_flow.fileio import atomic_write_json
from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
from ohq_flow.hw.rtl.yosys import measure_yosys
from ohq_flow.implement.design import DesignSpec
from ohq_flow.implement.ecp5 import Ecp5Settings, implement_ecp5

ROOT = Path(__file__).resolve().parents[1]
WRAPPER = ROOT / "bench" / "rtl" / "dense_stream.v"


def dense_design(n: int, bits: int, work: Path, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=(n, n))
    d = generate_cmvm_rtl(w, w_bits=bits, a_bits=bits, a_signed=True, out_dir=work / "kernel", top="dense")
    top = work / "ohq_top.v"
    text = string.Template(WRAPPER.read_text()).substitute(kernel="dense_wrapper")
    in_w, out_w = n * bits, n * d.out_width
    text = text.replace("parameter integer IN_W = 8", f"parameter integer IN_W = {in_w}") \
               .replace("parameter integer OUT_W = 8", f"parameter integer OUT_W = {out_w}") \
               .replace("parameter integer LAT = 0", f"parameter integer LAT = {d.latency_cycles}")
    top.write_text(text)
    spec = DesignSpec(top="ohq_top", sources=["x"], in_width=in_w, in_beats=1, in_elem_bits=bits, in_signed=True, in_channels=n,
                      out_width=out_w, out_beats=1, out_elem_bits=d.out_width, out_signed=True, out_channels=n,
                      predicted_latency_cycles=d.latency_cycles + 1, predicted_ii_cycles=d.latency_cycles + 2)
    return d, spec, list(d.sources) + [top]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--board", default="ulx3s-85f")
    ap.add_argument("--target-mhz", type=float, default=100.0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_impl.json")
    ap.add_argument("--reports", type=Path, default=None, help="copy each nextpnr report here (fixtures)")
    args = ap.parse_args(argv)
    board = resolve_board(args.board)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench_impl_{n}_") as tmp:
            work = Path(tmp)
            d, spec, sources = dense_design(n, args.bits, work)
            ys = measure_yosys(d.sources, "dense_wrapper", family="xc7", work_dir=work / "yosys", timeout_s=1800)
            ye = measure_yosys(d.sources, "dense_wrapper", family="ecp5", work_dir=work / "yosys_ecp5", timeout_s=1800)
            res = implement_ecp5(spec, sources, [], board, work / "impl", Ecp5Settings(target_mhz=args.target_mhz), None,
                                 echo=lambda s: None)
            if args.reports:
                args.reports.mkdir(parents=True, exist_ok=True)
                (args.reports / f"dense{n}x{n}_{args.board}.json").write_bytes((work / "impl" / "nextpnr_report.json").read_bytes())
            cp = res["critical_path"] or {}
            rows.append({"n": n, "bits": args.bits, "kernel_stages": d.stages, "da4ml_cost": d.da4ml_cost,
                         "xc7_lut": ys.lut, "yosys_depth": ys.depth, "yosys_est_mhz_xc7": round(1000 / ys.est_clock_ns, 1),
                         "ecp5_kernel_lut4": ye.lut, "ecp5_depth": ye.depth, "yosys_est_mhz_ecp5": round(1000 / ye.est_clock_ns, 1),
                         "lut4": res["lut4"], "ff": res["ff"], "fmax_mhz": res["fmax_mhz"], "target_mhz": res["target_mhz"],
                         "critical_path_levels": cp.get("levels"), "critical_path_logic_ns": cp.get("logic_ns"),
                         "critical_path_routing_ns": cp.get("routing_ns"), "critical_from": cp.get("from_cell"), "critical_to": cp.get("to_cell"),
                         "synth_s": res["seconds"]["synth"], "pnr_s": res["seconds"]["pnr"], "pack_s": res["seconds"]["pack"],
                         "cpu_s": res["cpu_seconds"],
                         "bitstream_bytes": (work / "impl" / "design.bit").stat().st_size})
            print(json.dumps(rows[-1]), flush=True)
    atomic_write_json(args.out, {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "board": board.name,
                                 "cpus": os.cpu_count(), "note": "2 cores shared with other jobs; wall times are under load",
                                 "rows": rows})
    print("| N x N | xc7 LUT (Yosys) | xc7 depth | est. MHz (xc7) | kernel LUT4 / depth (synth_ecp5) | est. MHz (ecp5) | ECP5 LUT4 (all) | FF | post-route Fmax | crit. path levels (logic/routing ns) | synth s (CPU) | P&R s (CPU) | pack s (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']}x{r['n']} | {r['xc7_lut']} | {r['yosys_depth']} | {r['yosys_est_mhz_xc7']} | {r['ecp5_kernel_lut4']} / {r['ecp5_depth']} | "
              f"{r['yosys_est_mhz_ecp5']} | {r['lut4']} | {r['ff']} | "
              f"{r['fmax_mhz']:.1f} MHz | {r['critical_path_levels']} ({r['critical_path_logic_ns']}/{r['critical_path_routing_ns']}) | "
              f"{r['synth_s']:.1f} ({r['cpu_s']['synth']:.1f}) | {r['pnr_s']:.1f} ({r['cpu_s']['pnr']:.1f}) | {r['pack_s']:.1f} ({r['cpu_s']['pack']:.1f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
