"""Pareto sweeps, uniform designs, pareto.csv and sweep specs."""

from __future__ import annotations

import csv
import random

import pytest

from ohq_flow.errors import InputError
from ohq_flow.solve import Candidate, Problem, Tie, parse_sweep, sweep, uniform_designs, write_pareto_csv
from ohq_flow.solve.pareto import CSV_COLUMNS, assignment_text


def _problem(seed: int = 0, **kw) -> Problem:
    rng = random.Random(seed)
    cands = {}
    for i in range(4):
        size = rng.randint(10, 100)
        cands[f"fc{i}"] = [Candidate(w, a, rng.uniform(0.5, 1.5) * size * (2.0 ** -w + 2.0 ** -a),
                                     {"lut": float(size * w * a), "dsp": float(w * a > 16), "ff": float(size * w),
                                      "latency_cycles": float(3 + w // 2), "ii_cycles": 1.0})
                           for w in (2, 4, 8) for a in (4, 8)]
    return Problem(cands, **kw)


@pytest.mark.parametrize("seed", range(5))
def test_sweep_objective_non_increasing(seed):
    p = _problem(seed, budgets={"latency_cycles": 30.0}, ties=[Tie(("fc0", "fc3"))])
    full = sum(max(c.cost["lut"] for c in cs) for cs in p.candidates.values())
    values = [full * f for f in (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)]
    points = sweep(p, "lut", values)
    assert [pt.budget for pt in points] == values
    assert points[0].status == "infeasible" and points[0].objective is None
    feasible = [pt for pt in points if pt.status == "optimal"]
    assert len(feasible) >= 5 and feasible[-1].budget == values[-1]
    objs = [pt.objective for pt in feasible]
    assert all(b <= a + 1e-9 for a, b in zip(objs, objs[1:]))
    for pt in feasible:
        assert pt.totals["lut"] <= pt.budget + 1e-6 and pt.totals["latency_cycles"] <= 30.0
        assert pt.assignment["fc0"][1] == pt.assignment["fc3"][1]
    assert p.budgets == {"latency_cycles": 30.0}                     # the problem itself unchanged


def test_uniform_designs_totals_equal_hand_sums():
    p = _problem(budgets={"lut": 3000.0}, latency_mode="dataflow")
    unis = uniform_designs(p)
    assert [u.label for u in unis] == ["W8A8", "W8A4", "W4A8", "W4A4", "W2A8", "W2A4"]
    for u in unis:
        w, a = int(u.label[1]), int(u.label[3])
        chosen = [next(c for c in cs if c.bits == (w, a)) for cs in p.candidates.values()]
        assert u.kind == "uniform" and set(u.assignment.values()) == {(w, a)}
        assert u.objective == pytest.approx(sum(c.damage for c in chosen))
        for m in ("lut", "dsp", "ff", "latency_cycles"):
            assert u.totals[m] == pytest.approx(sum(c.cost[m] for c in chosen))
        assert u.totals["ii_cycles"] == 1.0                          # dataflow: the largest layer II
        assert u.status == ("within_budgets" if u.totals["lut"] <= 3000 else "over_budget:lut")


def test_uniform_designs_only_common_candidates():
    p = _problem()
    p.candidates["fc2"] = [c for c in p.candidates["fc2"] if c.bits != (8, 8)]
    assert "W8A8" not in [u.label for u in uniform_designs(p)]


def test_write_pareto_csv(tmp_path):
    p = _problem(budgets={"lut": 5000.0})
    points = sweep(p, "lut", [100.0, 5000.0])
    path = write_pareto_csv(points, uniform_designs(p), tmp_path / "pareto.csv")
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:12] == ["kind", "label", "budget_metric", "budget", "status", "objective",
                                "lut", "ff", "dsp", "bram18", "uram", "latency_cycles"]
    assert [r["kind"] for r in rows] == ["sweep", "sweep"] + ["uniform"] * 6
    assert rows[0]["status"] == "infeasible" and rows[0]["objective"] == "" and rows[0]["assignment"] == ""
    assert rows[1]["status"] == "optimal" and float(rows[1]["lut"]) <= 5000
    assert rows[1]["bram18"] == ""                                   # unknown stays empty, never 0
    w8 = next(r for r in rows if r["label"] == "W8A8")
    assert w8["assignment"] == "fc0=w8a8;fc1=w8a8;fc2=w8a8;fc3=w8a8"
    assert assignment_text({"fc0": (4, 8), "fc1": (2, 8)}) == "fc0=w4a8;fc1=w2a8"


def test_parse_sweep():
    metric, values = parse_sweep("lut=30%:100%:8", 1000.0)
    assert metric == "lut" and values == pytest.approx([300 + 100 * i for i in range(8)])
    assert parse_sweep("lut=10%:20%:3", {"lut": 100.0})[1] == pytest.approx([10, 15, 20])
    assert parse_sweep("latency_cycles=100:400:4")[1] == pytest.approx([100, 200, 300, 400])
    assert parse_sweep("dsp=5:5:1") == ("dsp", [5.0])
    with pytest.raises(InputError, match="no board total"):
        parse_sweep("lut=30%:100%:8")
    with pytest.raises(InputError, match="must look like"):
        parse_sweep("lut=30%-100%")
    with pytest.raises(InputError, match="did you mean 'lut'"):
        parse_sweep("lutt=1:2:2")
    with pytest.raises(InputError, match="below START"):
        parse_sweep("lut=200:100:3")
    with pytest.raises(InputError, match="N must be >= 1"):
        parse_sweep("lut=100:200:0")
