"""MQE: the fast path equals the QONNX executor; masking; KL; resume; synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ohq_flow.errors import ModelError

from ohq_flow.config import MQESection, SearchSection
from ohq_flow.errors import InputError
from ohq_flow.model.layers import discover_layers
from ohq_flow.model.quantizers import apply_bits
from ohq_flow.mqe.run import (FastExecutor, QonnxExecutor, compute_sensitivity, kl_divergence, load_npz_inputs,
                              synthetic_inputs, write_outputs)
from ohq_flow.search_space import search_space


def _x(shape, n=4, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal([n, *shape[1:]]) * scale).astype(np.float32)


def _shape(model):
    return [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]


@pytest.mark.parametrize("name", ["digits", "tfc", "cnv", "mobilenet_v1_4b"])
def test_fast_path_equals_qonnx_executor(name, digits_model, exported):
    model = digits_model[0] if name == "digits" else exported(name)
    layers = discover_layers(model)
    x = _x(_shape(model), n=1 if name == "mobilenet_v1_4b" else 3)  # MobileNet: Trunc v2, depthwise, 224x224
    fast, ref = FastExecutor(model), QonnxExecutor(model)
    ref_logits = ref.reference(x)
    assert np.allclose(fast.reference(x), ref_logits, atol=1e-4)
    # mask a middle layer to a lower precision: the suffix-only fast run equals the full QONNX run
    layer = layers[len(layers) // 2]
    w = max(2, int(layer.w_bits or 2)) + 1 if layer.weight_quant.op_type == "Quant" else None
    if w is None:
        pytest.skip("bipolar weights are not re-quantized")
    masked, changed = apply_bits(model, [layer], {layer.name: (w, int(layer.a_bits))})
    assert changed
    out_fast, out_ref = fast.masked(masked, changed, x), ref.masked(masked, changed, x)
    assert np.allclose(out_fast, out_ref, atol=1e-4)
    if name != "mobilenet_v1_4b":  # untrained MobileNet: its 4-bit head quantizer can absorb a 1-bit change
        assert np.abs(out_ref - ref_logits).max() > 0  # the mask did change the output


@pytest.mark.parametrize("name", ["digits", "cnv"])
def test_lean_reference_cache_gives_the_same_masks_with_less_memory(name, digits_model, exported):
    model = digits_model[0] if name == "digits" else exported(name)
    layers = discover_layers(model)
    x = _x(_shape(model), n=4, scale=0.6)
    full, lean = FastExecutor(model), FastExecutor(model, layers=layers)
    assert np.allclose(full.reference(x), lean.reference(x), atol=1e-4)   # onnxruntime fuses differently
    assert lean.cached_bytes() < 0.6 * full.cached_bytes()
    for layer in layers:
        if layer.weight_quant is None or layer.weight_quant.op_type != "Quant":
            continue
        a = int(layer.a_bits) if layer.a_bits else None
        for wa in ((5, a), (int(layer.w_bits), 5), (3, 3)):     # weights only, input only, both
            if wa[1] is None:
                continue
            masked, changed = apply_bits(model, [layer], {layer.name: wa})
            assert np.allclose(full.masked(masked, changed, x), lean.masked(masked, changed, x), atol=1e-4)
    other = FastExecutor(model, layers=layers[:1])            # masks of layers it was not built for: a clear error
    other.reference(x)
    last = [l for l in layers if l.weight_quant is not None and l.weight_quant.op_type == "Quant"][-1]
    masked, changed = apply_bits(model, [last], {last.name: (3 if int(last.w_bits) == 2 else 2, int(last.a_bits or 8))})
    assert changed and last is not layers[0]
    with pytest.raises(ModelError, match="did not keep"):
        other.masked(masked, changed, x)


def test_kl_is_zero_for_the_reference_candidate(digits_model):
    model, _ = digits_model
    layers = discover_layers(model)
    x = _x(_shape(model), n=8, scale=0.6)
    ex = FastExecutor(model)
    ref = ex.reference(x)
    for layer in layers:
        masked, changed = apply_bits(model, [layer], {layer.name: (int(layer.w_bits), int(layer.a_bits))})
        assert changed == []
        assert kl_divergence(ref, ex.masked(masked, changed, x)) <= 1e-9
    assert kl_divergence(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(ref, ref * 0.5) > 0


def test_sensitivity_run_resumes_and_flags(digits_model, tmp_path):
    model, _ = digits_model
    layers = discover_layers(model)
    mqe = MQESection(samples=16, std=[0.6])
    space = search_space(layers, SearchSection(weight_bits=[2, 4, 8], act_bits=[8]))
    x = synthetic_inputs(mqe, _shape(model))
    calls = []

    class Counting(FastExecutor):
        def masked(self, masked_model, changed, xx):
            calls.append(changed)
            return super().masked(masked_model, changed, xx)

        def candidate_runner(self, layer, mode):       # the reused-session path (mqe/param.py)
            run = super().candidate_runner(layer, mode)

            def counted(w, a):
                calls.append((layer.name, w, a))
                return run(w, a)
            return counted if run is not None else None

    rows = compute_sensitivity(model, layers, space, mqe, x, tmp_path, progress=False, executor=Counting(model))
    assert len(rows) == 4 * 3 and len(calls) == 12
    assert all(r.kl == pytest.approx(0, abs=1e-9) for r in rows if r.w_bits == 8)
    for layer in layers:  # fewer bits, more damage (2 bits is far worse than 8 on every layer)
        by_w = {r.w_bits: r.kl for r in rows if r.layer == layer.name}
        assert by_w[2] > by_w[8]
    # a second run with one layer's part removed recomputes only that layer
    next((tmp_path / "sensitivity_parts").glob("Conv_1.*.csv")).unlink()
    calls.clear()
    rows2 = compute_sensitivity(model, layers, space, mqe, x, tmp_path, progress=False, executor=Counting(model))
    assert len(calls) == 3 and [r.kl for r in rows2] == pytest.approx([r.kl for r in rows])
    paths = write_outputs(rows2, tmp_path)
    header = paths["csv"].read_text().splitlines()[0]
    assert header.startswith("layer,w_bits,a_bits,kl,mse,n_samples,seed")
    assert paths["png"].stat().st_size > 1000


def test_synthetic_inputs_seeded_and_shaped(tmp_path):
    a = synthetic_inputs(MQESection(samples=5, seed=3, mean=[0.0, 1.0, 2.0], std=[1.0, 1.0, 0.1]), [1, 3, 4, 4])
    b = synthetic_inputs(MQESection(samples=5, seed=3, mean=[0.0, 1.0, 2.0], std=[1.0, 1.0, 0.1]), [1, 3, 4, 4])
    assert a.shape == (5, 3, 4, 4) and np.array_equal(a, b)
    assert abs(a[:, 2].mean() - 2.0) < 0.1 and a[:, 2].std() < 0.2
    u = synthetic_inputs(MQESection(samples=50, inputs="uniform"), [1, 4], input_quant=(-1.0, 1.0))
    assert u.min() >= -1 and u.max() <= 1
    with pytest.raises(InputError, match="channels"):
        synthetic_inputs(MQESection(samples=2, mean=[0.0, 1.0]), [1, 3, 4, 4])
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 1, 8, 8), np.float32))
    assert load_npz_inputs(tmp_path / "c.npz", "x", [1, 1, 8, 8]).shape == (3, 1, 8, 8)
    with pytest.raises(InputError, match="no array 'images'"):
        load_npz_inputs(tmp_path / "c.npz", "images", [1, 1, 8, 8])
    with pytest.raises(InputError, match="sample shape"):
        load_npz_inputs(tmp_path / "c.npz", "x", [1, 3, 8, 8])


def test_distilled_inputs_match_batchnorm_statistics():
    from ohq_flow.model.export import build_brevitas_model
    from ohq_flow.mqe.distill import distill
    import torch
    torch.manual_seed(0)
    module = build_brevitas_model("brevitas_examples.bnn_pynq.models:tfc_2w2a", {"pretrained": False})
    for m in module.modules():  # give the BatchNorms non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x, before, after = distill(module, [1, 1, 28, 28], samples=8, steps=30, seed=0)
    assert x.shape == (8, 1, 28, 28) and after < before * 0.7
