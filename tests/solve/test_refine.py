"""Refinement by joint evaluation: the ILP's K best distinct bit assignments (no-good cuts), the least damaged kept."""

from __future__ import annotations

import dataclasses

import pytest

from ohq_flow.solve import Candidate, Problem
from ohq_flow.solve.refine import candidates, refine, top_assignments
from ohq_flow.solve.strategies import select
from tests.solve.test_ilp import allowed, enumerate_allowed, random_problem, value


def ilp(p: Problem):
    return select(p, p.budgets, strategy="ilp", diagnose=False)


def brute_ranked(problem: Problem) -> list[float]:
    """Summed damage of every feasible assignment, best first."""
    out = []
    for combo, _ in enumerate_allowed(problem):
        if all(value(problem, combo, m) <= v + 1e-9 for m, v in problem.budgets.items()):
            out.append(sum(c.damage for c in combo))
    return sorted(out)


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_top_assignments_are_the_k_best_distinct_ones(seed):
    p = dataclasses.replace(random_problem(seed), prune_dominated=False)
    first = ilp(p)
    ranked = brute_ranked(p)
    if not first.assignment:
        assert not ranked
        return
    sols = top_assignments(p, first, 5, ilp)
    keys = [tuple(sorted(s.assignment.items())) for s in sols]
    assert len(set(keys)) == len(keys)                                   # distinct bit assignments
    assert len(sols) == min(5, len(ranked))
    assert [s.objective for s in sols] == pytest.approx(ranked[:len(sols)], abs=1e-9)
    for s in sols:                                                       # every one within budgets, ties and pins
        asg = {l: p.candidate(l, wa) for l, wa in s.assignment.items()}
        assert allowed(p, asg)
        for m, v in p.budgets.items():
            assert value(p, list(asg.values()), m) <= v + 1e-9


def _folded() -> Problem:
    """Two layers, every bit pair in two folds (fast and big, slow and small)."""
    cands = {}
    for l, scale in (("A", 1.0), ("B", 2.0)):
        cands[l] = [Candidate(w, 8, scale / w, {"lut": 10.0 * w * k, "latency_cycles": 100.0 / k}, fold=f"pe{k}_simd1")
                    for w in (2, 4, 8) for k in (1, 2)]
    return Problem(cands, {"lut": 1e6}, prune_dominated=False)


def test_a_cut_removes_every_fold_of_the_bits():
    p = _folded()
    first = ilp(p)
    sols = top_assignments(p, first, 9, ilp)
    bits = [tuple(sorted(s.assignment.items())) for s in sols]
    assert len(sols) == 9 and len(set(bits)) == 9                        # 3 x 3 bit pairs, none twice in any fold


def test_refine_keeps_the_least_jointly_damaged():
    p = _folded()
    first = ilp(p)
    assert first.assignment == {"A": (8, 8), "B": (8, 8)}
    # the joint score says B at 4 bits interacts well: lower joint damage than the summed optimum
    score = lambda asg: sum(1.0 / w for w, _ in asg.values()) - (0.5 if asg["B"] == (4, 8) else 0.0)
    best, info = refine(p, first, 4, score, ilp)
    assert best.assignment["B"] == (4, 8)
    assert info["evaluated"] == 4 and info["candidates"][0]["rank"] == 0
    assert info["candidates"][info["kept"]]["joint"] == min(c["joint"] for c in info["candidates"])
    # with the summed damage as the score, the ILP's optimum is kept
    same, info = refine(p, first, 4, lambda asg: 1.0 / asg["A"][0] + 2.0 / asg["B"][0], ilp)
    assert same.assignment == first.assignment and info["kept"] == 0


def _three() -> Problem:
    """Three layers, bits 2/4/8 (one fold each), LUT 10 per weight bit; damage 1/w, layer C twice as sensitive."""
    cands = {l: [Candidate(w, 8, s / w, {"lut": 10.0 * w}) for w in (2, 4, 8)]
             for l, s in (("A", 1.0), ("B", 1.0), ("C", 2.0))}
    return Problem(cands, {"lut": 160.0}, prune_dominated=False)


