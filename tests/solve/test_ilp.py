"""The ILP against brute-force enumeration on random instances; diagnosis; ties; pins; input errors."""

from __future__ import annotations

import importlib.util
import itertools
import random

import pytest

from ohq_flow.errors import InputError
from ohq_flow.hw.costs import CostRow, write_costs
from ohq_flow.solve import (Candidate, Problem, Tie, build_problem, diagnose, format_solution, read_sensitivity,
                            resolve_budget, solve, solve_tables)

COST_KEYS = ("lut", "ff", "dsp", "latency_cycles", "ii_cycles")


# ----------------------------------------------------------------------------- helpers
def random_problem(seed: int) -> Problem:
    """2-4 layers x 2-6 candidates, integer costs, 1-3 random budgets (sometimes infeasible)."""
    rng = random.Random(seed)
    n_layers, n_cands = rng.randint(2, 4), rng.randint(2, 6)
    mode = "dataflow" if seed % 5 == 0 else "sequential"
    cands = {}
    for l in range(n_layers):
        pairs = rng.sample([(w, a) for w in range(2, 9) for a in (2, 4, 8)], n_cands)
        cands[f"L{l}"] = [Candidate(w, a, rng.random() / (w * a), {m: float(rng.randint(0, 100)) for m in COST_KEYS}
                                    | {"bops": float(rng.randint(1, 50) * w * a)}) for w, a in pairs]
    pool = ["lut", "ff", "dsp", "latency_cycles", "bops"] + (["ii_cycles"] if mode == "dataflow" else [])
    budgets = {}
    for m in rng.sample(pool, rng.randint(1, 3)):
        lo, hi = {"ii_cycles": (20, 100), "bops": (n_layers * 100, n_layers * 1500)}.get(m, (n_layers * 15, n_layers * 80))
        budgets[m] = float(rng.randint(lo, hi))
    ties = []
    if seed % 3 == 0:
        ties = [Tie(("L0", "L1"), same_w_bits=seed % 2 == 0)]
    pins = {}
    if seed % 4 == 1:
        c = rng.choice(cands[f"L{n_layers - 1}"])
        pins = {f"L{n_layers - 1}": (c.w_bits, c.a_bits)}
    return Problem(cands, budgets, latency_mode=mode, ties=ties, pins=pins)


def allowed(problem: Problem, asg: dict[str, Candidate]) -> bool:
    """Pins and ties, checked directly."""
    if any(asg[l].bits != wa for l, wa in problem.pins.items()):
        return False
    for t in problem.ties:
        key = (lambda c: c.bits) if t.same_w_bits else (lambda c: c.a_bits)
        if len({key(asg[l]) for l in t.layers}) > 1:
            return False
    return True


def value(problem: Problem, combo, metric: str) -> float:
    vals = [c.cost[metric] for c in combo]
    return max(vals) if metric == "ii_cycles" else sum(vals)


def enumerate_allowed(problem: Problem):
    layers = list(problem.candidates)
    for combo in itertools.product(*(problem.candidates[l] for l in layers)):
        asg = dict(zip(layers, combo))
        if allowed(problem, asg):
            yield combo, asg


def brute(problem: Problem, budgets=None) -> float | None:
    budgets = problem.budgets if budgets is None else budgets
    best = None
    for combo, _ in enumerate_allowed(problem):
        if all(value(problem, combo, m) <= v + 1e-9 for m, v in budgets.items()):
            obj = sum(c.damage for c in combo)
            best = obj if best is None or obj < best else best
    return best


def brute_min(problem: Problem, metric: str) -> float:
    return min(value(problem, combo, metric) for combo, _ in enumerate_allowed(problem))


def check_solution(problem: Problem, sol) -> None:
    asg = {l: problem.candidate(l, wa) for l, wa in sol.assignment.items()}
    assert set(asg) == set(problem.candidates)
    assert allowed(problem, asg)
    for m, v in problem.budgets.items():
        assert value(problem, list(asg.values()), m) <= v + 1e-9
        assert sol.totals[m] == pytest.approx(value(problem, list(asg.values()), m))


# ----------------------------------------------------------------------------- ILP == brute force
@pytest.mark.parametrize("seed", range(60))
def test_ilp_equals_brute_force(seed):
    p = random_problem(seed)
    expected = brute(p)
    sol = solve(p)
    if expected is None:
        assert sol.status == "infeasible" and sol.assignment == {} and sol.objective is None
        assert sol.diagnosis is not None
    else:
        assert sol.status == "optimal"
        assert sol.objective == pytest.approx(expected, abs=1e-6)
        check_solution(p, sol)


