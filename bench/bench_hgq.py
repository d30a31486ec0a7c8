"""HGQ (learned per-channel / per-weight bit-widths) vs the per-layer ILP, at measured LUT.

For one suite model (the run directory of bench/bench_strategies.py: model.onnx, MQE
sensitivity, cost table): every point is a QONNX model whose complete design (ohq_flow/design)
is synthesised whole with Yosys (the board's family) — LUT measured, never predicted — and whose
accuracy is exact on the held-out test split (the QONNX model the hardware computes):

- ``ilp``: the per-layer ILP's assignment at LUT budgets (fractions of W8A8, on the run's table);
- ``hgq per_channel`` / ``hgq per_weight``: HGQ trained from the W8A8 checkpoint on the training
  split at each regularisation strength ``beta`` (a Pareto sweep), exported by
  :func:`ohq_flow.train.hgq_export.hgq_qonnx`.

    python -m bench.bench_hgq [--models digits_mlp,mnist1d_mlp] [--steps 200] [--betas 1e-5,2e-5,4e-5,1e-4]

Resumable: every finished point is stored at once in docs/bench_hgq.json (per model) and a point
already there (same method, setting and training steps) is not run again, so a killed run loses at
most the point in progress. Prints the markdown section of every model in the file;
``--write-section`` also puts it into docs/benchmarks.md (section ``hgq``) and docs/bench_logs/hgq.md.
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
RUNS = ROOT / "bench" / "runs"
OUT = ROOT / "docs" / "bench_hgq.json"


def load_results() -> dict:
    """docs/bench_hgq.json as ``{"models": {name: {...}}}`` (the older one-model layout converted)."""
    if not OUT.is_file():
        return {"models": {}}
    rec = json.loads(OUT.read_text())
    if "models" in rec:
        return rec
    return {"date": rec.get("date"), "models": {rec["model"]: {k: v for k, v in rec.items() if k not in ("model", "date")}}}


def done(name: str, method: str, setting: str, steps: int | None) -> bool:
    """Whether docs/bench_hgq.json already holds this point (trained points: with the same steps)."""
    for p in load_results()["models"].get(name, {}).get("points", []):
        if (p["method"], p["setting"]) == (method, setting) and (steps is None or p.get("steps", 200) == steps):
            return True
    return False


def measure(q, work: Path, cfg) -> dict:
    """Whole-design Yosys LUT of QONNX model ``q`` (cached by the design's content)."""
    from ohq_flow.design.rtl import generate_design
    from ohq_flow.hw.rtl.yosys import measure_yosys_cached
    board = cfg.board_obj()
    t0 = time.perf_counter()
    design = generate_design(q, work / "design", part=board.part, clock_ns=cfg.clock_ns())
    res, cached = measure_yosys_cached(design.sources, design.top, family=board.yosys_family, work_dir=work / "synth",
                                       timeout_s=3600, cache_dir=Path(cfg.hardware.cache_dir))
    return {"lut": res.lut, "ff": res.ff, "dsp": res.dsp, "seconds": round(time.perf_counter() - t0, 1),
            "from_cache": cached}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="digits_mlp,mnist1d_mlp")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--betas", default="1e-5,2e-5,4e-5,1e-4")
    ap.add_argument("--per-weight-betas", default="2e-5,4e-5")
    ap.add_argument("--fractions", default="0.25,0.35,0.45,0.6")
    ap.add_argument("--finetune-fractions", default="0.25", help="ILP designs fine-tuned (Brevitas QAT) before export")
    ap.add_argument("--markdown-only", action="store_true", help="print the section of docs/bench_hgq.json")
    ap.add_argument("--write-section", action="store_true", help="also write it into docs/benchmarks.md")
    args = ap.parse_args()
    if not args.markdown_only:
        for name in filter(None, args.models.split(",")):
            run_model(name, args)
    section = "\n\n".join(markdown(n, r["points"], r["w8a8_accuracy"], r.get("lut_model"))
                           for n, r in load_results()["models"].items())
    print(section)
    if args.write_section:
        write_section(section)


