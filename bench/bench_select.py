"""Selection quality with seeds and standard errors: the default (MQE + ILP), its joint refinements and the baselines.

For every suite model (examples/suite; checkpoints by `python -m examples.suite.train`) and every seed s of
``SEEDS``, the flow runs to ``profile`` with ``mqe.seed: s`` (kernel cost rows: the da4ml estimate of every
layer candidate, the same table for every method and seed), and at the LUT budgets 30-90% of the W8A8
design every method chooses a design:

- ``ohq_kl``: MQE sensitivity as KL divergence of the outputs, summed by the ILP (``solver.objective: kl``);
- ``ohq_mse``: the same with the mean squared error of the logits (``solver.objective: mse``);
- ``ohq_mse_joint``: ``ohq_mse``, then the ILP's ``REFINE`` best distinct bit assignments scored jointly on
  the run's synthetic inputs (all layers masked at once) and the least damaged kept (``solver.refine``);
- ``ohq_mse_pool``: the same over a larger candidate set: the ILP's ``REFINE`` best, every uniform design within
  the budget and the ILP optimum's one-layer neighbours (``solver.refine_pools``);
- ``ohq_mse_pool256``: ``ohq_mse_pool`` scored on ``BIG_JOINT`` synthetic inputs (the 64 and more of the same
  generator); all data-free (no labels, no training data);
- ``hawq``: HAWQ-V3-style Hessian-trace sensitivity on 256 training samples (seed s picks them) + the ILP;
- ``haq``: evolutionary search scored by validation accuracy (seed s), as many evaluations as MQE's passes;
- ``greedy``: bit lowering by least MQE damage per LUT freed; ``uniform``: best uniform W/A on validation;
- ``oracle``: every assignment's exact test accuracy (bit spaces up to ``ORACLE_MAX``).

Accuracy is exact (QONNX re-quantized, onnxruntime). Test sets: digits keeps its 450 held-out images
(one sample = 0.22 points: the dataset has 1,797); MNIST-1D is generated fresh (``BIG_TEST`` samples from
an unseen generator seed, normalised with the training statistics; one sample = 0.005 points). Per budget:
the mean over seeds and its standard error; "best-or-tied" = within one standard error of the best
non-oracle mean; a paired Wilcoxon test of each ohq variant vs the best baseline over (budget, seed) pairs.
The ranking quality of the damage: Spearman rho against the test-accuracy drop, for single-layer candidates
and for ``MIXED`` random mixed assignments (KL and MSE, summed over layers and measured jointly).

A study of the choice itself: per budget and seed, a pool of candidate designs (the ILP's ``REFINE`` best under
the summed MSE and under the summed KL, every uniform design within the budget, the MSE optimum's one-layer
neighbours), each with its test accuracy and its data-free joint scores (MSE, KL, top-1 flips on up to
``STUDY_INPUTS`` synthetic inputs); ``STUDY_RULES`` choose from it, and the best test accuracy in a pool bounds
what any score could reach.

    python -m bench.bench_select [--models digits_mlp,mnist1d_mlp] [--seeds 0,1,2] [--reuse]

Prints a markdown section; writes docs/bench_select.json.
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

MODELS_DIR = ROOT / "bench" / "models"
RUNS = ROOT / "bench" / "runs" / "select"
DOCS = ROOT / "docs"
SEEDS = (0, 1, 2)
FRACTIONS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SEARCH = {"weight_bits": [2, 3, 4, 6, 8], "act_bits": [4, 6, 8]}
ORACLE_MAX = 5000
MIXED = 200
BIG_TEST = 25000
REFINE = 8
BIG_JOINT = 256
JOINT = {"ohq_mse_joint": (("top",), False), "ohq_mse_pool": (("top", "uniform", "neighbours"), False),
         "ohq_mse_pool256": (("top", "uniform", "neighbours"), True)}       # variant: (refine pools, big inputs)
STUDY_INPUTS = (64, 256, 1024)
STUDY_RULES = (   # (label, pools chosen from, score minimised; "test" = the best test accuracy: a bound)
    ("ILP top 8, joint MSE (64 inputs) = ohq_mse_joint", ("mse",), "mse64"),
    ("ILP top 8, joint MSE (256 inputs)", ("mse",), "mse256"),
    ("ILP top 8, joint MSE (1,024 inputs)", ("mse",), "mse1024"),
    ("ILP top 8, joint KL (64 inputs)", ("mse",), "kl64"),
    ("ILP top 8, joint KL (1,024 inputs)", ("mse",), "kl1024"),
    ("ILP top 8, top-1 flips (1,024 inputs)", ("mse",), "flips1024"),
    ("ILP top 8, rank sum of joint MSE (64) and flips (1,024)", ("mse",), "mse64+flips1024"),
    ("KL ILP top 8, joint KL (1,024 inputs)", ("kl",), "kl1024"),
    ("ILP top 8 + KL ILP top 8, joint MSE (64)", ("mse", "kl"), "mse64"),
    ("all pools, joint MSE (64)", ("mse", "kl", "uniform", "neighbours"), "mse64"),
    ("all pools, joint MSE (1,024)", ("mse", "kl", "uniform", "neighbours"), "mse1024"),
    ("bound: best test accuracy in the ILP top 8", ("mse",), "test"),
    ("bound: best test accuracy in all pools", ("mse", "kl", "uniform", "neighbours"), "test"),
)
METHODS = ("ohq_kl", "ohq_mse", *JOINT, "hawq", "haq", "greedy", "uniform", "oracle")
OURS = ("ohq_kl", "ohq_mse", *JOINT)
DEFAULT = "ohq_mse_joint"             # the flow's default (solver.objective: mse, solver.refine: 8)
BASELINES = ("hawq", "haq", "greedy", "uniform")


def write_config(name: str, factory: str, shape: list, seed: int, run_dir: Path, cache: Path) -> Path:
    """The flow config of one model and MQE seed (gaussian synthetic inputs scaled like the data)."""
    std = 0.6 if name.startswith("digits") else 1.0
    cfg = {"name": name,
           "model": {"brevitas": {"factory": factory, "checkpoint": str(MODELS_DIR / f"{name}.pt"),
                                  "input_shape": shape, "python_path": [str(ROOT)]}},
           "board": "pynq-z2", "search": SEARCH,
           "mqe": {"samples": 64, "seed": seed, "inputs": "gaussian", "mean": [0.0], "std": [std], "metric": "kl"},
           "hardware": {"cache_dir": str(cache), "timeout_s": 900, "rules": [{"measurer": "da4ml_estimate"}]},
           "budgets": {"lut": "100%"}, "build": {"design": False},
           "output_dir": str(run_dir)}
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_to_profile(config: Path, run_dir: Path, reuse: bool) -> None:
    if reuse and (run_dir / "costs.csv").is_file() and (run_dir / "sensitivity.csv").is_file():
        return
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as log:
        subprocess.run([sys.executable, "-m", "ohq_flow", "-q", "run", str(config), "--to", "profile"], cwd=ROOT,
                       check=True, timeout=5400, stdout=log, stderr=subprocess.STDOUT)


def big_mnist1d(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fresh MNIST-1D samples (generator seed unseen in training), normalised like the training data."""
    from mnist1d.data import get_dataset_args, make_dataset
    a = get_dataset_args()
    a.num_samples, a.seed = 4000, 0                        # the suite's training set (examples/suite/data.py)
    train = make_dataset(a)["x"]
    mu, sd = train.mean(), train.std()
    b = get_dataset_args()
    b.num_samples, b.seed = n, 987654
    d = make_dataset(b)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float32)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    return ((x - mu) / sd)[:, None, :].astype(np.float32), y


