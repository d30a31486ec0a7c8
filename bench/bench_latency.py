"""Latency at equal LUT: the ILP's mixed-precision design (bits + folds) vs uniform W8A8 and W4A4, built and simulated.

For each suite model (examples/suite, checkpoints from ``python -m examples.suite.train``) the flow runs to
``profile`` on the ULX3S 85F (ECP5) with ``search.folds: auto``: every layer has its unrolled kernel and PE x
SIMD folds as candidates, and the profile step prices every candidate in the complete design
(``design_costs.json``: kernel or folded unit, glue, pairwise terms, board shell, mapped to post-route LUT4
by ``ohq_flow/design/impl_fit_ecp5.json``; the pipeline's exact latency/II). The budgets are the
**whole design's post-route LUT4 as the ILP prices it** (every other board resource at 100%), at
``LUT_MULTIPLES`` of the smallest W8A8 design. At each budget, with the flow's own Problem and ILP
(``problem_from_tables`` + ``solve``, what ``ohq-flow solve`` runs):

- ``W8A8`` / ``W4A4``: every layer pinned to those bits, the folds minimising ``latency_cycles``;
- ``mixed``: the ILP minimising ``latency_cycles`` under a ladder of damage bounds (the summed MQE
  sensitivity); kept: the fastest whose *validation* accuracy is within 1 point of W8A8's.

Every design in the table is generated with its folds and simulated whole (Verilator, back to back and with
gaps and back-pressure, bit-exact against the QONNX executor); the ILP's latency/II beside the simulated
ones (equal, or the bench fails). Accuracy: exact, on the suite's test split (validation split for the
choice). Goal: >= 30% lower latency than W8A8 at <= 1 point test-accuracy loss.

    python -m bench.bench_latency [--suite digits_mlp,mnist1d_mlp,mnist1d_cnn,digits_cnn] [--reuse]

Prints a markdown section; writes docs/bench_latency.json (and docs/bench_latency_<model>.json per model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "bench" / "runs"
DOCS = ROOT / "docs"
MODELS = ("digits_mlp", "mnist1d_mlp", "mnist1d_cnn", "digits_cnn")
BOARD = "ulx3s-85f"
LUT_MULTIPLES = (1.25, 2.0, 3.0)          # of the smallest W8A8 whole design (post-route LUT4, the ILP's price)
LADDER = 12                               # damage bounds tried for the mixed design
SIM_INPUTS = 32
COMPARE_VERSION = "2"                     # bump when compare() changes what it computes (--reuse keys on it)
RULES = [{"measurer": "yosys", "max_weights": 1000}, {"measurer": "da4ml_estimate"}]


def flow_config(name: str, rec: dict) -> dict:
    """The flow config of one suite model: ECP5 board, folds on, kernels up to 1,000 weights measured by Yosys."""
    from bench.bench_eval import MODELS_DIR
    std = 0.6 if name.startswith("digits") else 1.0
    return {"name": name,
            "model": {"brevitas": {"factory": rec["factory"], "checkpoint": str(MODELS_DIR / f"{name}.pt"),
                                   "input_shape": list(rec["input_shape"]), "python_path": [str(ROOT)]}},
            "board": BOARD,
            "search": {"weight_bits": [2, 3, 4, 6, 8], "act_bits": [4, 6, 8], "folds": "auto"},
            "mqe": {"samples": 64, "seed": 0, "inputs": "gaussian", "mean": [0.0], "std": [std], "metric": "mse"},
            "hardware": {"cache_dir": str(RUNS / "cache"), "timeout_s": 900, "rules": RULES},
            "budgets": {"lut": "100%"},
            "build": {"eval_npz": str(MODELS_DIR / f"{name}_test.npz")},
            "output_dir": str(RUNS / f"latency_{name}" / "run")}


def prepare(name: str, rec: dict) -> Path:
    """The flow run to ``profile`` for one model (the flow skips the steps whose inputs and code are unchanged, and
    the kernel costs come from the cache); its config path."""
    out = RUNS / f"latency_{name}"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "flow.yaml"
    text = yaml.safe_dump(flow_config(name, rec), sort_keys=False)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    with open(out / "profile.log", "w") as log:        # the section on stdout stays the bench's own
        subprocess.run([sys.executable, "-m", "ohq_flow", "-q", "run", str(path), "--to", "profile"], cwd=ROOT,
                       check=True, timeout=3600, stdout=log, stderr=subprocess.STDOUT)
    return path


class Model:
    """One profiled suite model: its config, QONNX model and layers, the flow's Problem, accuracy on val/test."""

    def __init__(self, name: str, config: Path):
        from qonnx.core.modelwrapper import ModelWrapper

        from bench.bench_eval import MODELS_DIR
        from bench.eval.accuracy import AccuracyEvaluator
        from ohq_flow.config import load_config
        from ohq_flow.design.profile import load_design_costs
        from ohq_flow.model.layers import discover_layers
        from ohq_flow.search_space import tie_groups
        from ohq_flow.solve.ilp import problem_from_tables
        from ohq_flow.solve.step import board_budgets, board_totals, layer_meta

        self.name, self.fc = name, load_config(config)
        self.run = Path(self.fc.output_dir)
        self.model = ModelWrapper(str(self.run / "model.onnx"))
        self.layers = discover_layers(self.model)
        self.board = self.fc.board_obj()
        fc = self.fc
        # the same Problem the solve step builds (ohq_flow/steps.py::step_solve -> solve_run)
        self.problem = problem_from_tables(
            self.run / "sensitivity.csv", self.run / "costs.csv", board_budgets({}, self.board),
            board_totals=board_totals(self.board), layer_meta=layer_meta(self.layers),
            layer_order=[l.name for l in self.layers], design=load_design_costs(self.run),
            ties=tie_groups(self.layers, fc.search), latency_mode=fc.budgets.latency_mode, objective=fc.solver.objective,
            solver=fc.solver.backend, time_limit_s=fc.solver.time_limit_s, clock_mhz=1000.0 / fc.clock_ns())
        if self.problem.design is None:
            raise RuntimeError(f"{name}: no design_costs.json in {self.run}: the ILP would not price the complete design")
        v, t = np.load(MODELS_DIR / f"{name}_val.npz"), np.load(MODELS_DIR / f"{name}_test.npz")
        self.val = AccuracyEvaluator(self.model, self.layers, v["x"], v["y"])
        self.test = AccuracyEvaluator(self.model, self.layers, t["x"], t["y"])

    def pins(self, bits: tuple[int, int]) -> dict:
        """Every layer at ``bits``; a layer with one activation width (a fixed input) keeps it."""
        out = {}
        for l, cands in self.problem.candidates.items():
            a_opts = {c.a_bits for c in cands}
            out[l] = (bits[0], bits[1] if bits[1] in a_opts else max(a_opts))
        return out

    def solve(self, budgets: dict, pins: dict | None = None, minimize: str = "latency_cycles"):
        from ohq_flow.solve.ilp import solve
        p = self.problem.with_budgets({**self.problem.budgets, **budgets}, pins=pins or {}, minimize=minimize)
        return solve(p, diagnose=False)