def test_random_instances_cover_both_outcomes():
    outcomes = {brute(random_problem(s)) is None for s in range(60)}
    assert outcomes == {True, False}


@pytest.mark.parametrize("seed", [s for s in range(120) if brute(random_problem(s)) is None][:15])
def test_diagnosis_matches_brute_force(seed):
    p = random_problem(seed)
    d = diagnose(p)
    if d.structural:                                   # pins/ties alone infeasible
        assert not list(enumerate_allowed(p))
        return
    for m, limit in p.budgets.items():
        assert d.minimum[m] == pytest.approx(brute_min(p, m))
        assert (m in d.impossible) == (brute_min(p, m) > limit + 1e-9)
        cheapest = [p.candidate(l, wa) for l, wa in d.cheapest[m].items()]
        assert allowed(p, dict(zip(d.cheapest[m], cheapest)))
        assert value(p, cheapest, m) == pytest.approx(d.minimum[m])
    alone = [m for m in p.budgets if m not in d.impossible]
    expected_pairs = {(a, b) for a, b in itertools.combinations(alone, 2)
                      if brute(p, {a: p.budgets[a], b: p.budgets[b]}) is None}
    assert set(d.conflicts) == expected_pairs
    assert d.format().startswith("The budgets cannot all be met")


# ----------------------------------------------------------------------------- diagnosis text
def _two_layers(**kw) -> Problem:
    def cands(scale):
        return [Candidate(w, a, 1.0 / (w * a), {"lut": scale * w * a * 10.0, "dsp": float(w * a > 16) * scale,
                                                "latency_cycles": 10.0 + w, "ii_cycles": float(a)})
                for w in (2, 4, 8) for a in (4, 8)]
    return Problem({"fc0": cands(1), "fc1": cands(2)}, **kw)


def test_diagnosis_names_impossible_budget_and_minimum():
    p = _two_layers(budgets={"lut": 100.0, "latency_cycles": 1000.0})
    sol = solve(p)
    assert sol.status == "infeasible"
    d = sol.diagnosis
    assert d.impossible == ["lut"] and d.minimum["lut"] == pytest.approx(80 + 160)
    assert d.cheapest["lut"] == {"fc0": (2, 4, ""), "fc1": (2, 4, "")}
    text = d.format()
    assert "lut budget 100 < minimum achievable 240 (all layers at w2a4)" in text
    assert "latency_cycles budget 1,000 >= minimum achievable 24" in text
    assert "fix: raise lut to at least 240" in format_solution(sol)


def test_diagnosis_impossible_alone_in_dataflow():
    p = _two_layers(budgets={"lut": 250.0, "ii_cycles": 4.0, "latency_cycles": 23.0}, latency_mode="dataflow")
    d = diagnose(p)
    assert d.impossible == ["latency_cycles"] and d.minimum["latency_cycles"] == 24   # 10 + w per layer, w >= 2
    assert d.minimum["ii_cycles"] == 4 and d.conflicts == []


def test_diagnosis_finds_conflicting_pair():
    p = Problem({"A": [Candidate(2, 8, 1.0, {"lut": 10.0, "dsp": 5.0}), Candidate(8, 8, 0.1, {"lut": 50.0, "dsp": 1.0})]},
                {"lut": 20.0, "dsp": 2.0})
    d = diagnose(p)
    assert d.impossible == [] and d.conflicts == [("lut", "dsp")]
    assert "lut and dsp conflict" in d.format()


def test_diagnosis_of_three_way_conflict_and_structural():
    c = lambda w, a, lut, ff, dsp: Candidate(w, a, 0.0, {"lut": lut, "ff": ff, "dsp": dsp})
    p = Problem({"A": [c(2, 2, 0, 0, 1), c(4, 4, 0, 1, 0), c(8, 8, 1, 0, 0)]}, {"lut": 0.5, "ff": 0.5, "dsp": 0.5})
    d = diagnose(p)
    assert d.impossible == [] and d.conflicts == [] and "only all together" in d.format()
    p = Problem({"A": [c(2, 2, 0, 0, 0)], "B": [c(2, 4, 0, 0, 0)]}, {"lut": 1.0}, ties=[["A", "B"]])
    sol = solve(p)
    assert sol.status == "infeasible" and "no a_bits common" in sol.diagnosis.format()


