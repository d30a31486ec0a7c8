"""Refinement by joint evaluation: the ILP's K best distinct bit assignments (no-good cuts), the least damaged kept."""

from __future__ import annotations

import dataclasses

import pytest

from ohq_flow.solve import Candidate, Problem
from ohq_flow.solve.refine import refine, top_assignments
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