def record(m: Model, sol) -> dict:
    """A solution's ILP totals, choice and exact accuracies (or its status)."""
    if not sol.assignment:
        return {"status": sol.status}
    t = sol.totals
    return {"status": sol.status, "choice": {l: [w, a, f] for l, (w, a, f) in sol.choices().items()},
            "ilp": {k: round(float(t[k]), 1) for k in ("lut", "ff", "dsp", "bram18", "synth_lut", "latency_cycles",
                                                       "ii_cycles", "latency_ns", "damage") if k in t},
            "val_accuracy": m.val.accuracy(sol.assignment), "test_accuracy": m.test.accuracy(sol.assignment)}


def mixed(m: Model, budgets: dict, ref_val: float) -> tuple[dict, list[dict]]:
    """The fastest design (ILP: min latency_cycles) over a ladder of damage bounds whose validation accuracy is within
    1 point of W8A8's; and every distinct design the ladder gave (bound, latency, accuracies)."""
    damages = sorted({c.damage for cs in m.problem.candidates.values() for c in cs if c.damage > 0})
    n = len(m.problem.candidates)
    ladder = [0.0, *np.geomspace(max(damages[0], 1e-9), damages[-1] * n, LADDER - 1)] if damages else [0.0]
    seen, tried, best = set(), [], None
    for bound in ladder:
        sol = m.solve({**budgets, "damage": float(bound)})
        if not sol.assignment:
            continue
        key = tuple(sorted(sol.choices().items()))
        if key in seen:
            continue
        seen.add(key)
        r = record(m, sol)
        tried.append({"damage_bound": float(bound), "latency_cycles": r["ilp"]["latency_cycles"],
                      "val_accuracy": r["val_accuracy"], "test_accuracy": r["test_accuracy"]})
        if r["val_accuracy"] >= ref_val - 0.01 - 1e-12 and (
                best is None or (r["ilp"]["latency_cycles"], -r["val_accuracy"]) < (best["ilp"]["latency_cycles"],
                                                                                   -best["val_accuracy"])):
            best = r
    return (best or {"status": "no design within 1 point (validation)"}), tried


