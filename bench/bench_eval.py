"""Evaluation: ohq_flow (MQE + measured costs + ILP) vs other bit-allocation methods, per model.

For every model of the suite (examples/suite; checkpoints made by `python -m examples.suite.train`):

1. the flow runs for real twice (`ohq-flow run`, all steps): cold (empty cost cache) and warm
   (new run directory, same cache) — time per step from the run manifests;
2. one cost table (costs.csv of the cold run: Yosys-measured LUT/latency per layer and candidate)
   and one set of budgets (30-90 % of the W8A8 design's LUT, and of its latency) serve every method:
   - ``ohq``: MQE sensitivity (data-free, synthetic inputs) + the ILP;
   - ``hawq``: HAWQ-V3-style Hessian-trace x perturbation sensitivity (256 training samples) + the same ILP;
   - ``haq``: evolutionary search scored by validation accuracy, allowed as many distinct
     evaluations as MQE ran masked forward passes (HAQ itself uses RL; this is the evolutionary
     variant, a common stand-in);
   - ``greedy``: bit lowering by least MQE damage per unit of budget freed;
   - ``uniform``: the uniform W/A pair within budget with the best validation accuracy;
   - ``oracle`` (models with <= 5000 assignments): every assignment's exact test accuracy.
3. every chosen design's exact test accuracy (QONNX model re-quantized, onnxruntime).

    python -m bench.bench_eval [--models digits_mlp,mnist1d_mlp] [--no-flow-runs]

Prints a markdown section; writes docs/bench_eval.json and docs/bench_eval_<model>.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS_DIR = ROOT / "bench" / "models"
RUNS = ROOT / "bench" / "runs"
DOCS = ROOT / "docs"
FRACTIONS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]            # the reported budgets
FINE = [0.1, 0.15, 0.2, 0.25] + FRACTIONS + [0.95, 1.0]     # also used for the "reduction at <= x pt loss"
METRICS = ("lut", "latency_cycles")
SEARCH = {"weight_bits": [2, 3, 4, 6, 8], "act_bits": [4, 6, 8]}
ORACLE_MAX = 5000
METHODS = ("ohq", "hawq", "haq", "greedy", "uniform", "oracle")
STEPS = ("export", "layers", "sensitivity", "profile", "solve", "build", "report")


# ----------------------------------------------------------------------------- the flow, for real
def ensure_models(names: list[str]) -> dict:
    """Train the suite models that have no checkpoint yet; return suite.json records by name."""
    missing = [n for n in names if not (MODELS_DIR / f"{n}.pt").is_file() or not (MODELS_DIR / f"{n}_val.npz").is_file()]
    if missing:
        subprocess.run([sys.executable, "-m", "examples.suite.train", "--only", ",".join(missing)], cwd=ROOT,
                       check=True, timeout=3600)
    from examples.suite.train import SUITE
    return {n: {"factory": SUITE[n][0], "input_shape": SUITE[n][2]} for n in names}


def write_config(name: str, rec: dict, run_dir: Path, cache_dir: Path) -> Path:
    """A flow config for one suite model (gaussian synthetic MQE inputs scaled like the data)."""
    std = 0.6 if name.startswith("digits") else 1.0
    cfg = {"name": name,
           "model": {"brevitas": {"factory": rec["factory"], "checkpoint": str(MODELS_DIR / f"{name}.pt"),
                                  "input_shape": rec["input_shape"], "python_path": [str(ROOT)]}},
           "board": "pynq-z2", "search": SEARCH,
           "mqe": {"samples": 64, "seed": 0, "inputs": "gaussian", "mean": [0.0], "std": [std], "metric": "kl"},
           "hardware": {"cache_dir": str(cache_dir), "timeout_s": 900,
                        "rules": [{"measurer": "yosys", "max_weights": 4096}, {"measurer": "da4ml_estimate"}]},
           "budgets": {"lut": "100%"},
           "build": {"verify_samples": 64, "eval_npz": str(MODELS_DIR / f"{name}_test.npz")},
           "output_dir": str(run_dir)}
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_flow(config: Path, run_dir: Path) -> dict:
    """`ohq-flow run CONFIG` in a subprocess; wall time and per-step times from the manifest."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    log = run_dir.parent / f"{run_dir.name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run([sys.executable, "-m", "ohq_flow", "-q", "run", str(config)], cwd=ROOT, stdout=fh,
                              stderr=subprocess.STDOUT, timeout=5400)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"ohq-flow run {config} failed (exit {proc.returncode}); log: {log}")
    steps = json.loads((run_dir / "manifest.json").read_text())["steps"]
    return {"wall_s": round(wall, 1), "steps": {s: steps[s]["elapsed_s"] for s in STEPS if s in steps},
            "profile": {k: steps["profile"].get("info", steps["profile"]).get(k) for k in ("jobs", "cached", "ran")}}


