"""One self-contained report of a run: report.html (images embedded) and report.md.

Reads whatever artifacts the run directory holds and says which sections are missing, so a run
stopped early still reports what it has.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from pathlib import Path

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_bytes, atomic_write_text
from ohq_flow.report.plots import figure_png, layer_candidate_heatmap, pyplot
from ohq_flow.tables.costs import read_costs
from ohq_flow.tables.solution import read_solution


def _csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def _num(v):
    try:
        return float(v) if v not in ("", None) else None
    except ValueError:
        return None


def plot_allocation(solution: dict, layers: list[str]) -> bytes:
    plt = pyplot()
    asg = solution["assignment"]
    names = [l for l in layers if l in asg]
    xs = list(range(len(names)))
    w, a = [asg[n]["w_bits"] for n in names], [asg[n]["a_bits"] for n in names]
    if len(names) > 24:   # many layers: one row per layer, so every name stays legible
        fig, ax = plt.subplots(figsize=(7, 0.22 * len(names) + 1.5))
        ax.barh([x - 0.2 for x in xs], w, 0.4, label="weight bits")
        ax.barh([x + 0.2 for x in xs], a, 0.4, label="activation bits")
        ax.set_yticks(xs, names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("bits")
    else:
        fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(names) + 2), 3.2))
        ax.bar([x - 0.2 for x in xs], w, 0.4, label="weight bits")
        ax.bar([x + 0.2 for x in xs], a, 0.4, label="activation bits")
        ax.set_xticks(xs, names, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("bits")
    ax.set_title("Chosen bit-widths along the network")
    ax.legend(fontsize=8)
    return figure_png(fig)


def plot_pareto(pareto: list[dict], solution: dict | None, metric: str) -> bytes | None:
    pts = [(p, _num(p.get(metric)), _num(p.get("damage") or p.get("objective"))) for p in pareto]
    pts = [(p, x, y) for p, x, y in pts if x is not None and y is not None]
    if not pts:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    sw = sorted([(x, y) for p, x, y in pts if p["kind"] == "sweep"])
    if sw:
        ax.plot([x for x, _ in sw], [y for _, y in sw], "o-", label="ILP sweep (Pareto front)")
    for p, x, y in pts:
        if p["kind"] == "uniform":
            ax.scatter([x], [y], marker="s", color="tab:gray")
            ax.annotate(p["label"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if solution and solution.get("totals", {}).get(metric) is not None:
        ax.scatter([solution["totals"][metric]], [solution["totals"].get("damage", solution["objective"])], marker="*",
                   s=200, color="tab:red",
                   label="chosen design", zorder=5)
    ax.set_xlabel(metric)
    ax.set_ylabel(f"predicted damage ({objective_label(solution)})")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_title(f"Predicted damage vs {metric}")
    ax.legend(fontsize=8)
    return figure_png(fig)


def fidelity_label(rows: list[dict]) -> str:
    """'post_synth 40, estimate 20' — how many rows of each fidelity a figure is made of."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.get("fidelity") or "unknown"] = counts.get(r.get("fidelity") or "unknown", 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def plot_cost_heatmap(costs: list[dict], metric: str, layers: list[str]) -> bytes | None:
    used = [r for r in costs if r.get("status") == "ok" and _num(r.get(metric)) is not None]
    values = {(r["layer"], int(r["w_bits"]), int(r["a_bits"])): _num(r[metric]) for r in used}
    title = f"{metric} per layer and candidate ({fidelity_label(used)})"
    return layer_candidate_heatmap(values, layers, title) if values else None


def measured_by(build: dict) -> str:
    """What measured the final design, as the build step recorded it (e.g. 'Yosys synth_ecp5')."""
    m = build.get("measurer")
    if isinstance(m, dict):
        return " ".join(x for x in (m.get("name", "").capitalize(), m.get("script")) if x) or "?"
    return str(m or "?")


def objective_label(solution: dict | None) -> str:
    """'sum of KL' / 'sum of MSE': the objective the solution recorded."""
    name = (solution or {}).get("objective_name") or "kl"
    return f"sum of {name.upper()}"


