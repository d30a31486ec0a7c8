"""The flow's steps, in order. Each reads artifacts from the run directory and writes its own."""

from __future__ import annotations

import functools
import logging

from ohq_flow.artifacts import (LAYERS_JSON, MODEL_ONNX, QUANT_OWNERS, load_layers, load_run_model,
                                model_input_shape, quant_owners, run_space)
from ohq_flow.fileio import atomic_write_json, atomic_write_text
from ohq_flow.pipeline import RunContext, Step

log = logging.getLogger(__name__)


def step_export(ctx: RunContext) -> dict:
    """Brevitas -> QONNX (or load and clean the given QONNX file) -> model.onnx."""
    from ohq_flow.model.export import export_model
    from ohq_flow.model.layers import unsupported_ops
    from ohq_flow.errors import ModelError

    model, module = export_model(ctx.cfg, ctx.path(MODEL_ONNX))
    bad = unsupported_ops(model)
    if bad:
        raise ModelError(f"{ctx.path(MODEL_ONNX)}: node types the QONNX executor cannot run: {', '.join(bad)}",
                         "replace or remove those operations in the model, or export them as standard ONNX ops")
    owners = {}
    if module is not None:  # which Brevitas quantizer each Quant node comes from (shared quantizers tie layers)
        import shutil
        from ohq_flow.final.writeback import map_quantizers
        tmp = ctx.path("export_tmp")
        owners = map_quantizers(module, ctx.cfg.model.brevitas.input_shape, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_json(ctx.path(QUANT_OWNERS), owners)
    from ohq_flow.model.boundary import META_INPUT_DECLARED, host_output
    result = {"nodes": len(model.graph.node)}
    host = host_output(model)
    if host:
        result["host_output"] = f"{host['node']} ({host['op_type']}) left to the host; the design emits {host['logits']}"
        ctx.echo(f"output: {result['host_output']} (argmax unchanged)")
    declared = model.get_metadata_prop(META_INPUT_DECLARED)
    if declared:
        import json
        d = json.loads(declared)
        result["input"] = f"declared by {d['source']}: quantiser {d['node']}"
        ctx.echo(f"input: {result['input']}")
    return result


def step_layers(ctx: RunContext) -> dict:
    """Discover quantizable layers -> layers.json and layers.txt."""
    from ohq_flow.model.layers import discover_layers, layers_table, tied_groups

    from ohq_flow.model.boundary import warn_undeclared, with_placeholder_input
    model = load_run_model(ctx)
    undeclared = warn_undeclared(model, ctx.cfg, "layers")
    if ctx.cfg.build.design:
        from ohq_flow.design.graph import require_supported
        # an input of unknown type: the rest of the design is checked with a placeholder input quantiser
        require_supported(with_placeholder_input(model, ctx.cfg.search.unquantized_input_bits) if undeclared
                          else model, ctx.cfg.build.output)
    layers = discover_layers(model, quant_owners(ctx))
    atomic_write_json(ctx.path(LAYERS_JSON), {"layers": [l.to_dict() for l in layers],
                                              "tied_groups": tied_groups(layers)})
    atomic_write_text(ctx.path("layers.txt"), layers_table(layers) + "\n")
    return {"layers": len(layers)}


def mqe_inputs(ctx: RunContext, model, layers):
    """The data-free inputs of MQE (synthetic, seeded; or distilled from the Brevitas module's BatchNorm)."""
    from ohq_flow.mqe.run import synthetic_inputs
    shape = model_input_shape(ctx)
    if ctx.cfg.mqe.inputs == "distilled":
        from ohq_flow.mqe.distill import distilled_inputs
        return distilled_inputs(ctx.cfg, shape)
    return synthetic_inputs(ctx.cfg.mqe, shape, _input_range(model, layers))


def step_sensitivity(ctx: RunContext) -> dict:
    """MQE: masked quantization per layer and candidate -> sensitivity.csv, .png, ranking."""
    from ohq_flow.mqe.run import QonnxExecutor, compute_sensitivity, write_outputs
    from ohq_flow.mqe.health import format_health, sensitivity_health

    from ohq_flow.model.boundary import warn_undeclared
    cfg = ctx.cfg
    model, layers = load_run_model(ctx), load_layers(ctx)
    warn_undeclared(model, cfg, "sensitivity")
    x = mqe_inputs(ctx, model, layers)
    auto = None
    if cfg.mqe.samples == "auto":
        from ohq_flow.mqe.samples import choose_samples
        n, auto = choose_samples(model, layers, run_space(ctx), x, cfg.mqe.stability)
        print(f"mqe.samples auto: {n} samples (ranking stable: {auto[-1] if auto else 'max_samples reached'})")
        x = x[:n]
    if ctx.force:
        import shutil
        shutil.rmtree(ctx.path("sensitivity_parts"), ignore_errors=True)
    rows = compute_sensitivity(model, layers, run_space(ctx), cfg.mqe, x, ctx.run_dir)
    write_outputs(rows, ctx.run_dir, cfg.mqe.metric)
    health = sensitivity_health(QonnxExecutor(model).reference(x[:min(len(x), 8)]), rows, cfg.mqe.metric)
    atomic_write_json(ctx.path("sensitivity_checks.json"), health)
    if not health["trusted"]:
        log.warning("%s", format_health(health))
    return {"rows": len(rows), "samples": int(len(x)), "executor": cfg.mqe.executor, "trusted": health["trusted"],
            **({"samples_auto": auto} if auto is not None else {})}


def step_profile(ctx: RunContext) -> dict:
    """OQA: a real per-layer design per candidate, measured -> costs.csv (cached, parallel)."""
    from ohq_flow.hw.profile import monotonic_violations, run_profile, summarize_rows
    from ohq_flow.fileio import atomic_write_text
    from ohq_flow.model.boundary import warn_undeclared, with_placeholder_input
    import logging

    undeclared = warn_undeclared(load_run_model(ctx), ctx.cfg, "profile")
    if on_demand_costs(ctx.cfg):
        from ohq_flow.solve.strategies.costs import cached_rows
        rows = cached_rows(load_run_model(ctx), load_layers(ctx), run_space(ctx), ctx.cfg, ctx.run_dir)
        ctx.echo(f"solver.haq.on_demand: nothing measured here; {len(rows)} cost(s) already in the cache written to "
              "costs.csv; the solve step measures what the HAQ agent needs")
        from ohq_flow.design.profile import write_disabled
        write_disabled(ctx.run_dir, "solver.haq.on_demand measures kernels as the agent asks: the design is not priced")
        return {"jobs": 0, "cached": len(rows), "ran": 0, "failed": 0, "on_demand": True}
    layers = load_layers(ctx)
    cfg = ctx.cfg
    folded = set()
    if cfg.build.design:                       # layers too large to unroll: folded candidates only, nothing to measure
        from ohq_flow.design.terms import folded_layer
        folded = {l.name for l in layers if folded_layer(l, cfg.search.unroll_max_weights)}
    rows, summary = run_profile(load_run_model(ctx), [l for l in layers if l.name not in folded], run_space(ctx), cfg,
                                ctx.run_dir)
    failed = summary.failed + summary.timed_out
    if summary.total and failed == summary.total:
        from ohq_flow.errors import FlowError
        first = next((r for r in rows if not r.ok), None)
        raise FlowError(f"every one of the {summary.total} cost jobs failed; first: {first.layer} w{first.w_bits}"
                        f"a{first.a_bits}: {first.error} (log: {first.log_path})", "see the job logs under "
                        f"{ctx.path('oqa')}")
    notes = []
    from ohq_flow.design.profile import profile_design, write_disabled
    if cfg.build.design:
        design_model = load_run_model(ctx)
        if undeclared:                         # priced with a placeholder input quantiser (unquantized_input_bits)
            design_model = with_placeholder_input(design_model, cfg.search.unquantized_input_bits)
        rows, text = profile_design(design_model, layers, run_space(ctx), rows, cfg, ctx.run_dir, folded)
        notes.append(text)
        ctx.echo(text)
    else:
        write_disabled(ctx.run_dir, "build.design is false: the solve step budgets the per-layer kernels")
    if not cfg.build.design and ctx.cfg.search.folds != "off":
        from ohq_flow.tables.costs import write_costs
        from ohq_flow.hw.measurers.analytic.folds import calibration_check, expand_folds
        rows, fold_report = expand_folds(rows, layers, ctx.cfg.search.folds, ctx.cfg.search.max_folds,
                                         ctx.cfg.board_obj().yosys_family)
        write_costs(rows, ctx.path("costs.csv"), ctx.path("costs.json"))
        notes.append(fold_report.text())
        notes += calibration_check(rows, layers, ctx.cfg.board_obj().yosys_family)
        ctx.echo("\n".join(notes))
    ctx.echo(summarize_rows(rows))
    ctx.echo(summary.line())
    flags = [f for fold in dict.fromkeys(r.fold for r in rows)
             for f in monotonic_violations([r for r in rows if r.fold == fold], "lut")]
    for f in flags:
        logging.getLogger("ohq_flow.profile").warning("cost falls as bits rise: %s", f)
    atomic_write_text(ctx.path("costs_checks.txt"),
                      "\n".join(notes + (flags or ["no monotonicity violations (LUT)"])) + "\n")
    return {"jobs": summary.total, "cached": summary.cached, "ran": summary.ran, "failed": failed,
            "partial": failed > 0}


def on_demand_costs(cfg) -> bool:
    """Whether the solve step measures costs on demand (HAQ) instead of the profile step measuring all."""
    return cfg.solver.strategy == "haq" and cfg.solver.haq.on_demand


def strategy_options(cfg, run_dir) -> dict:
    """The options of the configured strategy (``select(..., **options)``)."""
    s = cfg.solver
    if s.strategy == "haq":
        return {"episodes": s.haq.episodes, "batch": s.haq.batch, "warmup": s.haq.warmup,
                "checkpoint": run_dir / "haq" if s.haq.checkpoint else None}
    if s.strategy == "evolutionary":
        return {"evaluations": s.evaluations}
    return {}


def step_solve(ctx: RunContext) -> dict:
    """Selection (the ILP, or solver.strategy): least predicted damage within the budgets -> solution.json, pareto.csv."""
    from ohq_flow.search_space import tie_groups
    from ohq_flow.solve.step import board_budgets, board_totals, format_result, solve_run

    from ohq_flow.model.boundary import warn_undeclared
    cfg = ctx.cfg
    layers = load_layers(ctx)
    warn_undeclared(load_run_model(ctx), cfg, "solve")
    pins = {name: (p.w_bits, p.a_bits) for name, p in cfg.search.pinned.items()}
    on_demand = (load_run_model(ctx), cfg) if on_demand_costs(cfg) else None
    from ohq_flow.design.profile import load_design_costs
    from ohq_flow.final.loop import solve_overrides
    design = load_design_costs(ctx.run_dir)
    overrides, exclude = solve_overrides(cfg, ctx.run_dir)       # a later round of the closed budget loop
    scorer = functools.cache(lambda: joint_scorer(ctx))         # opened once, only when a design is scored
    pools = tuple(cfg.solver.refine_pools)
    refine = ((cfg.solver.refine, lambda asg: scorer()(asg)[cfg.solver.objective], pools)
              if (cfg.solver.refine > 1 or pools != ("top",)) and cfg.solver.minimize == "damage" else None)
    if overrides:
        ctx.echo("closed loop: budgets " + ", ".join(f"{m} {v:,.0f}" for m, v in overrides.items())
                 + f" (scaled by the last round's predicted/post-route), {len(exclude)} assignment(s) excluded")
    sol = solve_run(ctx.path("sensitivity.csv"), None if on_demand else ctx.path("costs.csv"), ctx.run_dir,
                    budgets={**board_budgets(cfg.budgets.as_dict(), cfg.board_obj()), **overrides}, exclude=exclude,
                    board=cfg.board_obj(), layers=layers, ties=tie_groups(layers, cfg.search), pins=pins,
                    latency_mode=cfg.budgets.latency_mode, objective=cfg.solver.objective, solver=cfg.solver.backend,
                    time_limit_s=cfg.solver.time_limit_s, sweeps=cfg.solver.sweep, clock_mhz=1000.0 / cfg.clock_ns(),
                    minimize=None if cfg.solver.minimize == "damage" else cfg.solver.minimize,
                    max_damage=cfg.solver.max_damage, strategy=cfg.solver.strategy, seed=cfg.solver.seed,
                    options=strategy_options(cfg, ctx.run_dir), on_demand=on_demand, design=design, refine=refine)
    ctx.echo(format_result(sol, board_totals(cfg.board_obj())))
    ref = getattr(sol, "strategy_info", {}).get("refine")
    if ref:
        first, kept = ref["candidates"][0], ref["candidates"][ref["kept"]]
        ctx.echo(f"refine: {ref['evaluated']} designs ({', '.join(ref['pools'])}) scored jointly; kept #{ref['kept']} "
                 f"({kept['pool']}; joint {cfg.solver.objective} {kept['joint']:.4g}; the ILP's optimum {first['joint']:.4g})")
    joint = _joint_damage(ctx, sol, scorer)
    return {"status": sol.status, "objective": sol.objective, "strategy": cfg.solver.strategy,
            **({"damage_joint": joint["joint"], "damage_predicted": joint["predicted"]} if joint else {}),
            **{k: v for k, v in getattr(sol, "strategy_info", {}).items() if isinstance(v, (int, float, str))}}


def joint_scorer(ctx: RunContext):
    """The joint damage of whole assignments on the run's MQE inputs (:class:`ohq_flow.mqe.run.JointScorer`)."""
    from ohq_flow.mqe.run import JointScorer
    model, layers = load_run_model(ctx), load_layers(ctx)
    return JointScorer(model, layers, ctx.cfg.mqe, mqe_inputs(ctx, model, layers))


def _joint_damage(ctx: RunContext, sol, scorer) -> dict | None:
    """Evaluate the chosen design jointly (every layer at its bits at once; ``scorer()`` gives the run's
    :func:`joint_scorer`) and record it in solution.json next to the ILP's predicted (summed) damage, with the
    prediction's error."""
    import json
    if not sol.assignment:
        return None
    if sol.totals.get("damage") is None:
        return None
    measured = scorer()(dict(sol.assignment))
    metric = ctx.cfg.solver.objective
    predicted = float(sol.totals["damage"])
    doc = {"metric": metric, "predicted": predicted, "joint": measured[metric], "samples": measured["samples"],
           "executor": measured["executor"],
           "error": (predicted - measured[metric]) / measured[metric] if measured[metric] > 0 else None}
    path = ctx.path("solution.json")
    record = json.loads(path.read_text())
    record["damage_joint"] = doc
    atomic_write_json(path, record)
    err = f"{100 * doc['error']:+.0f}%" if doc["error"] is not None else "n/a"
    ctx.echo(f"damage ({metric}): predicted {predicted:.4g} (sum of the per-layer sensitivities), measured jointly "
             f"{doc['joint']:.4g} on {doc['samples']} synthetic inputs (prediction error {err})")
    return doc


def step_finetune(ctx: RunContext) -> dict:
    """Brevitas QAT at the chosen bit-widths on the config's data -> finetune/ (records 'disabled' otherwise)."""
    from ohq_flow.train.finetune import run_finetune
    return run_finetune(ctx)


def step_hgq(ctx: RunContext) -> dict:
    """HGQ: learned per-channel bit-widths with a LUT regulariser fitted on costs.csv -> hgq/hgq.json, hgq/hgq.onnx."""
    from ohq_flow.train.hgq import run_hgq
    return run_hgq(ctx, echo=ctx.echo)


def step_build(ctx: RunContext) -> dict:
    """Write-back, final design, synthesis, verification, accuracy -> final/build.json."""
    from ohq_flow.final.step import build, format_build
    from ohq_flow.errors import FlowError
    from ohq_flow.model.boundary import require_declared

    if ctx.cfg.build.design:              # the design's input stream needs the input's integer type (model.input)
        require_declared(load_run_model(ctx))
    record = build(ctx, load_run_model(ctx), load_layers(ctx))
    ctx.echo(format_build(record))
    bad = record["verify"]["mismatches"] + (record["design"]["network_sim"]["mismatches"] if record.get("design") else 0)
    if record["hls4ml"].get("mismatches"):      # an export for hls4ml users, not the verified design: said, not fatal
        log.warning("the hls4ml bundle is not bit-exact: %d of %d outputs differ from the QONNX executor (hls4ml's "
                    "fixed-point types do not hold float scales exactly); the RTL design is the verified one",
                    record["hls4ml"]["mismatches"], record["hls4ml"]["samples"])
    if bad:
        raise FlowError(f"the final design does not match the QONNX model: {bad} mismatches; see {ctx.path('final/build.json')}")
    v = record.get("verdict")
    board = ctx.cfg.board_obj()
    if v and v["over"] and not (ctx.cfg.implement.enabled and board.is_ecp5):    # no place and route follows
        raise FlowError(f"the final design is OVER BUDGET ({', '.join(v['over'])} beyond budgets.tolerance "
                        f"{100 * v['tolerance']:g}%); see {ctx.path('final/build.json')}",
                        "solve with a smaller budget, or raise the budget")
    return {"mismatches": bad, "over_budget": list(v["over"]) if v else []}


def step_implement(ctx: RunContext) -> dict:
    """The final design in the board I/O shell -> bitstream and post-route timing -> final/impl/impl.json."""
    from ohq_flow.implement.step import step_implement as implement
    return implement(ctx)


def step_report(ctx: RunContext) -> dict:
    """report.html (self-contained) and report.md of the run."""
    import yaml
    from ohq_flow.report.build_report import write_report

    cfg_dump = ctx.cfg.model_dump(mode="json")
    atomic_write_text(ctx.path("config.yaml"), yaml.safe_dump(cfg_dump, sort_keys=False))
    html_path, _ = write_report(ctx.run_dir)
    ctx.echo(f"report: {html_path}")
    return {}


def _input_range(model, layers):
    """(low, high) of the model input's quantizer, if the first layer's input is quantized."""
    from ohq_flow.model.quantizers import qmax
    import numpy as np
    q = layers[0].input_quant if layers else None
    if q is None or q.op_type != "Quant" or q.bits is None:
        return None
    node = model.get_node_from_name(q.node)
    scale = float(np.max(model.get_initializer(node.input[1])))
    hi = qmax(q.bits, bool(q.signed), bool(q.narrow)) * scale
    return (-hi if q.signed else 0.0, hi)


STEPS = [
    Step("export", step_export, (MODEL_ONNX, QUANT_OWNERS), ("model",), (), "export the model to QONNX"),
    Step("layers", step_layers, (LAYERS_JSON, "layers.txt"), (), (MODEL_ONNX, QUANT_OWNERS), "discover quantizable layers"),
    Step("sensitivity", step_sensitivity, ("sensitivity.csv", "sensitivity.png", "sensitivity_checks.json"), ("mqe", "search", "model"),
         (MODEL_ONNX,), "MQE: data-free per-layer sensitivity"),
    Step("profile", step_profile, ("costs.csv", "costs.json", "design_costs.json"), ("hardware", "search", "model", "board", "solver", "build",
                                                                 "implement"),
         (MODEL_ONNX,), "OQA: per-layer hardware cost (generate + measure, cached)"),
    Step("solve", step_solve, ("solution.json", "pareto.csv"), ("budgets", "solver", "search", "board", "hardware"),
         ("sensitivity.csv", "costs.csv", "design_costs.json", MODEL_ONNX),
         "choose per-layer bit-widths (ILP or solver.strategy)", optional=("budget_loop.json",)),
    Step("finetune", step_finetune, ("finetune/finetune.json",), ("finetune", "data", "model", "build"),
         (MODEL_ONNX, QUANT_OWNERS, "solution.json"), "fine-tune at the chosen bit-widths (optional)"),
    Step("hgq", step_hgq, ("hgq/hgq.json",), ("hgq", "data", "model", "build"), (MODEL_ONNX, LAYERS_JSON, "costs.csv"),
         "HGQ: learned per-channel bit-widths, exported to QONNX (optional)"),
    Step("build", step_build, ("final/model.onnx", "final/build.json"), ("build", "hardware", "board", "model"),
         (MODEL_ONNX, "solution.json", "finetune/finetune.json", "hgq/hgq.json"),
         "write back, generate, synthesise and verify the final design (build.source: solution or hgq)"),
    Step("implement", step_implement, ("final/impl/impl.json",), ("implement", "board"), ("final/build.json",),
         "bitstream: synthesis, place and route, post-route timing (ECP5), or the Vivado script (AMD)"),
    Step("report", step_report, ("report.html", "report.md"), tuple(), ("solution.json", "final/build.json"),
         "HTML and Markdown report"),
]
