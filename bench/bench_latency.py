"""Latency at equal LUT: the ILP's mixed-precision design (bits + folds + clock) vs uniform W8A8 and W4A4.

For a model config (default: the digits example) the flow runs to ``profile`` with
``search.folds: auto`` (every layer gets parallelism candidates and an fmax), then at each LUT
budget (multiples of the smallest W8A8 design's LUT; DSP and BRAM18 held to the board's totals):

- ``W8A8`` / ``W4A4``: every layer at those bits, the folding that minimises latency_ns within
  the budgets (the ILP with all layers pinned);
- ``mixed``: the ILP minimising latency_ns under a damage bound, for a ladder of bounds; the
  design kept is the fastest whose *validation* accuracy is within 1 point of W8A8's; its
  accuracy is reported on the held-out *test* half (the evaluation set split in two).

Latency is the model's: cycles summed over layers (sequential) × 1000 / design clock (the slowest
chosen layer's depth-model fmax, capped at the board clock). Accuracy is exact (QONNX model
re-quantized, onnxruntime).

    python -m bench.bench_latency [--config examples/digits/flow_pynq_z2.yaml | --suite digits_mlp,mnist1d_mlp]
                                  [--rules analytic|measured]

Suite models (examples/suite, checkpoints from `python -m examples.suite.train`) use their own
validation and test splits instead of halving the evaluation set.

Prints a markdown table; writes docs/bench_latency_<name>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "bench" / "runs"
DOCS = ROOT / "docs"
LUT_MULTIPLES = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
RULES = {"analytic": [{"measurer": "analytic"}],
         "measured": [{"measurer": "yosys", "max_weights": 4096}, {"measurer": "analytic"}]}


def prepare(config: Path, rules: str, max_folds: int) -> tuple[Path, dict]:
    """A copy of ``config`` with folds on and the chosen measurer rules; the flow run to ``profile``."""
    cfg = yaml.safe_load(config.read_text())
    base = config.resolve().parent
    name = f"{cfg.get('name', config.stem)}_{rules}"
    out = RUNS / f"latency_{name}"
    out.mkdir(parents=True, exist_ok=True)
    b = cfg["model"]["brevitas"]
    b["python_path"] = [str((base / p).resolve()) for p in b.get("python_path", [])]
    if b.get("checkpoint"):
        b["checkpoint"] = str((base / b["checkpoint"]).resolve())
    if cfg.get("build", {}).get("eval_npz"):
        cfg["build"]["eval_npz"] = str((base / cfg["build"]["eval_npz"]).resolve())
    cfg["search"] = {**cfg.get("search", {}), "folds": "auto", "max_folds": max_folds}
    cfg["hardware"] = {**cfg.get("hardware", {}), "rules": RULES[rules]}
    cfg["solver"] = {k: v for k, v in cfg.get("solver", {}).items() if k != "sweep"}
    cfg["output_dir"] = str(out / "run")
    path = out / "flow.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    subprocess.run([sys.executable, "-m", "ohq_flow.cli", "-q", "run", str(path), "--to", "profile"], cwd=ROOT,
                   check=True, timeout=7200)
    return out / "run", cfg


def compare(run_dir: Path, cfg: dict, config_path: Path, val_npz: Path | None = None) -> dict:
    from qonnx.core.modelwrapper import ModelWrapper

    from bench.eval.accuracy import AccuracyEvaluator
    from ohq_flow.config import load_config
    from ohq_flow.hw.costs import read_costs
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.solve.ilp import solve
    from ohq_flow.solve.problem import build_problem
    from ohq_flow.solve.sensitivity_table import read_sensitivity
    from ohq_flow.solve.step import layer_meta

    fc = load_config(config_path)
    board = fc.board_obj()
    model = ModelWrapper(str(run_dir / "model.onnx"))
    layers = discover_layers(model)
    order = [l.name for l in layers]
    problem = build_problem(read_sensitivity(run_dir / "sensitivity.csv"), read_costs(run_dir / "costs.csv"),
                            layer_order=order, layer_meta=layer_meta(layers), clock_mhz=1000.0 / fc.clock_ns())
    data = np.load(fc.build.eval_npz)
    x, y = data["x"], data["y"]
    if val_npz is not None:
        v = np.load(val_npz)
        val, test = AccuracyEvaluator(model, layers, v["x"], v["y"]), AccuracyEvaluator(model, layers, x, y)
    else:
        half = len(x) // 2
        val = AccuracyEvaluator(model, layers, x[:half], y[:half])
        test = AccuracyEvaluator(model, layers, x[half:], y[half:])
    fixed = {"dsp": float(board.total("dsp")), "bram18": float(board.total("bram18"))}

    def pins(bits):
        """Every layer at ``bits``; a layer with one activation width (unquantized input) keeps it."""
        out = {}
        for l in order:
            a_opts = {c.a_bits for c in problem.candidates[l]}
            out[l] = (bits[0], bits[1] if bits[1] in a_opts else max(a_opts))
        return out

    def uniform(bits, budgets):
        return solve(problem.with_budgets(budgets, pins=pins(bits), minimize="latency_ns"), diagnose=False)

    lut8 = uniform((8, 8), {}).totals                     # fastest W8A8 regardless of LUT: for reference
    smallest8 = solve(problem.with_budgets(fixed, pins=pins((8, 8)), minimize="lut"), diagnose=False)
    base_lut = smallest8.totals["lut"]
    ref_val, ref_test = val.accuracy(pins((8, 8))), test.accuracy(pins((8, 8)))
    damages = sorted({round(c.damage, 12) for cs in problem.candidates.values() for c in cs})
    ladder = sorted({0.0, *np.geomspace(max(min(d for d in damages if d > 0), 1e-6), max(damages) * len(order), 14)})

    def record(sol, acc_val=None):
        if not sol.assignment:
            return {"status": sol.status}
        t = sol.totals
        return {"status": sol.status, "latency_ns": t["latency_ns"], "latency_cycles": t["latency_cycles"],
                "clock_mhz": t["clock_mhz"], "lut": t["lut"], "dsp": t["dsp"], "damage": t["damage"],
                "val_accuracy": acc_val if acc_val is not None else val.accuracy(sol.assignment),
                "test_accuracy": test.accuracy(sol.assignment),
                "assignment": {l: f"w{w}a{a}@{f}" for l, (w, a, f) in sol.choices().items()}}

    rows = []
    for k in LUT_MULTIPLES:
        budgets = {**fixed, "lut": k * base_lut}
        r = {"lut_budget": budgets["lut"], "multiple": k, "W8A8": record(uniform((8, 8), budgets)),
             "W4A4": record(uniform((4, 4), budgets))}
        best = None
        for bound in ladder:
            sol = solve(problem.with_budgets({**budgets, "damage": float(bound)}, minimize="latency_ns"), diagnose=False)
            if not sol.assignment:
                continue
            acc = val.accuracy(sol.assignment)
            if acc >= ref_val - 0.01 and (best is None or sol.totals["latency_ns"] < best[0].totals["latency_ns"] - 1e-9):
                best = (sol, acc)
        r["mixed"] = record(*best) if best else {"status": "none within 1 pt"}
        rows.append(r)
    return {"model": cfg.get("name"), "layers": len(order), "candidates": sum(len(c) for c in problem.candidates.values()),
            "board": board.name, "clock_cap_mhz": 1000.0 / fc.clock_ns(), "w8a8_val_accuracy": ref_val,
            "w8a8_test_accuracy": ref_test, "w8a8_smallest_lut": base_lut, "w8a8_fastest": lut8,
            "n_val": int(len(val.y)), "n_test": int(len(test.y)), "rows": rows}


def markdown(res: dict, rules: str) -> str:
    out = [f"### {res['model']} ({rules} costs, {res['layers']} layers, {res['candidates']} (bits, fold) candidates, "
           f"{res['board']}, clock cap {res['clock_cap_mhz']:g} MHz)", "",
           f"W8A8 accuracy: validation {100 * res['w8a8_val_accuracy']:.1f}% / test {100 * res['w8a8_test_accuracy']:.1f}% "
           f"({res['n_val']} / {res['n_test']} samples). LUT budget = multiple of the smallest W8A8 design "
           f"({res['w8a8_smallest_lut']:,.0f} LUT); DSP and BRAM18 at most the board's.", "",
           "| LUT budget | W8A8 ns (cycles @ MHz) | W8A8 test acc | W4A4 ns | W4A4 test acc | mixed ns | mixed test acc "
           "| mixed vs W8A8 |", "|---|---|---|---|---|---|---|---|"]

    def cell(d):
        if "latency_ns" not in d:
            return d["status"], "-"
        return (f"{d['latency_ns']:,.0f} ({d['latency_cycles']:,.0f} @ {d['clock_mhz']:.0f})",
                f"{100 * d['test_accuracy']:.1f}%")

    for r in res["rows"]:
        a, b, c = cell(r["W8A8"]), cell(r["W4A4"]), cell(r["mixed"])
        gain = "-"
        if "latency_ns" in r["W8A8"] and "latency_ns" in r["mixed"]:
            gain = f"{100 * (1 - r['mixed']['latency_ns'] / r['W8A8']['latency_ns']):+.1f}% lower"
        out.append(f"| {r['lut_budget']:,.0f} ({r['multiple']:g}x) | {a[0]} | {a[1]} | {b[0]} | {b[1]} | {c[0]} | {c[1]} "
                   f"| {gain} |")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "examples" / "digits" / "flow_pynq_z2.yaml")
    ap.add_argument("--suite", default="", help="comma-separated suite models instead of --config")
    ap.add_argument("--rules", choices=sorted(RULES), default="analytic")
    ap.add_argument("--max-folds", type=int, default=6)
    args = ap.parse_args(argv)
    jobs = [(args.config, None)]
    if args.suite:
        from bench.bench_eval import MODELS_DIR, ensure_models, write_config
        names = [n.strip() for n in args.suite.split(",") if n.strip()]
        recs = ensure_models(names)
        jobs = [(write_config(n, recs[n], RUNS / f"latency_base_{n}" / "run", RUNS / "cache"), MODELS_DIR / f"{n}_val.npz")
                for n in names]
    for config, val_npz in jobs:
        run_dir, cfg = prepare(config, args.rules, args.max_folds)
        res = compare(run_dir, cfg, run_dir.parent / "flow.yaml", val_npz)
        name = f"{res['model']}_{args.rules}"
        (DOCS / f"bench_latency_{name}.json").write_text(json.dumps(res, indent=1))
        print(markdown(res, args.rules) + "\n", flush=True)


if __name__ == "__main__":
    main()