def plot_resources(build: dict) -> bytes | None:
    board = build.get("board") or {}
    keys = [k for k in ("lut", "ff", "dsp", "bram18") if board.get(k)]
    if not keys:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    xs = range(len(keys))
    pred = [100 * (build["predicted"].get(k) or 0) / board[k] for k in keys]
    meas = [100 * (build["measured"].get(k) or 0) / board[k] for k in keys]
    ax.bar([x - 0.2 for x in xs], pred, 0.4, label="predicted (ILP sum)")
    ax.bar([x + 0.2 for x in xs], meas, 0.4, label=f"measured ({measured_by(build)}, kernels)")
    ax.set_xticks(list(xs), keys)
    ax.set_ylabel(f"% of {board.get('name', 'board')}")
    ax.set_title("Final design resources vs the board")
    ax.legend(fontsize=8)
    return figure_png(fig)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:,.0f}" if isinstance(v, (int, float)) else str(v)


def _bits(v) -> str:
    return "-" if v is None else f"{float(v):g}"


def _config_name(run_dir: Path) -> str:
    """The config's ``name`` (from the run's config.yaml), else the directory name."""
    import yaml
    path = run_dir / "config.yaml"
    try:
        name = (yaml.safe_load(path.read_text()) or {}).get("name") if path.is_file() else None
    except yaml.YAMLError:
        name = None
    return str(name) if name else run_dir.name


