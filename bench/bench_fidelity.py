"""Fidelity: the ILP's prediction of the whole design against the design built, synthesised and placed and routed.

For every suite model (examples/suite, checkpoints from `python -m examples.suite.train`) and the demo
(examples/digits/flow.yaml's digits CNN), on the ULX3S 85F, the real flow (``ohq_flow.api.Flow``) runs to
``solve`` once at the whole board, which gives the uniform W8A8 design's LUT4 (pareto.csv); then at two LUT
budgets, fractions of that design (``FRACTIONS``: a tight and a loose one, so the ILP picks different bits),
it solves and builds the complete design (whole-network simulation, Yosys ``synth_ecp5`` of the whole design
per part). Every number is read from the run's artifacts: ``final/build.json`` (the ILP's synthesised
prediction and the Yosys count per resource: ``design.resources``; the simulated latency/II:
``design.network_sim``), ``solution.json`` (the ILP's latency/II) and, for the designs placed and routed
(``PNR``: the demo at its tight budget, two suite CNNs at a third budget, ``ROUTE``), ``final/impl/impl.json`` with the verdict's
post-route prediction (the ILP's figure, mapped by ``ohq_flow/design/impl_fit_ecp5.json``).

Each budget point runs in its own copy of the model's solved run directory, so the pipeline skips the
unchanged steps (export, sensitivity, profile) and a second run of the benchmark re-runs nothing that is done.

    python -m bench.bench_fidelity [--models demo,digits_mlp] [--no-implement] [--collect | --markdown-only]

Prints the markdown section ``fidelity``; writes docs/bench_fidelity.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "bench" / "runs" / "fidelity"
OUT = ROOT / "docs" / "bench_fidelity.json"
BOARD = "ulx3s-85f"
MODELS = ("demo", "digits_mlp", "mnist1d_mlp", "mnist1d_cnn", "digits_cnn")
FRACTIONS = {"tight": 0.5, "loose": 0.8}       # LUT budget as a fraction of the uniform W8A8 design's (ILP) LUT4
BOARD_PCT = {"demo": {"tight": 21, "loose": 25}}  # ... or % of the board: the demo's own 25% and a tighter one
# Placed and routed at one budget each: the demo at its tight point; two suite CNNs at a third point, 30% of W8A8
# (~20k LUT4 synthesised; the fully unrolled MLPs' 17k-40k designs take nextpnr's router over 30 min on 2 cores).
ROUTE = {"digits_cnn": 0.3, "mnist1d_cnn": 0.3}
PNR = {"demo": "tight", "digits_cnn": "route", "mnist1d_cnn": "route"}
SUITE_SEARCH = {"weight_bits": [2, 4, 8], "act_bits": [4, 8]}   # suite models: fewer candidates (profile time)
METRICS = ("lut", "ff", "dsp", "bram18")
UNITS = {"lut": "LUT4", "ff": "FF", "dsp": "MULT18", "bram18": "DP16KD"}
IMPL = {"lut": "lut4", "ff": "ff", "dsp": "mult18", "bram18": "dp16kd"}


# ----------------------------------------------------------------------------- configs
def model_config(name: str, out: Path) -> dict:
    """The flow config of one model: the demo's own flow.yaml, or the suite's benchmark config (its measurer
    rules: Yosys ``synth_ecp5`` for every layer up to 4,096 weights; ``SUITE_SEARCH``) on the ULX3S 85F
    with place and route enabled (so the ILP prices post-route LUT4) and no closed loop (one round)."""
    if name == "demo":
        from bench.calibrate_impl import digits_config
        cfg = digits_config(100, out)
    else:
        from bench.bench_eval import ensure_models, write_config
        rec = ensure_models([name])[name]
        cfg = yaml.safe_load(write_config(name, rec, out, RUNS / "cache").read_text())
        cfg["board"] = BOARD
        cfg["search"] = dict(SUITE_SEARCH)
        cfg["implement"] = {"enabled": True, "close_loop": False, "seed": 1, "timeout_s": 3600}
        cfg["solver"] = {"time_limit_s": 60}
    cfg["output_dir"] = str(out)
    return cfg


def flow(cfg: dict, to: str) -> str | None:
    """Run the flow to step ``to``; the error's first line when it fails (an over-budget design still has artifacts)."""
    from ohq_flow.api import Flow
    from ohq_flow.errors import OhqError
    try:
        Flow(cfg, base_dir=ROOT).run(to=to)
    except OhqError as exc:
        print(f"{cfg['output_dir']}: {exc.message.splitlines()[0]}", file=sys.stderr, flush=True)
        return exc.message.splitlines()[0]
    return None


