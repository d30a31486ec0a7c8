"""Folds, the design clock and latency/II budgets: the ILP against brute force; the solve CLI contract."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest

from ohq_flow.cli import main
from ohq_flow.errors import InputError
from ohq_flow.hw.costs import CostRow, read_costs, write_costs
from ohq_flow.solve import Candidate, Problem, Tie, diagnose, solve, totals_of, uniform_designs
from ohq_flow.solve.pareto import sweep

FMAX = (90.0, 125.0, 160.0, 200.0)


# ----------------------------------------------------------------------------- brute force
def random_folded(seed: int) -> Problem:
    """2-3 layers, 2-3 bit pairs x 1-3 folds each; cycles, LUT, fmax; random latency/II/clock budgets."""
    rng = random.Random(seed)
    n_layers = rng.randint(2, 3)
    mode = "dataflow" if seed % 2 else "sequential"
    cands = {}
    for l in range(n_layers):
        cands[f"L{l}"] = []
        for w, a in rng.sample([(2, 2), (4, 4), (4, 8), (8, 8)], rng.randint(2, 3)):
            damage = rng.random() / (w * a)
            base = rng.randint(64, 256)
            for pe in rng.sample([1, 2, 4, 8], rng.randint(1, 3)):
                cycles = float(base // pe)
                cands[f"L{l}"].append(Candidate(
                    w, a, damage, {"lut": float(rng.randint(5, 20) * w * a * pe), "latency_cycles": cycles,
                                   "ii_cycles": cycles, "fmax_mhz": rng.choice(FMAX)}, fold=f"pe{pe}"))
    clock = rng.choice([None, None, 150.0])
    budgets = {}
    pool = ["lut", "latency_cycles", "latency_ns"] + (["ii_cycles"] if mode == "dataflow" else [])
    for m in rng.sample(pool, rng.randint(1, 3)):
        budgets[m] = {"lut": rng.randint(40, 600) * n_layers, "latency_cycles": rng.randint(20, 200) * n_layers,
                      "latency_ns": rng.randint(150, 1500) * n_layers, "ii_cycles": rng.randint(10, 200)}[m] * 1.0
    minimize = None
    if seed % 3 == 0:
        minimize = rng.choice(["latency_ns", "latency_cycles"] + (["ii_cycles"] if mode == "dataflow" else []))
        budgets["damage"] = rng.uniform(0.05, 0.6)
    ties = [Tie(("L0", "L1"), same_w_bits=seed % 2 == 0)] if seed % 4 == 0 else []
    return Problem(cands, budgets, latency_mode=mode, ties=ties, clock_mhz=clock, minimize=minimize)


def brute_values(p: Problem, combo) -> dict[str, float]:
    """Totals computed directly from the definitions (not via totals_of)."""
    clock = min(c.cost["fmax_mhz"] for c in combo)
    if p.clock_mhz is not None:
        clock = min(clock, p.clock_mhz)
    cycles = sum(c.cost["latency_cycles"] for c in combo)
    return {"lut": sum(c.cost["lut"] for c in combo), "latency_cycles": cycles,
            "latency_ns": cycles * 1000.0 / clock, "ii_cycles": max(c.cost["ii_cycles"] for c in combo),
            "damage": sum(c.damage for c in combo)}


def brute(p: Problem) -> float | None:
    layers, best = list(p.candidates), None
    target = p.minimize or "damage"
    for combo in itertools.product(*(p.candidates[l] for l in layers)):
        if any(len({(c.bits if t.same_w_bits else c.a_bits) for l, c in zip(layers, combo) if l in t.layers}) > 1
               for t in p.ties):
            continue
        v = brute_values(p, combo)
        if all(v[m] <= b + 1e-9 for m, b in p.budgets.items()):
            best = v[target] if best is None else min(best, v[target])
    return best


@pytest.mark.parametrize("block", range(8))
def test_ilp_matches_brute_force_with_folds_and_clock(block):
    """240 random instances: throughput (II), latency (cycles, ns at the design clock), clock cap, reverse problem."""
    feasible = 0
    for seed in range(block * 30, block * 30 + 30):
        p = random_folded(seed)
        sol = solve(p, diagnose=False)
        expected = brute(p)
        if expected is None:
            assert sol.status == "infeasible", seed
            continue
        feasible += 1
        assert sol.status == "optimal", seed
        assert sol.objective == pytest.approx(expected, rel=1e-6, abs=1e-9), seed
        combo = [p.candidate(l, k) for l, k in sol.choices().items()]
        v = brute_values(p, combo)
        for m, b in p.budgets.items():
            assert v[m] <= b * (1 + 1e-6), (seed, m)
        for m in ("lut", "latency_cycles", "latency_ns"):
            assert sol.totals[m] == pytest.approx(v[m]), (seed, m)
        assert sol.totals["clock_mhz"] == pytest.approx(min(c.cost["fmax_mhz"] for c in combo) if p.clock_mhz is None
                                                        else min(p.clock_mhz, *(c.cost["fmax_mhz"] for c in combo)))
    assert feasible >= 5


def _clock_trap() -> Problem:
    """Pruning on (damage, LUT, cycles) alone would drop fc0's slow-clock-free candidate."""
    fc0 = [Candidate(4, 4, 0.1, {"lut": 100.0, "latency_cycles": 100.0, "ii_cycles": 100.0, "fmax_mhz": 50.0}, "pe1"),
           Candidate(4, 4, 0.1, {"lut": 150.0, "latency_cycles": 100.0, "ii_cycles": 100.0, "fmax_mhz": 200.0}, "pe1_fast")]
    fc1 = [Candidate(4, 4, 0.1, {"lut": 100.0, "latency_cycles": 100.0, "ii_cycles": 100.0, "fmax_mhz": 200.0}, "pe1")]
    return Problem({"fc0": fc0, "fc1": fc1}, {"lut": 1000.0, "latency_ns": 1500.0})


