"""The ILP over the complete design's terms (pairwise terms, the pipeline's latency and II) against brute force.

Every assignment of a small MLP (two layers, unrolled and folded candidates) is enumerated and priced with the
exact model (``totals_of``: the design's resources, the exact cycle model); the ILP's answer must be the best
of those that meet the budgets — for the damage under LUT/latency/II budgets and for the latency itself.
"""

from __future__ import annotations

import itertools
import math

import pytest

from ohq_flow.design.terms import design_terms
from ohq_flow.solve.ilp import solve
from ohq_flow.solve.milp import totals_of, within_budgets
from ohq_flow.solve.problem import build_problem
from ohq_flow.tables.costs import CostRow
from tests.design.test_terms import _kernel_rows


@pytest.fixture(scope="module")
def problem_parts(root, tmp_path_factory):
    from qonnx.core.modelwrapper import ModelWrapper
    from ohq_flow.model.layers import discover_layers
    model = ModelWrapper(str(root / "tests" / "fixtures" / "models" / "digits_mlp_seed0.onnx"))
    layers = discover_layers(model)
    space = {l.name: [(2, 4), (4, 4), (4, 6), (6, 6)] for l in layers}
    rows = _kernel_rows(model, layers, space, tmp_path_factory.mktemp("k"))
    terms = design_terms(model, layers, space, rows, family="ecp5", fold_mode={l.name: "also" for l in layers},
                         max_folds=3)
    sens = {(l.name, w, a): 1.0 / (w * a) * (3 if i == 0 else 1) for i, l in enumerate(layers) for w, a in space[l.name]}
    costs = []
    for layer, labs in terms.unary.items():
        for lab in labs:
            bits, _, fold = lab.partition("@")
            w, a = (int(v) for v in bits[1:].split("a"))
            costs.append(CostRow(layer, w, a, fold=fold, lut=1.0, ff=1.0, dsp=0.0, bram18=0.0, latency_cycles=1.0,
                                 ii_cycles=1.0))
    return layers, terms, sens, costs


def _problem(parts, budgets, **kw):
    layers, terms, sens, costs = parts
    return build_problem(sens, costs, budgets=budgets, layer_order=[l.name for l in layers], design=terms,
                         clock_mhz=25.0, **kw)


def _brute(problem, objective="damage"):
    best, best_v = None, math.inf
    names = list(problem.candidates)
    for combo in itertools.product(*(problem.candidates[n] for n in names)):
        asg = {n: c.key for n, c in zip(names, combo)}
        tot = totals_of(problem, asg)
        if within_budgets(problem, tot):
            continue
        if tot[objective] < best_v - 1e-9:
            best, best_v = asg, tot[objective]
    return best, best_v


def test_candidates_are_priced_in_the_design(problem_parts):
    p = _problem(problem_parts, {})
    c = p.candidates[problem_parts[0][0].name][0]
    # the candidate's own cost is its design terms (kernel or folded unit + its glue), not the cost row's 1.0
    assert c.cost["lut"] > 10 and c.cost["latency_cycles"] is None
    tot = totals_of(p, {n: cs[0].key for n, cs in p.candidates.items()})
    assert tot["latency_cycles"] > 0 and tot["ii_cycles"] >= 1 and tot["lut"] > sum(cs[0].cost["lut"] for cs in p.candidates.values())


@pytest.mark.parametrize("budgets", [
    {"lut": 0.55},                      # fractions of the largest design's totals, resolved below
    {"lut": 0.8, "latency_cycles": 0.5},
    {"ii_cycles": 0.3, "lut": 0.9},
])
def test_ilp_equals_brute_force(problem_parts, budgets):
    free = _problem(problem_parts, {})
    names = list(free.candidates)
    every = [totals_of(free, {n: c.key for n, c in zip(names, combo)})
             for combo in itertools.product(*(free.candidates[n] for n in names))]
    absolute = {m: min(t[m] for t in every) + f * (max(t[m] for t in every) - min(t[m] for t in every))
                for m, f in budgets.items()}
    p = _problem(problem_parts, absolute)
    want, want_v = _brute(p)
    sol = solve(p)
    assert want is not None and sol.status == "optimal"
    assert sol.totals["damage"] == pytest.approx(want_v)
    assert not within_budgets(p, sol.totals)


def test_minimum_latency_is_exact(problem_parts):
    p = _problem(problem_parts, {}, minimize="latency_cycles")
    want, want_v = _brute(p, "latency_cycles")
    sol = solve(p)
    assert sol.status == "optimal" and sol.totals["latency_cycles"] == want_v


def test_excluded_assignments_are_never_chosen(problem_parts):
    p = _problem(problem_parts, {})
    first = solve(p)
    p.exclude = [first.choices()]
    second = solve(p)
    assert second.choices() != first.choices() and second.totals["damage"] >= first.totals["damage"]


def test_infeasible_ii_budget_is_diagnosed_with_the_pipelines_minimum(problem_parts):
    """An II budget below every design's II: the diagnosis finds the minimum II of the pipeline (candidates priced
    in the design carry no per-candidate II; the pipeline's expression is the II)."""
    free = _problem(problem_parts, {})
    names = list(free.candidates)
    least = min(totals_of(free, {n: c.key for n, c in zip(names, combo)})["ii_cycles"]
                for combo in itertools.product(*(free.candidates[n] for n in names)))
    sol = solve(_problem(problem_parts, {"ii_cycles": least - 0.5}))
    assert sol.status == "infeasible"
    assert sol.diagnosis.minimum["ii_cycles"] == pytest.approx(least)
    assert "ii_cycles" in sol.diagnosis.impossible