def uniform_lut(run_dir: Path, label: str = "W8A8") -> float:
    """The ILP's LUT4 of a uniform design (pareto.csv, written by the solve step)."""
    with open(run_dir / "pareto.csv") as fh:
        for row in csv.DictReader(fh):
            if row.get("kind") == "uniform" and row.get("label") == label:
                return float(row["lut"])
    raise SystemExit(f"{run_dir / 'pareto.csv'}: no uniform {label} design")


def budget_run(name: str, point: str, base: Path, budget, to: str) -> Path:
    """The flow at one LUT budget (a number or "N%" of the board), in a copy of the model's solved run directory."""
    from ohq_flow.config import parse_config
    from ohq_flow.final.verdict import user_budgets
    run_dir = RUNS / name / point
    if not run_dir.exists():
        shutil.copytree(base, run_dir, ignore=shutil.ignore_patterns("final", "report.*", "*.lock"))
    cfg = model_config(name, run_dir)
    cfg["budgets"] = {"lut": budget}
    t0 = time.perf_counter()
    err = flow(cfg, to)
    resolved = user_budgets(parse_config(cfg, base_dir=ROOT, source="<bench_fidelity>"))["lut"]
    (run_dir / "bench_point.json").write_text(json.dumps({"budget": budget, "budget_lut": round(resolved), "to": to,
                                                          "error": err, "wall_s": round(time.perf_counter() - t0, 1)}))
    return run_dir


# ----------------------------------------------------------------------------- one point, from its artifacts
def read_point(name: str, point: str, run_dir: Path) -> dict | None:
    """The point's numbers from its artifacts (None when the build did not finish)."""
    build_json = run_dir / "final" / "build.json"
    if not build_json.is_file():
        return None
    b = json.loads(build_json.read_text())
    sol = json.loads((run_dir / "solution.json").read_text())
    meta = json.loads((run_dir / "bench_point.json").read_text()) if (run_dir / "bench_point.json").is_file() else {}
    d = b["design"]
    sim = d.get("network_sim") or {}
    budget = next((r["budget"] for r in (b.get("verdict") or {}).get("rows", []) if r["metric"] == "lut"), None)
    row = {"model": name, "point": point, "budget_lut": round(budget) if budget else meta.get("budget_lut"),
           "bits": {l: f"W{v['w_bits']}A{v['a_bits']}" + (f" {v['fold']}" if v.get("fold") else "")
                    for l, v in sol["assignment"].items()},
           "resources": {m: {"ilp": d["resources"][m]["ilp"], "yosys": d["resources"][m]["measured_whole"],
                             "glue_yosys": d["resources"][m]["glue"], "kernels_yosys": d["resources"][m]["measured_kernels"]}
                         for m in METRICS},
           "latency": {"ilp": sol["totals"].get("latency_cycles"), "sim": sim.get("latency_cycles")},
           "ii": {"ilp": sol["totals"].get("ii_cycles"), "sim": sim.get("ii_cycles")},
           "sim_mismatches": sim.get("mismatches"), "accuracy": (b.get("accuracy") or {}).get("final"),
           "build_s": sum((b.get("times_s") or {}).values()), "flow_error": meta.get("error")}
    impl_json = run_dir / "final" / "impl" / "impl.json"
    if impl_json.is_file():
        i = json.loads(impl_json.read_text())
        if i.get("status") in ("ok", "timing_not_met"):
            from ohq_flow.config import parse_config
            from ohq_flow.final.verdict import verdict
            cfg = parse_config({**model_config(name, run_dir), "budgets": {"lut": meta.get("budget")}},
                               base_dir=ROOT, source="<bench_fidelity>")
            v = {r["metric"]: r for r in verdict(cfg, sol, b, i)["rows"]}
            row["post_route"] = {m: {"ilp": v[m]["ilp"], "post_route": i.get(IMPL[m])} for m in METRICS}
            row["post_route"]["fmax_mhz"] = i.get("fmax_mhz")
            row["post_route"]["status"] = i["status"]
            row["post_route"]["pnr_s"] = meta.get("wall_s")
    return row


# ----------------------------------------------------------------------------- markdown
def err(ilp, real) -> float | None:
    """Relative error of the ILP against the real count (None when the real count is 0)."""
    if ilp is None or real is None or not real:
        return None
    return (ilp - real) / real