def _npz(name: str, split: str):
    d = np.load(MODELS_DIR / f"{name}_{split}.npz")
    return d["x"].astype(np.float32), d["y"]


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr
    return float(spearmanr(a, b).statistic)


def evaluate(name: str, factory: str, shape: list, seeds, reuse: bool) -> dict:
    """Every method at every budget and seed; the damage's rank correlations."""
    from qonnx.core.modelwrapper import ModelWrapper

    from bench.eval import methods as M
    from bench.eval.accuracy import AccuracyEvaluator
    from bench.eval.hawq import hawq_sensitivity
    from ohq_flow.config import load_config
    from ohq_flow.hw.costs import read_costs
    from ohq_flow.model.export import build_brevitas_model
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.mqe.run import JointScorer
    from ohq_flow.pipeline import run_context
    from ohq_flow.solve.ilp import totals_of
    from ohq_flow.solve.problem import build_problem
    from ohq_flow.solve.refine import candidates, refine, top_assignments
    from ohq_flow.solve.sensitivity_table import read_sensitivity
    from ohq_flow.solve.step import layer_meta
    from ohq_flow.solve.strategies import select
    from ohq_flow.steps import mqe_inputs

    test_xy = big_mnist1d(BIG_TEST) if name.startswith("mnist1d") else _npz(name, "test")
    x_tr, y_tr = _npz(name, "train")
    module = build_brevitas_model(factory, {}, checkpoint=MODELS_DIR / f"{name}.pt")
    cache = RUNS / "cache"
    rows, rank, study, walls = [], [], [], {m: 0.0 for m in METHODS}
    oracle_by_frac, test = None, None
    for seed in seeds:
        run_dir = RUNS / f"{name}_s{seed}"
        cfg_path = write_config(name, factory, shape, seed, run_dir, cache)
        run_to_profile(cfg_path, run_dir, reuse)
        model = ModelWrapper(str(run_dir / "model.onnx"))
        layers = discover_layers(model)
        order = [l.name for l in layers]
        meta = layer_meta(layers)
        costs = read_costs(run_dir / "costs.csv")
        mqe = read_sensitivity(run_dir / "sensitivity.csv", "kl")
        mqe_mse = read_sensitivity(run_dir / "sensitivity.csv", "mse")
        problem = build_problem(mqe, costs, layer_order=order, layer_meta=meta)
        problem_m = build_problem(mqe_mse, costs, layer_order=order, layer_meta=meta, objective="mse")
        space = {l: [c.bits for c in cands] for l, cands in problem.candidates.items()}
        if test is None:
            test = AccuracyEvaluator(model, layers, *test_xy)
            val = AccuracyEvaluator(model, layers, *_npz(name, "val"))
        fc = load_config(cfg_path)
        ctx = run_context(fc)
        scorer = JointScorer(model, layers, fc.mqe, mqe_inputs(ctx, model, layers))
        big = fc.model_copy(update={"mqe": fc.mqe.model_copy(update={"samples": BIG_JOINT})})
        scorer_big = JointScorer(model, layers, fc.mqe, mqe_inputs(run_context(big), model, layers))
        many = fc.model_copy(update={"mqe": fc.mqe.model_copy(update={"samples": max(STUDY_INPUTS)})})
        x_many = mqe_inputs(run_context(many), model, layers)
        study_scorers = {n: JointScorer(model, layers, fc.mqe, x_many[:n]) for n in STUDY_INPUTS}
        w8a8 = {l: (8, 8) for l in order}
        ref_acc, ref_lut = test.accuracy(w8a8), totals_of(problem, w8a8)["lut"]
        rng = np.random.default_rng(seed)
        pick = rng.permutation(len(x_tr))[:256]
        t0 = time.perf_counter()
        hawq = hawq_sensitivity(module, model, layers, space, x_tr[pick], y_tr[pick], seed=seed)
        walls["hawq"] += time.perf_counter() - t0
        problem_h = build_problem(hawq, costs, layer_order=order, layer_meta=meta)
        # rank quality: single-layer candidates and random mixed assignments vs the real accuracy drop
        single = [(mqe[(l, w, a)], mqe_mse[(l, w, a)], ref_acc - test.accuracy({**w8a8, l: (w, a)}))
                  for l in order for (w, a) in space[l]]
        mixed = []
        for _ in range(MIXED):
            asg = {l: space[l][rng.integers(len(space[l]))] for l in order}
            joint = scorer(asg)
            mixed.append((sum(mqe[(l, *asg[l])] for l in order), sum(mqe_mse[(l, *asg[l])] for l in order),
                          joint["kl"], joint["mse"], ref_acc - test.accuracy(asg)))
        col = lambda rows, i: [r[i] for r in rows]
        rank.append({"seed": seed, "single_kl": _spearman(col(single, 0), col(single, 2)),
                     "single_mse": _spearman(col(single, 1), col(single, 2)),
                     **{f"mixed_{k}": _spearman(col(mixed, i), col(mixed, 4))
                        for i, k in enumerate(("sum_kl", "sum_mse", "joint_kl", "joint_mse"))}})
        if oracle_by_frac is None and M.space_size(problem) <= ORACLE_MAX:
            t0 = time.perf_counter()
            everything = [(asg, test.accuracy(asg), totals_of(problem, asg)["lut"]) for asg in M.enumerate_all(problem)]
            oracle_by_frac = {}
            for frac in FRACTIONS:
                fits = [o for o in everything if o[2] <= frac * ref_lut * (1 + 1e-9)]
                oracle_by_frac[frac] = max(fits, key=lambda o: o[1])[0] if fits else {}
            walls["oracle"] += time.perf_counter() - t0
        ilp = lambda p: select(p, p.budgets, strategy="ilp", diagnose=False)
        for frac in FRACTIONS:
            budget = {"lut": frac * ref_lut}
            p, pm, ph = problem.with_budgets(budget), problem_m.with_budgets(budget), problem_h.with_budgets(budget)
            chosen = {}
            for method in METHODS:
                t0 = time.perf_counter()
                if method == "ohq_kl":
                    chosen[method] = ilp(p).assignment
                elif method == "ohq_mse" or method in JOINT:
                    sol = ilp(pm)
                    if method in JOINT and sol.assignment:
                        pools, use_big = JOINT[method]
                        by = scorer_big if use_big else scorer
                        sol, _ = refine(pm, sol, REFINE, lambda asg: by(asg)["mse"], ilp, pools)
                    chosen[method] = sol.assignment
                elif method == "hawq":
                    chosen[method] = ilp(ph).assignment
                elif method == "greedy":
                    chosen[method] = M.greedy(p)
                elif method == "uniform":
                    chosen[method] = M.uniform(p, val.accuracy)
                elif method == "haq":
                    chosen[method], _ = M.evolutionary(p, val.accuracy, evaluations=len(mqe), seed=seed)
                elif oracle_by_frac is not None:
                    chosen[method] = oracle_by_frac[frac]
                walls[method] += time.perf_counter() - t0
            for method, asg in chosen.items():
                rows.append({"seed": seed, "fraction": frac, "method": method, "feasible": bool(asg),
                             "test_accuracy": test.accuracy(asg) if asg else None,
                             "assignment": {l: f"w{w}a{a}" for l, (w, a) in asg.items()}})
            first_m, first_k = ilp(pm), ilp(p)
            if first_m.assignment and first_k.assignment:
                pools = [("mse", s) for s in top_assignments(pm, first_m, REFINE, ilp)]
                pools += [("kl", s) for s in top_assignments(p, first_k, REFINE, ilp)]
                pools += candidates(pm, first_m, 1, ilp, ("uniform", "neighbours"))[1:]
                study.append(study_entry(seed, frac, study_pool(pools, mqe_mse, study_scorers, test)))
        print(f"[{name}] seed {seed} done", file=sys.stderr, flush=True)
    return {"model": name, "n_test": int(len(test.y)), "seeds": list(seeds), "space": M.space_size(problem),
            "reference_accuracy": ref_acc, "rows": rows, "rank": rank, "study": study,
            "wall_s": {k: round(v, 2) for k, v in walls.items() if v}}


