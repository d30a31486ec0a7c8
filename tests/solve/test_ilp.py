"""The ILP against brute-force enumeration on random instances; diagnosis; ties; pins; sweeps."""

from __future__ import annotations

import itertools
import random

import pytest

from ohq_flow.errors import InputError
from ohq_flow.hw.costs import CostRow, write_costs
from ohq_flow.solve.ilp import Candidate, Problem, diagnose, parse_sweep, resolve_budget, solve, sweep, uniform_designs
from ohq_flow.solve.tables import build_problem, read_sensitivity, write_pareto_csv

METRICS = ("lut", "latency_cycles", "dsp")


def _random_problem(rng: random.Random, n_layers: int, n_cands: int, n_budgets: int, ties=False, pins=False) -> Problem:
    cands = {}
    for l in range(n_layers):
        pairs = rng.sample([(w, a) for w in range(2, 9) for a in (4, 6, 8)], n_cands)
        cands[f"L{l}"] = [Candidate(w, a, rng.random() / (w * a), {m: float(rng.randint(1, 100)) for m in METRICS})
                          for w, a in pairs]
    metrics = rng.sample(METRICS, n_budgets)
    budgets = {m: float(rng.randint(n_layers * 10, n_layers * 90)) for m in metrics}
    tie = [["L0", "L1"]] if ties and n_layers > 1 else []
    pin = {}
    if pins:
        c = cands["L0"][0]
        pin = {"L0": (c.w_bits, c.a_bits)}
    return Problem(cands, budgets, ties=tie, pins=pin)


def _brute(problem: Problem):
    best = None
    layers = list(problem.candidates)
    for combo in itertools.product(*(problem.candidates[l] for l in layers)):
        if any(sum(c.cost[m] for c in combo) > v + 1e-9 for m, v in problem.budgets.items()):
            continue
        asg = dict(zip(layers, combo))
        if any((asg[l].w_bits, asg[l].a_bits) != wa for l, wa in problem.pins.items()):
            continue
        if any(len({asg[l].a_bits for l in g}) > 1 for g in problem.ties):
            continue
        obj = sum(c.damage for c in combo)
        best = obj if best is None or obj < best else best
    return best


@pytest.mark.parametrize("seed", range(36))
def test_ilp_equals_brute_force(seed):
    rng = random.Random(seed)
    p = _random_problem(rng, rng.randint(2, 4), rng.randint(2, 6), rng.randint(1, 3), ties=seed % 3 == 0, pins=seed % 4 == 0)
    expected = _brute(p)
    sol = solve(p)
    if expected is None:
        assert sol.status == "infeasible" and sol.diagnosis is not None
    else:
        assert sol.status == "optimal"
        assert sol.objective == pytest.approx(expected, abs=1e-6)
        for g in p.ties:
            assert len({sol.assignment[l][1] for l in g}) == 1
        for l, wa in p.pins.items():
            assert sol.assignment[l] == wa
        for m, v in p.budgets.items():
            assert sol.totals[m] <= v + 1e-6


def _two_layer():
    return {"A": [Candidate(2, 8, 1.0, {"lut": 100.0, "latency_cycles": 10.0}), Candidate(8, 8, 0.1, {"lut": 500.0, "latency_cycles": 2.0})],
            "B": [Candidate(2, 8, 2.0, {"lut": 200.0, "latency_cycles": 20.0}), Candidate(8, 8, 0.2, {"lut": 900.0, "latency_cycles": 3.0})]}


def test_diagnosis_names_impossible_budget_and_minimum():
    p = Problem(_two_layer(), {"lut": 250.0})
    sol = solve(p)
    assert sol.status == "infeasible"
    d = sol.diagnosis
    assert d.impossible == ["lut"] and d.minimum["lut"] == 300.0
    assert d.cheapest["lut"] == {"A": (2, 8), "B": (2, 8)}
    assert "lut budget 250 vs minimum achievable 300" in d.format()


def test_diagnosis_finds_conflicting_pair():
    p = Problem(_two_layer(), {"lut": 600.0, "latency_cycles": 10.0})
    d = diagnose(p)
    assert d.impossible == [] and d.conflicts == [("lut", "latency_cycles")]
    assert "conflict" in d.format()


def test_missing_cost_in_budgeted_metric_raises():
    c = _two_layer()
    c["A"][0].cost["lut"] = None
    with pytest.raises(InputError, match="never taken as 0"):
        Problem(c, {"lut": 1000.0})


def test_percent_budget_and_sweep_monotone():
    assert resolve_budget("lut", "25%", 1000) == 250
    with pytest.raises(InputError):
        resolve_budget("latency_cycles", "10%", None)
    metric, values = parse_sweep("lut=30%:140%:5", 1000)
    assert metric == "lut" and values[0] == 300 and values[-1] == 1400
    points = sweep(Problem(_two_layer()), metric, values)
    objs = [p.objective for p in points if p.objective is not None]
    assert objs == sorted(objs, reverse=True) and points[0].status == "optimal"
    uni = {u.label: u for u in uniform_designs(Problem(_two_layer()))}
    assert uni["W8A8"].totals["lut"] == 1400 and uni["W2A8"].objective == 3.0


def test_dataflow_ii_is_per_layer():
    c = {"A": [Candidate(2, 8, 1.0, {"ii_cycles": 4.0}), Candidate(8, 8, 0.1, {"ii_cycles": 9.0})],
         "B": [Candidate(2, 8, 1.0, {"ii_cycles": 4.0}), Candidate(8, 8, 0.1, {"ii_cycles": 6.0})]}
    sol = solve(Problem(c, {"ii_cycles": 8.0}, latency_mode="dataflow"))
    assert sol.assignment == {"A": (2, 8), "B": (8, 8)} and sol.totals["ii_cycles"] == 6.0


def test_tables_roundtrip_and_errors(tmp_path):
    (tmp_path / "s.csv").write_text("layer,w_bits,a_bits,kl\nA,2,8,1.0\nA,8,8,0.1\nB,2,8,2\nB,8,8,0.2\n")
    write_costs([CostRow("A", 2, 8, lut=100), CostRow("A", 8, 8, lut=500), CostRow("B", 2, 8, lut=200),
                 CostRow("B", 8, 8, lut=900), CostRow("B", 4, 8, status="failed")], tmp_path / "c.csv")
    from ohq_flow.hw.costs import read_costs
    p = build_problem(read_sensitivity(tmp_path / "s.csv"), read_costs(tmp_path / "c.csv"), budgets={"lut": 700.0},
                      layer_meta={"A": {"params": 10, "macs": 10}, "B": {"params": 20, "macs": 20}})
    sol = solve(p)
    assert sol.assignment == {"A": (8, 8), "B": (2, 8)}
    assert sol.totals["weight_bits"] == 10 * 8 + 20 * 2 and sol.totals["bops"] == 10 * 64 + 20 * 16
    write_pareto_csv(sweep(p, "lut", [300.0, 1400.0]) + uniform_designs(p), tmp_path / "pareto.csv")
    assert "A=w8a8;B=w8a8" in (tmp_path / "pareto.csv").read_text()
    (tmp_path / "bad.csv").write_text("layer,w,a_bits,kl\n")
    with pytest.raises(InputError, match="w_bits"):
        read_sensitivity(tmp_path / "bad.csv")
    (tmp_path / "s2.csv").write_text("layer,w_bits,a_bits,kl\nC,2,8,1.0\n")
    with pytest.raises(InputError, match="layer C has no candidate"):
        build_problem(read_sensitivity(tmp_path / "s2.csv"), read_costs(tmp_path / "c.csv"), budgets={})