def test_dominance_pruning_keeps_the_faster_clock():
    sol = solve(_clock_trap())
    assert sol.status == "optimal" and sol.folds["fc0"] == "pe1_fast"
    assert sol.totals["clock_mhz"] == 200.0 and sol.totals["latency_ns"] == pytest.approx(1000.0)
    capped = solve(_clock_trap().with_budgets({"latency_ns": 4000.0}, clock_mhz=100.0))
    assert capped.totals["clock_mhz"] == 100.0 and capped.totals["latency_ns"] == pytest.approx(2000.0)


def test_uniform_designs_take_their_best_folding():
    p = random_folded(3).with_budgets({"lut": 1e9}, minimize=None)
    for u in uniform_designs(p):
        w, a = int(u.label[1]), int(u.label[3])
        fastest = sum(min(c.cost["latency_cycles"] for c in cs if c.bits == (w, a)) for cs in p.candidates.values())
        assert u.totals["latency_cycles"] >= fastest
        # the chosen folding's latency in ns is the least over every folding of those bits
        per_layer = [[c for c in cs if c.bits == (w, a)] for cs in p.candidates.values()]
        best = min(brute_values(p, combo)["latency_ns"] for combo in itertools.product(*per_layer))
        assert u.totals["latency_ns"] == pytest.approx(best)


def test_sweep_latency_budget_trades_damage_for_speed():
    p = random_folded(1).with_budgets({"lut": 1e9}, minimize=None, latency_mode="sequential")
    lo = min(brute_values(p, c)["latency_ns"] for c in itertools.product(*p.candidates.values()))
    hi = max(brute_values(p, c)["latency_ns"] for c in itertools.product(*p.candidates.values()))
    points = sweep(p, "latency_ns", [lo, (lo + hi) / 2, hi])
    assert all(pt.status == "optimal" for pt in points)
    objs = [pt.objective for pt in points]
    assert objs[0] >= objs[1] >= objs[2]
    assert all(pt.totals["latency_ns"] <= pt.budget * (1 + 1e-9) for pt in points)