def study_pool(pools, damage, scorers, test) -> list[dict]:
    """Each distinct design of ``pools`` [(pool, Solution)]: the pools it is in, its data-free scores, test accuracy."""
    by = {}
    for pool, sol in pools:
        key = tuple(sorted(sol.assignment.items()))
        if key in by:
            by[key]["pools"].append(pool)
            continue
        asg = dict(key)
        scores = {"sum_mse": sum(damage[(l, *wa)] for l, wa in asg.items())}
        for n, sc in scorers.items():
            j = sc(asg)
            scores.update({f"mse{n}": j["mse"], f"kl{n}": j["kl"], f"flips{n}": j["flips"]})
        by[key] = {"pools": [pool], "test": 100 * test.accuracy(asg), **scores,
                   "assignment": {l: f"w{w}a{a}" for l, (w, a) in asg.items()}}
    return list(by.values())


def study_choice(cands: list[dict], pools, score: str) -> dict:
    """The candidate of ``pools`` with the least ``score`` (``a+b``: the least sum of ranks; ``test``: the best test
    accuracy); on equal scores the earlier one (the ILP's optimum first)."""
    inside = [c for c in cands if set(c["pools"]) & set(pools)]
    if score == "test":
        return max(inside, key=lambda c: c["test"])
    parts = score.split("+")
    ranks = {id(c): 0.0 for c in inside}
    for part in parts:
        for r, c in enumerate(sorted(inside, key=lambda c: c[part])):
            ranks[id(c)] += r
    return min(inside, key=lambda c: (ranks[id(c)], c[parts[0]]) if len(parts) > 1 else c[score])