# ----------------------------------------------------------------------------- ties and pins
@pytest.mark.parametrize("seed", range(10))
def test_ties_and_pins_hold(seed):
    rng = random.Random(100 + seed)
    cands = {f"L{i}": [Candidate(w, a, rng.random() / (w + a), {"lut": float(w * a + rng.randint(0, 5))})
                       for w in (2, 4, 8) for a in (2, 4, 8)] for i in range(5)}
    ties = [Tie(("L0", "L2", "L4")), Tie(("L1", "L3"), same_w_bits=True)]
    p = Problem(cands, {"lut": 80.0}, ties=ties, pins={"L2": "w8a4"})
    sol = solve(p)
    assert sol.status == "optimal" and sol.objective == pytest.approx(brute(p), abs=1e-6)
    asg = sol.assignment
    assert asg["L2"] == (8, 4)
    assert asg["L0"][1] == asg["L2"][1] == asg["L4"][1] == 4
    assert asg["L1"] == asg["L3"]


def test_bad_pins_and_ties_raise():
    p = _two_layers()
    with pytest.raises(InputError, match="w3a4 is not in both tables"):
        Problem(p.candidates, pins={"fc0": (3, 4)})
    with pytest.raises(InputError, match="did you mean 'fc1'"):
        Problem(p.candidates, pins={"fc_1": (2, 4)})
    with pytest.raises(InputError, match="tied layer 'nope'"):
        Problem(p.candidates, ties=[["fc0", "nope"]])
    with pytest.raises(InputError, match="not like 'w4a8'"):
        Problem(p.candidates, pins={"fc0": "4/8"})


# ----------------------------------------------------------------------------- budgets
def test_none_in_budgeted_metric_raises():
    cands = _two_layers().candidates
    cands["fc1"][3].cost["dsp"] = None
    label = cands["fc1"][3].label
    with pytest.raises(InputError, match=f"'dsp' but layer fc1 candidate {label} has no dsp"):
        Problem(cands, {"dsp": 4.0})
    assert solve(Problem(cands, {"lut": 500.0})).status == "optimal"   # unbudgeted None is fine
    with pytest.raises(InputError, match="layer_meta"):
        Problem(cands, {"bops": 100.0})


def test_percent_budgets():
    assert resolve_budget("30%", 1000, "lut") == pytest.approx(300.0)
    assert resolve_budget(" 12.5 % ", 8000.0, "ff") == pytest.approx(1000.0)
    assert resolve_budget(450, None, "lut") == 450.0
    assert resolve_budget("450", None, "lut") == 450.0
    with pytest.raises(InputError, match="no board total"):
        resolve_budget("30%", None, "latency_cycles")
    with pytest.raises(InputError, match="not a number"):
        resolve_budget("lots", 100.0, "lut")
    with pytest.raises(InputError, match=">= 0"):
        resolve_budget(-1, None, "lut")


def test_unknown_metric_and_ii_in_sequential_raise():
    cands = _two_layers().candidates
    with pytest.raises(InputError, match="did you mean 'lut'"):
        Problem(cands, {"luts": 3.0})
    with pytest.raises(InputError, match="needs latency_mode 'dataflow'"):
        Problem(cands, {"ii_cycles": 3.0})


def test_dataflow_ii_budget_caps_every_layer():
    p = _two_layers(budgets={"ii_cycles": 4.0}, latency_mode="dataflow")
    sol = solve(p)
    assert all(a == 4 for _, a in sol.assignment.values()) and sol.totals["ii_cycles"] == 4.0
    assert "ii_cycles" not in solve(_two_layers(budgets={"lut": 1e6})).totals   # sequential: no II total


# ----------------------------------------------------------------------------- tables
def _write_tables(tmp_path, *, drop=None, failed=None):
    sens = ["layer,w_bits,a_bits,kl,mse,mode"]
    rows = []
    for layer, scale in (("fc0", 1), ("fc1", 3)):
        for w in (2, 4, 8):
            for a in (4, 8):
                sens.append(f"{layer},{w},{a},{scale / (w * a)},{scale / (w + a)},joint")
                sens.append(f"{layer},{w},{a},{99.0},{99.0},weight_only")
                if (layer, w, a) == drop:
                    continue
                status = "failed" if (layer, w, a) == failed else "ok"
                rows.append(CostRow(layer, w, a, latency_cycles=5.0 + w, ii_cycles=1.0, clock_ns=5.0,
                                    lut=100.0 * scale * w * a / 8, ff=10.0 * w, dsp=0.0, status=status))
    (tmp_path / "s.csv").write_text("\n".join(sens) + "\n")
    write_costs(rows, tmp_path / "c.csv")
    return tmp_path / "s.csv", tmp_path / "c.csv"