def simulate(m: Model, choice: dict, work: Path, reuse: bool) -> dict:
    """Build the complete design of ``choice`` (layer -> [w, a, fold]) exactly as ``build`` does and simulate it whole
    (Verilator; back to back, then with gaps and back-pressure; any mismatch with the QONNX executor raises)."""
    from ohq_flow.design.rtl import generate_design
    from ohq_flow.design.sim import simulate_network
    from ohq_flow.model.quantizers import apply_bits
    key = hashlib.sha256(json.dumps([m.name, choice, sim_code_key()], sort_keys=True).encode()).hexdigest()[:16]
    done = work / "sim_record.json"
    if reuse and done.is_file():
        rec = json.loads(done.read_text())
        if rec.get("key") == key:
            return rec
    fc = m.fc
    final, _ = apply_bits(m.model, m.layers, {l: (w, a) for l, (w, a, _) in choice.items()})
    folds = {l.node: choice[l.name][2] for l in m.layers}
    t0 = time.perf_counter()
    design = generate_design(final, work / "design", latency_cutoff=fc.hardware.latency_cutoff, part=m.board.part,
                             clock_ns=fc.clock_ns(), prefer=fc.build.requant, output=fc.build.output, folds=folds)
    sim = simulate_network(final, design, m.test.x[:SIM_INPUTS], work / "sim", simulator=fc.build.simulator,
                           timeout_s=1800)
    rec = {"key": key, **{k: sim[k] for k in ("simulator", "inputs", "mismatches", "latency_cycles", "ii_cycles",
                                               "predicted_latency_cycles", "predicted_ii_cycles")},
           "seconds": round(time.perf_counter() - t0, 1)}
    done.write_text(json.dumps(rec, indent=1))
    return rec


def sim_code_key() -> str:
    """What a simulated design depends on besides its choice: the design generator and its RTL templates."""
    h = hashlib.sha256()
    for f in sorted([*(ROOT / "ohq_flow" / "design").glob("*.py"), *(ROOT / "ohq_flow" / "templates" / "rtl").glob("*")]):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def compare(name: str, config: Path, reuse: bool) -> dict:
    """One model: W8A8, W4A4 and mixed at each LUT budget; every design built and simulated."""
    t0 = time.perf_counter()
    m = Model(name, config)
    smallest8 = m.solve({}, pins=m.pins((8, 8)), minimize="lut")
    fastest8 = m.solve({}, pins=m.pins((8, 8)))
    fastest_any = m.solve({})
    base = smallest8.totals["lut"]
    ref = m.pins((8, 8))
    ref_val, ref_test = m.val.accuracy(ref), m.test.accuracy(ref)
    rows = []
    for k in LUT_MULTIPLES:
        budgets = {"lut": round(k * base)}
        r = {"multiple": k, "lut_budget": budgets["lut"], "W8A8": record(m, m.solve(budgets, pins=m.pins((8, 8)))),
             "W4A4": record(m, m.solve(budgets, pins=m.pins((4, 4)))),
             "fastest": record(m, m.solve(budgets))}      # any bits, no accuracy bound: the latency floor at this LUT
        r["mixed"], r["ladder"] = mixed(m, budgets, ref_val)
        rows.append(r)
    for r in rows:
        for kind in ("W8A8", "W4A4", "mixed"):
            d = r[kind]
            if "choice" in d:
                tag = "_".join(f"{w}{a}{f}" for w, a, f in d["choice"].values())
                d["sim"] = simulate(m, d["choice"], RUNS / f"latency_{name}" / "sim" / hashlib.sha256(
                    tag.encode()).hexdigest()[:12], reuse)
                d["sim_equals_ilp"] = (d["sim"]["latency_cycles"] == d["ilp"]["latency_cycles"]
                                       and d["sim"]["ii_cycles"] == d["ilp"]["ii_cycles"])
    sens = {l: max(c.damage for c in cs) for l, cs in m.problem.candidates.items()}
    return {"model": name, "board": m.board.name, "board_mult18": m.board.total("dsp"), "clock_mhz": m.problem.clock_mhz,
            "layers": len(m.layers),
            "candidates": sum(len(c) for c in m.problem.candidates.values()),
            "post_route_fit": m.problem.design.calibrated, "w8a8_val_accuracy": ref_val, "w8a8_test_accuracy": ref_test,
            "n_val": int(len(m.val.y)), "n_test": int(len(m.test.y)), "w8a8_smallest": record(m, smallest8),
            "w8a8_fastest": record(m, fastest8), "fastest_any": record(m, fastest_any), "rows": rows,
            "max_damage_per_layer": sens, "seconds": round(time.perf_counter() - t0, 1)}


