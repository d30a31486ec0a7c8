"""hls4ml generator: g++ C-simulation of one extracted digits layer is bit-exact with the QONNX executor."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("hls4ml", reason="the hls4ml generator needs hls4ml (pip install 'ohq_flow[hls4ml]')")
pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="hls4ml C-simulation needs g++")

from ohq_flow.hw.extract import extract_layer  # noqa: E402
from ohq_flow.hw.generators.hls4ml_gen import compile_and_predict, write_hls4ml_project  # noqa: E402
from ohq_flow.model.layers import discover_layers  # noqa: E402


def _grid_inputs(layer_model, n, seed):
    """Random inputs on the input quantizer's grid (integers × scale)."""
    from onnx import helper
    q = layer_model.graph.node[0]
    assert q.op_type == "Quant"
    scale = float(layer_model.get_initializer(q.input[1]))
    bits = int(layer_model.get_initializer(q.input[3]))
    attrs = {a.name: helper.get_attribute_value(a) for a in q.attribute}
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    lo = (-(2 ** (bits - 1)) + narrow) if signed else 0
    hi = (2 ** (bits - 1) - 1) if signed else 2 ** bits - 1 - narrow
    shape = layer_model.get_tensor_shape(layer_model.graph.input[0].name)
    ints = np.random.default_rng(seed).integers(lo, hi + 1, size=[n] + list(shape[1:]))
    return (ints * scale).astype(np.float32)


def _qonnx(layer_model, x):
    from qonnx.core.onnx_exec import execute_onnx
    i, o = layer_model.graph.input[0].name, layer_model.graph.output[0].name
    return np.concatenate([execute_onnx(layer_model, {i: x[k:k + 1]})[o] for k in range(len(x))])


CASES = [("MatMul_1", None, None, "io_parallel"), ("MatMul_1", 4, 5, "io_parallel"),
         ("MatMul_0", None, None, "io_parallel"), ("MatMul_0", 3, 6, "io_parallel"),
         ("Conv_1", None, None, "io_parallel"), ("Conv_1", 4, 4, "io_parallel"), ("Conv_0", 5, 6, "io_parallel"),
         ("Conv_1", 3, 5, "io_stream"), ("MatMul_0", 6, 4, "io_stream")]


@pytest.mark.parametrize("name,w,a,io_type", CASES)
def test_csim_bit_exact(digits_model, tmp_path, name, w, a, io_type):
    model, _ = digits_model
    layer = next(l for l in discover_layers(model) if l.name == name)
    ex = extract_layer(model, layer, w, a, input_path=False)
    project = write_hls4ml_project(ex, tmp_path / "prj", part="xc7z020clg400-1", clock_ns=10.0,
                                   io_type=io_type, reuse_factor=1)
    meta = json.loads((project / "ohq_project.json").read_text())
    assert meta["bit_exact"] and (project / "firmware" / "myproject.cpp").is_file()
    x = _grid_inputs(ex, 24, seed=hash((name, w, a)) % 1000)
    y_ref = _qonnx(ex, x)
    y_hls = compile_and_predict(project, x)
    assert y_hls.shape == y_ref.shape
    assert np.array_equal(y_hls, y_ref), f"max diff {np.abs(y_hls - y_ref).max()}"


def test_precisions_follow_quantizers(digits_model, tmp_path):
    model, _ = digits_model
    layer = next(l for l in discover_layers(model) if l.name == "MatMul_1")
    p8 = write_hls4ml_project(extract_layer(model, layer, input_path=False), tmp_path / "a",
                              part="xc7z020clg400-1", clock_ns=5.0)
    p3 = write_hls4ml_project(extract_layer(model, layer, 3, 4, input_path=False), tmp_path / "b",
                              part="xc7z020clg400-1", clock_ns=5.0)
    dense = lambda p: next(v for v in json.loads((p / "ohq_project.json").read_text())["precisions"].values()
                           if v["class"] == "Dense")
    assert dense(p8)["weight_t"].startswith("fixed<8,") and dense(p3)["weight_t"].startswith("fixed<3,")
    result = [v for k, v in dense(p3).items() if k not in ("class", "weight_t", "bias_t")]
    assert result and all("<32," not in r and "<33," not in r for r in result)  # exact width, not the default


def test_predict_in_a_fresh_process_reconverts(digits_model, tmp_path):
    """The project can be simulated without the ModelGraph of the writing process (none is kept)."""
    model, _ = digits_model
    layer = next(l for l in discover_layers(model) if l.name == "MatMul_1")
    ex = extract_layer(model, layer, input_path=False)
    p = write_hls4ml_project(ex, tmp_path / "prj", part="xc7z020clg400-1", clock_ns=10.0)
    x = _grid_inputs(ex, 4, seed=3)
    assert np.array_equal(compile_and_predict(p, x), _qonnx(ex, x))
