"""MQE at scale: reused parametric suffix sessions equal the per-candidate path; separable joint damage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ohq_flow.model.layers import discover_layers
from ohq_flow.model.quantizers import apply_bits
from ohq_flow.mqe.run import FastExecutor, kl_divergence, score_layer


def _x(model, n=4, seed=0, scale=0.6):
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return (np.random.default_rng(seed).standard_normal([n, *shape[1:]]) * scale).astype(np.float32)


@pytest.mark.parametrize("name", ["digits", "cnv"])
def test_parametric_suffix_equals_the_per_candidate_path(name, digits_model, exported):
    model = digits_model[0] if name == "digits" else exported(name)
    layers = discover_layers(model)
    x = _x(model)
    ex = FastExecutor(model, layers=layers)
    ref = ex.reference(x)
    checked = 0
    for layer in layers:
        if layer.weight_quant is None or layer.weight_quant.op_type != "Quant":
            continue
        maskable = layer if layer.input_quant is not None and layer.input_quant.op_type == "Quant" \
            else dataclasses.replace(layer, input_quant=None)
        for mode, wa in (("weight_only", (3, int(layer.a_bits or 8))), ("act_only", (int(layer.w_bits), 3)),
                         ("joint", (2, 5)), ("joint", (int(layer.w_bits), int(layer.a_bits or 8)))):
            run = ex.candidate_runner(maskable, mode)
            if run is None:
                assert mode != "weight_only", f"{layer.name}: weight-only masks are always parametrisable"
                continue
            masked, changed = apply_bits(model, [maskable], {layer.name: wa})
            expect = ex.masked(masked, changed, x)
            got = run(*wa)
            assert np.allclose(got, expect, atol=1e-5), (layer.name, mode, wa)
            checked += 1
        if checked and name == "cnv" and checked >= 8:
            break
    assert checked >= 4
    assert kl_divergence(ref, ex.candidate_runner(layers[-1], "weight_only")(2, 8)) > 0


def test_separable_joint_is_exact_at_the_corner_and_monotone(digits_model):
    model = digits_model[0]
    layers = discover_layers(model)
    x = _x(model, n=8)
    ex = FastExecutor(model, layers=layers)
    ref = ex.reference(x)
    layer = layers[1]
    cands = [(w, a) for w in (2, 4, 8) for a in (3, 5, 8)]
    full = {(r.w_bits, r.a_bits): r for r in score_layer(ex, model, layer, cands, x, ref, modes=["joint"], seed=0)}
    sep = {(r.w_bits, r.a_bits): r for r in score_layer(ex, model, layer, cands, x, ref, modes=["joint"], seed=0,
                                                        joint_eval="separable")}
    assert set(sep) == set(full) and all(r.mode == "joint" for r in sep.values())
    assert sep[(2, 3)].kl == pytest.approx(full[(2, 3)].kl)          # the measured interaction point
    for w, a in cands:                                                 # fewer bits: more damage, as measured
        if w < 8:
            assert sep[(w, a)].kl >= sep[(8, a)].kl - 1e-12
    top = max(full, key=lambda k: full[k].kl)
    assert max(sep, key=lambda k: sep[k].kl) == top


def test_samples_auto_stops_when_the_ranking_is_stable(digits_model):
    from pydantic import ValidationError
    from ohq_flow.config import MQESection, SearchSection
    from ohq_flow.mqe.run import synthetic_inputs
    from ohq_flow.mqe.samples import choose_samples
    from ohq_flow.search_space import search_space
    model = digits_model[0]
    layers = discover_layers(model)
    space = search_space(layers, SearchSection(weight_bits=[2, 8], act_bits=[4, 8]))
    mqe = MQESection(samples="auto", max_samples=16, std=[0.6])
    x = synthetic_inputs(mqe, [1, 1, 8, 8])
    assert len(x) == 16
    n, trace = choose_samples(model, layers, space, x, stability=mqe.stability)
    assert trace and [t["n"] for t in trace] == [4 * 2 ** i for i in range(len(trace))]
    stable = trace[-1]["spearman_vs_2n"] >= mqe.stability
    assert (n == trace[-1]["n"]) if stable else (n == 16)
    assert all(t["spearman_vs_2n"] < mqe.stability for t in trace[:-1])      # it stopped at the first stable n
    with pytest.raises(ValidationError):
        MQESection(samples="many")
