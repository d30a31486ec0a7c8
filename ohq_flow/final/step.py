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
    if sol is not None:
        require_fits_board(cfg, sol)               # a design predicted not to fit is never built (exit 2)
    plan = build_plan(layers, cfg, sol_folds)  # refuses (exit 2) what cannot finish, before any work
    ctx.echo(plan.text())
    import time
    times: dict[str, float] = {}
    t_part = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        times[name] = round(now - t_part[0], 2)
        t_part[0] = now
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
    lap("write-back")

    # folded layers (plan.folded: MVAUs in the complete design) have no unrolled kernel to generate or check alone
    unrolled = [l for l in layers if l.name not in plan.folded]
    say("build 2/5: RTL of %d layer kernels, Yosys synthesis of the kernels (cached by content)", len(unrolled))
    designs = generate_layers(final, unrolled, assignment, cfg, out / "rtl", held=hgq is not None)
    top = write_top(designs, out / "rtl" / "network_top.v")
    family = cfg.board_obj().yosys_family
    from ohq_flow.hw.rtl.yosys import yosys_version
    record["measurer"] = {"name": "yosys", "tool": f"yosys {yosys_version()}",
                          "script": "synth_ecp5" if family == "ecp5" else f"synth_xilinx -family {family}"}
    if not cfg.build.design:          # the kernels alone (with the complete design, its per-part run counts them)
        res, cached = measure_yosys_cached(design_sources(designs, top), "network_top", family=family,
                                           work_dir=out / "synth", timeout_s=cfg.hardware.timeout_s,
                                           cache_dir=CostCache(cfg.hardware.cache_dir).root)
        record["measured"] = {"lut": res.lut, "ff": res.ff, "dsp": res.dsp, "bram18": res.bram18, "carry": res.carry,
                              "latency_cycles_kernels": sum(d.latency_cycles for d in designs.values()),
                              "est_clock_ns": res.est_clock_ns, "tool": f"yosys {res.version}", "log": str(res.log_path),
                              "from_cache": cached}
    lap("layer kernels")
    say("build 3/5: iverilog simulation of every layer on %d inputs", len(x_verify))
    checks = verify_layers(final, unrolled, designs, x_verify, out / "verify")
    record["verify"] = {"method": "iverilog RTL simulation of every layer kernel on the final QONNX model's activations",
                        "samples": int(len(x_verify)), "vectors": sum(c.vectors for c in checks),
                        "mismatches": sum(c.mismatches_rtl for c in checks),
                        "mismatches_interpreter": sum(c.mismatches_interpreter for c in checks),
                        "per_layer": [c.__dict__ for c in checks], "folded_layers": plan.folded}
    lap("per-layer simulation")
    if cfg.build.design:
        say("build 4/5: complete streaming design (final/design/), whole-network simulation on %d inputs, Yosys",
            len(x_verify))
        try:
            folds = {l.node: sol["assignment"].get(l.name, {}).get("fold") or "" for l in layers}
            record["design"] = _complete_design(cfg, final, x_verify, out, folds, times)
            record["measured"] = record["design"]["kernels"]
            if hgq is None:
                record["design"]["priced"] = price_built(cfg, json.loads(Path(record["design"]["design_json"]).read_text()),
                                                         ctx.run_dir, layers, assignment)
        except FlowError as exc:    # a mismatch: name the first layer whose own check fails (or say none does)
            if "mismatch" not in exc.message:
                raise
            bad = [c.layer for c in checks if c.mismatches_rtl]
            raise FlowError(exc.message + (f"; first layer failing its per-layer check: {bad[0]}" if bad else
                                           "; every layer passes its per-layer check (the glue differs)"),
                            exc.hint) from None
        d = record["design"]
        d["resources"] = {   # the ILP's prediction of the whole design vs the design synthesised
            k: {"ilp": record["predicted"].get(f"synth_{k}", record["predicted"].get(k)),
                "priced_built": (d.get("priced") or {}).get(k), "measured_whole": d["measured"][k],
                "measured_kernels": d["kernels"][k], "glue": d["glue"][k]}
            for k in ("lut", "ff", "dsp", "bram18")}
    say("build 5/5: whole network as an hls4ml project, g++ C-simulation")
    record["hls4ml"] = write_hls4ml_bundle(cfg, final, x_verify, out)
    record["finn"] = write_finn_bundle(cfg, final, layers, sol["assignment"], out)
    lap("hls4ml and FINN bundles")
    board = cfg.board_obj()
    record["board"] = {"name": board.name, "part": board.part, **board.resources.model_dump()}
    record["times_s"] = times
    if cfg.build.design and sol is not None:
        from ohq_flow.final.verdict import verdict
        record["verdict"] = verdict(cfg, sol, record, None)
    atomic_write_json(out / "build.json", record)
    return record


def require_fits_board(cfg, sol: dict) -> None:
    """InputError (exit 2) naming the resource when the solution's predicted design does not fit the board."""
    from ohq_flow.errors import InputError
    from ohq_flow.solve.step import board_totals
    board = cfg.board_obj()
    totals = board_totals(board)
    bad = [(m, v, totals[m]) for m, v in (sol.get("totals") or {}).items() if m in totals and v > totals[m] + 1e-6]
    if bad:
        raise InputError("the solution's design does not fit " + board.name + ": " + "; ".join(
            f"{m} predicted {v:,.0f} > {t:,.0f} available" for m, v, t in bad),
            "solve again within the board (every board resource is budgeted at 100% unless set), or choose a larger board")


