"""The build step: write-back, final design, synthesis, verification, accuracy -> final/."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ohq_flow.errors import FlowError
from ohq_flow.fileio import atomic_write_json

log = logging.getLogger(__name__)


def build(ctx, model, layers) -> dict:
    """Everything under ``final/``; returns the build record (also final/build.json)."""
    from ohq_flow.final.final import accuracy, design_sources, generate_layers, verify_layers, write_top
    from ohq_flow.final.interop import write_finn_bundle, write_hls4ml_bundle
    from ohq_flow.hw.cache import CostCache
    from ohq_flow.hw.rtl.yosys import measure_yosys_cached
    from ohq_flow.model.quantizers import apply_bits
    from ohq_flow.tables.solution import read_solution
    from ohq_flow.mqe.run import load_npz_inputs, synthetic_inputs

    from ohq_flow.final.plan import build_plan
    cfg = ctx.cfg
    sol = read_solution(ctx.path("solution.json")) if cfg.build.source == "solution" else None
    sol_folds = {l: v.get("fold") or "" for l, v in sol["assignment"].items()} if sol else {}
    plan = build_plan(layers, cfg, sol_folds)  # refuses (exit 2) what cannot finish, before any work
    ctx.echo(plan.text())
    out = ctx.path("final")
    out.mkdir(parents=True, exist_ok=True)
    hgq, tuned, tuned_module, changed = None, None, None, []
    if cfg.build.source == "hgq":                            # the hgq step's model: learned per-channel widths
        from ohq_flow.train.hgq import hgq_model_for_build
        final, assignment, hgq = hgq_model_for_build(ctx)
        final.save(str(out / "model.onnx"))
        sol = {"assignment": {l: {"w_bits": w, "a_bits": a} for l, (w, a) in assignment.items()},
               "totals": {"lut": round(hgq["predicted_lut"])}}
    else:
        assignment = {l: (v["w_bits"], v["a_bits"]) for l, v in sol["assignment"].items()}
        from ohq_flow.train.finetune import final_model_for_build
        tuned = final_model_for_build(ctx, out / "model.onnx")   # None without a fine-tune
        if tuned is None:
            final, changed = apply_bits(model, layers, assignment)
            final.save(str(out / "model.onnx"))
        else:                                                # the fine-tuned weights at the chosen bits
            final, tuned_module = tuned
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    from ohq_flow.hw.generators import get as get_generator
    kernels = get_generator("da4ml")               # the build's layer kernels are da4ml RTL, measured by Yosys below
    record = {"generator": kernels.name, "generator_version": kernels.version(), "measurer": None,
              "assignment": sol["assignment"], "changed_quant_nodes": changed,
              "predicted": {k: v for k, v in sol["totals"].items()}}
    if tuned is not None:
        record["finetune"] = json.loads(ctx.path("finetune/finetune.json").read_text())
    if hgq is not None:       # predicted: the regulariser's LUT (kernels only), never used as a measurement
        record["source"] = "hgq"
        record["hgq"] = {k: hgq[k] for k in ("settings", "lut_model", "ebops", "predicted_lut", "val_accuracy",
                                             "eval_accuracy", "export")}

    if cfg.build.eval_npz is not None:
        x_eval = load_npz_inputs(cfg.build.eval_npz, "x", shape)
        y_eval = np.load(cfg.build.eval_npz)["y"]
        record["accuracy"] = {"reference": accuracy(model, x_eval, y_eval), "final": accuracy(final, x_eval, y_eval),
                              "n": int(len(y_eval)), "data": str(cfg.build.eval_npz)}
        x_verify = x_eval[:cfg.build.verify_samples]
    else:
        mqe = cfg.mqe.model_copy(update={"samples": cfg.build.verify_samples, "seed": cfg.mqe.seed + 1})
        x_verify = synthetic_inputs(mqe, shape)

    say = logging.getLogger("ohq_flow.final").info
    if cfg.model.brevitas is not None and hgq is None:   # HGQ's widths are not Brevitas quantizer settings
        say("build 1/5: Brevitas write-back and re-export")
        record["brevitas"] = _brevitas_writeback(cfg, model, final, layers, assignment, out, x_verify[:8], tuned_module)

    # folded layers (plan.folded: MVAUs in the complete design) have no unrolled kernel to generate or check alone
    unrolled = [l for l in layers if l.name not in plan.folded]
    say("build 2/5: RTL of %d layer kernels, Yosys synthesis of the kernels (cached by content)", len(unrolled))
    designs = generate_layers(final, unrolled, assignment, cfg, out / "rtl", held=hgq is not None)
    top = write_top(designs, out / "rtl" / "network_top.v")
    res, cached = measure_yosys_cached(design_sources(designs, top), "network_top", family=cfg.board_obj().yosys_family,
                                       work_dir=out / "synth", timeout_s=cfg.hardware.timeout_s,
                                       cache_dir=CostCache(cfg.hardware.cache_dir).root)
    family = cfg.board_obj().yosys_family
    record["measurer"] = {"name": "yosys", "tool": f"yosys {res.version}",
                          "script": "synth_ecp5" if family == "ecp5" else f"synth_xilinx -family {family}"}
    record["measured"] = {"lut": res.lut, "ff": res.ff, "dsp": res.dsp, "bram18": res.bram18, "carry": res.carry,
                          "latency_cycles_kernels": sum(d.latency_cycles for d in designs.values()),
                          "est_clock_ns": res.est_clock_ns, "tool": f"yosys {res.version}", "log": str(res.log_path),
                          "from_cache": cached}
    say("build 3/5: iverilog simulation of every layer on %d inputs", len(x_verify))
    checks = verify_layers(final, unrolled, designs, x_verify, out / "verify")
    record["verify"] = {"method": "iverilog RTL simulation of every layer kernel on the final QONNX model's activations",
                        "samples": int(len(x_verify)), "vectors": sum(c.vectors for c in checks),
                        "mismatches": sum(c.mismatches_rtl for c in checks),
                        "mismatches_interpreter": sum(c.mismatches_interpreter for c in checks),
                        "per_layer": [c.__dict__ for c in checks], "folded_layers": plan.folded}
    if cfg.build.design:
        say("build 4/5: complete streaming design (final/design/), whole-network simulation on %d inputs, Yosys",
            len(x_verify))
        try:
            folds = {l.node: sol["assignment"].get(l.name, {}).get("fold") or "" for l in layers}
            record["design"] = _complete_design(cfg, final, x_verify, out, record["measured"], folds)
        except FlowError as exc:    # a mismatch: name the first layer whose own check fails (or say none does)
            if "mismatch" not in exc.message:
                raise
            bad = [c.layer for c in checks if c.mismatches_rtl]
            raise FlowError(exc.message + (f"; first layer failing its per-layer check: {bad[0]}" if bad else
                                           "; every layer passes its per-layer check (the glue differs)"),
                            exc.hint) from None
        glue_pred = record["design"]["predicted_glue"]
        record["design"]["resources"] = {   # the ILP's kernels-only prediction (and + the glue model) vs the real design
            k: {"predicted_kernels": record["predicted"].get(k),
                "predicted_with_glue": (record["predicted"][k] + glue_pred[k]
                                        if k in glue_pred and record["predicted"].get(k) is not None else None),
                "measured_kernels": record["measured"][k], "measured_whole": record["design"]["measured"][k],
                "glue": record["design"]["glue"][k], "predicted_glue": glue_pred.get(k)}
            for k in ("lut", "ff", "dsp", "bram18")}
    say("build 5/5: whole network as an hls4ml project, g++ C-simulation")
    record["hls4ml"] = write_hls4ml_bundle(cfg, final, x_verify, out)
    record["finn"] = write_finn_bundle(cfg, final, layers, sol["assignment"], out)
    board = cfg.board_obj()
    record["board"] = {"name": board.name, "part": board.part, **board.resources.model_dump()}
    atomic_write_json(out / "build.json", record)
    return record


def _complete_design(cfg, final, x: np.ndarray, out: Path, kernels_measured: dict, folds: dict | None = None) -> dict:
    """final/design/ (design.json, rtl/, report), final/verify/network_sim.json, whole-design Yosys.

    ``folds``: compute node -> the solution's fold label (PE/SIMD folds are built as folded MVAUs)."""
    from ohq_flow.design.estimate import estimate_lut
    from ohq_flow.design.rtl import generate_design
    from ohq_flow.design.sim import simulate_network
    from ohq_flow.hw.cache import CostCache
    from ohq_flow.hw.rtl.yosys import measure_yosys_cached
    board = cfg.board_obj()
    design = generate_design(final, out / "design", latency_cutoff=cfg.hardware.latency_cutoff, part=board.part,
                             clock_ns=cfg.clock_ns(), prefer=cfg.build.requant, output=cfg.build.output, folds=folds,
                             fold_above=cfg.build.fold_above_weights, fold_max_lanes=cfg.build.fold_max_lanes)
    sim = simulate_network(final, design, x, out / "verify" / "network", simulator=cfg.build.simulator,
                           out_json=out / "verify" / "network_sim.json", timeout_s=max(cfg.hardware.timeout_s, 1800))
    res, cached = measure_yosys_cached(design.sources, design.top, family=board.yosys_family, work_dir=out / "synth_design",
                                       timeout_s=max(cfg.hardware.timeout_s, 3600), cache_dir=CostCache(cfg.hardware.cache_dir).root)
    whole = {"lut": res.lut, "ff": res.ff, "dsp": res.dsp, "bram18": res.bram18, "carry": res.carry,
             "est_clock_ns": res.est_clock_ns, "log": str(res.log_path), "from_cache": cached}
    glue = {k: whole[k] - kernels_measured[k] for k in ("lut", "ff", "dsp", "bram18", "carry")}
    requant = {s["node"]: s["method"] for s in design.meta["stages"] if s["kind"] == "requant"}
    est = estimate_lut(design.meta)
    return {"dir": str(design.out_dir), "design_json": str(design.json_path), "top": design.top,
            "generation_seconds": round(design.gen_seconds, 2), "requant": requant,
            "folds": design.meta["folds"], "folds_not_built": design.meta["folds_not_built"],
            "network_sim": sim, "measured": whole, "glue": glue,
            "predicted_glue": {"lut": est["glue"], "ff": est["glue_ff"], "dsp": est["glue_dsp"], "bram18": est["glue_bram18"],
                               "model": "ohq_flow.design.estimate (glue_fit.json)", "not_estimated": est["not_estimated"]}}


