"""Per-layer extraction: the extracted layer computes exactly what the layer computes in the full model."""

from __future__ import annotations

import numpy as np
import pytest

from ohq_flow.hw.extract import extract_layer, layer_integer_matrix, layer_subgraph_hash
from ohq_flow.model.layers import discover_layers


def _full_context(model, seed=0):
    from qonnx.core.onnx_exec import execute_onnx
    iname = model.graph.input[0].name
    x = np.random.default_rng(seed).normal(0, 1, model.get_tensor_shape(iname)).astype(np.float32)
    return execute_onnx(model, {iname: x}, return_full_exec_context=True)


def _run(model, x):
    from qonnx.core.onnx_exec import execute_onnx
    return execute_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]


def _check_model(model, input_path=True):
    ctx = _full_context(model)
    layers = discover_layers(model)
    for layer in layers:
        ex = extract_layer(model, layer, input_path=input_path)
        iname, oname = ex.graph.input[0].name, ex.graph.output[0].name
        feed = ctx[iname] if input_path else ctx[model.get_node_from_name(layer.node).input[0]]
        y = _run(ex, feed)
        assert np.array_equal(y, ctx[oname]), f"{layer.name}: extracted output differs from the full model's {oname}"
    return layers, ctx


def test_digits_layers_match_full_model(digits_model):
    model, _ = digits_model
    layers, ctx = _check_model(model)
    assert len(layers) == 4
    ex = extract_layer(model, layers[0])
    ops = [n.op_type for n in ex.graph.node]
    assert ops.count("Quant") == 3 and "Relu" in ops  # input, weight, output quantizers
    _check_model(model, input_path=False)


@pytest.mark.parametrize("name", ["tfc", "cnv"])
def test_bnn_pynq_layers_match_full_model(exported, name):
    _check_model(exported(name))


def test_masked_bits_differ_and_use_the_module_rule(digits_model):
    from ohq_flow.model.quantizers import apply_bits
    model, _ = digits_model
    layers = discover_layers(model)
    ctx = _full_context(model, seed=1)
    for layer in layers:
        ex_ref = extract_layer(model, layer)
        ex_low = extract_layer(model, layer, 3, 4)
        feed = ctx[ex_ref.graph.input[0].name]
        y_ref, y_low = _run(ex_ref, feed), _run(ex_low, feed)
        assert not np.array_equal(y_ref, y_low), layer.name
        # same as extracting from a model masked by the shared rule
        masked, _ = apply_bits(model, layers, {layer.name: (3, 4)})
        y_masked = _run(extract_layer(masked, next(l for l in discover_layers(masked) if l.name == layer.name)), feed)
        assert np.array_equal(y_low, y_masked), layer.name
        wq = ex_low.get_initializer(ex_low.get_node_from_name(layer.weight_quant.node).input[3])
        assert float(wq) == 3.0


def test_integer_matrix_layout(digits_model):
    model, _ = digits_model
    for layer in discover_layers(model):
        for bits in (2, 5, 8):
            w_int, scale, meta = layer_integer_matrix(model, layer, bits)
            assert w_int.dtype == np.int64 and w_int.ndim == 2
            assert np.abs(w_int).max() <= 2 ** (bits - 1)
            assert (meta["inputs"], meta["outputs"]) == w_int.shape
            if layer.op_type == "Conv":
                c_out, cin_g, kh, kw = layer.weight_shape
                assert w_int.shape == (cin_g * kh * kw, c_out) and meta["pixels"] == np.prod(layer.output_shape[2:])
    # the matrix reproduces the dequantised weights of the extracted layer
    layer = discover_layers(model)[3]
    w_int, scale, _ = layer_integer_matrix(model, layer, 4)
    ex = extract_layer(model, layer, 4, None)
    from qonnx.core.onnx_exec import execute_onnx
    wq = ex.get_node_from_name(layer.weight_quant.node)
    ctx = execute_onnx(ex, {ex.graph.input[0].name: np.zeros(ex.get_tensor_shape(ex.graph.input[0].name), np.float32)},
                       return_full_exec_context=True)
    assert np.allclose(ctx[wq.output[0]], w_int * scale)


def test_subgraph_hash(digits_model, exported):
    model, _ = digits_model
    layers = discover_layers(model)
    hashes = [layer_subgraph_hash(model, l) for l in layers]
    assert len(set(hashes)) == 4 and all(len(h) == 64 for h in hashes)
    assert hashes == [layer_subgraph_hash(model, l) for l in layers]  # deterministic
    from ohq_flow.model.quantizers import apply_bits
    masked, _ = apply_bits(model, layers, {layers[2].name: (4, 8)})
    new = [layer_subgraph_hash(masked, l) for l in discover_layers(masked)]
    assert new[2] != hashes[2] and new[3] == hashes[3] and new[0] == hashes[0]