# ----------------------------------------------------------------------------- diagnosis
def test_diagnosis_names_the_ii_bottleneck_and_budget_needed():
    p = random_folded(1).with_budgets({"ii_cycles": 1.0}, minimize=None, latency_mode="dataflow")
    sol = solve(p)
    assert sol.status == "infeasible"
    b = sol.diagnosis.bottleneck["ii_cycles"]
    per_layer_fastest = {l: min(c.cost["ii_cycles"] for c in cs) for l, cs in p.candidates.items()}
    assert per_layer_fastest[b["layer"]] == max(per_layer_fastest.values()) == b["cycles"] == b["needed"]
    c = p.candidate(b["layer"], (b["w_bits"], b["a_bits"], b["fold"]))
    assert c.cost["ii_cycles"] == b["cycles"] and c.cost["lut"] == b["lut"]
    text = sol.diagnosis.format()
    assert f"bottleneck: layer {b['layer']}" in text and f"needs ii_cycles >= {b['needed']:,.0f}" in text


def test_diagnosis_latency_cycles_names_the_slowest_layer_and_the_sum_needed():
    p = random_folded(2).with_budgets({"latency_cycles": 1.0}, minimize=None)
    sol = solve(p)
    assert sol.status == "infeasible"
    b = sol.diagnosis.bottleneck["latency_cycles"]
    fastest = {l: min(c.cost["latency_cycles"] for c in cs) for l, cs in p.candidates.items()}
    assert b["needed"] == sum(fastest.values())                     # the sum of every layer's fastest fold
    assert b["cycles"] == fastest[b["layer"]] == max(fastest.values())
    c = p.candidate(b["layer"], (b["w_bits"], b["a_bits"], b["fold"]))
    assert c.cost["latency_cycles"] == b["cycles"] and c.fold
    assert f"needs latency_cycles >= {b['needed']:,.0f}" in sol.diagnosis.format()


def test_diagnosis_latency_ns_names_the_clock_limiting_layer():
    p = _clock_trap().with_budgets({"latency_ns": 10.0})
    d = diagnose(p)
    assert d.impossible == ["latency_ns"] and d.minimum["latency_ns"] == pytest.approx(1000.0)
    b = d.bottleneck["latency_ns"]
    assert b["needed"] == pytest.approx(1000.0) and b["clock_limit_mhz"] == 200.0


def test_missing_fmax_among_others_is_an_error():
    p = _clock_trap()
    p.candidates["fc1"][0].cost["fmax_mhz"] = None
    with pytest.raises(InputError, match="fc1 candidate w4a4@pe1 has no fmax_mhz"):
        Problem(p.candidates, {"latency_ns": 5000.0})
    with pytest.raises(InputError, match="fmax_mhz -3"):
        Problem({"a": [Candidate(2, 2, 0.0, {"fmax_mhz": -3.0})]})


def test_clock_mhz_without_fmax_prices_every_layer_at_that_clock():
    cands = {"a": [Candidate(2, 2, 0.5, {"latency_cycles": 10.0}), Candidate(8, 8, 0.1, {"latency_cycles": 30.0})],
             "b": [Candidate(2, 2, 0.5, {"latency_cycles": 10.0}), Candidate(8, 8, 0.1, {"latency_cycles": 30.0})]}
    sol = solve(Problem(cands, {"latency_ns": 400.0}, clock_mhz=100.0))   # 10 ns/cycle: 40 cycles at most
    assert sol.objective == pytest.approx(0.6) and sol.totals["latency_ns"] == pytest.approx(400.0)
    with pytest.raises(InputError, match="latency_ns"):
        Problem(cands, {"latency_ns": 400.0})                             # no clock at all, no latency_ns column


# ----------------------------------------------------------------------------- CLI contract
def _tables(tmp_path):
    sens = tmp_path / "sens.csv"
    sens.write_text("layer,w_bits,a_bits,mode,kl,mse\n" + "".join(
        f"{l},{b},{b},joint,{d},{d}\n" for l, b, d in
        (("fc0", 4, 0.5), ("fc0", 8, 0.01), ("fc1", 4, 0.4), ("fc1", 8, 0.02))))
    rows = []
    for layer, scale in (("fc0", 2), ("fc1", 1)):
        for bits, fmax in ((4, 200.0), (8, 120.0)):
            for pe in (1, 4):
                rows.append(CostRow(layer, bits, bits, fold=f"pe{pe}_simd1", lut=100.0 * scale * bits * pe,
                                    latency_cycles=128.0 * scale / pe, ii_cycles=128.0 * scale / pe,
                                    fmax_mhz=fmax - 20 * (pe > 1)))
    write_costs(rows, tmp_path / "costs.csv")
    return sens, tmp_path / "costs.csv"


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_costs_csv_round_trips_fold_and_fmax(tmp_path):
    _, costs = _tables(tmp_path)
    rows = read_costs(costs)
    assert {r.fold for r in rows} == {"pe1_simd1", "pe4_simd1"} and {r.fmax_mhz for r in rows} >= {200.0, 100.0}