def study_entry(seed: int, frac: float, cands: list[dict]) -> dict:
    """What docs/bench_select.json keeps of one pool: its size and each rule's choice."""
    return {"seed": seed, "fraction": frac, "candidates": len(cands),
            "chosen": {label: {k: c[k] for k in ("test", "pools", "assignment")}
                       for label, pools, score in STUDY_RULES for c in [study_choice(cands, pools, score)]}}


def tied(rec: dict, frac: float, vals: list[float]) -> bool:
    """Whether accuracies ``vals`` (%, over seeds) are best-or-tied with the baselines at budget ``frac``: within one
    standard error of the best non-oracle baseline mean."""
    stats = {m: mean_se(v) for m in BASELINES if (v := per_budget(rec, m, frac)) is not None}
    ours = mean_se(vals)
    if not stats:
        return True
    best = max(stats.values(), key=lambda ms: ms[0])
    return ours[0] >= best[0] - max(ours[1], best[1], 1e-9)


def study_summary(rec: dict) -> dict:
    """Per study rule: budgets best-or-tied with the baselines, mean test accuracy over the budgets."""
    out = {}
    for label, pools, score in STUDY_RULES:
        by_frac = {}
        for e in rec.get("study", []):
            by_frac.setdefault(e["fraction"], []).append(e["chosen"][label]["test"])
        full = {f: v for f, v in by_frac.items() if len(v) == len(rec["seeds"])}
        out[label] = {"ties": sum(tied(rec, f, v) for f, v in full.items()), "budgets": len(full),
                      "mean": float(np.mean([np.mean(v) for v in full.values()])) if full else None}
    return out