# ----------------------------------------------------------------------------- the comparison
def _npz(name: str, split: str):
    d = np.load(MODELS_DIR / f"{name}_{split}.npz")
    return d["x"].astype(np.float32), d["y"]


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr
    return float(spearmanr(a, b).statistic)


def compare(name: str, rec: dict, run_dir: Path) -> dict:
    """Every method at every budget on the run's cost table; exact test accuracy of each design."""
    from qonnx.core.modelwrapper import ModelWrapper

    from bench.eval import methods as M
    from bench.eval.accuracy import AccuracyEvaluator
    from bench.eval.hawq import hawq_sensitivity
    from ohq_flow.hw.costs import read_costs
    from ohq_flow.model.export import build_brevitas_model
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.solve.ilp import totals_of
    from ohq_flow.solve.strategies import select
    from ohq_flow.solve.problem import build_problem
    from ohq_flow.solve.sensitivity_table import read_sensitivity
    from ohq_flow.solve.step import layer_meta

    model = ModelWrapper(str(run_dir / "model.onnx"))
    layers = discover_layers(model)
    costs = read_costs(run_dir / "costs.csv")
    meta = layer_meta(layers)
    order = [l.name for l in layers]
    mqe = read_sensitivity(run_dir / "sensitivity.csv")
    problem = build_problem(mqe, costs, layer_order=order, layer_meta=meta)
    space = {l: [c.bits for c in cands] for l, cands in problem.candidates.items()}
    test = AccuracyEvaluator(model, layers, *_npz(name, "test"))
    val = AccuracyEvaluator(model, layers, *_npz(name, "val"))
    w8a8 = {l: (8, 8) for l in order}
    ref_acc = test.accuracy(w8a8)
    ref_cost = totals_of(problem, w8a8)
    wall = {m: 0.0 for m in METHODS}
    wall["ohq"] = json.loads((run_dir / "manifest.json").read_text())["steps"]["sensitivity"]["elapsed_s"]

    t0 = time.perf_counter()
    x_tr, y_tr = _npz(name, "train")
    module = build_brevitas_model(rec["factory"], {}, checkpoint=MODELS_DIR / f"{name}.pt")
    hawq = hawq_sensitivity(module, model, layers, space, x_tr[:256], y_tr[:256])
    wall["hawq"] = time.perf_counter() - t0
    problem_h = build_problem(hawq, costs, layer_order=order, layer_meta=meta)

    # how well each sensitivity predicts the real damage of single-layer candidates
    single = {(l, w, a): ref_acc - test.accuracy({**w8a8, l: (w, a)}) for l in order for (w, a) in space[l]}
    keys = sorted(single)
    rank = {"mqe": _spearman([mqe[k] for k in keys], [single[k] for k in keys]),
            "hawq": _spearman([hawq[k] for k in keys], [single[k] for k in keys])}

    oracle = None
    if M.space_size(problem) <= ORACLE_MAX:
        t0 = time.perf_counter()
        oracle = [(asg, test.accuracy(asg), totals_of(problem, asg)) for asg in M.enumerate_all(problem)]
        wall["oracle"] = time.perf_counter() - t0
    n_mqe = len(mqe)                                  # masked forward passes MQE ran (joint mode)

    results = []
    for metric in METRICS:
        for frac in FINE:
            budget = {metric: frac * ref_cost[metric]}
            p, ph = problem.with_budgets(budget), problem_h.with_budgets(budget)
            chosen, times = {}, {}
            for method in METHODS:
                t0 = time.perf_counter()
                if method == "ohq":
                    chosen[method] = select(p, strategy="ilp", diagnose=False).assignment
                elif method == "hawq":
                    chosen[method] = select(ph, strategy="ilp", diagnose=False).assignment
                elif method == "greedy":
                    chosen[method] = M.greedy(p)
                elif method == "uniform":
                    chosen[method] = M.uniform(p, val.accuracy)
                elif method == "haq":
                    chosen[method], _ = M.evolutionary(p, val.accuracy, evaluations=n_mqe, seed=0)
                elif oracle is not None:
                    fits = [o for o in oracle if o[2][metric] <= budget[metric] * (1 + 1e-9)]
                    chosen[method] = max(fits, key=lambda o: o[1])[0] if fits else {}
                else:
                    continue
                times[method] = time.perf_counter() - t0
                wall[method] += times[method]
            for method, asg in chosen.items():
                tot = totals_of(problem, asg) if asg else {}
                results.append({"metric": metric, "fraction": frac, "budget": budget[metric], "method": method,
                                "feasible": bool(asg), "test_accuracy": test.accuracy(asg) if asg else None,
                                "lut": tot.get("lut"), "latency_cycles": tot.get("latency_cycles"),
                                "assignment": {l: f"w{w}a{a}" for l, (w, a) in asg.items()},
                                "seconds": round(times[method], 4)})
    return {"model": name, "layers": len(order), "weights": int(sum(np.prod(l.weight_shape) for l in layers)),
            "candidates": n_mqe, "space": M.space_size(problem), "reference_accuracy": ref_acc,
            "reference_cost": {m: ref_cost[m] for m in METRICS},
            "minimum_cost": {m: sum(min(c.cost[m] for c in cs) for cs in problem.candidates.values()) for m in METRICS}, "n_test": int(len(test.y)), "n_val": int(len(val.y)),
            "spearman_single_layer": rank, "wall_s": {k: round(v, 2) for k, v in wall.items() if v},
            "results": results, "oracle_designs": len(oracle) if oracle else 0,
            "latency_range": [min(c.cost["latency_cycles"] for cs in problem.candidates.values() for c in cs),
                              max(c.cost["latency_cycles"] for cs in problem.candidates.values() for c in cs)]}


