"""Selection strategies compared at the same budgets: HAQ (on demand) vs ILP vs greedy vs
evolutionary vs uniform — test accuracy, candidates synthesised, wall time.

For each model: the flow's own tables (MQE sensitivity.csv, the full costs.csv from the profile
step) of a run directory; LUT budgets 30-90 % of the W8A8 design. Every strategy runs through
:func:`ohq_flow.solve.strategies.select` (the code ``ohq-flow solve --strategy`` runs), scored by
the data-free MQE damage (no strategy sees labels). HAQ measures on demand: a fresh
:class:`OnDemandCosts` per budget over the run's cost cache, so ``measured`` is the number of
distinct candidates that HAQ run needed synthesised (the full table: every candidate).
Accuracy: exact, on the held-out test split (bench/eval/accuracy.py).

    python -m bench.bench_strategies [--models digits] [--episodes 300]

Models: ``digits`` (examples/digits, its run made here with the da4ml_estimate measurer) and any
suite model with a bench/runs/<model>/cold run directory (made by bench/bench_eval.py).
Writes docs/bench_strategies.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "bench" / "runs"
FRACTIONS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
STRATEGIES = ("ilp", "haq", "greedy", "evolutionary", "uniform")


def digits_run(episodes: int) -> tuple[Path, Path, Path, Path]:
    """(run dir, cost-cache dir, test npz, config) of the digits example, tables made by the flow itself."""
    run, cache = RUNS / "digits_strategies" / "run", RUNS / "digits_strategies" / "cache"
    cfg = yaml.safe_load((ROOT / "examples/digits/flow_pynq_z2.yaml").read_text())
    cfg["model"]["brevitas"]["checkpoint"] = str(ROOT / "examples/digits/digits_w8a8.pt")
    cfg["model"]["brevitas"]["python_path"] = [str(ROOT)]
    cfg["hardware"]["rules"] = [{"measurer": "da4ml_estimate"}]
    cfg["hardware"]["cache_dir"] = str(cache)
    cfg["build"]["eval_npz"] = str(ROOT / "examples/digits/digits_test.npz")
    cfg["output_dir"] = str(run)
    cfg["budgets"] = {"lut": "100%"}
    cfg["solver"] = {"sweep": []}
    path = RUNS / "digits_strategies" / "flow.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    if not (run / "costs.csv").is_file():
        subprocess.run([sys.executable, "-m", "ohq_flow", "-q", "solve", str(path)], cwd=ROOT, check=True, timeout=7200)
    return run, cache, ROOT / "examples/digits/digits_test.npz", path


def compare(name: str, run: Path, cache: Path, test_npz: Path, cfg_path: Path, episodes: int) -> dict:
    from qonnx.core.modelwrapper import ModelWrapper

    from bench.eval.accuracy import AccuracyEvaluator
    from ohq_flow.config import load_config
    from ohq_flow.hw.costs import read_costs
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.search_space import search_space
    from ohq_flow.solve.problem import build_problem
    from ohq_flow.solve.ilp import totals_of
    from ohq_flow.solve.sensitivity_table import read_sensitivity
    from ohq_flow.solve.step import layer_meta
    from ohq_flow.solve.strategies import select
    from ohq_flow.solve.strategies.costs import OnDemandCosts, skeleton_problem

    cfg = load_config(cfg_path)
    cfg.hardware.cache_dir = cache
    model = ModelWrapper(str(run / "model.onnx"))
    layers = discover_layers(model)
    meta, order = layer_meta(layers), [l.name for l in layers]
    sens = read_sensitivity(run / "sensitivity.csv")
    problem = build_problem(sens, read_costs(run / "costs.csv"), layer_order=order, layer_meta=meta)
    table = sum(len(cs) for cs in problem.candidates.values())
    d = np.load(test_npz)
    test = AccuracyEvaluator(model, layers, d["x"], d["y"])
    w8a8 = {l: (8, 8) for l in order}
    ref_lut = totals_of(problem, w8a8)["lut"]
    info = {l.name: {"op_type": l.op_type, **meta[l.name]} for l in layers}
    space = search_space(layers, cfg.search)
    planned = OnDemandCosts(skeleton_problem(sens, layers, space, layer_meta=meta), model, layers, cfg,
                            RUNS / f"{name}_strategies" / "oqa")
    rows = []
    for frac in FRACTIONS:
        budgets = {"lut": frac * ref_lut}
        for strat in STRATEGIES:
            t0 = time.perf_counter()
            opts = {}
            if strat == "haq":
                skel = skeleton_problem(sens, layers, space, layer_meta=meta)
                source = planned.for_problem(skel)             # nothing measured yet for this budget
                sol = select(skel, budgets, strategy="haq", seed=0, episodes=episodes, costs=source, layer_info=info)
                synth = source.stats()["measured"]
            else:
                sol = select(problem, budgets, strategy=strat, seed=0, **opts)
                synth = table
            wall = time.perf_counter() - t0
            acc = test.accuracy(sol.assignment) if sol.assignment else None
            rows.append({"fraction": frac, "budget": budgets["lut"], "strategy": strat, "feasible": bool(sol.assignment),
                         "damage": sol.totals.get("damage"), "lut": sol.totals.get("lut"), "test_accuracy": acc,
                         "syntheses": synth, "wall_s": round(wall, 2),
                         "assignment": {l: f"w{w}a{a}" for l, (w, a) in sol.assignment.items()}})
            print(f"[{name}] {int(frac * 100)}% {strat}: acc {acc} damage {sol.totals.get('damage')} "
                  f"synth {synth}/{table} {wall:.1f}s", file=sys.stderr, flush=True)
    return {"model": name, "layers": len(order), "table_size": table, "reference_accuracy": test.accuracy(w8a8),
            "reference_lut": ref_lut, "episodes": episodes, "results": rows}


def markdown(recs: list[dict]) -> str:
    out = []
    for r in recs:
        out += [f"### {r['model']}: test accuracy (%) at a LUT budget (% of W8A8; W8A8: "
                f"{100 * r['reference_accuracy']:.1f}%, {r['reference_lut']:,.0f} LUT)", "",
                "| strategy | " + " | ".join(f"{int(100 * f)}%" for f in FRACTIONS) + " | mean | candidates synthesised (mean per budget) | wall s (sum) |",
                "|---|" + "---|" * (len(FRACTIONS) + 3)]
        for s in STRATEGIES:
            rs = [x for x in r["results"] if x["strategy"] == s]
            accs = [x["test_accuracy"] for x in rs]
            cells = ["infeasible" if a is None else f"{100 * a:.1f}" for a in accs]
            ok = [a for a in accs if a is not None]
            mean = f"{100 * np.mean(ok):.2f}" if ok else "-"
            syn = np.mean([x["syntheses"] for x in rs])
            out.append(f"| {s} | " + " | ".join(cells) + f" | {mean} | {syn:.1f} of {r['table_size']} | "
                       f"{sum(x['wall_s'] for x in rs):.1f} |")
        gaps = [100 * (i["test_accuracy"] - h["test_accuracy"]) for i, h in
                zip([x for x in r["results"] if x["strategy"] == "ilp"], [x for x in r["results"] if x["strategy"] == "haq"])
                if i["test_accuracy"] is not None and h["test_accuracy"] is not None]
        if gaps:
            out += ["", f"HAQ vs ILP: mean {np.mean(gaps):+.2f} points (ILP minus HAQ), worst {max(gaps):+.2f}; "
                        f"HAQ synthesised {np.mean([x['syntheses'] for x in r['results'] if x['strategy'] == 'haq']):.1f} "
                        f"of {r['table_size']} candidates per budget on average.", ""]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="digits")
    ap.add_argument("--episodes", type=int, default=300)
    args = ap.parse_args()
    recs = []
    for name in args.models.split(","):
        if name == "digits":
            run, cache, npz, cfg = digits_run(args.episodes)
        else:
            base = RUNS / name
            run, cache, npz, cfg = base / "cold", base / "cache", ROOT / "bench/models" / f"{name}_test.npz", base / "cold.yaml"
        recs.append(compare(name, run, cache, npz, cfg, args.episodes))
    (ROOT / "docs" / "bench_strategies.json").write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "models": recs},
                                                                    indent=1))
    print(markdown(recs))


if __name__ == "__main__":
    main()
