"""Public trained QONNX models from other tools' example sets through the whole flow, next to what those tools published.

The models come from a local checkout of the QONNX model zoo (``--zoo DIR``; nothing is downloaded): FINN's MNIST
MLPs TFC-w1a1 and TFC-w2a2, FINN's keyword-spotting MLP (490-256-256-256-12, w3a3) and UNSW-NB15 MLP (w2a2), and the
hls4ml tutorial's QKeras jet tagger (16-64-32-32-5, 6-bit). Each goes through ``ohq-flow run`` on the ULX3S 85F with
a plain config (the complete design, Yosys ``synth_ecp5``, Verilator whole-network simulation against the QONNX
executor, nextpnr-ecp5 place and route), twice:

Both runs take the peer's initiation interval as an ``ii_cycles`` budget (the ILP chooses the folds of the layers
too large to unroll: without it the cheapest, slowest fold wins):

* ``own``: every layer pinned at the bit-widths the file carries, the folds at the least LUT for the II (``solver.minimize: lut``);
* ``plain`` (``--variants plain``): the plain config alone (no pins, no budget but the board);
* ``ilp``: the ILP's choice (weights 2..8 bits, activations 2..8 bits; a layer whose quantiser cannot change keeps
  its bits) under a LUT budget equal to the ILP's own price of the ``own`` design (the same design model on both
  sides; else its post-route or synthesised LUT4 count): the most
  accurate (least MQE damage) design that costs no more than the model's own.

Beside each: the figures the peer tool published for the same network (tool, part and source named; a different
device and tool is a different measurement: Xilinx LUT6 vs ECP5 LUT4, Vivado/HLS vs Yosys/nextpnr).

Without ``--zoo`` it prints which models it needs and how to get them, and exits 0.

    python -m bench.bench_peers --zoo /path/to/qonnx_model_zoo [--only tfc_w1a1,jet_tagger] [--variants own,ilp]
        [--runs DIR] [--no-implement] [--table-only]

Prints the markdown section ``peers``; writes docs/bench_peers.json after every run (a killed bench resumes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT_JSON = ROOT / "docs" / "bench_peers.json"
BOARD = "ulx3s-85f"
MAX_LANES = 1024          # FINN's folds of these models reach 784 lanes (TFC 784x64 at PE 16 x SIMD 49)
MAX_FOLDS = 16           # enough folds that one lands near the II budget (6 jump from 40 to 128 cycles on UNSW)

# name -> zoo path, model.input where the file leaves the input undeclared, description
MODELS = {
    "jet_tagger": ("models/JetTagging/QKeras_hls4ml_3layer/qkeras_jettagging.onnx",
                   {"bits": 16, "signed": True, "scale": 2.0 ** -10},
                   "hls4ml tutorial part 4 jet tagger, QKeras 6-bit, 16-64-32-32-5 + softmax (left to the host); "
                   "input as hls4ml's default ap_fixed<16,6>"),
    "unsw_nb15_w2a2": ("models/UNSW_NB15/unsw_nb15_mlp_w2a2/unsw_nb15-mlp-w2a2.onnx", None,
                       "FINN cybersecurity MLP 600-64-64-64-1, w2a2 (first activation 8-bit in the file), bipolar input"),
    "tfc_w1a1": ("models/MNIST/Brevitas_FINN_TFC/TFC/TFC_1W1A.onnx", None,
                 "FINN TFC-w1a1, 784-64-64-64-10, BipolarQuant weights and activations, BatchNorm"),
    "tfc_w2a2": ("models/MNIST/Brevitas_FINN_TFC/TFC/TFC_2W2A.onnx", None, "FINN TFC-w2a2, 784-64-64-64-10"),
    "kws_mlp_w3a3": ("models/GSCV2/kwsmlp_w3a3/kwsmlp_w3a3.onnx", None,
                     "FINN keyword-spotting MLP 490-256-256-256-12, w3a3, 8-bit input"),
}

# What the peer tools published for the same networks (read from the named public sources; not measured here).
PEERS = {
    "jet_tagger": {
        "tool": "hls4ml (Vitis HLS 2024.1 C-synthesis estimate, io_parallel, Latency strategy, 75% pruned)",
        "part": "AMD xcu250-figd2104-2L-e (Alveo U250, LUT6)", "clock_ns": 5.0,
        "lut": 42160, "ff": 3199, "dsp": 34, "bram18": 8, "latency_cycles": 12, "latency_ns": 60.0, "ii_cycles": 1,
        "throughput_fps": 200e6,
        "source": "hls4ml-tutorial part4_quantization.ipynb, read_vivado_report output (github.com/fastmachinelearning/"
                  "hls4ml-tutorial, commit c6b63d3, 2024-09-25); HLS estimates, which the tutorial says overestimate LUTs; "
                  "includes the softmax (its tables are the 8 BRAM18)"},
    "unsw_nb15_w2a2": {
        "tool": "FINN (Vivado out-of-context synthesis; rtlsim latency; target_fps 1M)",
        "part": "AMD xc7z020clg400-1 (PYNQ-Z1, LUT6)", "clock_ns": 10.0,
        "lut": 7073, "ff": 7534, "dsp": 0, "bram18": 18, "fmax_mhz": 106.7, "latency_cycles": 229, "latency_ns": 2290.0,
        "ii_cycles": 80, "throughput_fps": 954654,
        "source": "FINN cybersecurity tutorial 3-build-accelerator-with-finn.ipynb, ooc_synth_and_timing.json and "
                  "rtlsim_performance.json outputs (github.com/Xilinx/finn, notebooks/end2end_example/cybersecurity); "
                  "II 80 cycles from its estimate_network_performance.json (max_cycles), rtlsim throughput at 100 MHz"},
    "tfc_w1a1": {
        "tool": "FINN (finn-examples bnn-pynq build, folding II 64 cycles at 100 MHz; on-board throughput test)",
        "part": "AMD xc7z020 (PYNQ-Z1, LUT6)", "clock_ns": 10.0, "ii_cycles": 64, "throughput_fps": 837019,
        "source": "finn-examples 0_mnist_with_fc_networks.ipynb throughput_test output (github.com/Xilinx/finn-examples, "
                  "commit 44fdb99, 2023-02-06); folding from build/bnn-pynq/folding_config/tfc-w1a1_folding_config.json "
                  "(784x64 at PE 16 x SIMD 49 = 64 cycles); no resource figures published there"},
    "tfc_w2a2": {
        "tool": "FINN (finn-examples bnn-pynq build, same folding as TFC-w1a1: II 64 cycles at 100 MHz)",
        "part": "AMD xc7z020 (PYNQ-Z1, LUT6)", "clock_ns": 10.0, "ii_cycles": 64, "throughput_fps": 1e8 / 64,
        "source": "finn-examples build/bnn-pynq/folding_config/tfc-w2a2_folding_config.json (github.com/Xilinx/"
                  "finn-examples, commit 810a1e7); throughput = 100 MHz / 64 cycles (folding, not measured); "
                  "no resource figures published there"},
    "kws_mlp_w3a3": {
        "tool": "FINN (finn-examples kws build, folding II 392 cycles at 100 MHz; on-board throughput test)",
        "part": "AMD xc7z020 (PYNQ-Z1, LUT6)", "clock_ns": 10.0, "ii_cycles": 392, "throughput_fps": 247502,
        "source": "finn-examples 4_keyword_spotting.ipynb throughput_test output (github.com/Xilinx/finn-examples, "
                  "commit 58906a6, 2023-02-09); folding from build/kws/folding_config/kws_folding_config.json "
                  "(490x256 at PE 32 x SIMD 10 = 392 cycles); no resource figures published there"},
}


def instructions() -> str:
    need = "\n".join(f"- `{path}` ({desc})" for path, _, desc in MODELS.values())
    return ("Not run here: this benchmark needs a local checkout of the public QONNX model zoo "
            "(`git clone https://github.com/fastmachinelearning/qonnx_model_zoo`) and its path as `--zoo DIR`:\n\n"
            f"{need}\n\n    python -m bench.bench_peers --zoo /path/to/qonnx_model_zoo\n\n"
            "The figures are written to docs/bench_peers.json and this section (run it with `make bench` by setting "
            "`OHQ_ZOO=/path/to/qonnx_model_zoo`).\n")


def _config(name: str, zoo: Path, run_dir: Path, *, pinned: dict | None, lut_budget: float | None,
            implement: bool) -> dict:
    path, declared, _ = MODELS[name]
    model = {"qonnx": str(zoo / path)}
    if declared:
        model["input"] = declared
    cfg = {"name": name, "model": model, "board": BOARD, "output_dir": str(run_dir),
           "implement": {"enabled": bool(implement)}, "budgets": {"ii_cycles": PEERS[name]["ii_cycles"]}}
    if pinned is not None:
        cfg["search"] = {"pinned": pinned, "max_lanes": MAX_LANES, "max_folds": MAX_FOLDS}
    else:
        cfg["search"] = {"weight_bits": [2, 3, 4, 5, 6, 8], "act_bits": [2, 3, 4, 6, 8], "max_lanes": MAX_LANES,
                         "max_folds": MAX_FOLDS}
        cfg["budgets"]["lut"] = math.ceil(lut_budget)      # never below the own design's price (floor made it infeasible)
    return cfg


def _flow(*args, timeout: int) -> tuple[int, float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    try:
        res = subprocess.run([sys.executable, "-m", "ohq_flow", *map(str, args)], capture_output=True, text=True,
                             env=env, timeout=timeout)
        return res.returncode, time.perf_counter() - t0, res.stdout[-4000:] + res.stderr[-4000:]
    except subprocess.TimeoutExpired:
        return 124, time.perf_counter() - t0, f"timed out after {timeout} s"


def own_bits(run_dir: Path) -> dict:
    """layer -> the bit-widths the file carries (layers.json of a run)."""
    layers = json.loads((run_dir / "layers.json").read_text())["layers"]
    return {l["name"]: {"w_bits": int(l["w_bits"]), "a_bits": int(l["a_bits"])} for l in layers}


def _solution_lut(run_dir: Path) -> float | None:
    """The ILP's LUT figure of the run's solution (post-route where calibrated, the budgets' units)."""
    sol = run_dir / "solution.json"
    return json.loads(sol.read_text()).get("totals", {}).get("lut") if sol.is_file() else None


def collect(run_dir: Path) -> dict:
    """The figures of a built (and implemented) run: whole-design Yosys, simulation, post-route, build times."""
    build_path, sim_path = run_dir / "final" / "build.json", run_dir / "final" / "verify" / "network_sim.json"
    sol_path = run_dir / "solution.json"
    if not build_path.is_file() and not sim_path.is_file() and sol_path.is_file():   # refused before the build
        sol = json.loads(sol_path.read_text())
        diag = sol.get("diagnosis") or {}
        if sol.get("status") == "infeasible" and diag.get("impossible"):
            return {"refused": {m: {"minimum": diag["minimum"][m], "budget": diag["budgets"][m],
                                    "cheapest": (diag.get("cheapest") or {}).get(m)} for m in diag["impossible"]}}
    if not build_path.is_file() and sim_path.is_file():     # stopped during the whole-design synthesis
        build = {"assignment": json.loads((run_dir / "solution.json").read_text())["assignment"],
                 "design": {"network_sim": json.loads(sim_path.read_text())}, "build_incomplete": True}
    else:
        build = json.loads(build_path.read_text())
    d = build.get("design") or {}
    sim, meas = d.get("network_sim") or {}, d.get("measured") or {}
    row = {"assignment": {k: f"w{v['w_bits']}a{v['a_bits']}" + (f" {v['fold']}" if v.get("fold") else "")
                          for k, v in build["assignment"].items()},
           "lut": meas.get("lut"), "ff": meas.get("ff"), "dsp": meas.get("dsp"), "bram18": meas.get("bram18"),
           "synthesis": meas.get("synthesis"), "sim_inputs": sim.get("inputs"), "mismatches": sim.get("mismatches"),
           "latency_cycles": sim.get("latency_cycles"), "ii_cycles": sim.get("ii_cycles"),
           "damage": (build.get("predicted") or {}).get("damage"), "ilp_lut": _solution_lut(run_dir), "build_times_s": build.get("times_s"),
           "hls4ml": (build.get("hls4ml") or {}).get("status"), "build_incomplete": build.get("build_incomplete", False)}
    stat = run_dir / "final" / "impl" / "work" / "yosys_stat.json"     # the implementation's flat synth_ecp5
    if stat.is_file():
        cells = next(iter(json.loads(stat.read_text())["modules"].values()))["num_cells_by_type"]
        row["flat"] = {k: cells.get(k, 0) for k in ("LUT4", "CCU2C", "TRELLIS_FF", "MULT18X18D", "DP16KD")}
    impl_path = run_dir / "final" / "impl" / "impl.json"
    if impl_path.is_file():
        impl = json.loads(impl_path.read_text())
        row.update(post_route_lut=impl.get("lut4"), post_route_ff=impl.get("ff"), fmax_mhz=impl.get("fmax_mhz"),
                   target_mhz=impl.get("target_mhz"), impl_seconds=impl.get("seconds"))
    clock = row.get("fmax_mhz")
    if clock and row["latency_cycles"] is not None:
        row["latency_ns"] = round(1e3 * row["latency_cycles"] / clock, 1)
        row["throughput_fps"] = round(1e6 * clock / max(1, row["ii_cycles"] or 1))
    return row


def run_model(name: str, zoo: Path, runs: Path, variants: list[str], implement: bool, timeout: int,
              rows: dict, save) -> None:
    base = runs / name
    for variant in variants:
        key = f"{name}/{variant}"
        if key in rows and "error" not in rows[key]:
            continue
        run_dir = base / variant
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg_path = run_dir.parent / f"{variant}.yaml"
        if variant == "plain":         # what a user's first config does: no pins, no budget (the board is the budget)
            cfg = _config(name, zoo, run_dir, pinned={}, lut_budget=None, implement=implement)
            cfg.pop("budgets")
            cfg.pop("search")
            budget = None
        elif variant == "own":
            probe = _config(name, zoo, run_dir, pinned={}, lut_budget=None, implement=implement)
            cfg_path.write_text(yaml.safe_dump(probe))
            rc, _, log = _flow("layers", cfg_path, timeout=timeout)
            if rc != 0:
                rows[key] = {"error": f"layers exit {rc}: {log[-1500:]}"}
                save()
                continue
            cfg = _config(name, zoo, run_dir, pinned=own_bits(run_dir), lut_budget=None, implement=implement)
            cfg["solver"] = {"minimize": "lut"}       # the bits are the file's: the folds at the least LUT for the II
            budget = None
        else:
            own = rows.get(f"{name}/own") or {}
            budget = own.get("ilp_lut") or own.get("post_route_lut") or own.get("lut")
            if not budget:
                rows[key] = {"error": "no own-bits design to take the LUT budget from"}
                save()
                continue
            cfg = _config(name, zoo, run_dir, pinned=None, lut_budget=budget, implement=implement)
        cfg_path.write_text(yaml.safe_dump(cfg))
        t0 = time.perf_counter()
        rc, wall, log = _flow("run", cfg_path, timeout=timeout)
        row = {"variant": variant, "exit": rc, "wall_s": round(wall, 1), "lut_budget": budget}
        try:
            row.update(collect(run_dir))
        except (OSError, KeyError, ValueError) as exc:
            row["error"] = f"exit {rc}: {type(exc).__name__}: {exc}; {log[-1500:]}"
        if rc not in (0,) and "error" not in row:
            row["note"] = log[-800:]
        rows[key] = row
        save()
        print(f"{key}: exit {rc}, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def _n(v, fmt="{:,.0f}") -> str:
    return "-" if v is None else fmt.format(v)


def table(rows: dict) -> str:
    out = ["| model | design | bits | LUT4 / FF (Yosys per part) | DSP / BRAM18 | flat synth LUT4 + CCU2C, MULT18 | "
           "post-route LUT4 | Fmax MHz | latency cycles (ns) | II cycles, frames/s | sim mismatches | run exit, wall s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in MODELS:
        for variant in ("own", "ilp", "plain"):
            r = rows.get(f"{name}/{variant}")
            if r is None:
                continue
            if r.get("refused"):
                why = "; ".join(f"{m} minimum {_n(v['minimum'])} > budget {_n(v['budget'])}" for m, v in r["refused"].items())
                out.append(f"| {name} | {variant} | refused before the build (the design model's minimum): {why} "
                           f"| | | | | | | | | {r.get('exit')}, {_n(r.get('wall_s'))} |")
                continue
            if "error" in r and "mismatches" not in r:
                out.append(f"| {name} | {variant} | error: {r['error'][:200].replace('|', '/')} | | | | | | | | | |")
                continue
            bits = sorted(set((r.get("assignment") or {}).values()))
            label = {"own": "own bits", "plain": "plain config (ILP, no budget)"}.get(
                variant, f"ILP, LUT <= {_n(r.get('lut_budget'))}")
            fl = r.get("flat")
            flat = f"{fl['LUT4']:,} + {fl['CCU2C']:,}, {fl['MULT18X18D']}" if fl else "-"
            out.append(f"| {name} | {label} | {', '.join(bits)} | {_n(r.get('lut'))} / {_n(r.get('ff'))} | "
                       f"{_n(r.get('dsp'))} / {_n(r.get('bram18'))} | {flat} | {_n(r.get('post_route_lut'))} | "
                       f"{_n(r.get('fmax_mhz'), '{:.1f}')} | {_n(r.get('latency_cycles'))} ({_n(r.get('latency_ns'), '{:,.1f}')}) | "
                       f"{_n(r.get('ii_cycles'))}, {_n(r.get('throughput_fps'))} | "
                       f"{_n(r.get('mismatches'))} in {_n(r.get('sim_inputs'))} | {r.get('exit')}, {_n(r.get('wall_s'))} |")
        p = PEERS[name]
        lat = f"{_n(p.get('latency_cycles'))} ({_n(p.get('latency_ns'), '{:,.1f}')})"
        out.append(f"| {name} | **peer**: {p['tool']}; {p['part']} | | {_n(p.get('lut'))} / {_n(p.get('ff'))} (LUT6) | "
                   f"{_n(p.get('dsp'))} / {_n(p.get('bram18'))} | - | - | {_n(p.get('fmax_mhz'), '{:.1f}')} | {lat} | "
                   f"{_n(p.get('ii_cycles'))}, {_n(p.get('throughput_fps'))} | - | - |")
    return "\n".join(out)


def verdicts(rows: dict) -> list[str]:
    """Per model: LUT and latency against the peer (where the peer published them)."""
    lines = []
    for name in MODELS:
        p = PEERS[name]
        for variant in ("own", "ilp", "plain"):
            r = rows.get(f"{name}/{variant}") or {}
            lut = r.get("post_route_lut") or r.get("lut")
            if lut is None:
                continue
            what = "post-route" if r.get("post_route_lut") else "Yosys per part"
            parts = []
            if p.get("lut"):
                parts.append(f"LUT4 {lut:,} ({what}) vs the peer's {p['lut']:,} LUT6 ({100 * (lut - p['lut']) / p['lut']:+.0f}%)")
                if r.get("flat") and not r.get("post_route_lut"):
                    fl = r["flat"]["LUT4"] + 2 * r["flat"]["CCU2C"]
                    parts.append(f"flat synthesis {fl:,} LUT4 incl. carry cells ({100 * (fl - p['lut']) / p['lut']:+.0f}%)")
            else:
                parts.append("the peer published no LUT count")
            if p.get("latency_ns") and r.get("latency_ns"):
                parts.append(f"latency {r['latency_ns']:,.0f} ns vs {p['latency_ns']:,.0f} ns "
                             f"({'equal or lower' if r['latency_ns'] <= p['latency_ns'] else 'higher: shortfall'})")
            if p.get("throughput_fps") and r.get("throughput_fps"):
                parts.append(f"throughput {r['throughput_fps']:,.0f} vs {p['throughput_fps']:,.0f} frames/s")
            lines.append(f"- {name} ({variant}): " + "; ".join(parts))
    return lines


def section(rows: dict, meta: dict) -> str:
    srcs = "\n".join(f"- {n}: {p['tool']}, {p['part']}. Source: {p['source']}." for n, p in PEERS.items())
    notes = "\n".join(f"- {n}: {d}" for n, (_, _, d) in MODELS.items())
    times = []
    for key, r in rows.items():
        bt = r.get("build_times_s")
        if bt:
            times.append(f"- {key}: " + ", ".join(f"{k} {v:,.0f} s" for k, v in bt.items())
                         + (f"; implement {', '.join(f'{k} {v:,.0f} s' for k, v in (r.get('impl_seconds') or {}).items())}"
                            if r.get("impl_seconds") else ""))
    missing = [n for n in MODELS if not any(f"{n}/{v}" in rows for v in ("own", "ilp", "plain"))]
    unrouted = [k for k, r in rows.items() if r.get("mismatches") is not None and r.get("fmax_mhz") is None]
    gaps = ((f"Not run: {', '.join(missing)}. " if missing else "")
            + (f"Not placed and routed (no Fmax, so no latency in ns or frames/s): {', '.join(unrouted)}. "
               if unrouted else "")
            + ("Rows with exit 130 were stopped by hand after their whole-network simulation: during the whole-design "
               "Yosys run (no LUT count) or during place and route. "
               if any(r.get("exit") == 130 for r in rows.values()) else ""))
    return (f"Public trained QONNX models (QONNX model zoo, {meta.get('zoo_commit', 'local checkout')}) "
            f"through `ohq-flow run` on the ULX3S 85F (LFE5U-85F, ECP5 LUT4): Yosys synth_ecp5 whole-design counts, "
            "Verilator whole-network simulation against the QONNX executor, nextpnr-ecp5 post-route Fmax where "
            "implemented (latency and throughput at that Fmax). `own`: every layer at the file's bit-widths, the folds at the least LUT (the ILP minimising LUT); `plain`: the "
            "plain config alone (the ILP with the board as the only budget); `ILP`: "
            "weights 2..8, activations 2..8 bits chosen by the ILP (MQE damage, data-free) under a LUT budget equal to "
            "the ILP's price of the own design (the same design model on both sides). Both under an `ii_cycles` budget equal to the peer's II. Peer rows are the figures the peer tool published for the "
            "same network on a different device and tool (AMD LUT6 counts, Vivado/Vitis HLS): comparable in order of "
            f"magnitude, not one for one.\n\nModels:\n{notes}\n\n{table(rows)}\n\n{gaps}\n\n"
            + "\n".join(verdicts(rows)) + f"\n\nPeer sources:\n{srcs}\n\nBuild and implementation times:\n"
            + "\n".join(times) + f"\n\n_({meta.get('machine', '')}; run {meta.get('date', '')})_\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--zoo", default=os.environ.get("OHQ_ZOO", ""), help="local checkout of the QONNX model zoo")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--variants", default="own,ilp")
    ap.add_argument("--runs", default=str(ROOT / "bench" / "runs" / "peers"))
    ap.add_argument("--no-implement", action="store_true", help="skip place and route (no Fmax)")
    ap.add_argument("--timeout", type=int, default=5400, help="per flow run, seconds")
    ap.add_argument("--redo", action="store_true", help="run rows that docs/bench_peers.json already has again")
    ap.add_argument("--table-only", action="store_true", help="print the section of docs/bench_peers.json, run nothing")
    args = ap.parse_args()
    doc = json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() else {"rows": {}, "meta": {}}
    if args.table_only:
        for key, row in doc["rows"].items():      # refresh what a run directory holds now (an implement finished later)
            run_dir = Path(args.runs) / key
            if (run_dir / "final" / "build.json").is_file() or (run_dir / "final" / "verify" / "network_sim.json").is_file():
                row.update(collect(run_dir))
                if row.get("error") and row.get("mismatches") is not None:
                    row["note"] = row.pop("error")
        if doc["rows"]:
            from ohq_flow.fileio import atomic_write_json
            atomic_write_json(OUT_JSON, doc)
        print(section(doc["rows"], doc["meta"]))
        return 0
    if not args.zoo or not Path(args.zoo).is_dir():
        print(instructions())
        if doc["rows"]:                  # the recorded run stays in the document
            print("Recorded run (docs/bench_peers.json):\n\n" + section(doc["rows"], doc["meta"]))
        return 0
    from bench.run_all import machine
    from ohq_flow.fileio import atomic_write_json
    zoo = Path(args.zoo)
    names = [n for n in MODELS if not args.only or n in args.only.split(",")]
    variants = args.variants.split(",")
    rows = {k: v for k, v in doc["rows"].items()             # --redo: the selected rows only
            if not (args.redo and k.split("/")[0] in names and k.split("/")[1] in variants)}
    commit = subprocess.run(["git", "-C", str(zoo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    meta = {"machine": machine(), "date": dt.date.today().isoformat(),
            "zoo_commit": f"commit {commit.stdout.strip()}" if commit.returncode == 0 else "local checkout", "peers": PEERS}

    mine = {f"{n}/{v}" for n in names for v in variants}

    def save():                      # this run's rows into the document as it is now (another run may be writing it)
        now = json.loads(OUT_JSON.read_text())["rows"] if OUT_JSON.is_file() else {}
        now.update({k: v for k, v in rows.items() if k in mine or k not in now})
        atomic_write_json(OUT_JSON, {"rows": now, "meta": meta})

    for n in names:
        run_model(n, zoo, Path(args.runs), args.variants.split(","), not args.no_implement, args.timeout, rows, save)
    print(section(rows, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
