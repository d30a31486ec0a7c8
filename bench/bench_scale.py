"""Scale benchmark: ImageNet/CIFAR-size brevitas_examples models through the flow, step by step.

For quant MobileNetV1-4b (ImageNet, 224x224) and CNV (CIFAR-10, 32x32), random weights
(``pretrained=False``: the flow's mechanics, speed and memory are measured, not accuracy):
layers, candidates, wall time and peak RSS of every CLI step (``layers``, ``sensitivity``,
``profile`` cold and warm, ``solve``, ``report``), each step in its own process under
``/usr/bin/time``. Then MQE's accelerated joint ranking (``mqe.joint_eval: separable``) against
the full joint evaluation on CNV (Spearman over every (layer, candidate) and over per-layer
worst damage), and the da4ml estimate time vs kernel size (the curve behind the default
measurer rules and ``build``'s refusal limit).

    python -m bench.bench_scale [--models mobilenet_v1_4b,cnv] [--samples 8] [--curve-timeout 180]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODELS = {
    "mobilenet_v1_4b": ("brevitas_examples.imagenet_classification.models:quant_mobilenet_v1_4b", [1, 3, 224, 224],
                        "ImageNet, 224x224, depthwise separable"),
    "cnv": ("brevitas_examples.bnn_pynq.models:cnv_2w2a", [1, 3, 32, 32], "CIFAR-10, 32x32"),
}
W_BITS, A_BITS = [2, 3, 4, 5, 6, 8], [4, 5, 6, 8]       # 24 candidates per layer


def _config(name: str, run: Path, cache: Path, samples: int, joint_eval: str, yosys_max: int | None = None) -> Path:
    factory, shape, _ = MODELS[name]
    cfg = {"name": f"scale-{name}", "board": "zcu104", "output_dir": str(run / "out"),
           "model": {"brevitas": {"factory": factory, "kwargs": {"pretrained": False}, "input_shape": shape}},
           "search": {"weight_bits": W_BITS, "act_bits": A_BITS},
           "mqe": {"samples": samples, "seed": 0, "joint_eval": joint_eval},
           "hardware": {"cache_dir": str(cache), "workers": 2},
           "budgets": {"lut": "100%"},
           "build": {"design": False}}     # the complete-design generator does not take these graphs (layers step)
    if yosys_max is not None:   # reduced settings: fewer synthesised layers (the rest as by default)
        cfg["hardware"]["rules"] = [{"measurer": "yosys", "max_weights": yosys_max},
                                    {"measurer": "da4ml_estimate", "max_weights": 4096}, {"measurer": "analytic"}]
    import yaml
    path = run / "flow.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _timed(args: list[str], log: Path, timeout_s: float) -> dict:
    """Wall time, CPU time (with the cost jobs), peak RSS (of the step's own process), exit code of one CLI step."""
    cli = [sys.executable, "-m", "ohq_flow"]
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        proc = subprocess.run(["/usr/bin/time", "-f", "OHQ_RSS_KB %M CPU %U %S", *cli, *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
        out, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out, rc = f"{exc.stdout or ''}{exc.stderr or ''}\nTIMEOUT after {timeout_s:g} s", -1
    wall = time.perf_counter() - t0
    log.write_text(out if isinstance(out, str) else out.decode(errors="replace"))
    if rc != 0:
        tail = [ln for ln in log.read_text().splitlines() if "warn" not in ln.lower()][-8:]
        print(f"  FAILED {' '.join(args[:1])} (exit {rc}):\n    " + "\n    ".join(tail), file=sys.stderr, flush=True)
    m = re.findall(r"OHQ_RSS_KB (\d+) CPU ([\d.]+) ([\d.]+)", out if isinstance(out, str) else "")
    return {"wall_s": round(wall, 1), "cpu_s": round(float(m[-1][1]) + float(m[-1][2]), 1) if m else None,
            "peak_rss_mb": round(int(m[-1][0]) / 1024) if m else None, "rc": rc}


def _partial(name: str, steps: dict) -> None:
    """Steps measured so far (docs/bench_logs/scale_partial.json), in case the run is stopped."""
    from ohq_flow.fileio import atomic_write_json
    path = ROOT / "docs" / "bench_logs" / "scale_partial.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = steps
    atomic_write_json(path, data)


def run_model(name: str, work: Path, samples: int, step_timeout: float, yosys_max: int | None = None) -> dict:
    run = work / name
    run.mkdir(parents=True, exist_ok=True)
    cfg = _config(name, run, work / "cache", samples, "separable", yosys_max)
    steps = {}
    for step, args in (("layers", ["layers", str(cfg)]), ("sensitivity", ["sensitivity", str(cfg)]),
                       ("profile (cold)", ["profile", str(cfg)])):
        steps[step] = _timed(args, run / f"{step.split()[0]}.log", step_timeout)
        print(f"  {name} {step}: {steps[step]}", file=sys.stderr, flush=True)
        _partial(name, steps)
    out = run / "out"
    for f in ("costs.csv", "costs.json"):           # warm: the same jobs again, every one from the cache
        (out / f).unlink(missing_ok=True)
    steps["profile (warm)"] = _timed(["profile", str(cfg)], run / "profile_warm.log", step_timeout)
    steps["solve"] = _timed(["solve", str(cfg)], run / "solve.log", step_timeout)
    steps["report"] = _timed(["report", str(out)], run / "report.log", step_timeout)
    for s in ("profile (warm)", "solve", "report"):
        print(f"  {name} {s}: {steps[s]}", file=sys.stderr, flush=True)
    _partial(name, steps)
    info = {"steps": steps}
    try:
        layers = json.loads((out / "layers.json").read_text())
        info["layers"] = len(layers["layers"] if isinstance(layers, dict) else layers)
    except (OSError, ValueError, KeyError):
        info["layers"] = None
    try:
        import csv
        with open(out / "costs.csv") as fh:
            rows = list(csv.DictReader(fh))
        info["candidates"] = len(rows)
        fid: dict[str, int] = {}
        for r in rows:
            key = f"{r['source']} ({r['fidelity']})" + (" fallback" if r.get("error", "").startswith("fallback") else "")
            fid[key] = fid.get(key, 0) + 1
        info["rows_by_measurer"] = fid
    except (OSError, KeyError):
        info["candidates"] = None
    warm = run / "profile_warm.log"
    info["warm_line"] = next((ln for ln in warm.read_text().splitlines() if " job(s): " in ln), "") if warm.is_file() else ""
    return info


def mqe_accuracy(which: str, samples: int) -> dict:
    """Separable vs full joint MQE on CNV (random weights) or the digits example (trained): Spearman, times."""
    from scipy.stats import spearmanr
    import torch
    from ohq_flow.config import MQESection, SearchSection
    from ohq_flow.model.export import build_brevitas_model, export_brevitas
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.mqe.run import FastExecutor, score_layer, synthetic_inputs
    from ohq_flow.search_space import search_space
    with tempfile.TemporaryDirectory() as tmp:
        if which == "digits":
            from ohq_flow.config import load_config
            from ohq_flow.model.export import export_model
            cfg = load_config(ROOT / "examples/digits/flow.yaml")
            model, _ = export_model(cfg, Path(tmp) / "digits.onnx")
            shape, label, mqe = cfg.model.brevitas.input_shape, "digits example (trained)", cfg.mqe
            mqe = mqe.model_copy(update={"samples": samples})
        else:
            factory, shape, _ = MODELS["cnv"]
            torch.manual_seed(0)
            model = export_brevitas(build_brevitas_model(factory, {"pretrained": False}), shape, Path(tmp) / "cnv.onnx")
            label, mqe = "cnv_2w2a (random weights)", MQESection(samples=samples, seed=0)
    layers = discover_layers(model)
    space = search_space(layers, SearchSection(weight_bits=W_BITS, act_bits=A_BITS))
    x = synthetic_inputs(mqe, shape)
    out = {}
    for method in ("full", "separable"):
        ex = FastExecutor(model, layers=layers)
        ref = ex.reference(x)
        t0 = time.perf_counter()
        rows = [r for l in layers for r in score_layer(ex, model, l, space[l.name], x, ref, modes=["joint"], seed=0,
                                                       joint_eval=method)]
        out[method] = {"seconds": time.perf_counter() - t0, "rows": {(r.layer, r.w_bits, r.a_bits): r.kl for r in rows}}
    keys = sorted(out["full"]["rows"])
    full, sep = [out["full"]["rows"][k] for k in keys], [out["separable"]["rows"][k] for k in keys]
    rho_all = spearmanr(full, sep).statistic
    names = list(dict.fromkeys(k[0] for k in keys))
    per_layer = spearmanr([max(v for k, v in out["full"]["rows"].items() if k[0] == n) for n in names],
                          [max(v for k, v in out["separable"]["rows"].items() if k[0] == n) for n in names]).statistic
    rel = [abs(s - f) / f for f, s in zip(full, sep) if f > 1e-9]
    return {"model": label, "layers": len(layers), "rows": len(keys), "samples": samples,
            "full_s": out["full"]["seconds"], "separable_s": out["separable"]["seconds"],
            "spearman_all_rows": float(rho_all), "spearman_layer_worst": float(per_layer),
            "median_rel_error": float(sorted(rel)[len(rel) // 2]) if rel else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="mobilenet_v1_4b,cnv")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--step-timeout", type=float, default=3600.0)
    ap.add_argument("--curve-timeout", type=float, default=180.0)
    ap.add_argument("--curve-sizes", default="16x16,32x32,48x48,64x64,80x80,96x96,128x128")
    ap.add_argument("--skip-curve", action="store_true")
    ap.add_argument("--w-bits", default=",".join(map(str, W_BITS)))
    ap.add_argument("--a-bits", default=",".join(map(str, A_BITS)))
    ap.add_argument("--yosys-max", type=int, default=None, help="reduced: Yosys only up to this many weights")
    ap.add_argument("--mqe-models", default="digits,cnv")
    args = ap.parse_args()
    W_BITS[:] = [int(v) for v in args.w_bits.split(",")]
    A_BITS[:] = [int(v) for v in args.a_bits.split(",")]
    from bench.scale_curve import curve
    work = Path(tempfile.mkdtemp(prefix="ohq_scale_"))
    results: dict = {"models": {}}
    results["mqe"], results["errors"] = [], []
    from ohq_flow.fileio import atomic_write_json

    def save() -> None:  # after every part, so an interrupted run still leaves its numbers
        atomic_write_json(ROOT / "docs" / "bench_scale.json", {"benchmark": "bench/bench_scale.py",
                                                              "date": dt.date.today().isoformat(), "nproc": os.cpu_count(),
                                                              "samples": args.samples, **results})
    try:
        for name in filter(None, args.models.split(",")):
            results["models"][name] = run_model(name, work, args.samples, args.step_timeout, args.yosys_max)
            save()
        for which, n in [(w, 64 if w == "digits" else args.samples) for w in filter(None, args.mqe_models.split(","))]:
            try:
                results["mqe"].append(mqe_accuracy(which, n))
                print(f"  mqe: {results['mqe'][-1]}", file=sys.stderr, flush=True)
            except Exception as exc:  # noqa: BLE001 - reported in the section, the other parts still run
                results["errors"].append(f"MQE accuracy on {which}: {type(exc).__name__}: {exc}")
            save()
        results["curve"] = [] if args.skip_curve else curve(args.curve_sizes.split(","), args.curve_timeout)
        save()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print(results, args)
    save()


def _print(res: dict, args) -> None:
    rules = (f"**reduced** measurer rules (yosys <= {args.yosys_max:,} weights, da4ml_estimate <= 4,096, analytic beyond)"
             if args.yosys_max is not None else "default measurer rules (yosys <= 1,024 weights, da4ml_estimate <= 4,096, "
             "analytic beyond)")
    print(f"Random weights (`pretrained=False`): speed and memory of the flow, not accuracy. Weights {W_BITS} x "
          f"activations {A_BITS} = {len(W_BITS) * len(A_BITS)} candidates per layer; MQE with {args.samples} synthetic "
          f"samples and `mqe.joint_eval: separable`; {rules}; estimate time box 60 s; 2 job workers; run under "
          f"`nice -n 10` on a 2-core machine shared with other jobs (load average {os.getloadavg()[0]:.0f} at the end): wall times are "
          "inflated by the contention, CPU time (the step's process and its cost jobs) is the better figure. Peak "
          "RSS is the step's own process (cost jobs run in their own processes).\n")
    for name, info in res["models"].items():
        print(f"### {name} ({MODELS[name][2]}): {info.get('layers')} layers, {info.get('candidates')} (layer, candidate) "
              "cost rows\n")
        print("| step | wall time | CPU time | peak RSS | exit |\n|---|---|---|---|---|")
        for step, s in info["steps"].items():
            print(f"| {step} | {s['wall_s']:.0f} s | {s.get('cpu_s')} s | {s['peak_rss_mb']} MB | {s['rc']} |")
        if info.get("rows_by_measurer"):
            print("\nCost rows by measurer (fidelity): " + ", ".join(f"{k}: {v}" for k, v in info["rows_by_measurer"].items()))
        if info.get("warm_line"):
            print(f"\nWarm profile: `{info['warm_line'].strip()}`")
        print()
    for m in res.get("mqe") or []:
        print(f"### MQE: accelerated (separable) vs full joint evaluation, {m['model']}\n")
        print(f"{m['layers']} layers x {m['rows'] // max(m['layers'], 1)} candidates ({m['rows']} rows), {m['samples']} synthetic samples: full joint "
              f"{m['full_s']:.0f} s, separable {m['separable_s']:.0f} s ({m['full_s'] / max(m['separable_s'], 1e-9):.1f}x). "
              f"Spearman over all rows **{m['spearman_all_rows']:.3f}**; over each layer's worst damage "
              f"**{m['spearman_layer_worst']:.3f}**; median relative error {100 * (m['median_rel_error'] or 0):.0f}%.\n")
    for e in res.get("errors") or []:
        print(f"**Failed:** {e}\n")
    if res.get("curve"):
        print("### da4ml estimate time vs kernel size (random 4-bit kernel, 4-bit unsigned inputs)\n")
        print("| kernel | weights | seconds | da4ml cost |\n|---|---|---|---|")
        for c in res["curve"]:
            sec = f"{c['seconds']:.1f}" if c.get("seconds") is not None else f"not finished ({c.get('error', '')[:40]})"
            print(f"| {c['inputs']}x{c['outputs']} | {c['weights']:,} | {sec} | {c.get('da4ml_cost', '-')} |")


if __name__ == "__main__":
    main()