def _brevitas_writeback(cfg, model, final, layers, assignment, out: Path, x: np.ndarray, module=None) -> dict:
    """The Brevitas module at the chosen bits (the fine-tuned one when given), saved and re-export-checked."""
    from ohq_flow.final.writeback import check_agreement, map_quantizers, save_brevitas, writeback_brevitas
    from ohq_flow.model.export import build_brevitas_model, export_brevitas
    b = cfg.model.brevitas
    if module is None:
        module = build_brevitas_model(b.factory, b.kwargs, b.checkpoint, b.python_path)
    qmap = map_quantizers(module, b.input_shape, out / "tmp")
    module2, bits = writeback_brevitas(module, layers, assignment, qmap)
    sd, bits_path = save_brevitas(module2, bits, out)
    reexported = export_brevitas(module2, b.input_shape, out / "brevitas_reexport.onnx")
    agree = check_agreement(final, reexported, x)
    import shutil
    shutil.rmtree(out / "tmp", ignore_errors=True)
    return {"state_dict": str(sd), "bit_widths": str(bits_path), **agree, "factory": b.factory, "kwargs": b.kwargs,
            "python_path": [str(p) for p in b.python_path], "input_shape": list(b.input_shape)}


def _num(v) -> str:
    return "-" if v is None else f"{v:,}"