def _table(head: list[str], rows: list[list]) -> tuple[str, str]:
    h = "<table><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in head) + "</tr>"
    h += "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows) + "</table>"
    md = "| " + " | ".join(map(str, head)) + " |\n|" + "---|" * len(head) + "\n"
    md += "".join("| " + " | ".join(map(str, r)) + " |\n" for r in rows)
    return h, md


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Write report.html and report.md for a run directory; returns their paths."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not any((run_dir / f).is_file() for f in ("manifest.json", "layers.json", "model.onnx")):
        raise InputError(f"{run_dir} is not a run directory (no manifest.json, layers.json or model.onnx)",
                         "give the output_dir of a run (ohq-flow run CONFIG writes one)")
    files = run_dir / "report_files"
    files.mkdir(exist_ok=True)
    layers_doc = _json(run_dir / "layers.json") or {"layers": []}
    layer_names = [l["name"] for l in layers_doc["layers"]]
    solution = read_solution(run_dir / "solution.json") if (run_dir / "solution.json").is_file() else None
    build = _json(run_dir / "final" / "build.json")
    manifest = _json(run_dir / "manifest.json") or {}
    costs = [r.to_dict() for r in read_costs(run_dir / "costs.csv")] if (run_dir / "costs.csv").is_file() else []
    pareto = _csv(run_dir / "pareto.csv")
    html_parts, md_parts, missing = [], [], []

    def section(title: str):
        html_parts.append(f"<h2>{html.escape(title)}</h2>")
        md_parts.append(f"\n## {title}\n")

    def image(name: str, data: bytes | None, alt: str):
        if data is None:
            missing.append(alt)
            return
        atomic_write_bytes(files / name, data)
        html_parts.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')
        md_parts.append(f"![{alt}](report_files/{name})\n")

    def text(t: str):
        html_parts.append(f"<p>{html.escape(t)}</p>")
        md_parts.append(t + "\n")

    def table(head, rows):
        h, m = _table(head, rows)
        html_parts.append(h)
        md_parts.append(m)

    checks = _json(run_dir / "sensitivity_checks.json")
    if checks and not checks.get("trusted", True):
        html_parts.append("<div class='warn'><b>The sensitivity cannot be trusted; the chosen bit-widths are not "
                          "meaningful.</b><ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in checks["problems"])
                          + "</ul>What to try:<ul>" + "".join(f"<li>{html.escape(h)}</li>" for h in checks["hints"])
                          + "</ul></div>")
        md_parts.append("\n> **WARNING: the sensitivity cannot be trusted.** " + " ".join(checks["problems"])
                        + " What to try: " + " ".join(checks["hints"]) + "\n")

    section("Layers")
    asg = (solution or {}).get("assignment") or {}

    def chosen(name: str, key: str):
        return asg[name][key] if name in asg else "-"
    if layers_doc["layers"]:
        table(["layer", "op", "weight shape", "MACs", "params", "w bits (model)", "a bits (model)", "w bits (chosen)",
               "a bits (chosen)", "tied"],
              [[l["name"], l["op_type"], "x".join(map(str, l["weight_shape"])), f"{l['macs']:,}", f"{l['params']:,}",
                _bits(l.get("w_bits")), _bits(l.get("a_bits")), chosen(l["name"], "w_bits"), chosen(l["name"], "a_bits"),
                l.get("tied_group") or ""] for l in layers_doc["layers"]])
    else:
        text("missing: layers.json (run the layers step)")

    section("Chosen bit-widths")
    if solution and solution.get("assignment"):
        text(f"ILP status: {solution['status']}; predicted damage {solution['objective']:.4g}; budgets: "
             + ", ".join(f"{k} ≤ {v:,.0f}" for k, v in solution.get("budgets", {}).items()))
        joint = solution.get("damage_joint")
        if joint:
            err = f"{100 * joint['error']:+.0f}%" if joint.get("error") is not None else "n/a"
            text(f"Damage ({joint['metric']}) of the chosen design: predicted {joint['predicted']:.4g} (the sum of the "
                 f"per-layer sensitivities), measured jointly {joint['joint']:.4g} on {joint['samples']} synthetic "
                 f"inputs: prediction error {err}")
        image("allocation.png", plot_allocation(solution, layer_names), "bit allocation along the network")
    else:
        text("missing: solution.json (run the solve step)" if not solution else f"no solution: {solution['status']}")

    section("Pareto front")
    if pareto:
        image("pareto_lut.png", plot_pareto(pareto, solution, "lut"), "Pareto front: damage vs LUT")
        image("pareto_latency.png", plot_pareto(pareto, solution, "latency_cycles"), "damage vs latency")
        if any(p.get("latency_ns") for p in pareto):
            image("pareto_latency_ns.png", plot_pareto(pareto, solution, "latency_ns"),
                  "damage vs latency (ns, at each design's clock)")
    else:
        text("missing: pareto.csv")

    section("Sensitivity and cost per layer and bit-width")
    sens_png = run_dir / "sensitivity.png"
    image("sensitivity.png", sens_png.read_bytes() if sens_png.is_file() else None, "sensitivity heatmap")
    image("cost_lut.png", plot_cost_heatmap(costs, "lut", layer_names), "LUT heatmap")
    image("cost_latency.png", plot_cost_heatmap(costs, "latency_cycles", layer_names), "latency heatmap")

    section("Final design: predicted vs measured, verification, accuracy")
    if build:
        image("resources.png", plot_resources(build), "resources vs board")
        rows = []
        for k in ("lut", "ff", "dsp", "bram18"):
            p, m = build["predicted"].get(k), build["measured"].get(k)
            rows.append([k, "-" if p is None else f"{p:,.0f}", "-" if m is None else f"{m:,.0f}",
                         f"{m / p:.3f}" if p and m is not None else "-"])
        hgq = build.get("hgq") if build.get("source") == "hgq" else None
        if hgq:
            text("Built from the hgq step's model (build.source: hgq; hgq/hgq.onnx), not from solution.json: learned "
                 f"bit-widths ({hgq['settings']['weight_granularity']} weights, beta {hgq['settings']['beta']:g}); per "
                 "layer mean weight bits / widest / input bits / zero weights: "
                 + "; ".join(f"{n} {r['w_bits_mean']:.2f} / {r['w_bits']} / {r['a_bits']} / {r['zero_weights']} of "
                             f"{r['weights']}" for n, r in hgq["export"].items())
                 + ". Its 'predicted' LUT is the HGQ regulariser's estimate.")
        table(["metric", "predicted (HGQ regulariser)" if hgq else "predicted (ILP, kernels)", "measured (kernels)",
               "ratio"], rows)
        v = build["verify"]
        text(f"Verification ({v['method']}): {v['mismatches']} mismatches in {v['vectors']:,} vectors from {v['samples']} inputs.")
        d = build.get("design")
        if d:
            fmt = lambda v: "-" if v is None else f"{v:,.0f}"
            table(["metric", "ILP (synthesised)", "price list on the built design", "kernels", "glue",
                   "complete design (Yosys, per part)"],
                  [[k, fmt(r.get("ilp")), fmt(r.get("priced_built")), fmt(r["measured_kernels"]), f"{r['glue']:+,.0f}",
                    fmt(r["measured_whole"])] for k, r in d.get("resources", {}).items()])
            s = d["network_sim"]
            text(f"Complete streaming design ({d['dir']}, top {d['top']}): whole-network simulation ({s['simulator']}) vs the "
                 f"QONNX executor, {s['mismatches']} mismatches in {s['inputs']} inputs (back to back and with random "
                 f"back-pressure); latency {s['latency_cycles']} cycles (predicted {s['predicted_latency_cycles']}), "
                 f"II {s['ii_cycles']} cycles (predicted {s['predicted_ii_cycles']}); requantisation per layer: "
                 + ", ".join(f"{n}: {m}" for n, m in d["requant"].items()) + ".")
        h = build.get("hls4ml") or {}
        if h.get("status") == "not_generated":
            text(f"Whole network as an hls4ml project: NOT generated ({h['error'].splitlines()[0]}); the RTL design "
                 "above is the verified final design.")
        elif h:
            text(f"Whole network as an hls4ml project: g++ C-simulation vs the QONNX executor, {h['mismatches']} "
                 f"mismatching outputs in {h['samples']} inputs. Synthesis where Vitis HLS is installed: {h['synthesis_command']}")
        if "accuracy" in build:
            a = build["accuracy"]
            text(f"Accuracy on {a['n']} held-out samples: reference {a['reference']:.4f}, final {a['final']:.4f}.")
        if "brevitas" in build:
            text(f"Brevitas write-back re-exported: max output difference {build['brevitas']['max_output_diff']:g}.")
        peers = [f for f, ok in (("hls4ml: final/hls4ml_config.yml + final/model_hls4ml.onnx", h.get("status") == "ok"),
                                 ("Brevitas: ohq_flow.load_brevitas(run_dir) or final/brevitas_state_dict.pt", "brevitas" in build),
                                 ("FINN: final/finn/ (build_dataflow directory with folding_config.json)", "finn" in build)) if ok]
        if peers:
            text("For the peer tools: " + "; ".join(peers) + ".")
    else:
        text("missing: final/build.json (run the build step)")

    impl = _json(run_dir / "final" / "impl" / "impl.json")
    verdict = (impl or {}).get("verdict") or (build or {}).get("verdict")
    if verdict:
        from ohq_flow.final.verdict import format_verdict
        section("Budgets")
        if verdict["over"]:
            html_parts.append(f"<div class='warn'><b>OVER BUDGET</b>: {', '.join(verdict['over'])} — the final design "
                              f"misses the budget by more than {100 * verdict['tolerance']:g}%.</div>")
            md_parts.append(f"\n> **OVER BUDGET**: {', '.join(verdict['over'])}\n")
        html_parts.append(f"<pre>{html.escape(format_verdict(verdict))}</pre>")
        md_parts.append("```\n" + format_verdict(verdict) + "\n```\n")
        if (impl or {}).get("rounds"):
            from ohq_flow.final.loop import format_rounds
            text("Closed budget loop (implement.close_loop):\n" + format_rounds({"rounds": impl["rounds"]}))
    if impl:
        section("Implementation")
        if impl.get("fmax_mhz") is not None:
            if impl.get("timing_met") is False:
                html_parts.append(f"<div class='warn'><b>TIMING NOT MET</b>: post-route Fmax {impl['fmax_mhz']:.1f} MHz "
                                  f"&lt; target {impl.get('target_mhz')} MHz.</div>")
                md_parts.append(f"\n> **TIMING NOT MET**: post-route Fmax {impl['fmax_mhz']:.1f} MHz < target "
                                f"{impl.get('target_mhz')} MHz.\n")
            table(["field", "value"], [[k, impl.get(k)] for k in (
                "status", "board", "device", "tool", "tool_version", "fmax_mhz", "target_mhz", "timing_met", "lut4", "ff",
                "dp16kd", "mult18", "latency_cycles", "latency_ns", "throughput_fps", "bitstream", "bitstream_bytes",
                "program") if impl.get(k) is not None])
        else:
            text(f"Implementation: {impl.get('status')} — {impl.get('message', '')}")

    section("Run")
    steps = manifest.get("steps", {})
    table(["step", "status", "seconds (all attempts)", "seconds (last attempt)", "started"],
          [[k, v.get("status"), v.get("total_s", v.get("elapsed_s", v.get("spent_s"))), v.get("elapsed_s", "-"),
            v.get("started", "-")] for k, v in steps.items()])
    table(["package", "version"], [[k, v] for k, v in (manifest.get("versions") or {}).items()])
    cfg_file = run_dir / "config.yaml"
    if cfg_file.is_file():
        html_parts.append(f"<pre>{html.escape(cfg_file.read_text())}</pre>")
        md_parts.append("```yaml\n" + cfg_file.read_text() + "```\n")
    if missing:
        text("Not available in this run: " + ", ".join(missing))
    title = f"ohq_flow report — {_config_name(run_dir)}"
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;margin:.5em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}img{max-width:100%;display:block;margin:.5em 0}"
             ".warn{border:2px solid #c00;background:#fee;padding:.5em 1em;margin:1em 0}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>" + "\n".join(html_parts) + "</body></html>\n")
    return (atomic_write_text(run_dir / "report.html", page),
            atomic_write_text(run_dir / "report.md", f"# {title}\n" + "\n".join(md_parts)))