# ----------------------------------------------------------------------------- summaries
def per_budget(rec: dict, method: str, frac: float) -> list[float] | None:
    """Test accuracies (%) over seeds; None when some seed found no design."""
    v = [r["test_accuracy"] for r in rec["rows"] if r["method"] == method and r["fraction"] == frac]
    return None if not v or any(a is None for a in v) else [100 * a for a in v]


def mean_se(v: list[float]) -> tuple[float, float]:
    return float(np.mean(v)), float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def summary(rec: dict) -> dict:
    """Per method: mean accuracy over budgets; per ohq variant: budgets where it is best-or-tied among the
    non-oracle methods (within one standard error), its regret vs the oracle, a paired test vs the best baseline."""
    from scipy.stats import wilcoxon
    out = {"mean": {}, "ties": {}, "budgets": 0, "regret": {}, "paired": {}}
    for m in METHODS:
        vals = [per_budget(rec, m, f) for f in FRACTIONS]
        out["mean"][m] = float(np.mean([np.mean(v) for v in vals])) if all(v is not None for v in vals) else None
    for f in FRACTIONS:
        out["budgets"] += 1
        for ours in OURS:
            if (v := per_budget(rec, ours, f)) is not None:
                out["ties"][ours] = out["ties"].get(ours, 0) + tied(rec, f, v)
    orc = [per_budget(rec, "oracle", f) for f in FRACTIONS]
    if all(v is not None for v in orc):
        for m in METHODS[:-1]:
            vals = [per_budget(rec, m, f) for f in FRACTIONS]
            if all(v is not None for v in vals):
                out["regret"][m] = float(np.mean([o[0] - a for o, v in zip(orc, vals) for a in v]))
    means = {m: out["mean"][m] for m in BASELINES if out["mean"][m] is not None}
    for ours in OURS:
        if not means:
            break
        best = max(means, key=means.get)
        diffs = [a - b for f in FRACTIONS for a, b in zip(per_budget(rec, ours, f) or [], per_budget(rec, best, f) or [])]
        nz = [d for d in diffs if abs(d) > 1e-12]
        out["paired"][ours] = {"baseline": best, "mean_diff": float(np.mean(diffs)) if diffs else None,
                               "pairs": len(diffs), "wins": sum(d > 1e-12 for d in diffs),
                               "losses": sum(d < -1e-12 for d in diffs),
                               "p": float(wilcoxon(nz).pvalue) if len(nz) >= 5 else None}
    return out


