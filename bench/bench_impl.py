"""Benchmark of the ECP5 implementation: P&R wall time vs design size, post-route Fmax vs the
Yosys depth estimate, and per-layer post-route costs vs Yosys-only costs.

Part 1 (``dense``): da4ml dense kernels (N x N, 4-bit signed weights and inputs, random weights,
pipelined at ``latency_cutoff`` 5) are each wrapped in a streaming top (bench/rtl/dense_stream.v)
and the board UART shell, then synthesised (synth_ecp5), placed and routed (nextpnr-ecp5,
router2) and packed (ecppack) for the ULX3S 85F at 100 MHz (PLL from 25 MHz) with no cache. The
same kernel is also synthesised out of context by the Yosys measurer (synth_xilinx xc7, and
synth_ecp5) for its logic depth and clock estimate.

Part 2 (``layers``): the digits example's layers (examples/digits/flow.yaml, ULX3S 85F) at a few
bit-widths: the kernel the Yosys measurer synthesises, measured by the Yosys measurer (synth_ecp5:
LUT4-equivalent cells, depth -> clock estimate) and placed and routed out of context by
``ohq_flow.implement.ooc.ooc_layer`` (nextpnr-ecp5 --out-of-context: post-route LUT4 and Fmax).

Prints the markdown section and writes docs/bench_impl.json.

    (from the repository root) .venv/bin/python -m bench.bench_impl [--sizes 8 16 24] [--only dense|layers]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import string
import sys
import tempfile
from pathlib import Path

import numpy as np

from ohq_flow.boards import resolve_board
from ohq_flow.fileio import atomic_write_json
from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
from ohq_flow.hw.rtl.yosys import measure_yosys
from ohq_flow.implement.design import DesignSpec
from ohq_flow.implement.ecp5 import Ecp5Settings, implement_ecp5
from ohq_flow.implement.ooc import ooc_layer

ROOT = Path(__file__).resolve().parents[1]
WRAPPER = ROOT / "bench" / "rtl" / "dense_stream.v"
# (layer, weight bits, activation bits) of part 2: every layer at low precision, the small ones up to W8A8
LAYER_POINTS = [("Conv_0", 2, 4), ("Conv_0", 4, 6), ("Conv_0", 8, 8), ("Conv_1", 2, 4), ("MatMul_0", 2, 4),
                ("MatMul_1", 2, 4), ("MatMul_1", 4, 6), ("MatMul_1", 8, 8)]


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


def dense_rows(sizes, bits: int, board, target_mhz: float, reports: Path | None) -> list[dict]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench_impl_{n}_") as tmp:
            work = Path(tmp)
            d, spec, sources = dense_design(n, bits, work)
            ys = measure_yosys(d.sources, "dense_wrapper", family="xc7", work_dir=work / "yosys", timeout_s=3600)
            ye = measure_yosys(d.sources, "dense_wrapper", family="ecp5", work_dir=work / "yosys_ecp5", timeout_s=3600)
            res = implement_ecp5(spec, sources, [], board, work / "impl", Ecp5Settings(target_mhz=target_mhz, timeout_s=3600),
                                 None, echo=lambda s: None)
            if reports:
                reports.mkdir(parents=True, exist_ok=True)
                (reports / f"dense{n}x{n}_{board.name}.json").write_bytes((work / "impl" / "nextpnr_report.json").read_bytes())
            cp = res["critical_path"] or {}
            rows.append({"n": n, "bits": bits, "kernel_stages": d.stages, "da4ml_cost": d.da4ml_cost,
                         "xc7_lut": ys.lut, "yosys_depth": ys.depth, "yosys_est_mhz_xc7": round(1000 / ys.est_clock_ns, 1),
                         "ecp5_kernel_lut4": ye.lut, "ecp5_depth": ye.depth, "yosys_est_mhz_ecp5": round(1000 / ye.est_clock_ns, 1),
                         "lut4": res["lut4"], "ff": res["ff"], "fmax_mhz": res["fmax_mhz"], "target_mhz": res["target_mhz"],
                         "critical_path_levels": cp.get("levels"), "critical_path_logic_ns": cp.get("logic_ns"),
                         "critical_path_routing_ns": cp.get("routing_ns"), "critical_from": cp.get("from_cell"), "critical_to": cp.get("to_cell"),
                         "synth_s": res["seconds"]["synth"], "pnr_s": res["seconds"]["pnr"], "pack_s": res["seconds"]["pack"],
                         "cpu_s": res["cpu_seconds"], "bitstream_bytes": (work / "impl" / "design.bit").stat().st_size})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def layer_rows(points, target_mhz: float) -> list[dict]:
    """The digits example's layer kernels: Yosys measurer (synth_ecp5) vs out-of-context nextpnr-ecp5."""
    from ohq_flow.config import load_config
    from ohq_flow.hw.extract import layer_integer_matrix
    from ohq_flow.model.export import export_model
    from ohq_flow.model.layers import discover_layers
    cfg = load_config(ROOT / "examples" / "digits" / "flow.yaml")
    board = cfg.board_obj()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_impl_layers_") as tmp:
        work = Path(tmp)
        model, _ = export_model(cfg, work / "model.onnx")
        layers = {l.name: l for l in discover_layers(model)}
        for name, w, a in points:
            layer = layers[name]
            q = layer.input_quant
            signed = bool(q.signed) if q is not None and q.signed is not None else True
            d = work / f"{name}_w{w}a{a}"
            res = ooc_layer(layer_integer_matrix(model, layer, w)[0], w_bits=w, a_bits=a, a_signed=signed, board=board, work_dir=d,
                            latency_cutoff=cfg.hardware.latency_cutoff, clock_ns=cfg.clock_ns(), target_mhz=target_mhz,
                            settings=Ecp5Settings(timeout_s=3600))
            ys = measure_yosys([Path(x) for x in res["sources"]], res["top"], family="ecp5", work_dir=d / "yosys", timeout_s=3600)
            cp = res["critical_path"] or {}
            rows.append({"layer": name, "w_bits": w, "a_bits": a, "weights": int(np.count_nonzero(layer_integer_matrix(model, layer, w)[0])),
                         "yosys_lut4": ys.lut, "yosys_ff": ys.ff, "yosys_depth": ys.depth,
                         "yosys_est_mhz": round(1000 / ys.est_clock_ns, 1),
                         "pnr_lut4": res["lut4"], "pnr_ff": res["ff"], "pnr_fmax_mhz": res["fmax_mhz"],
                         "lut4_error_pct": round(100 * (ys.lut - res["lut4"]) / res["lut4"], 1) if res["lut4"] else None,
                         "fmax_error_pct": round(100 * (1000 / ys.est_clock_ns - res["fmax_mhz"]) / res["fmax_mhz"], 1)
                         if res["fmax_mhz"] else None,
                         "critical_path_levels": cp.get("levels"), "critical_path_routing_ns": cp.get("routing_ns"),
                         "synth_s": res["seconds"]["synth"], "pnr_s": res["seconds"]["pnr"], "cpu_s": res["cpu_seconds"]})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def _load() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 24])
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--board", default="ulx3s-85f")
    ap.add_argument("--target-mhz", type=float, default=100.0)
    ap.add_argument("--only", choices=["dense", "layers"], default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench_impl.json")
    ap.add_argument("--reports", type=Path, default=None, help="copy each nextpnr report here (fixtures)")
    args = ap.parse_args(argv)
    board = resolve_board(args.board)
    load_before = _load()
    dense = dense_rows(args.sizes, args.bits, board, args.target_mhz, args.reports) if args.only != "layers" else []
    layers = layer_rows(LAYER_POINTS, args.target_mhz) if args.only != "dense" else []
    load_after = _load()
    atomic_write_json(args.out, {"benchmark": "bench/bench_impl.py",
                                 "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "board": board.name,
                                 "cpus": os.cpu_count(), "load_average_before_after": [load_before, load_after],
                                 "note": "2 cores shared with other jobs: wall times are under load, CPU seconds are not",
                                 "rows": dense, "layers": layers})
    print_section(dense, layers, board, args, load_before, load_after)
    return 0


def print_section(dense: list[dict], layers: list[dict], board, args, load_before: str, load_after: str) -> None:
    """The markdown section of docs/benchmarks.md."""
    print(f"ECP5 implementation on the {board.name} ({board.part}), Yosys synth_ecp5 -> nextpnr-ecp5 (YoWASP, router2, "
          f"seed 1) -> ecppack, target {args.target_mhz:g} MHz, no cache. The 2 cores were shared with other jobs "
          f"(load average {load_before} before, {load_after} after): wall times are under load; CPU seconds "
          "(user+sys of the tool processes) are the load-independent figure.\n")
    if dense:
        print(f"### P&R time vs design size (da4ml N×N dense kernel, {args.bits}-bit, in a streaming top + the UART shell)\n")
        print("| N×N | design LUT4 / FF post-route | synth s wall (CPU) | P&R s wall (CPU) | pack s wall (CPU) | bitstream bytes |")
        print("|---|---|---|---|---|---|")
        for r in dense:
            c = r["cpu_s"]
            print(f"| {r['n']}×{r['n']} | {r['lut4']:,} / {r['ff']:,} | {r['synth_s']:.0f} ({c['synth']:.1f}) | "
                  f"{r['pnr_s']:.0f} ({c['pnr']:.1f}) | {r['pack_s']:.0f} ({c['pack']:.1f}) | {r['bitstream_bytes']:,} |")
        if len(dense) > 1:
            a, b = dense[0], dense[-1]
            print(f"\n{b['lut4'] / a['lut4']:.1f}× the LUT4 ({a['n']}×{a['n']} -> {b['n']}×{b['n']}) cost "
                  f"{b['cpu_s']['pnr'] / a['cpu_s']['pnr']:.1f}× the P&R CPU time.")
        print("\n### Post-route Fmax vs the Yosys depth estimate (same designs)\n")
        print("| N×N | kernel LUT (xc7) / LUT4 (ecp5), Yosys | depth xc7 / ecp5 | estimate xc7 model | estimate ecp5 model | "
              "post-route Fmax | error of the ecp5 estimate | critical path: levels, logic / routing ns |")
        print("|---|---|---|---|---|---|---|---|")
        for r in dense:
            err = 100 * (r["yosys_est_mhz_ecp5"] - r["fmax_mhz"]) / r["fmax_mhz"]
            print(f"| {r['n']}×{r['n']} | {r['xc7_lut']:,} / {r['ecp5_kernel_lut4']:,} | {r['yosys_depth']} / {r['ecp5_depth']} | "
                  f"{r['yosys_est_mhz_xc7']} MHz | {r['yosys_est_mhz_ecp5']} MHz | {r['fmax_mhz']:.1f} MHz | {err:+.1f} % | "
                  f"{r['critical_path_levels']}, {r['critical_path_logic_ns']} / {r['critical_path_routing_ns']} |")
    if layers:
        print("\n### Per-layer: Yosys-only cost vs out-of-context place and route (digits example, ULX3S 85F)\n")
        print("The same da4ml kernel (the one the Yosys measurer synthesises for the cost table) measured by the Yosys "
              "measurer (synth_ecp5, LUT4-equivalent cells, clock estimated from the logic depth) and placed and routed "
              "out of context (`ohq_flow.implement.ooc.ooc_layer`: nextpnr-ecp5 --out-of-context, no I/O pads). "
              "Error = (Yosys - nextpnr) / nextpnr.\n")
        print("| layer | w/a bits | Yosys LUT4 | nextpnr LUT4 | LUT4 error | Yosys FF / nextpnr FF | depth | estimated MHz | "
              "post-route Fmax | Fmax error | P&R s wall (CPU) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in layers:
            print(f"| {r['layer']} | w{r['w_bits']}a{r['a_bits']} | {r['yosys_lut4']:,} | {r['pnr_lut4']:,} | "
                  f"{r['lut4_error_pct']:+.1f} % | {r['yosys_ff']:,} / {r['pnr_ff']:,} | {r['yosys_depth']} | "
                  f"{r['yosys_est_mhz']} | {r['pnr_fmax_mhz']:.1f} | {r['fmax_error_pct']:+.1f} % | "
                  f"{r['pnr_s']:.0f} ({r['cpu_s']['pnr']:.1f}) |")
        errs = [abs(r["lut4_error_pct"]) for r in layers if r["lut4_error_pct"] is not None]
        ferrs = [abs(r["fmax_error_pct"]) for r in layers if r["fmax_error_pct"] is not None]
        if errs:
            print(f"\nYosys-only LUT4 vs post-route: mean |error| {sum(errs) / len(errs):.1f} %, max {max(errs):.1f} %; "
                  f"depth-estimated clock vs post-route Fmax: mean |error| {sum(ferrs) / len(ferrs):.1f} %, max {max(ferrs):.1f} %.")


if __name__ == "__main__":
    raise SystemExit(main())
