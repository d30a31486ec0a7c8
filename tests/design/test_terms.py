"""The design's cost terms (ohq_flow.design.terms): the ILP prices exactly the design the generator builds.

For a small MLP and a small CNN, every candidate's terms come from the planned stages; for several
assignments (unrolled kernels and PE x SIMD folds) the terms' total must equal the price list applied to the
generated design's own records, the terms' timing must equal the generator's prediction (which the
whole-network simulation matches: tests/design/test_network.py, test_fold.py), and the ILP's longest-path
bound must never exceed the exact latency.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ohq_flow.design import generate_design
from ohq_flow.design.price import stage_price, top_price
from ohq_flow.design.terms import design_terms, label
from ohq_flow.model.layers import discover_layers
from ohq_flow.model.quantizers import apply_bits


def _kernel_rows(model, layers, space, tmp):
    """(layer, w, a) -> a kernel row: lut/ff from da4ml's own cost, its real pipeline latency."""
    from ohq_flow.hw.extract import kernel_operand
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    rows = {}
    for layer in layers:
        for w, a in space[layer.name]:
            signed = bool(layer.input_quant.signed) if layer.input_quant is not None else True
            d = generate_cmvm_rtl(kernel_operand(model, layer, w), w_bits=w, a_bits=a, a_signed=signed, out_dir=tmp / f"{layer.name}_w{w}a{a}",
                                  top="k", latency_cutoff=5.0)
            rows[(layer.name, w, a)] = {"lut": float(d.da4ml_cost), "ff": float(d.reg_bits), "dsp": 0.0, "bram18": 0.0,
                                        "latency": int(d.latency_cycles)}
    return rows


def _priced(meta, rows, layers, choice, family):
    by_node = {l.node: l.name for l in layers}
    total = dict(top_price(family))
    for s in meta["stages"]:
        kernel = None
        if s["kind"] == "kernel":
            name = by_node[s["node"]]
            kernel = rows[(name, *choice[name][:2])]
        for m, v in stage_price(s, family, kernel=kernel).items():
            total[m] = total.get(m, 0.0) + v
    return total


@pytest.fixture(scope="module")
def mlp(root, tmp_path_factory):
    from qonnx.core.modelwrapper import ModelWrapper
    model = ModelWrapper(str(root / "tests" / "fixtures" / "models" / "digits_mlp_seed0.onnx"))
    layers = discover_layers(model)
    space = {l.name: [(2, 4), (4, 4), (4, 6)] for l in layers}
    return model, layers, space, _kernel_rows(model, layers, space, tmp_path_factory.mktemp("kernels"))


@pytest.mark.parametrize("family", ["ecp5", "xc7"])
def test_terms_equal_the_price_of_the_generated_design(mlp, tmp_path, family):
    model, layers, space, rows = mlp
    terms = design_terms(model, layers, space, rows, family=family, fold_mode={layers[0].name: "also"}, max_folds=3)
    folds0 = [lab.split("@")[1] for lab in terms.unary[layers[0].name] if "@" in lab]
    assert 1 <= len(set(folds0)) <= 3
    assert set(terms.unary[layers[1].name]) == {label(w, a) for w, a in space[layers[1].name]}
    # the pairwise term between the two layers: the requantiser in between depends on both
    assert [p["layers"] for p in terms.pairs] == [[layers[0].name, layers[1].name]]
    for i, (c0, c1) in enumerate(itertools.product(space[layers[0].name], space[layers[1].name])):
        fold = folds0[i % len(folds0)] if i % 2 else ""
        choice = {layers[0].name: (*c0, fold), layers[1].name: (*c1, "")}
        final, _ = apply_bits(model, layers, {n: v[:2] for n, v in choice.items()})
        design = generate_design(final, tmp_path / f"d{i}", folds={layers[0].node: fold})
        planned, built = terms.resources(choice), _priced(design.meta, rows, layers, choice, family)
        for m in ("lut", "ff", "dsp", "bram18"):
            # the plan sizes accumulators from their reachable range, the generator from da4ml's output width
            assert planned[m] == pytest.approx(built[m], rel=0.02, abs=1.0), (choice, m, planned, built)
        assert terms.timing_of(choice) == (design.meta["predicted_latency_cycles"], design.meta["predicted_ii_cycles"])


def test_stage_dependencies_and_bound(mlp):
    """A stage depends on the layers whose bits change its price; the longest-path bound the ILP uses never exceeds
    the exact cycle model and is exact on this pipeline."""
    from ohq_flow.solve.design_view import DesignView
    from ohq_flow.solve.problem import Candidate
    model, layers, space, rows = mlp
    terms = design_terms(model, layers, space, rows, family="ecp5", fold_mode={l.name: "also" for l in layers},
                         max_folds=4)
    deps = {s["kind"]: s["deps"] for s in terms.stages}
    # the requantiser between the layers: their bits, and the fold of the first (fused into a folded unit)
    assert deps["requant"] == {layers[0].name: "waf", layers[1].name: "a"}
    view = DesignView.of(terms)
    rng = np.random.default_rng(0)
    for _ in range(20):
        chosen = {}
        for l in layers:
            labs = list(terms.unary[l.name])
            lab = labs[rng.integers(len(labs))]
            bits, _, fold = lab.partition("@")
            w, a = (int(v) for v in bits[1:].split("a"))
            chosen[l.name] = Candidate(w, a, 0.0, {}, fold)
        assert _bound(view, chosen) <= view.timing(chosen)[0]


def _bound(view, chosen) -> float:
    """The longest-path bound of one assignment (what the ILP's latency variables give)."""
    t = view.terms.timing
    first, last = {0: 0.0}, {0: float(t["in_beats"] - 1)}
    for st in view.stage_bounds({l: [c] for l, c in chosen.items()}):
        b = st["const"] if "const" in st else st["by_cand"][chosen[st["layer"]].key]
        a = max(first[s] + b["first"] for s in st["src"])
        e = [last[s] + b["last"] for s in st["src"] if b["last"] is not None]
        e += [first[s] + b["last_from_first"] for s in st["src"] if b["last_from_first"] is not None]
        for d in st["dst"]:
            first[d], last[d] = a, max(e + [a + b["spread"]])
    return last[t["out_sid"]]


def test_the_bound_is_exact_on_the_demo_cnn(digits_model):
    """The digits CNN (windows with padding, max-pooling, a collect): bound = exact latency for every uniform
    assignment (the ILP's latency budgets then need no cuts)."""
    from ohq_flow.solve.design_view import DesignView
    from ohq_flow.solve.problem import Candidate
    model, _ = digits_model
    layers = discover_layers(model)
    space = {l.name: [(2, 4), (4, 8)] for l in layers}
    rows = {(l.name, w, a): {"lut": 1.0, "ff": 1.0, "dsp": 0.0, "bram18": 0.0, "latency": lat}
            for l in layers for (w, a), lat in zip(space[l.name], (2, 4))}
    terms = design_terms(model, layers, space, rows, family="ecp5")
    view = DesignView.of(terms)
    for w, a in space[layers[0].name]:
        chosen = {l.name: Candidate(w, a, 0.0, {}) for l in layers}
        assert _bound(view, chosen) == view.timing(chosen)[0]