def write_section(body: str) -> None:
    """Replace the ``hgq`` section of docs/benchmarks.md (and docs/bench_logs/hgq.md) with ``body``."""
    import datetime as dt

    from bench.run_all import machine
    from ohq_flow.fileio import atomic_write_text
    body = (f"{body}\n\n_(run {dt.date.today().isoformat()} on {machine()}, shared with other jobs; assembled from "
            "docs/bench_hgq.json)_\n")
    atomic_write_text(ROOT / "docs" / "bench_logs" / "hgq.md", body)
    doc = ROOT / "docs" / "benchmarks.md"
    head, *parts = doc.read_text().split("\n## ")
    parts = [f"hgq\n\n{body}" if p.split("\n", 1)[0].strip() == "hgq" else p for p in parts]
    atomic_write_text(doc, "\n## ".join([head, *parts]))


def run_model(name: str, args) -> None:
    """Every point of ``args`` not yet in docs/bench_hgq.json for suite model ``name``."""
    import torch
    from qonnx.core.modelwrapper import ModelWrapper

    from bench.bench_strategies import suite_run
    from ohq_flow.final.final import accuracy
    from ohq_flow.config import load_config
    from ohq_flow.fileio import atomic_write_json
    from ohq_flow.hw.costs import read_costs
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.model.quantizers import apply_bits
    from ohq_flow.model.export import build_brevitas_model
    from ohq_flow.solve.problem import build_problem
    from ohq_flow.solve.ilp import totals_of
    from ohq_flow.solve.sensitivity_table import read_sensitivity
    from ohq_flow.solve.step import layer_meta
    from ohq_flow.solve.strategies import select
    from ohq_flow.train.data import Dataset
    from ohq_flow.train.hgq import HGQModel, fit_lut_model, train_hgq
    from ohq_flow.train.hgq_export import hgq_qonnx

    torch.set_num_threads(1)
    run, _cache, test_npz, cfg_path, train = suite_run(name)
    cfg = load_config(cfg_path)
    model = ModelWrapper(str(run / "model.onnx"))
    layers = discover_layers(model)
    order = [l.name for l in layers]
    problem = build_problem(read_sensitivity(run / "sensitivity.csv"), read_costs(run / "costs.csv"),
                            layer_order=order, layer_meta=layer_meta(layers))
    d = np.load(test_npz)
    xt, yt = d["x"].astype(np.float32), d["y"]
    v = np.load(test_npz.with_name(f"{name}_val.npz"))
    data = Dataset(train["x"].astype(np.float32), train["y"], v["x"].astype(np.float32), v["y"], name)
    work = RUNS / f"{name}_hgq"
    ref_lut = totals_of(problem, {l: (8, 8) for l in order})["lut"]
    ref_acc = accuracy(model, xt, yt)             # W8A8 (the checkpoint as exported), not synthesised here
    fit = fit_lut_model(run / "costs.csv", run / "layers.json")

    def add(method: str, setting: str, q, extra: dict) -> None:
        acc = accuracy(q, xt, yt)
        hw = measure(q, work / f"{method}_{setting}".replace(" ", "_"), cfg)
        print(f"[{name}] {method} {setting}: acc {acc:.4f} LUT {hw['lut']} ({hw['seconds']} s)", file=sys.stderr, flush=True)
        rec = load_results()                        # merged: several invocations may add points
        mod = rec["models"].setdefault(name, {})
        keep = [p for p in mod.get("points", []) if (p["method"], p["setting"]) != (method, setting)]
        mod.update({"w8a8_accuracy": ref_acc, "lut_model": fit.to_dict(),
                    "points": keep + [{"method": method, "setting": setting, "test_accuracy": acc, "measured": hw, **extra}]})
        rec["date"] = time.strftime("%Y-%m-%d")
        atomic_write_json(OUT, rec)

    for frac in (float(x) for x in args.fractions.split(",") if x):
        if done(name, "ilp", f"{int(100 * frac)}% LUT", None):
            continue
        sol = select(problem, {"lut": frac * ref_lut}, strategy="ilp")
        if not sol.assignment:
            continue
        q, _ = apply_bits(ModelWrapper(str(run / "model.onnx")), layers, sol.assignment)
        add("ilp", f"{int(100 * frac)}% LUT", q, {"assignment": {l: f"w{w}a{a}" for l, (w, a) in sol.assignment.items()}})
    for frac in (float(x) for x in args.finetune_fractions.split(",") if x):
        from ohq_flow.final.writeback import writeback_brevitas
        from ohq_flow.config import FinetuneSection
        from ohq_flow.model.export import export_brevitas
        from ohq_flow.train.finetune import Trainer
        setting = f"{int(100 * frac)}% LUT" + (f", {args.steps} steps" if args.steps != 200 else "")
        if done(name, "ilp+finetune", setting, args.steps):
            continue
        sol = select(problem, {"lut": frac * ref_lut}, strategy="ilp")
        qmap = json.loads((run / "quant_owners.json").read_text())
        mod, bits = writeback_brevitas(build_brevitas_model(train["factory"], {}, checkpoint=train["checkpoint"]),
                                       layers, sol.assignment, qmap)
        t0 = time.perf_counter()
        wdir = work / f"finetune_{int(100 * frac)}"
        wdir.mkdir(parents=True, exist_ok=True)
        info = Trainer(mod, bits, data, FinetuneSection(enabled=True, steps=args.steps, patience=None),
                       wdir / "ft.pt", "bench", echo=lambda m: None).run()
        q = export_brevitas(mod.eval(), cfg.model.brevitas.input_shape, wdir / "ft.onnx")
        add("ilp+finetune", setting, q,
            {"assignment": {l: f"w{w}a{a}" for l, (w, a) in sol.assignment.items()},
             "train_s": round(time.perf_counter() - t0, 1), "finetune_steps": info.get("steps"), "steps": args.steps})
    module = build_brevitas_model(train["factory"], {}, checkpoint=train["checkpoint"])
    for gran, betas in (("per_channel", args.betas), ("per_weight", args.per_weight_betas)):
        for beta in (float(b) for b in betas.split(",") if b):
            setting = f"beta={beta:g}" + (f", {args.steps} steps" if args.steps != 200 else "")
            if done(name, f"hgq {gran}", setting, args.steps):
                continue
            t0 = time.perf_counter()
            h = HGQModel(module, gran, init_bits=8, act_granularity="per_tensor")
            train_hgq(h, data, steps=args.steps, beta=beta, lut_per_ebop=fit.lut_per_ebop, seed=0)
            secs = time.perf_counter() - t0
            q, rec = hgq_qonnx(model, layers, h)
            add(f"hgq {gran}", setting, q, {"train_s": round(secs, 1), "layers": rec, "steps": args.steps,
                                                      "predicted_lut": fit.lut_per_ebop * float(sum(h.ebops().values()).detach())})