def _complete_design(cfg, final, x: np.ndarray, out: Path, folds: dict | None = None, times: dict | None = None) -> dict:
    """final/design/ (design.json, rtl/, report), final/verify/network_sim.json, the whole design synthesised per part.

    ``folds``: compute node -> the solution's fold label (built exactly so); ``times``: part -> seconds (filled)."""
    import time
    from ohq_flow.design.rtl import generate_design
    from ohq_flow.design.sim import simulate_network
    from ohq_flow.design.synth import measure_design_parts
    from ohq_flow.hw.cache import CostCache
    board = cfg.board_obj()
    times = times if times is not None else {}
    t0 = time.perf_counter()
    design = generate_design(final, out / "design", latency_cutoff=cfg.hardware.latency_cutoff, part=board.part,
                             clock_ns=cfg.clock_ns(), prefer=cfg.build.requant, output=cfg.build.output, folds=folds)
    t1 = time.perf_counter()
    sim = simulate_network(final, design, x, out / "verify" / "network", simulator=cfg.build.simulator,
                           out_json=out / "verify" / "network_sim.json", timeout_s=max(cfg.hardware.timeout_s, 1800))
    t2 = time.perf_counter()
    parts = measure_design_parts(design, family=board.yosys_family, work_dir=out / "synth_design",
                                 cache_dir=CostCache(cfg.hardware.cache_dir).root, timeout_s=max(cfg.hardware.timeout_s, 3600))
    t3 = time.perf_counter()
    times.update({"complete design generation": round(t1 - t0, 2), "whole-network simulation": round(t2 - t1, 2),
                  "whole-design synthesis (per part)": round(t3 - t2, 2)})
    keys = ("lut", "ff", "dsp", "bram18", "carry")
    kernels = {k: sum(p[k] for p in parts["kernels"].values()) for k in keys}
    requant = {s["node"]: s["method"] for s in design.meta["stages"] if s["kind"] == "requant"}
    return {"dir": str(design.out_dir), "design_json": str(design.json_path), "top": design.top,
            "generation_seconds": round(design.gen_seconds, 2), "requant": requant, "folds": design.meta["folds"],
            "network_sim": sim, "measured": {k: parts["whole"][k] for k in keys} | {"synthesis": "per part",
                                                                                  "from_cache": parts["from_cache"]},
            "kernels": kernels, "glue": {k: parts["glue"][k] for k in keys}}


def price_built(cfg, meta: dict, run_dir: Path, layers, assignment: dict) -> dict:
    """The ILP's price list applied to the generated ``design.json`` (unrolled kernels: the cost table's rows of the
    built candidates): the model of what was built, beside the synthesised counts."""
    from ohq_flow.design.price import METRICS, stage_price, top_price
    from ohq_flow.tables.costs import read_costs
    family = cfg.board_obj().yosys_family
    rows = {(r.layer, r.w_bits, r.a_bits): r for r in read_costs(run_dir / "costs.csv") if r.ok and r.fold in ("", "px1")}
    layer_of = {l.node: l.name for l in layers}
    total = dict(top_price(family))
    for s in meta["stages"]:
        kernel = None
        if s["kind"] == "kernel":
            name = layer_of.get(s["node"])
            row = rows.get((name, *assignment[name])) if name in assignment else None
            if row is None:
                return {"not_priced": f"no cost row for the kernel of {s['node']}"}
            kernel = {m: getattr(row, m) for m in METRICS}
        for m, v in stage_price(s, family, kernel=kernel).items():
            total[m] = total.get(m, 0.0) + v
    return {m: round(v, 1) for m, v in total.items()}


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
    d = record.get("design")
    lines = []
    if not d:
        lines += [f"final design ({record.get('generator', '?')} RTL, {m.get('script') or m.get('name') or '?'}; the "
                  "per-layer kernels):", "  metric      predicted    measured"]
        for k in ("lut", "ff", "dsp", "bram18"):
            p, mv = record["predicted"].get(k), record["measured"].get(k)
            if p is not None or mv is not None:
                ratio = f"  ({mv / p:.3f}x)" if p and mv is not None else ""
                lines.append(f"  {k:<10} {_num(p):>10} {_num(mv):>10}{ratio}")
    v = record["verify"]
    lines.append(f"verification: {v['mismatches']} mismatches in {v['vectors']:,} vectors "
                 f"({v['samples']} inputs, RTL simulation of every layer vs the QONNX executor)")
    if d:
        lines.append(f"complete streaming design (final/design/, top {d['top']}, {m.get('script')} per part; "
                     f"requantisation: {', '.join(sorted(set(d['requant'].values()))) or 'none'}):")
        lines.append("  metric   ILP (synthesised)   price list on the built design   whole design   (kernels + glue)")
        for k, r in d.get("resources", {}).items():
            err = f"  ILP {100 * (r['ilp'] - r['measured_whole']) / r['measured_whole']:+.1f}%" \
                if r.get("ilp") is not None and r["measured_whole"] else ""
            lines.append(f"  {k:<8} {_num(r.get('ilp')):>17} {_num(r.get('priced_built')):>32} {_num(r['measured_whole']):>14}"
                         f"   ({_num(r['measured_kernels'])} + {_num(r['glue'])}){err}")
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
                     + (f"; folded layers {', '.join(f'{k} {v}' for k, v in d['folds'].items())}" if d.get("folds") else ""))
    if record.get("times_s"):
        lines.append("build time: " + ", ".join(f"{k} {v:.0f} s" for k, v in record["times_s"].items()))
    if record.get("verdict"):
        from ohq_flow.final.verdict import format_verdict
        lines.append(format_verdict(record["verdict"]))
    return "\n".join(l for l in lines if l)
