"""The evaluation baselines (bench/eval/methods.py) on small problems with a known answer."""

from __future__ import annotations

import random

import pytest

from bench.eval import methods as M
from ohq_flow.solve.ilp import solve, totals_of
from ohq_flow.solve.problem import Candidate, Problem, Tie


def problem(n_layers=3, seed=0, budget_frac=0.5) -> Problem:
    rng = random.Random(seed)
    cands = {}
    for i in range(n_layers):
        scale = rng.uniform(50, 500)
        cands[f"l{i}"] = [Candidate(w, a, damage=rng.uniform(0.5, 2.0) * 2.0 ** (-w) * 2.0 ** (-a / 2) * scale,
                                    cost={"lut": scale * w * a / 8, "latency_cycles": 10 + w})
                          for w in (2, 4, 8) for a in (4, 8)]
    full = sum(max(c.cost["lut"] for c in cs) for cs in cands.values())
    return Problem(cands, {"lut": budget_frac * full})


def exact_best(p: Problem, score):
    feasible = [a for a in M.enumerate_all(p) if M.fits(p, a)]
    return max(feasible, key=score)


def test_enumerate_all_visits_every_assignment_once():
    p = problem(3)
    all_ = list(M.enumerate_all(p))
    assert len(all_) == M.space_size(p) == 6 ** 3
    assert len({tuple(sorted(a.items())) for a in all_}) == len(all_)


def test_enumerate_respects_ties():
    p = problem(3)
    p.ties = [Tie(("l0", "l1"))]
    all_ = list(M.enumerate_all(p))
    assert all(a["l0"][1] == a["l1"][1] for a in all_)
    assert len(all_) == 6 ** 3 // 2


@pytest.mark.parametrize("seed", range(5))
def test_greedy_meets_budget_and_is_no_better_than_the_ilp(seed):
    p = problem(4, seed, budget_frac=0.4)
    asg = M.greedy(p)
    assert asg and M.fits(p, asg)
    damage = lambda a: sum(p.candidate(l, wa).damage for l, wa in a.items())  # noqa: E731
    ilp = solve(p)
    assert damage(asg) >= ilp.objective - 1e-9
    # nothing left to lower needlessly: greedy stops as soon as the budget is met, from the top
    assert totals_of(p, asg)["lut"] <= p.budgets["lut"] + 1e-6


def test_greedy_returns_empty_when_nothing_fits():
    p = problem(3)
    p.budgets = {"lut": 1.0}
    assert M.greedy(p) == {}


def test_uniform_picks_the_best_scoring_uniform_design_within_budget():
    p = problem(3, budget_frac=0.3)
    score = lambda a: -sum(p.candidate(l, wa).damage for l, wa in a.items())  # noqa: E731
    asg = M.uniform(p, score)
    assert len(set(asg.values())) == 1 and M.fits(p, asg)
    for w, a in {c.bits for c in p.candidates["l0"]}:
        other = {l: (w, a) for l in p.candidates}
        if M.fits(p, other):
            assert score(other) <= score(asg)


@pytest.mark.parametrize("seed", range(3))
def test_evolutionary_stays_within_budget_and_evaluation_count(seed):
    p = problem(4, seed, budget_frac=0.45)
    calls = []

    def value(a):
        return -sum(p.candidate(l, wa).damage for l, wa in a.items())

    def score(a):
        calls.append(dict(a))
        return value(a)

    asg, used = M.evolutionary(p, score, evaluations=60, seed=seed)
    assert used == len(calls) <= 60
    assert len({tuple(sorted(c.items())) for c in calls}) == len(calls)  # never scores one design twice
    assert all(M.fits(p, c) for c in calls) and M.fits(p, asg)
    assert value(asg) == max(value(c) for c in calls)


def test_evolutionary_finds_the_optimum_of_a_small_space_with_enough_evaluations():
    p = problem(3, 1, budget_frac=0.5)
    score = lambda a: -sum(p.candidate(l, wa).damage for l, wa in a.items())  # noqa: E731
    asg, _ = M.evolutionary(p, score, evaluations=M.space_size(p), seed=0)
    assert score(asg) == pytest.approx(score(exact_best(p, score)))


def test_greedy_starts_from_the_least_damaging_of_equally_costly_candidates():
    # every candidate costs the same: nothing needs lowering, and greedy must not start from a low-bit one
    cands = {f"l{i}": [Candidate(w, 8, damage=2.0 ** -w, cost={"latency_cycles": 10.0}) for w in (2, 4, 8)]
             for i in range(3)}
    p = Problem(cands, {"latency_cycles": 30.0})
    assert M.greedy(p) == {f"l{i}": (8, 8) for i in range(3)}