def test_uniform_and_neighbour_pools_are_the_designs_within_budget():
    p = _three()
    first = ilp(p)
    assert first.assignment == {"A": (4, 8), "B": (4, 8), "C": (8, 8)}      # 40 + 40 + 80 LUT
    pools = candidates(p, first, 1, ilp, ("top", "uniform", "neighbours"))
    got = {tuple(s.assignment[l][0] for l in "ABC"): pool for pool, s in pools}
    assert pools[0][1] is first
    # uniform: w4 everywhere (120 LUT) and w2 (60) fit; w8 (240) does not
    assert got[(4, 4, 4)] == "uniform" and got[(2, 2, 2)] == "uniform" and (8, 8, 8) not in got
    # neighbours: one layer changed, within 160 LUT ((4, 4, 4) is there once, as the uniform design it also is)
    assert {k for k, v in got.items() if v == "neighbours"} == {(2, 4, 8), (4, 2, 8), (4, 4, 2)}
    assert len(got) == len(pools)                                         # distinct
    # the user's pins hold in every pool
    pinned = p.with_budgets(p.budgets, pins={"C": (8, 8)})
    for _, s in candidates(pinned, ilp(pinned), 1, ilp, ("uniform", "neighbours")):
        assert s.assignment["C"] == (8, 8)
    with pytest.raises(ValueError, match="unknown refine pool"):
        candidates(p, first, 1, ilp, ("top", "random"))


def test_refine_can_keep_a_uniform_design():
    p = _three()
    first = ilp(p)
    # joint damage: layers interact, mixed bits cost extra (what the sum cannot see)
    score = lambda asg: sum(2.0 / w for w, _ in asg.values()) + (1.0 if len({w for w, _ in asg.values()}) > 1 else 0.0)
    best, info = refine(p, first, 1, score, ilp, pools=("top", "uniform"))
    assert best.assignment == {l: (4, 8) for l in "ABC"}
    assert info["candidates"][info["kept"]]["pool"] == "uniform"
    assert info["pools"] == ["top", "uniform"]
    top_only, info = refine(p, first, 1, score, ilp)                      # the ILP's optimum alone: kept
    assert top_only.assignment == first.assignment and info["evaluated"] == 1


def test_solve_run_refines_over_the_pools_and_records_them(tmp_path):
    import json

    from ohq_flow.hw.costs import CostRow, write_costs
    from ohq_flow.solve.sensitivity_table import SensitivityRow, write_sensitivity
    from ohq_flow.solve.step import solve_run
    p = _three()
    write_sensitivity([SensitivityRow(l, c.w_bits, c.a_bits, kl=c.damage) for l, cs in p.candidates.items() for c in cs],
                      tmp_path / "s.csv")
    write_costs([CostRow(l, c.w_bits, c.a_bits, lut=c.cost["lut"]) for l, cs in p.candidates.items() for c in cs],
                tmp_path / "c.csv")
    uniform_wins = lambda asg: sum(2.0 / w for w, _ in asg.values()) + (1.0 if len({w for w, _ in asg.values()}) > 1 else 0.0)
    kw = dict(budgets={"lut": 160.0}, board=None)
    sol = solve_run(tmp_path / "s.csv", tmp_path / "c.csv", tmp_path, refine=(1, uniform_wins, ("top", "uniform")), **kw)
    assert sol.assignment == {l: (4, 8) for l in "ABC"}
    ref = json.loads((tmp_path / "solution.json").read_text())["strategy_info"]["refine"]
    assert ref["pools"] == ["top", "uniform"] and ref["candidates"][ref["kept"]]["pool"] == "uniform"
    # refine (k = 1, the top pool alone) leaves the ILP's optimum as it is
    sol = solve_run(tmp_path / "s.csv", tmp_path / "c.csv", tmp_path, refine=(1, uniform_wins), **kw)
    assert sol.assignment == {"A": (4, 8), "B": (4, 8), "C": (8, 8)}


def test_config_refine_pools(digits_cfg):
    from ohq_flow.config import FlowConfig
    data = digits_cfg.model_dump(mode="json")
    assert data["solver"]["refine_pools"] == ["top"]                   # default: the ILP's best only
    data["solver"]["refine_pools"] = ["top", "uniform", "neighbours"]
    assert FlowConfig.model_validate(data).solver.refine_pools == ["top", "uniform", "neighbours"]
    data["solver"]["refine_pools"] = ["top", "random"]
    with pytest.raises(ValueError, match="refine_pools"):
        FlowConfig.model_validate(data)
