"""The complete streaming design per model: generation time, whole-network simulation, LUT measured vs predicted.

For each model: ``generate_design`` (wall time), the whole-network simulation on N random inputs
(Verilator, else Icarus; build time, simulation wall time per frame, mismatches against the QONNX
executor, latency/II measured vs predicted) and Yosys on the whole design (xc7) against two
predictions: the kernels only (da4ml's cost, what the ILP budgets) and kernels + the glue model
(``ohq_flow.design.price``, the ILP's price list). Untrained models (random weights, random BatchNorm statistics) —
costs and exactness do not depend on training.

    python -m bench.bench_design [--only digits_cnn,tfc_w1a1] [--frames 32]

Whole-design Yosys per part (``ohq_flow.design.synth``): each kernel alone, cached by content in
bench/runs/design/cache, and the glue with the kernels as black boxes; ``--flat`` adds the flat run.

Prints a markdown section; writes docs/bench_design.json after every model (merged per model: a
killed run resumes at the first model without a finished row; --only/--redo refresh rows).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "bench" / "runs" / "design"
OUT_JSON = ROOT / "docs" / "bench_design.json"

# name -> (factory expression over examples.suite.models as M, input shape, input distribution, description);
# in the order they run (the quicker syntheses first; the digits MLP's 64x32 8-bit kernel is ~35k LUTs)
MODELS = {
    "tfc_w1a1_8x8": ("M.bnn_tfc(1, 1, (8, 8))", (1, 1, 8, 8), "uniform", "TFC w1a1 at an 8x8 input (the test's)"),
    "tfc_w2a2_8x8": ("M.bnn_tfc(2, 2, (8, 8))", (1, 1, 8, 8), "uniform", "TFC w2a2 at an 8x8 input (the test's)"),
    "res_cnn": ("M.res_cnn()", (1, 1, 8, 8), "normal", "residual CNN, float per-channel scales, BatchNorm"),
    "mnist1d_cnn": ("M.mnist1d_cnn()", (1, 1, 40), "normal", "MNIST-1D CNN (1-D conv + max-pool)"),
    "digits_cnn": ("M.digits_cnn()", (1, 1, 8, 8), "normal", "digits CNN (trained checkpoint, w8a8: 2 conv + 2 max-pool + 2 FC)"),
    "mobilenet_head": ("M.mobilenet_v1_head()", (1, 3, 16, 16), "normal", "MobileNetV1-4b first 3 layers, 16x16 input"),
    "cnv_w2a2_w8": ("M.bnn_cnv(2, 2, width=0.125)", (1, 3, 32, 32), "uniform", "brevitas_examples CNV w2a2, 32x32x3, channels / 8"),
    "digits_mlp": ("M.digits_mlp()", (1, 1, 8, 8), "normal", "digits MLP 64-32-10"),
}
# full-size models (--full): da4ml on their 784x64 (TFC) and up to 2304x256 (CNV) matrices takes hours here, so
# they are built as `build` builds them: layers past build.fold_above_weights as folded MVAUs
FULL = {
    "tfc_w1a1": ("M.bnn_tfc(1, 1)", (1, 1, 28, 28), "uniform", "brevitas_examples TFC w1a1 (784-64-64-64-10, BipolarQuant)"),
    "tfc_w2a2": ("M.bnn_tfc(2, 2)", (1, 1, 28, 28), "uniform", "brevitas_examples TFC w2a2"),
    "cnv_w2a2": ("M.bnn_cnv(2, 2)", (1, 3, 32, 32), "uniform", "brevitas_examples CNV w2a2, full width"),
}


def digits_cnn():
    """The digits example with its trained checkpoint."""
    import torch

    from examples.digits.model import build_model
    m = build_model()
    m.load_state_dict(torch.load(ROOT / "examples" / "digits" / "digits_w8a8.pt", map_location="cpu"))
    return m.eval()


def run_model(name: str, frames: int, flat: bool) -> dict:
    import torch

    from examples.suite import models as M
    from ohq_flow.config import BuildSection
    from ohq_flow.design import generate_design
    from ohq_flow.design.sim import simulate_network
    from ohq_flow.design.synth import measure_design_parts
    from ohq_flow.model.export import export_brevitas
    expr, shape, dist, desc = {**MODELS, **FULL}[name]
    torch.manual_seed(0)
    M.digits_cnn = digits_cnn
    out = RUNS / name
    model = export_brevitas(eval(expr, {"M": M}), list(shape), out / "model.onnx")
    # the full-size models as `build` makes them: layers past build.fold_above_weights as folded MVAUs
    b = BuildSection()
    auto = dict(fold_above=b.fold_above_weights, fold_max_lanes=b.fold_max_lanes) if name in FULL else {}
    design = generate_design(model, out / "design", **auto)
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 0.6, size=(frames, *shape[1:])) if dist == "normal" else
         rng.uniform(0, 1, size=(frames, *shape[1:]))).astype(np.float32)
    # a dense network moves one vector per cycle: Icarus (no C++ build) is the quicker simulator there
    simulator = "iverilog" if design.meta["in_beats"] == 1 and not design.meta["folds"] else "auto"
    sim = simulate_network(model, design, x, out / "sim", simulator=simulator, backpressure=False)
    # per part: each kernel on its own (cached by content: a killed run resumes), the glue around black boxes
    t0, c0 = time.perf_counter(), _cpu()
    parts = measure_design_parts(design, family="xc7", work_dir=out / "synth_parts", cache_dir=RUNS / "cache", timeout_s=4 * 3600)
    row = {"model": desc, "stages": len(design.meta["stages"]), "generation_s": round(design.gen_seconds, 1),
           "simulator": sim["simulator"], "sim_build_s": sim["build_seconds"],
           "sim_ms_per_frame": round(1000 * sim["sim_seconds_per_frame"], 2), "inputs": sim["inputs"],
           "mismatches": sim["mismatches"], "latency": [sim["latency_cycles"], sim["predicted_latency_cycles"]],
           "ii": [sim["ii_cycles"], sim["predicted_ii_cycles"]],
           "requant": sorted({s["method"] for s in design.meta["stages"] if s["kind"] == "requant"}),
           "lut_kernels": sum(k["lut"] for k in parts["kernels"].values()), "lut_glue": parts["glue"]["lut"],
           "lut_measured": parts["whole"]["lut"], "ff_measured": parts["whole"]["ff"], "ff_glue": parts["glue"]["ff"],
           "dsp_measured": parts["whole"]["dsp"], "bram18_measured": parts["whole"]["bram18"],
           "yosys_s": round(time.perf_counter() - t0, 1), "yosys_cpu_s": round(_cpu() - c0, 1),
           "yosys_parts_cached": parts["from_cache"], "stage_records": design.meta["stages"]}
    if flat:
        row.update(flat_synthesis(name))
    return row


def flat_synthesis(name: str) -> dict:
    """The model's generated design (bench/runs/design/<name>/design) in one flattened Yosys run (slow: one ABC
    run over every kernel)."""
    from ohq_flow.hw.rtl.yosys import measure_yosys
    out = RUNS / name
    meta = json.loads((out / "design" / "design.json").read_text())
    t0, c0 = time.perf_counter(), _cpu()
    syn = measure_yosys([out / "design" / s for s in meta["sources"]], meta["top"], family="xc7", work_dir=out / "synth",
                        timeout_s=4 * 3600)
    return {"lut_flat": syn.lut, "ff_flat": syn.ff, "yosys_flat_s": round(time.perf_counter() - t0, 1),
            "yosys_flat_cpu_s": round(_cpu() - c0, 1)}


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    import resource
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _prediction(row: dict) -> dict:
    """The design price list (``ohq_flow.design.price``, xc7) of a row's stage records; a kernel's LUT from
    da4ml's adder cost recorded in its stage (what the ILP's cost row holds for an estimated kernel)."""
    from ohq_flow.design.price import stage_price, top_price
    total, kernels = dict(top_price("xc7")), 0.0
    for s in row["stage_records"]:
        kernel = None
        if s["kind"] == "kernel":
            kernel = {"lut": float(s["da4ml_cost"]), "ff": 0.0, "dsp": 0.0, "bram18": 0.0}
            kernels += kernel["lut"]
        for m, v in stage_price(s, "xc7", kernel=kernel).items():
            total[m] = total.get(m, 0.0) + v
    return {"lut_pred_kernels": round(kernels), "lut_pred_glue": round(total["lut"] - kernels),
            "lut_pred_total": round(total["lut"]), "dsp_pred": round(total["dsp"]), "bram18_pred": round(total["bram18"])}


def _dsp_bram(name: str, row: dict) -> tuple:
    """(DSP, BRAM18) of the per-part synthesis: the row's, else summed from the parts' Yosys statistics
    (bench/runs/design/<name>/synth_parts, rows made before the row kept them); None when neither exists."""
    if "dsp_measured" in row:
        return row["dsp_measured"], row["bram18_measured"]
    from ohq_flow.hw.rtl.yosys import _cells, resource_counts
    stats = sorted((RUNS / name / "synth_parts").glob("*/yosys_stat.json"))
    if not stats:
        return None
    counts = [resource_counts(_cells(json.loads(s.read_text())), "xc7") for s in stats]
    return sum(c["dsp"] for c in counts), sum(c["bram18"] for c in counts)


def table(rows: dict) -> str:
    head = ("| model | stages | requant | generation s | sim build s | sim ms/frame | mismatches / inputs | latency sim/pred "
            "| II sim/pred | LUT Yosys kernels + glue = whole | LUT pred. kernels | LUT pred. glue | LUT pred. kernels + glue "
            "| FF Yosys | DSP / BRAM18 Yosys (pred.) | Yosys wall / CPU s | bench wall / CPU s |\n" + "|---" * 17 + "|\n")
    lines = []
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error'].splitlines()[0][:200]} |" + " |" * 15)
            continue
        if "stage_records" in r:
            r = {**r, **_prediction(r)}
        else:       # a row of an earlier version of this benchmark
            r = {**r, "model": r["model"] + " (earlier run: flat synthesis, LUT-RAM not counted, earlier glue model)"}
        cpu = lambda k: "-" if r.get(k) is None else f"{r[k]:,.0f}"
        err = lambda p, m: f"{p:,} ({100 * (p - m) / max(1, m):+.0f}%)"
        meas = f"{r['lut_kernels']:,} + {r['lut_glue']:,} = {r['lut_measured']:,}" if "lut_glue" in r else f"{r['lut_measured']:,}"
        if "lut_flat" in r:
            meas += f" (flat: {r['lut_flat']:,})"
        glue = err(r["lut_pred_glue"], r["lut_glue"]) if "lut_glue" in r and "lut_pred_glue" in r else "-"
        db = _dsp_bram(name, r) if "stage_records" in r else None
        dsp_bram = f"{db[0]} / {db[1]:g} ({r['dsp_pred']:g} / {r['bram18_pred']:g})" if db else "-"
        lines.append(f"| {r['model']} | {r['stages']} | {'/'.join(r['requant']) or '-'} | {r['generation_s']} | "
                     f"{r['sim_build_s']:.0f} ({r['simulator']}) | {r['sim_ms_per_frame']} | {r['mismatches']} / {r['inputs']} | "
                     f"{r['latency'][0]} / {r['latency'][1]} | {r['ii'][0]} / {r['ii'][1]} | {meas} | "
                     f"{err(r['lut_pred_kernels'], r['lut_measured'])} | {glue} | {err(r['lut_pred_total'], r['lut_measured'])} | "
                     f"{r['ff_measured']:,} | {dsp_bram} | {r['yosys_s']:,.0f} / {cpu('yosys_cpu_s')} | "
                     f"{r.get('wall_s', 0):,.0f} / {cpu('cpu_s')} |")
    return head + "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--full", action="store_true", help="also the full-size TFC and CNV")
    ap.add_argument("--flat", action="store_true", help="also synthesise each whole design flat (one run, slow)")
    ap.add_argument("--flat-only", default="", help="comma-separated models with a finished row: add the flat "
                    "synthesis of their generated design to the row, run nothing else")
    ap.add_argument("--redo", action="store_true", help="run models that already have a row in docs/bench_design.json again")
    ap.add_argument("--table-only", action="store_true", help="print the table of docs/bench_design.json, run nothing")
    args = ap.parse_args()
    every = {**MODELS, **FULL}
    names = [] if args.table_only else [n for n in (every if args.full else MODELS) if not args.only or n in args.only.split(",")]
    rows = json.loads(OUT_JSON.read_text())["rows"] if OUT_JSON.is_file() else {}
    from ohq_flow.errors import OhqError
    from ohq_flow.fileio import atomic_write_json
    if args.flat_only:
        names = []
        for n in args.flat_only.split(","):
            rows[n].update(flat_synthesis(n))
            atomic_write_json(OUT_JSON, {"rows": rows})
    for n in names:
        if n in rows and "error" not in rows[n] and "stage_records" in rows[n] and not args.redo:
            continue                     # finished earlier (a killed run resumes at the next model)
        t0, c0 = time.perf_counter(), _cpu()
        try:
            rows[n] = run_model(n, args.frames, args.flat)
        except OhqError as exc:
            rows[n] = {"model": every[n][3], "error": str(exc)[:4000]}      # the table shows the first 200 characters
        rows[n].update(wall_s=round(time.perf_counter() - t0, 1), cpu_s=round(_cpu() - c0, 1))
        atomic_write_json(OUT_JSON, {"rows": rows})
        print(f"{n}: {({k: v for k, v in rows[n].items() if k != 'stage_records'})}", file=sys.stderr, flush=True)
    order = {n: i for i, n in enumerate(every)}
    rows = dict(sorted(rows.items(), key=lambda kv: order.get(kv[0], 99)))
    print("### Complete design per model (untrained weights, xc7 Yosys, 2 shared cores: wall times are upper bounds)\n")
    print(table(rows))
    print("\nLUT Yosys: each kernel synthesised on its own plus the glue around the kernels as black boxes "
          "(`ohq_flow/design/synth.py`; no optimisation across a kernel's boundary; `flat`: the whole design in one "
          "flattened run where measured). LUT predicted: the kernels alone (da4ml's adder cost, what the ILP budgets), the "
          "design price list (`ohq_flow/design/price.py`, fitted to single-block Yosys runs, `ohq_flow/design/glue_fit_xc7.json`) "
          "and both; in brackets the error against the Yosys count (glue against the glue, the others against the whole). "
          "Simulation: back to back; `mismatches` against the QONNX executor's integers. Times: wall / CPU seconds of "
          "this process and its tools (Yosys: the synthesis alone; bench: generation, simulation and synthesis).")
    flat = [r for r in rows.values() if "lut_flat" in r and "lut_measured" in r]
    if flat:
        print("\n| model | LUT per part | LUT flat | per part vs flat | Yosys per part wall / CPU s | Yosys flat wall / CPU s |\n"
              "|---|---|---|---|---|---|")
        for r in flat:
            print(f"| {r['model']} | {r['lut_measured']:,} | {r['lut_flat']:,} | "
                  f"{100 * (r['lut_measured'] - r['lut_flat']) / r['lut_flat']:+.1f}% | {r['yosys_s']:,.0f} / "
                  f"{r.get('yosys_cpu_s', 0):,.0f} | {r['yosys_flat_s']:,.0f} / {r['yosys_flat_cpu_s']:,.0f} |")
    print("\n" + fit_summary())
    return 0


def fit_summary() -> str:
    """One line per glue block of the xc7 calibration (ohq_flow/design/glue_fit_xc7.json): points and the largest LUT
    error of the fit."""
    from ohq_flow.design.price import fit_doc
    data = fit_doc("xc7")
    n = {}
    for pt in data["points"]:
        n[pt["block"]] = n.get(pt["block"], 0) + 1
    parts = [f"{b} {n.get(b, 0)} points, {100 * f['lut_max_rel_err']:.0f}%" for b, f in data["fit"].items() if b != "top"]
    return (f"Glue model: fitted to {len(data['points'])} single-block Yosys runs ({data['yosys']}, {data['date']}; "
            f"`{data['made_by']}`); largest LUT error of the fit per block: " + "; ".join(parts) + ".")


if __name__ == "__main__":
    sys.exit(main())