def markdown(records: list[dict]) -> str:
    sums = {r["model"]: summary(r) for r in records}
    lines = ["### Mean test accuracy (%) over the LUT budgets 30-90% of W8A8, mean of the seeds", "",
             "| model | n test | seeds | " + " | ".join(METHODS) + " |", "|---|---|---|" + "---|" * len(METHODS)]
    for r in records:
        s = sums[r["model"]]
        lines.append(f"| {r['model']} | {r['n_test']:,} | {len(r['seeds'])} | "
                     + " | ".join("-" if s["mean"][m] is None else f"{s['mean'][m]:.2f}" for m in METHODS) + " |")
    lines += ["", "### Budgets where each ohq variant is best-or-tied (within one standard error) of the non-oracle "
              "methods (the other ohq variants left out)", "", "| model | " + " | ".join(OURS) + " |",
              "|---|" + "---|" * len(OURS)]
    for r in records:
        s = sums[r["model"]]
        lines.append(f"| {r['model']} | " + " | ".join(f"{s['ties'].get(o, 0)} of {s['budgets']}" for o in OURS) + " |")
    tot = {o: sum(s["ties"].get(o, 0) for s in sums.values()) for o in OURS}
    n = sum(s["budgets"] for s in sums.values())
    lines.append("| **all** | " + " | ".join(f"**{tot[o]} of {n}**" for o in OURS) + " |")
    lines += ["", f"The flow's default is `{DEFAULT}` (`solver.refine: 8`; goal: best-or-tied at >= 24 of 28 budgets).", ""]
    for r in records:
        lines += [f"### {r['model']}: test accuracy (%) per LUT budget, mean ± standard error over "
                  f"{len(r['seeds'])} seeds (n test = {r['n_test']:,})", "", "| budget | " + " | ".join(METHODS) + " |",
                  "|---|" + "---|" * len(METHODS)]
        for f in FRACTIONS:
            cells = []
            for m in METHODS:
                v = per_budget(r, m, f)
                cells.append("-" if v is None else "{:.2f} ± {:.2f}".format(*mean_se(v)))
            lines.append(f"| {int(100 * f)}% | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["### Regret vs the exhaustive oracle (points, mean over budgets and seeds)", "",
              "| model | " + " | ".join(METHODS[:-1]) + " |", "|---|" + "---|" * (len(METHODS) - 1)]
    for r in records:
        g = sums[r["model"]]["regret"]
        if g:
            lines.append(f"| {r['model']} | " + " | ".join(f"{g[m]:.2f}" if m in g else "-" for m in METHODS[:-1]) + " |")
    lines += ["", "The oracle picks, per budget, the assignment with the best *test* accuracy: an optimistic bound "
              "(on a small test set it also picks the test set's noise).", "",
              "### Paired: each ohq variant vs the best baseline (differences per budget and seed)", "",
              "| model | variant | best baseline | mean difference (points) | wins / losses / pairs | Wilcoxon p |",
              "|---|---|---|---|---|---|"]
    for r in records:
        for o, pr in sums[r["model"]]["paired"].items():
            p = "-" if pr["p"] is None else f"{pr['p']:.3f}"
            lines.append(f"| {r['model']} | {o} | {pr['baseline']} | {pr['mean_diff']:+.2f} | {pr['wins']} / "
                         f"{pr['losses']} / {pr['pairs']} | {p} |")
    keys = ("single_kl", "single_mse", "mixed_sum_kl", "mixed_sum_mse", "mixed_joint_kl", "mixed_joint_mse")
    lines += ["", "### Does the damage rank designs? Spearman rho vs the test-accuracy drop (mean over seeds)", "",
              f"| model | single-layer: KL | single-layer: MSE | {MIXED} mixed: summed KL | summed MSE | joint KL | "
              "joint MSE |", "|---|---|---|---|---|---|---|"]
    for r in records:
        k = {key: float(np.mean([x[key] for x in r["rank"]])) for key in keys}
        lines.append(f"| {r['model']} | " + " | ".join(f"{k[key]:.3f}" for key in keys) + " |")
    studies = {r["model"]: study_summary(r) for r in records}
    n_cands = [e["candidates"] for r in records for e in r.get("study", [])]
    lines += ["", "### Choosing among candidate designs: budgets best-or-tied with the baselines (study)", "",
              f"Per budget and seed a pool of {min(n_cands, default=0)}-{max(n_cands, default=0)} distinct designs "
              f"(mean {np.mean(n_cands) if n_cands else 0:.0f}): the ILP's {REFINE} best under the summed MSE, its "
              f"{REFINE} best under the summed KL, every uniform design within the budget, the MSE optimum's one-layer "
              "neighbours. Each rule keeps one design per budget and seed; the bounds keep the best *test* accuracy.", "",
              "| rule | all | " + " | ".join(r["model"] for r in records) + " | mean accuracy (%) per model |",
              "|---|---|" + "---|" * len(records) + "---|"]
    for label, _, _ in STUDY_RULES:
        per = [studies[r["model"]][label] for r in records]
        lines.append(f"| {label} | **{sum(x['ties'] for x in per)} of {sum(x['budgets'] for x in per)}** | "
                     + " | ".join(str(x["ties"]) for x in per) + " | "
                     + " / ".join("-" if x["mean"] is None else f"{x['mean']:.2f}" for x in per) + " |")
    lines += ["", "Costs: the da4ml estimate of each layer kernel (one table per model, the same for every method and "
              "seed). Damage on MQE's synthetic inputs (64 gaussian samples per seed): KL divergence of the output "
              "distributions, or mean squared error of the logits; summed over layers by the ILP, or measured jointly "
              f"(all layers masked at once; `ohq_mse_joint` refines the ILP's {REFINE} best assignments with it, "
              "`ohq_mse_pool` those, the uniform designs within the budget and the ILP optimum's one-layer neighbours, "
              f"`ohq_mse_pool256` the same on {BIG_JOINT} synthetic inputs). "
              "Seeds: MQE's synthetic inputs, HAWQ's training batch, HAQ's search; uniform and the oracle do not "
              "depend on the seed. Wall time per method and model: docs/bench_select.json."]
    return "\n".join(lines)


def main() -> None:
    from examples.suite.train import SUITE
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(SUITE))
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--reuse", action="store_true", help="keep run directories that already have costs and sensitivity")
    args = ap.parse_args()
    names = args.models.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    missing = [n for n in names if not (MODELS_DIR / f"{n}.pt").is_file() or not (MODELS_DIR / f"{n}_val.npz").is_file()]
    if missing:
        subprocess.run([sys.executable, "-m", "examples.suite.train", "--only", ",".join(missing)], cwd=ROOT,
                       check=True, timeout=3600)
    records = []
    for name in names:
        records.append(evaluate(name, SUITE[name][0], SUITE[name][2], seeds, args.reuse))
    (DOCS / "bench_select.json").write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "models": records}, indent=1))
    print(markdown(records))


if __name__ == "__main__":
    main()