# ----------------------------------------------------------------------------- summaries
def _acc(rows, metric, frac, method):
    for r in rows:
        if r["metric"] == metric and abs(r["fraction"] - frac) < 1e-9 and r["method"] == method:
            return r["test_accuracy"]
    return None


def reduction(rec: dict, method: str, metric: str, loss_pt: float) -> float | None:
    """Largest cost reduction vs W8A8 among the method's designs (over all budgets) losing <= loss_pt points."""
    ok = [r[metric] for r in rec["results"] if r["method"] == method and r["feasible"]
          and r["test_accuracy"] >= rec["reference_accuracy"] - loss_pt / 100 - 1e-12]
    return 1 - min(ok) / rec["reference_cost"][metric] if ok else None


def regret(rec: dict, method: str, metric: str) -> tuple[float, float] | None:
    """(mean, max) accuracy points below the oracle over the reported budgets where both are feasible."""
    gaps = []
    for f in FRACTIONS:
        o, a = _acc(rec["results"], metric, f, "oracle"), _acc(rec["results"], metric, f, method)
        if o is not None and a is not None:
            gaps.append(100 * (o - a))
    return (float(np.mean(gaps)), float(np.max(gaps))) if gaps else None


def losses(rec: dict) -> list[str]:
    """Budgets where some non-oracle method beat ohq on test accuracy (the honest list)."""
    out = []
    for metric in METRICS:
        for f in FRACTIONS:
            ours = _acc(rec["results"], metric, f, "ohq")
            for m in ("hawq", "haq", "greedy", "uniform"):
                other = _acc(rec["results"], metric, f, m)
                if other is not None and (ours is None or other > ours + 1e-12):
                    gap = "ohq infeasible" if ours is None else f"{100 * (other - ours):+.1f} pt"
                    out.append(f"{rec['model']}, {metric} <= {int(f * 100)}%: {m} {100 * other:.1f}% vs ohq "
                               f"{'-' if ours is None else f'{100 * ours:.1f}%'} ({gap})")
    return out


