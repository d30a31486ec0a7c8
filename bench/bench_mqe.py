"""MQE benchmarks: naive vs ours on quant MobileNetV1-4b, and how well MQE predicts real damage.

(i) MobileNetV1-4b (brevitas_examples, pretrained=None), 224x224, 32 synthetic samples, weight
bits {2..8} (activations at their reference bits): wall time and peak memory of the naive method
(QONNX executor on the whole masked network, per candidate) vs ours (lowered ONNX, suffix only,
batched, all cores), each in its own subprocess. The naive method is timed on a subset of
candidates and extrapolated to all of them (said so in the output).
(ii) digits example: Spearman rank correlation between the MQE score of single-layer candidates
and their measured test-accuracy drop, and between summed MQE scores of 200 random mixed
configurations and their accuracy drop.

    python -m bench.bench_mqe [--naive-candidates 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "models"


def _mobilenet():
    from ohq_flow.model.export import build_brevitas_model, export_brevitas
    path = OUT / "mobilenet_v1_4b.onnx"
    if path.is_file():
        from qonnx.core.modelwrapper import ModelWrapper
        return ModelWrapper(str(path))
    import torch
    torch.manual_seed(0)
    m = build_brevitas_model("brevitas_examples.imagenet_classification.models:quant_mobilenet_v1_4b", {"pretrained": False})
    return export_brevitas(m, [1, 3, 224, 224], path)


def worker(method: str, n_candidates: int) -> dict:
    """Run one method in this process; report wall time, candidates done and peak RSS."""
    from ohq_flow.config import MQESection, SearchSection
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.mqe.run import QonnxExecutor, make_executor, score_layer, synthetic_inputs
    from ohq_flow.search_space import search_space
    model = _mobilenet()
    layers = discover_layers(model)
    mqe = MQESection(samples=32, seed=0, std=[1.0], modes=["weight_only"])
    space = search_space(layers, SearchSection(weight_bits=[2, 3, 4, 5, 6, 7, 8], act_bits=[4]))
    total = sum(len(v) for v in space.values())
    x = synthetic_inputs(mqe, [1, 3, 224, 224])
    t0 = time.perf_counter()
    ex = make_executor("fast", model, layers=layers) if method == "fast" else QonnxExecutor(model)
    ref = ex.reference(x) if method == "fast" else None
    t_ref = time.perf_counter() - t0
    done, t1 = 0, time.perf_counter()
    if method == "fast":
        for layer in layers:
            done += len(score_layer(ex, model, layer, space[layer.name], x, ref, modes=["weight_only"], seed=0))
    else:  # naive: the reference once, then whole-network QONNX runs for a few candidates of a middle layer
        ref = ex.reference(x)
        t_ref = time.perf_counter() - t0
        layer = layers[len(layers) // 2]
        t1 = time.perf_counter()
        done = len(score_layer(ex, model, layer, space[layer.name][:n_candidates], x, ref, modes=["weight_only"], seed=0))
    t_cand = time.perf_counter() - t1
    return {"method": method, "candidates_total": total, "candidates_timed": done, "reference_s": t_ref,
            "candidates_s": t_cand, "per_candidate_s": t_cand / max(done, 1),
            "projected_total_s": t_ref + t_cand / max(done, 1) * total,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def digits_correlation() -> dict:
    """Spearman correlations of MQE with measured accuracy drop on the digits example."""
    from scipy.stats import spearmanr
    from ohq_flow.config import load_config
    from ohq_flow.model.export import export_model
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.model.quantizers import apply_bits
    from ohq_flow.mqe.run import FastExecutor, kl_divergence, synthetic_inputs
    from ohq_flow.search_space import search_space
    cfg = load_config(ROOT / "examples/digits/flow.yaml")
    model, _ = export_model(cfg, OUT / "digits.onnx")
    layers = discover_layers(model)
    space = search_space(layers, cfg.search)
    data = np.load(ROOT / "examples/digits/digits_test.npz")
    xt, yt = data["x"], data["y"]
    x = synthetic_inputs(cfg.mqe, cfg.model.brevitas.input_shape)
    ex_syn, ex_test = FastExecutor(model), FastExecutor(model)
    ref_syn = ex_syn.reference(x)
    ref_acc = float((ex_test.reference(xt).argmax(1) == yt).mean())
    single = {}
    for l in layers:
        for w, a in space[l.name]:
            m, ch = apply_bits(model, [l], {l.name: (w, a)})
            kl = kl_divergence(ref_syn, ex_syn.masked(m, ch, x))
            drop = ref_acc - float((FastExecutor(m).reference(xt).argmax(1) == yt).mean())
            single[(l.name, w, a)] = (kl, drop)
    rho1 = spearmanr([v[0] for v in single.values()], [v[1] for v in single.values()]).statistic
    rng = np.random.default_rng(0)
    mixed = []
    for _ in range(200):
        asg = {l.name: space[l.name][rng.integers(len(space[l.name]))] for l in layers}
        m, _ = apply_bits(model, layers, asg)
        drop = ref_acc - float((FastExecutor(m).reference(xt).argmax(1) == yt).mean())
        mixed.append((sum(single[(n, w, a)][0] for n, (w, a) in asg.items()), drop))
    rho2 = spearmanr([m[0] for m in mixed], [m[1] for m in mixed]).statistic
    return {"reference_accuracy": ref_acc, "single_layer_candidates": len(single), "spearman_single": float(rho1),
            "mixed_configs": len(mixed), "spearman_mixed": float(rho2), "test_samples": int(len(yt)),
            "synthetic_samples": int(len(x))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--naive-candidates", type=int, default=2)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.naive_candidates)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    _mobilenet()  # export once, outside the timed workers
    results = {}
    for method in ("naive", "fast"):
        proc = subprocess.run([sys.executable, "-m", "bench.bench_mqe", "--worker", method,
                               "--naive-candidates", str(args.naive_candidates)], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    corr = digits_correlation()
    n, f = results["naive"], results["fast"]
    speedup = n["projected_total_s"] / f["projected_total_s"]
    print("### MQE on quant MobileNetV1-4b (224x224, 32 synthetic samples, weight bits 2..8, "
          f"{f['candidates_total']} candidates)\n")
    print("| method | wall time (all candidates) | per candidate | peak RSS |\n|---|---|---|---|")
    print(f"| naive: QONNX executor, whole network per candidate | {n['projected_total_s'] / 60:.1f} min "
          f"(**projected** from {n['candidates_timed']} timed candidates + the reference pass) | {n['per_candidate_s']:.1f} s | {n['peak_rss_mb']:.0f} MB |")
    print(f"| ours: lowered ONNX, suffix only, batched, all cores | {f['projected_total_s'] / 60:.1f} min (measured, all candidates) "
          f"| {f['per_candidate_s']:.2f} s | {f['peak_rss_mb']:.0f} MB |")
    print(f"\nSpeed-up: **{speedup:.0f}x** (target >= 3x); ours under 10 minutes: {'yes' if f['projected_total_s'] < 600 else 'NO'}.\n")
    print("### Does MQE predict real damage? (digits example, held-out test set)\n")
    print(f"- single-layer candidates ({corr['single_layer_candidates']}): Spearman rho = **{corr['spearman_single']:.3f}** (goal >= 0.8)")
    print(f"- {corr['mixed_configs']} random mixed configurations, summed MQE vs accuracy drop: Spearman rho = **{corr['spearman_mixed']:.3f}**")
    print(f"- reference test accuracy {corr['reference_accuracy']:.4f} on {corr['test_samples']} samples; "
          f"MQE used {corr['synthetic_samples']} Gaussian synthetic samples")
    doc = {"benchmark": "bench/bench_mqe.py", "date": dt.date.today().isoformat(), "nproc": os.cpu_count(),
           "mobilenet": results, "speedup": speedup, "digits": corr}
    from ohq_flow.fileio import atomic_write_json
    atomic_write_json(ROOT / "docs" / "bench_mqe.json", doc)


if __name__ == "__main__":
    main()