def test_solve_tables_end_to_end(tmp_path):
    s, c = _write_tables(tmp_path, drop=("fc0", 2, 4), failed=("fc1", 2, 4))
    sol = solve_tables(s, c, {"lut": "10%", "latency_cycles": 30}, board_totals={"lut": 20000})
    assert sol.status == "optimal" and sol.totals["lut"] <= 2000
    assert {str(d) for d in sol.dropped} == {"fc0 w2a4: no row in the cost table", "fc1 w2a4: cost status failed"}
    js = sol.to_json_dict()
    assert set(js) >= {"status", "objective", "assignment", "totals"}
    assert js["assignment"]["fc0"].keys() == {"w_bits", "a_bits", "fold"}
    assert sol.totals["latency_ns"] == pytest.approx(5.0 * sol.totals["latency_cycles"])
    text = format_solution(sol, {"lut": 20000})
    assert "fc1" in text and "% of board" in text
    mse = solve_tables(s, c, {"lut": 2000}, objective="mse")
    assert mse.objective_name == "mse" and mse.objective < 5     # joint rows only, not the 99s


def test_layer_meta_budgets(tmp_path):
    s, c = _write_tables(tmp_path)
    meta = {"fc0": {"params": 100, "macs": 1000}, "fc1": {"params": 50, "macs": 400}}
    sol = solve_tables(s, c, {"weight_bits": 700, "bops": 60000}, layer_meta=meta)
    (w0, a0), (w1, a1) = sol.assignment["fc0"], sol.assignment["fc1"]
    assert sol.totals["weight_bits"] == 100 * w0 + 50 * w1 <= 700
    assert sol.totals["bops"] == 1000 * w0 * a0 + 400 * w1 * a1 <= 60000
    with pytest.raises(InputError, match="no bops value"):
        solve_tables(s, c, {"bops": 1e9}, layer_meta={"fc0": {"macs": 1}})


def test_layer_without_candidates_raises(tmp_path):
    s, c = _write_tables(tmp_path)
    sens = read_sensitivity(s)
    from ohq_flow.hw.costs import read_costs
    costs = [r for r in read_costs(c) if r.layer != "fc1"]
    with pytest.raises(InputError, match="layer fc1 has no candidate left .*not in the cost table"):
        build_problem(sens, costs)
    with pytest.raises(InputError, match="layer fc9 has no candidate left"):
        build_problem(sens, read_costs(c), layer_order=["fc0", "fc1", "fc9"])


def test_sensitivity_reader_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("layer,w_bits,kl\nfc0,4,0.1\n")
    with pytest.raises(InputError, match=r"bad\.csv: missing column\(s\) a_bits"):
        read_sensitivity(bad)
    bad.write_text("layer,w_bits,a_bits,kl\nfc0,4,8,\n")
    with pytest.raises(InputError, match=r"bad\.csv:2: column 'kl' is empty"):
        read_sensitivity(bad)
    bad.write_text("layer,w_bits,a_bits,kl\nfc0,4,8,0.1\n")
    with pytest.raises(InputError, match="column 'mse' is missing or empty"):
        read_sensitivity(bad, "mse")
    bad.write_text("layer,w_bits,a_bits,kl\nfc0,4,8,0.1\nfc0,4,8,0.2\n")
    with pytest.raises(InputError, match="duplicate row"):
        read_sensitivity(bad)
    with pytest.raises(InputError, match="does not exist"):
        read_sensitivity(tmp_path / "nope.csv")


def test_sensitivity_roundtrip(tmp_path):
    from ohq_flow.solve import SensitivityRow, read_sensitivity_rows, write_sensitivity
    rows = [SensitivityRow("fc0", 4, 8, 0.125, mse=0.5, n_samples=64, seed=1, extra={"note": "x"}),
            SensitivityRow("fc1", 2, 8, 1 / 3)]
    write_sensitivity(rows, tmp_path / "s.csv")
    back = read_sensitivity_rows(tmp_path / "s.csv")
    assert back == rows[:1] + [SensitivityRow("fc1", 2, 8, 1 / 3, extra={"note": ""})]


# ----------------------------------------------------------------------------- solvers
@pytest.mark.skipif(importlib.util.find_spec("highspy") is None, reason="highspy not installed")
@pytest.mark.parametrize("seed", range(8))
def test_highs_agrees_with_brute_force(seed):
    p = random_problem(seed)
    p.solver = "highs"
    expected, sol = brute(p), solve(p)
    assert sol.solver == "highs"
    if expected is None:
        assert sol.status == "infeasible"
    else:
        assert sol.status == "optimal" and sol.objective == pytest.approx(expected, abs=1e-6)


def test_unknown_solver_raises():
    with pytest.raises(InputError, match="solver 'gurobi' unknown"):
        Problem(_two_layers().candidates, solver="gurobi")