def plot(rec: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, METRICS):
        for m in METHODS:
            pts = [(r["fraction"], r["test_accuracy"]) for r in rec["results"]
                   if r["method"] == m and r["metric"] == metric and r["feasible"]]
            if pts:
                ax.plot([100 * p[0] for p in pts], [100 * p[1] for p in pts], marker="o", ms=3, label=m,
                        lw=2.5 if m == "ohq" else 1, ls="--" if m == "oracle" else "-", zorder=5 if m == "ohq" else 2,
                        color="black" if m == "ohq" else None)
        ax.axhline(100 * rec["reference_accuracy"], color="gray", lw=0.8, ls=":")
        ax.set_xlabel(f"budget: % of W8A8 {metric}")
        ax.set_ylabel("test accuracy %")
        ax.set_title(f"{rec['model']}: {metric}")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _cell(v, fmt="{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown(records: list[dict], flow: dict) -> str:
    lines = ["### Suite (trained here; checkpoints by `make bench`)", "",
             "| model | layers | weights | candidates | assignments | W8A8 test acc | W8A8 LUT | W8A8 latency (cycles) | latency range per layer |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['model']} | {r['layers']} | {r['weights']} | {r['candidates']} | {r['space']:,} | "
                     f"{100 * r['reference_accuracy']:.1f}% (n={r['n_test']}) | {r['reference_cost']['lut']:,.0f} | "
                     f"{r['reference_cost']['latency_cycles']:,.0f} | {r['latency_range'][0]:.0f}-{r['latency_range'][1]:.0f} |")
    lines += ["", "Costs: Yosys synthesis (`synth_xilinx`) of da4ml RTL per layer and candidate, from the cold run's "
              "costs.csv; the same table and budgets for every method. Accuracy: exact, on the held-out test split.", "",
              "### Summary: mean test accuracy (%) over the LUT budgets 30-90% of W8A8", "",
              "| model | " + " | ".join(METHODS) + " | budgets where ohq is best of the non-oracle methods (ties count) |",
              "|---|" + "---|" * (len(METHODS) + 1)]
    for r in records:
        cells, best = [], 0
        for m in METHODS:
            vals = [_acc(r["results"], "lut", f, m) for f in FRACTIONS]
            cells.append("-" if any(v is None for v in vals) else f"{100 * float(np.mean(vals)):.2f}")
        for f in FRACTIONS:
            ours = _acc(r["results"], "lut", f, "ohq")
            others = [_acc(r["results"], "lut", f, m) for m in METHODS if m not in ("ohq", "oracle")]
            best += ours is not None and all(o is None or ours >= o - 1e-12 for o in others)
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {best} of {len(FRACTIONS)} |")
    lines.append("")
    for r in records:
        for metric in METRICS:
            if not any(_acc(r["results"], metric, f, m) is not None for f in FRACTIONS for m in METHODS):
                floor = 100 * r["minimum_cost"][metric] / r["reference_cost"][metric]
                lines += [f"### {r['model']}: {metric} budgets", "",
                          f"Every {metric} budget from 30% to 90% of W8A8 is infeasible for every method: the cheapest "
                          f"design needs {floor:.0f}% of the W8A8 {metric}. (In the streamed da4ml RTL a layer's latency "
                          "in cycles is its number of output positions plus its pipeline registers; bit-widths change "
                          "the combinational depth, i.e. the clock, not the cycle count. With parallelism chosen "
                          "with the bits — folded layers — latency budgets below W8A8 are feasible: see the "
                          "`latency` section, where every method is compared under them.)", ""]
                continue
            lines += [f"### {r['model']}: test accuracy (%) at a {metric} budget (% of W8A8)", "",
                      "| method | " + " | ".join(f"{int(100 * f)}%" for f in FRACTIONS) + " |",
                      "|---|" + "---|" * len(FRACTIONS)]
            for m in METHODS:
                vals = [_acc(r["results"], metric, f, m) for f in FRACTIONS]
                if m == "oracle" and not r["oracle_designs"]:
                    continue
                cells = [("**" if m == "ohq" else "") + _cell(None if v is None else 100 * v) + ("**" if m == "ohq" else "")
                         if v is not None else "infeasible" for v in vals]
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += [f"![{r['model']}](bench_eval_{r['model']}.png)", ""]
    lines += ["### Regret vs the exhaustive oracle (accuracy points below the best design within budget; mean / max over 30-90%)", "",
              "| model | metric | " + " | ".join(m for m in METHODS if m != "oracle") + " |",
              "|---|---|" + "---|" * (len(METHODS) - 1)]
    for r in records:
        if not r["oracle_designs"]:
            continue
        for metric in METRICS:
            cells = []
            for m in METHODS:
                if m == "oracle":
                    continue
                g = regret(r, m, metric)
                cells.append("-" if g is None else f"{g[0]:.2f} / {g[1]:.2f}")
            lines.append(f"| {r['model']} | {metric} | " + " | ".join(cells) + " |")
    lines += ["", "### Cost reduction vs W8A8 at <= 0.5 and <= 1 point accuracy loss (best design over budgets 10-100%)", "",
              "| model | method | LUT (<=0.5 pt) | LUT (<=1 pt) | latency (<=0.5 pt) | latency (<=1 pt) |", "|---|---|---|---|---|---|"]
    for r in records:
        for m in METHODS:
            if m == "oracle" and not r["oracle_designs"]:
                continue
            vals = [reduction(r, m, metric, pt) for metric in METRICS for pt in (0.5, 1.0)]
            lines.append(f"| {r['model']} | {m} | " + " | ".join(_cell(None if v is None else 100 * v, "{:.0f}%") for v in vals) + " |")
    lines += ["", "### Does the sensitivity predict real damage? (Spearman rho, single-layer candidates vs test-accuracy drop)", "",
              "| model | MQE (data-free, 64 synthetic samples) | HAWQ-V3 style (256 training samples) |", "|---|---|---|"]
    for r in records:
        s = r["spearman_single_layer"]
        lines.append(f"| {r['model']} | {s['mqe']:.3f} | {s['hawq']:.3f} |")
    lines += ["", "### Wall time per method (s, this machine; all budgets of both metrics)", "",
              "| model | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for r in records:
        lines.append(f"| {r['model']} | " + " | ".join(_cell(r["wall_s"].get(m), "{:.1f}") for m in METHODS) + " |")
    lines += ["", "ohq = MQE (sensitivity step) + every ILP solve; hawq = Hessian traces + every ILP solve; haq = "
              "every search (validation-accuracy evaluations included); oracle = exact test accuracy of every assignment. "
              "The hardware cost table (profile step) is shared by all methods and not counted here; see flow speed.", "",
              "### Flow speed: seconds per step, cold cache / warm cache (`ohq-flow run`, all steps)", "",
              "| model | " + " | ".join(STEPS) + " | total wall | synthesis jobs run (cold / warm) |", "|---|" + "---|" * (len(STEPS) + 2)]
    for name, f in flow.items():
        c, w = f["cold"], f["warm"]
        cells = [f"{c['steps'].get(s, 0):.1f} / {w['steps'].get(s, 0):.1f}" for s in STEPS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {c['wall_s']:.0f} / {w['wall_s']:.0f} | "
                     f"{c['profile'].get('ran')} / {w['profile'].get('ran')} |")
    lost = [x for r in records for x in losses(r)]
    lines += ["", "### Where ohq_flow loses", ""]
    lines += [f"- {x}" for x in lost] or ["- nowhere in this run: no other (non-oracle) method reached a higher test accuracy at any reported budget."]
    lines += ["", "ILP solve time vs layer count (10-500 layers): see the `ilp` section.", ""]
    return "\n".join(lines)


def main() -> None:
    from examples.suite.train import SUITE
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(SUITE))
    ap.add_argument("--no-flow-runs", action="store_true", help="reuse bench/runs/<model>/cold (no new flow runs)")
    args = ap.parse_args()
    names = args.models.split(",")
    recs = ensure_models(names)
    flow, records = {}, []
    for name in names:
        base = RUNS / name
        cold, warm, cache = base / "cold", base / "warm", base / "cache"
        if not args.no_flow_runs:
            if cache.exists():
                shutil.rmtree(cache)
            flow[name] = {"cold": run_flow(write_config(name, recs[name], cold, cache), cold),
                          "warm": run_flow(write_config(name, recs[name], warm, cache), warm)}
        elif (base / "flow.json").is_file():
            flow[name] = json.loads((base / "flow.json").read_text())
        if name in flow:
            (base / "flow.json").write_text(json.dumps(flow[name], indent=2))
        rec = compare(name, recs[name], cold)
        rec["flow"] = flow.get(name)
        plot(rec, DOCS / f"bench_eval_{name}.png")
        records.append(rec)
        print(f"[{name}] done", file=sys.stderr, flush=True)
    (DOCS / "bench_eval.json").write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "models": records}, indent=1))
    print(markdown(records, flow))


if __name__ == "__main__":
    main()