def reduction(d: dict, ref: dict) -> float | None:
    """1 - simulated latency of ``d`` / simulated latency of ``ref`` (same clock), or None."""
    if "sim" not in d or "sim" not in ref:
        return None
    return 1.0 - d["sim"]["latency_cycles"] / ref["sim"]["latency_cycles"]


def short(choice: dict) -> str:
    return ", ".join(f"w{w}a{a}" + (f"@{f}" if f else "") for w, a, f in choice.values())


def markdown(res: dict) -> str:
    clk = res["clock_mhz"]
    s8, f8 = res["w8a8_smallest"], res["w8a8_fastest"]
    out = [f"### {res['model']} ({res['layers']} layers, {res['candidates']} (bits, fold) candidates, {res['board']}, "
           f"{clk:g} MHz)", "",
           f"W8A8 accuracy: validation {100 * res['w8a8_val_accuracy']:.1f}% / test {100 * res['w8a8_test_accuracy']:.1f}% "
           f"({res['n_val']} / {res['n_test']} samples). W8A8 designs span {s8['ilp']['lut']:,.0f} LUT4 "
           f"({s8['ilp']['latency_cycles']:,.0f} cycles) to {f8['ilp']['lut']:,.0f} LUT4 "
           f"({f8['ilp']['latency_cycles']:,.0f} cycles, the fastest that fits the board). Budgets: "
           f"{', '.join(f'{k:g}x' for k in LUT_MULTIPLES)} the smallest W8A8 design.", "",
           "| LUT4 budget | design | bits@fold per layer | ILP LUT4 / MULT18 | ILP latency / II | simulated latency / II "
           "| test acc | latency vs W8A8 |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        for kind in ("W8A8", "W4A4", "mixed"):
            d = r[kind]
            if "choice" not in d:
                out.append(f"| {r['lut_budget']:,} ({r['multiple']:g}x) | {kind} | {d['status']} | | | | | |")
                continue
            s, i = d["sim"], d["ilp"]
            eq = "" if d["sim_equals_ilp"] else " **(differs)**"
            red = reduction(d, r["W8A8"])
            out.append(f"| {r['lut_budget']:,} ({r['multiple']:g}x) | {kind} | {short(d['choice'])} | {i['lut']:,.0f} / {i['dsp']:.0f} "
                       f"| {i['latency_cycles']:,.0f} / {i['ii_cycles']:,.0f} | {s['latency_cycles']:,} / {s['ii_cycles']:,}"
                       f"{eq} | {100 * d['test_accuracy']:.1f}% | "
                       + ("-" if kind == "W8A8" or red is None else f"{100 * red:+.1f}%") + " |")
    return "\n".join(out)


def goal(res: dict) -> dict:
    """The goal per model: the largest simulated latency reduction vs W8A8 at equal LUT within 1 point of W8A8's
    test accuracy; and, at that budget, the fastest design of any bits (the latency floor, accuracy ignored)."""
    best = None
    for r in res["rows"]:
        w, m = r["W8A8"], r["mixed"]
        red = reduction(m, w)
        if red is not None and m["test_accuracy"] >= w["test_accuracy"] - 0.01 - 1e-12:
            if best is None or red > best[0]:
                best = (red, r)
    floor = []
    for r in res["rows"]:
        w, f = r["W8A8"], r["fastest"]
        if "ilp" in w and "ilp" in f:
            floor.append((1 - f["ilp"]["latency_cycles"] / w["ilp"]["latency_cycles"], r))
    top = max(floor, key=lambda t: t[0]) if floor else None
    return {"reduction": best[0] if best else None, "budget": best[1]["lut_budget"] if best else None,
            "row": best[1] if best else None, "met": bool(best and best[0] >= 0.30 - 1e-12),
            "floor": top[0] if top else None, "floor_row": top[1] if top else None}


def summary(results: list[dict]) -> str:
    out = ["### Goal check: >= 30% lower latency than W8A8 at equal LUT, <= 1 point test-accuracy loss", "",
           "Latency: simulated cycles of the complete design at the same clock. `floor`: the ILP's fastest design of any "
           "bits at the budget where it gains most, accuracy ignored (what the hardware allows).", "",
           "| model | best reduction (simulated) | at LUT4 budget | mixed / W8A8 test acc | floor (any bits) | goal |",
           "|---|---|---|---|---|---|"]
    met = 0
    for res in results:
        g = goal(res)
        met += g["met"]
        fl = (f"{100 * g['floor']:.1f}% ({100 * g['floor_row']['fastest']['test_accuracy']:.1f}% acc)"
              if g["floor"] is not None else "-")
        if g["reduction"] is None:
            out.append(f"| {res['model']} | none | - | - | {fl} | not met: {cause(g)} |")
            continue
        r = g["row"]
        out.append(f"| {res['model']} | {100 * g['reduction']:.1f}% | {g['budget']:,} | "
                   f"{100 * r['mixed']['test_accuracy']:.1f}% / {100 * r['W8A8']['test_accuracy']:.1f}% | {fl} | "
                   f"{'met' if g['met'] else 'not met: ' + cause(g)} |")
    rows = [r[k] for res in results for r in res["rows"] for k in ("W8A8", "W4A4", "mixed") if "sim" in r[k]]
    out += ["", f"Goal met on {met} of {len(results)} models (needs 3 of 4). ILP latency / II = simulated on "
            f"{sum(d['sim_equals_ilp'] for d in rows)} of {len(rows)} designs; 0 mismatches. Time per model, ILP and "
            "accuracy in this run (profile and simulations reused when unchanged) / generation and simulation of its "
            "designs when they were built: " + ", ".join(
                f"{res['model']} {res['seconds']:.0f} s / {sim_seconds(res):.0f} s" for res in results) + ".", ""]
    out += [f"* {plain(res)}" for res in results]
    return "\n".join(out)


def sim_seconds(res: dict) -> float:
    """Generation + simulation time of a model's distinct designs (as recorded when each was built)."""
    seen = {json.dumps(r[k]["choice"]): r[k]["sim"].get("seconds", 0.0) for r in res["rows"]
            for k in ("W8A8", "W4A4", "mixed") if "sim" in r[k]}
    return float(sum(seen.values()))


def plain(res: dict) -> str:
    """One model's goal check in words, with where W8A8 stops at the best budget (its LUT4 and MULT18 use)."""
    g = goal(res)
    mult = res.get("board_mult18")
    if g["reduction"] is None:
        return f"**{res['model']}**: not met; {cause(g)}."
    r = g["row"]
    w, m = r["W8A8"], r["mixed"]
    text = (f"**{res['model']}**: {'met' if g['met'] else 'not met'}. At {r['lut_budget']:,} LUT4 the mixed design "
            f"({short(m['choice'])}) runs {m['sim']['latency_cycles']:,} cycles against W8A8's "
            f"{w['sim']['latency_cycles']:,} ({100 * g['reduction']:.1f}% lower, simulated), test accuracy "
            f"{100 * m['test_accuracy']:.1f}% vs {100 * w['test_accuracy']:.1f}%. The fastest W8A8 design within that "
            f"budget uses {w['ilp']['lut']:,.0f} LUT4 and {w['ilp']['dsp']:.0f}" + (f" of {mult:.0f}" if mult else "")
            + f" MULT18; the fastest W8A8 design on the board needs {res['w8a8_fastest']['ilp']['lut']:,.0f} LUT4 "
            f"({res['w8a8_fastest']['ilp']['latency_cycles']:,.0f} cycles).")
    if not g["met"]:
        text += f" Cause: {cause(g)}."
    return text


def cause(g: dict) -> str:
    """Why the goal is not met, from the measured rows: the hardware's floor, or the accuracy of the faster designs."""
    if g["floor"] is None or g["floor"] < 0.30:
        return (f"the fastest design of any bits is {100 * (g['floor'] or 0):.0f}% faster than W8A8 at best "
                "(the latency floor of the design at these budgets)")
    return ("faster designs exist (floor above), but those the ILP found within 1 point on the validation split "
            "are not >= 30% faster, or lose more than 1 point on the test split")


def result_key(name: str, config: Path) -> str:
    """What a model's result depends on: its config and run tables, this bench, the solver and the design code."""
    h = hashlib.sha256()
    h.update(COMPARE_VERSION.encode())
    run = RUNS / f"latency_{name}" / "run"
    for f in (config, run / "costs.csv", run / "sensitivity.csv", run / "design_costs.json", Path(__file__)):
        h.update(f.read_bytes())
    for f in sorted((ROOT / "ohq_flow" / "solve").glob("*.py")):
        h.update(f.read_bytes())
    h.update(sim_code_key().encode())
    return h.hexdigest()[:16]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default=",".join(MODELS), help="comma-separated suite models")
    ap.add_argument("--reuse", action="store_true", help="keep simulated designs and results whose inputs are "
                                                       "unchanged")
    args = ap.parse_args(argv)
    from bench.bench_eval import ensure_models
    names = [n.strip() for n in args.suite.split(",") if n.strip()]
    recs = ensure_models(names)
    out = DOCS / "bench_latency.json"
    old = {r["model"]: r for r in json.loads(out.read_text()).get("models", [])} if out.is_file() else {}
    results = []
    print(header() + "\n", flush=True)
    for name in names:
        config = prepare(name, recs[name])
        key = result_key(name, config)
        if args.reuse and old.get(name, {}).get("key") == key:
            res = old[name]
        else:
            res = {**compare(name, config, args.reuse), "key": key}
        results.append(res)
        old[name] = res
        out.write_text(json.dumps({"board": BOARD, "lut_multiples": LUT_MULTIPLES,
                                   "models": [old[n] for n in sorted(old, key=order) if "fastest_any" in old[n]]}, indent=1))
        print(markdown(res) + "\n", flush=True)
    print(summary(results))