def test_solve_json_contract(tmp_path, capsys):
    sens, costs = _tables(tmp_path)
    code, out, _ = _cli(capsys, "solve", "--sensitivity", str(sens), "--costs", str(costs), "--budget", "lut=5000",
                        "--budget", "latency_ns=700", "--out", str(tmp_path), "--json")
    assert code == 0
    js = json.loads(out)
    assert js["status"] == "optimal"
    assert set(js["assignment"]["fc0"]) == {"w_bits", "a_bits", "fold"}
    t = js["totals"]
    chosen = [(l, v["w_bits"], v["fold"]) for l, v in js["assignment"].items()]
    fmax = {(l, b, f"pe{pe}_simd1"): (200.0 if b == 4 else 120.0) - 20 * (pe > 1)
            for l in ("fc0", "fc1") for b in (4, 8) for pe in (1, 4)}
    assert t["clock_mhz"] == min(fmax[c] for c in chosen)
    assert t["latency_ns"] == pytest.approx(t["latency_cycles"] * 1000 / t["clock_mhz"]) and t["latency_ns"] <= 700
    assert js["objective"] == pytest.approx(t["damage"])


def test_solve_json_reverse_problem(tmp_path, capsys):
    sens, costs = _tables(tmp_path)
    code, out, _ = _cli(capsys, "solve", "--sensitivity", str(sens), "--costs", str(costs), "--budget", "lut=5000",
                        "--minimize", "latency_ns", "--max-damage", "0.45", "--clock-mhz", "150",
                        "--out", str(tmp_path), "--json")
    js = json.loads(out)
    assert js["status"] == "optimal" and js["minimize"] == "latency_ns"
    assert js["totals"]["damage"] <= 0.45 and js["totals"]["clock_mhz"] <= 150
    assert js["objective"] == pytest.approx(js["totals"]["latency_ns"])


def test_solve_json_infeasible_prints_diagnosis_and_exits_1(tmp_path, capsys):
    sens, costs = _tables(tmp_path)
    code, out, err = _cli(capsys, "solve", "--sensitivity", str(sens), "--costs", str(costs),
                          "--budget", "ii_cycles=10", "--out", str(tmp_path), "--json")
    assert code == 1
    js = json.loads(out)
    assert js["status"] == "infeasible" and js["latency_mode"] == "dataflow"
    b = js["diagnosis"]["bottleneck"]["ii_cycles"]
    assert b == {**b, "layer": "fc0", "fold": "pe4_simd1", "cycles": 64.0, "needed": 64.0}
    assert "bottleneck: layer fc0" in err
    assert math.isclose(js["diagnosis"]["minimum"]["ii_cycles"], 64.0)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_cbc_preprocessing_regression(solver):
    """A tiny instance CBC 2.10.3 with its preprocessing solved to a worse 'optimal' (3022 ns, not 1600)."""
    pytest.importorskip("highspy") if solver == "highs" else None
    spec = {"fc0": [(4, 0.5, 300, 256, 200), (4, 0.5, 900, 16, 150), (8, 0.01, 600, 256, 120), (8, 0.01, 2400, 16, 90)],
            "fc1": [(4, 0.4, 200, 128, 210), (4, 0.4, 700, 16, 160), (8, 0.02, 400, 128, 130), (8, 0.02, 1800, 16, 100)]}
    cands = {l: [Candidate(b, b, d, {"lut": float(lut), "latency_cycles": float(cyc), "fmax_mhz": float(f)}, f"f{i}")
                 for i, (b, d, lut, cyc, f) in enumerate(rows)] for l, rows in spec.items()}
    p = Problem(cands, {"lut": 3000.0, "damage": 0.05}, clock_mhz=100.0, minimize="latency_ns", solver=solver)
    sol = solve(p)
    assert sol.objective == pytest.approx(1600.0) and sol.choices() == {"fc0": (8, 8, "f3"), "fc1": (8, 8, "f2")}