def num(v) -> str:
    return "-" if v is None else f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.1f}"


def cell(ilp, real, pct: bool = True) -> str:
    e = err(ilp, real)
    s = f"{num(ilp)} / {num(real)}" if ilp is not None and real is not None else "-"
    if pct and e is not None:
        s += f" ({100 * e:+.1f}%)"
    elif ilp is not None and real is not None and abs(ilp - real) > 0.05:
        s += f" ({ilp - real:+.1f})"
    return s


def markdown(doc: dict) -> str:
    rows = doc["rows"]
    out = [f"The ILP's prediction of the whole design against the design the flow builds, ULX3S 85F (LFE5U-85F), "
           f"{doc['date']}, {doc['machine']}, {doc['yosys']}, close_loop off. Made by `python -m bench.bench_fidelity` "
           f"(`make bench`): each model solved at two LUT4 budgets ({' and '.join(f'{k} = {100 * v:g}%' for k, v in FRACTIONS.items())} "
           f"of the uniform W8A8 design's post-route LUT4 as the ILP prices it; {' and '.join(sorted(ROUTE))} also at a third, "
           f"`route` = {', '.join(sorted({f'{100 * v:g}%' for v in ROUTE.values()}))}, placed and routed; the demo at "
           f"{' and '.join(f'{v}%' for v in BOARD_PCT['demo'].values())} of the board's 83,640 LUT4), built with the complete design; "
           f"ILP = the design model's synthesised prediction (solution totals `synth_*`), Yosys = the whole design "
           f"`synth_ecp5`, per part (final/build.json `design.resources`); error = (ILP - Yosys) / Yosys. "
           f"Latency and II in cycles: the ILP's against the whole-network simulation (Verilator, bit-exact).", "",
           "| model | budget | bits (per layer) | LUT4 ILP / Yosys | FF | MULT18 | DP16KD | latency ILP / sim | II ILP / sim |",
           "|---|---|---|---|---|---|---|---|---|"]
    worst = {m: 0.0 for m in METRICS}
    exact = 0
    for r in rows:
        res = r["resources"]
        for m in METRICS:
            e = err(res[m]["ilp"], res[m]["yosys"])
            if e is not None and res[m]["yosys"] >= 8:
                worst[m] = max(worst[m], abs(e))
        lat_ok = r["latency"]["ilp"] == r["latency"]["sim"] and r["ii"]["ilp"] == r["ii"]["sim"]
        exact += lat_ok
        bits = ", ".join(r["bits"].values())
        mism = "" if not r.get("sim_mismatches") else f" **{r['sim_mismatches']} mismatches**"
        out.append(f"| {r['model']} | {r['point']} {r['budget_lut']:,} | {bits} | {cell(res['lut']['ilp'], res['lut']['yosys'])} "
                   f"| {cell(res['ff']['ilp'], res['ff']['yosys'])} | {cell(res['dsp']['ilp'], res['dsp']['yosys'], False)} "
                   f"| {cell(res['bram18']['ilp'], res['bram18']['yosys'], False)} "
                   f"| {num(r['latency']['ilp'])} / {num(r['latency']['sim'])} | {num(r['ii']['ilp'])} / {num(r['ii']['sim'])}{mism} |")
    out += ["", f"Largest |error| over the {len(rows)} designs (counts of 8 or more): "
            + ", ".join(f"{UNITS[m]} {100 * worst[m]:.1f}%" for m in METRICS)
            + f"; latency and II equal to the simulation's in {exact} of {len(rows)}."]
    pr = [r for r in rows if r.get("post_route")]
    if pr:
        out += ["", "Placed and routed (nextpnr-ecp5, the board's UART shell included, seed 1): the ILP's post-route "
                "figure (its synthesised prediction mapped by `ohq_flow/design/impl_fit_ecp5.json`) against nextpnr's.", "",
                "| model | budget | LUT4 ILP / post-route | post-route LUT4 / budget | FF | MULT18 | DP16KD | Fmax MHz | status | flow s (to implement) |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in pr:
            p = r["post_route"]
            fit = p['lut']['post_route'] / r['budget_lut']
            out.append(f"| {r['model']} | {r['point']} {r['budget_lut']:,} | {cell(p['lut']['ilp'], p['lut']['post_route'])} "
                       f"| {100 * fit:.1f}%{'' if fit <= 1 else ' **OVER BUDGET**'} | {cell(p['ff']['ilp'], p['ff']['post_route'])} | {cell(p['dsp']['ilp'], p['dsp']['post_route'], False)} "
                       f"| {cell(p['bram18']['ilp'], p['bram18']['post_route'], False)} | {p['fmax_mhz'] or 0:.1f} "
                       f"| {p['status']} | {p['pnr_s'] or 0:,.0f} |")
    cal = doc.get("calibration") or []
    if cal:
        out += ["", f"The synthesis -> post-route calibration's own points (`python -m bench.calibrate_impl`, "
                f"{doc.get('calibration_date')}): whole design synthesised against placed and routed.", "",
                "| design | LUT4 synth / post-route | FF | MULT18 | DP16KD |", "|---|---|---|---|---|"]
        for p in cal:
            s, q = p["synth"], p["post"]
            out.append(f"| {p['name']} | {s['lut']:,.0f} / {q['lut']:,.0f} | {s['ff']:,.0f} / {q['ff']:,.0f} "
                       f"| {s['dsp']:,.0f} / {q['dsp']:,.0f} | {s['bram18']:,.0f} / {q['bram18']:,.0f} |")
    missing = [f"{m} {p}" for m in MODELS for p in points(m) if not any(r["model"] == m and r["point"] == p for r in rows)]
    unrouted = [f"{m} {p}" for m, p in PNR.items() if not any(r["model"] == m and r["point"] == p and r.get("post_route")
                                                            for r in rows)]
    if missing or unrouted:
        out += ["", "Not measured in this run" + (f" (no build): {', '.join(missing)}" if missing else "")
                + ("; " if missing and unrouted else "") + (f"not placed and routed: {', '.join(unrouted)}" if unrouted else "")
                + ". `python -m bench.bench_fidelity --models NAME` measures a model (its runs are kept in bench/runs/fidelity)."]
    return "\n".join(out)


# ----------------------------------------------------------------------------- main
def points(name: str) -> dict[str, float]:
    """The model's budget points: name -> fraction of W8A8 (the two of ``FRACTIONS`` plus its ``ROUTE`` point)."""
    return {**FRACTIONS, **({"route": ROUTE[name]} if name in ROUTE else {})}


def run_model(name: str, implement: bool) -> list[dict]:
    base = RUNS / name / "base"
    cfg = model_config(name, base)
    cfg["budgets"] = {"lut": "100%"}
    if not (base / "pareto.csv").is_file():
        e = flow(cfg, "solve")
        if e:
            raise SystemExit(f"{name}: {e}")
    w8a8 = uniform_lut(base)
    rows = []
    for point, frac in points(name).items():
        pnr = implement and PNR.get(name) == point
        budget = f"{BOARD_PCT[name][point]}%" if name in BOARD_PCT else round(frac * w8a8)
        run_dir = budget_run(name, point, base, budget, "implement" if pnr else "build")
        row = read_point(name, point, run_dir)
        if row:
            rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--no-implement", action="store_true", help="no place and route")
    ap.add_argument("--markdown-only", action="store_true", help="print the section from docs/bench_fidelity.json")
    ap.add_argument("--collect", action="store_true", help="read the points already built, run nothing")
    args = ap.parse_args(argv)
    from bench.run_all import machine
    from ohq_flow.hw.rtl.yosys import yosys_version
    old = json.loads(OUT.read_text()) if OUT.is_file() else {"rows": []}
    if args.markdown_only:
        print(markdown(old))
        return 0
    names = [n for n in args.models.split(",") if n]
    rows = [r for r in old.get("rows", []) if r["model"] not in names]
    fit = ROOT / "ohq_flow" / "design" / "impl_fit_ecp5.json"
    fitdoc = json.loads(fit.read_text()) if fit.is_file() else {}
    doc = {"date": dt.date.today().isoformat(), "machine": machine(), "yosys": f"Yosys {yosys_version()}",
           "fractions": FRACTIONS, "rows": rows, "calibration": fitdoc.get("points", []),
           "calibration_date": fitdoc.get("date")}
    for name in names:
        if args.collect:
            new = [r for p in points(name) if (r := read_point(name, p, RUNS / name / p))]
        else:
            new = run_model(name, not args.no_implement)
        rows += new
        rows.sort(key=lambda r: (MODELS.index(r["model"]) if r["model"] in MODELS else 99,
                                 ("route", "tight", "loose").index(r["point"])))
        OUT.write_text(json.dumps(doc, indent=1))       # after each model: partial results land first
        print(f"{name}: {len(new)} points", file=sys.stderr, flush=True)
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