def order(name: str) -> tuple:
    """Suite models in MODELS order, any other after them."""
    return (MODELS.index(name) if name in MODELS else len(MODELS), name)


def header() -> str:
    """The section's first lines: what is measured, on which machine, when."""
    import datetime as dt

    from bench.run_all import machine
    ver = subprocess.run(["verilator", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"Run {dt.date.today().isoformat()} on {machine()}; {ver}. Board {BOARD} (ECP5); LUT4 budgets are the "
            "**whole design after place and route as the ILP prices it** (design_costs.json mapped by "
            "ohq_flow/design/impl_fit_ecp5.json; every other board resource at 100%). Per model and budget: W8A8 and "
            "W4A4 (all layers pinned, the folds minimising latency) and the mixed design (the ILP minimising "
            "latency_cycles under a ladder of damage bounds, the fastest within 1 point of W8A8 on the validation "
            "split). Every design below is built (complete streaming design with its folds) and simulated in "
            f"Verilator on {SIM_INPUTS} test inputs, back to back and with gaps and back-pressure, bit-exact against "
            "the QONNX executor (0 mismatches; a mismatch fails the bench); `ILP` and `simulated` latency / II are "
            "cycles at the same clock. Test accuracy is exact on the suite's test split.")


if __name__ == "__main__":
    main()