def format_build(record: dict) -> str:
    """Predicted vs measured, verification and accuracy, for a terminal."""
    m = record.get("measurer") or {}
    lines = [f"final design ({record.get('generator', '?')} RTL, {m.get('script') or m.get('name') or '?'}):",
             "  metric      predicted    measured"]
    for k in ("lut", "ff", "dsp", "bram18"):
        p, m = record["predicted"].get(k), record["measured"].get(k)
        if p is not None or m is not None:
            ratio = f"  ({m / p:.3f}x)" if p and m is not None else ""
            lines.append(f"  {k:<10} {_num(p):>10} {_num(m):>10}{ratio}")
    lat = record["predicted"].get("latency_cycles")
    lines.append(f"  latency (cycles, kernels) predicted {lat:,.0f}" if lat is not None else "")
    v = record["verify"]
    lines.append(f"verification: {v['mismatches']} mismatches in {v['vectors']:,} vectors "
                 f"({v['samples']} inputs, RTL simulation of every layer vs the QONNX executor)")
    d = record.get("design")
    if d:
        lines.append(f"complete streaming design (final/design/, top {d['top']}, Yosys; requantisation: "
                     f"{', '.join(sorted(set(d['requant'].values()))) or 'none'}):")
        lines.append("  metric   predicted (kernels)   + glue model   kernels      glue   whole design")
        for k, r in d.get("resources", {}).items():
            p = r["predicted_kernels"]
            glue = f"{r['glue']:+,}" if r["glue"] is not None else "-"
            lines.append(f"  {k:<8} {_num(p):>19} {_num(r.get('predicted_with_glue')):>14} {_num(r['measured_kernels']):>9} "
                         f"{glue:>9} {_num(r['measured_whole']):>14}")
    h = record.get("hls4ml")
    if h and h.get("status") == "not_generated":
        lines.append(f"whole network as hls4ml project: NOT generated ({h['error'].splitlines()[0]})")
    elif h:
        lines.append(f"whole network (hls4ml C-simulation, g++): {h['mismatches']} mismatching outputs in {h['samples']} "
                     f"inputs vs the QONNX executor")
        lines.append(f"  synthesise where Vitis HLS is installed: {h['synthesis_command']}")
    if "brevitas" in record:
        br = record["brevitas"]
        lines.append(f"brevitas write-back: re-export differs from final/model.onnx by {br['max_output_diff']:g} "
                     f"(quantizers differing: {len(br['differing_quant_nodes'])})")
    if "accuracy" in record:
        a = record["accuracy"]
        lines.append(f"accuracy on {a['n']} held-out samples: reference {a['reference']:.4f}, final {a['final']:.4f}")
    if d:
        s = d["network_sim"]
        lines.append(f"whole-network simulation ({s['simulator']}, complete design vs QONNX executor): {s['mismatches']} "
                     f"mismatches in {s['inputs']} inputs; latency {s['latency_cycles']} cycles (predicted "
                     f"{s['predicted_latency_cycles']}), II {s['ii_cycles']} cycles (predicted {s['predicted_ii_cycles']})"
                     + (f"; folded layers {', '.join(f'{k} {v}' for k, v in d['folds'].items())}" if d.get("folds") else "")
                     + (f"; NOT built with their folds (one pixel per cycle): {d['folds_not_built']}"
                        if d.get("folds_not_built") else ""))
    return "\n".join(l for l in lines if l)