def markdown(name: str, points: list[dict], ref: float, fit: dict | None = None) -> str:
    w8 = next((p for p in points if p["method"] == "ilp" and p["setting"].startswith("100%")), None)
    out = [f"### {name}: accuracy at measured LUT (complete design, Yosys)", "",
           "Every point is a QONNX model whose complete streaming design (ohq_flow/design) is synthesised "
           "whole with Yosys for the board's family; accuracy is exact on the test split. ilp: the per-layer "
           "ILP (MQE, the run's cost table) at a LUT budget; ilp+finetune: that design after Brevitas QAT "
           "(ohq_flow/train/finetune.py); hgq: HGQ from the W8A8 checkpoint (per-channel or per-weight "
           "weight widths, per-tensor input steps; 200 steps of 64 unless the setting says otherwise), exported by "
           "ohq_flow/train/hgq_export.py; its regulariser's LUT is the fitted EBOPs model (kernels only, no glue). "
           "ilp+finetune: 200 Adam steps. Every synthesised point is listed (no selection). Single runs, seed 0; "
           "one test sample is 1/n of the accuracy (n = the test split's size).", "",
           "| method | setting | test accuracy (%) | LUT (whole design) | HGQ regulariser's LUT (kernels) | bits per layer (ILP: chosen; HGQ: mean weight bits / widest, input bits) | zero weights |",
           "|---|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (p["method"], p["measured"]["lut"])):
        lay = p.get("layers") or {}
        bits = ", ".join(f"{k} w{v['w_bits_mean']:.2f}/{v['w_bits']}a{v['a_bits']}" for k, v in lay.items()) or \
            ", ".join(f"{k} {v}" for k, v in p.get("assignment", {}).items())
        zeros = sum(v["zero_weights"] for v in lay.values()) if lay else "-"
        pred = f"{p['predicted_lut']:,.0f}" if p.get("predicted_lut") is not None else "-"
        out.append(f"| {p['method']} | {p['setting']} | {100 * p['test_accuracy']:.2f} | {p['measured']['lut']:,} | "
                   f"{pred} | {bits} | {zeros} |")
    w8_lut = f", {w8['measured']['lut']:,} LUT" if w8 else " (its design not synthesised here)"
    out += ["", f"W8A8: {100 * ref:.2f} %{w8_lut}. Fewest measured LUT within 1 point of W8A8, per method:", ""]
    best = {}
    for p in points:
        if p["test_accuracy"] >= ref - 0.01 - 1e-9:      # within 1 point (exactly 1 point counts)
            m = p["method"]
            if m not in best or p["measured"]["lut"] < best[m]["measured"]["lut"]:
                best[m] = p
    for m, p in sorted(best.items()):
        out.append(f"- {m}: {p['measured']['lut']:,} LUT ({p['setting']}, {100 * p['test_accuracy']:.2f} %)")
    for m in sorted({p["method"] for p in points} - set(best)):
        out.append(f"- {m}: none of its synthesised designs is within 1 point")
    if "ilp" in best and any(m.startswith("hgq") for m in best):
        out.append("")
        for m in sorted(m for m in best if m.startswith("hgq")):
            ratio = best["ilp"]["measured"]["lut"] / best[m]["measured"]["lut"]
            out.append(f"ILP / {m} LUT at <= 1 pt loss: {ratio:.2f}x (goal >= 3x: {'met' if ratio >= 3 else 'not met'}).")
            if "ilp+finetune" in best:
                r2 = best["ilp+finetune"]["measured"]["lut"] / best[m]["measured"]["lut"]
                out.append(f"Fine-tuned ILP / {m} LUT at <= 1 pt loss: {r2:.2f}x.")
    ilp = {p["setting"]: p for p in points if p["method"] == "ilp"}
    for p in points:
        base = ilp.get(p["setting"].split(",")[0])
        if p["method"] == "ilp+finetune" and base and ref > base["test_accuracy"]:
            rec = (p["test_accuracy"] - base["test_accuracy"]) / (ref - base["test_accuracy"])
            out += ["", f"Fine-tuning the ILP design at {p['setting']}: {100 * base['test_accuracy']:.2f} % -> "
                        f"{100 * p['test_accuracy']:.2f} % (W8A8 {100 * ref:.2f} %): recovers {100 * rec:.0f} % of the "
                        f"loss (goal >= 50 %: {'met' if rec >= 0.5 else 'not met'}); LUT {base['measured']['lut']:,} -> "
                        f"{p['measured']['lut']:,} (same bit-widths, other weights)."]
    if fit:
        out += ["", f"Regulariser: LUT = {fit['lut_per_ebop']:.4f} x EBOPs + {fit['lut_per_layer']:.1f} per layer, "
                    f"R^2 {fit['r2']:.3f} over {fit['rows']} layer designs of the run's cost table."]
    return "\n".join(out)


if __name__ == "__main__":
    main()
