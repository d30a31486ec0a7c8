"""MQE's fast path on QONNX as other converters write it, and its fallback to the QONNX executor (logged)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from ohq_flow.mqe.run import FastExecutor, QonnxExecutor, open_executor
from tests.fixtures.models.qonnx_mlp import QONNX_DOMAIN, mlp


def _shaped(model):
    from qonnx.transformation.infer_shapes import InferShapes
    return model.transform(InferShapes())


def _x(n=6, d=16):
    return np.random.default_rng(1).normal(0, 1, (n, 1, d)).astype(np.float32).reshape(n, d)


def test_integer_zero_points_run_on_the_fast_path(caplog):
    for dtype in (np.int64, np.int8):
        model = _shaped(mlp(tail=None, zp_dtype=dtype))
        x = _x()
        with caplog.at_level(logging.WARNING):
            ex, ref = open_executor("fast", model, 1, None, x)
        assert isinstance(ex, FastExecutor) and ex.fallback is None, caplog.text
        np.testing.assert_allclose(ref, QonnxExecutor(model).reference(x), rtol=1e-5, atol=1e-5)


def _multithreshold_model():
    """x -> MultiThreshold (a qonnx op the fast path does not lower) -> MatMul."""
    from qonnx.core.modelwrapper import ModelWrapper
    thr = np.sort(np.random.default_rng(0).normal(0, 1, (4, 3)), axis=1).astype(np.float32)
    w = np.random.default_rng(2).normal(0, 1, (4, 2)).astype(np.float32)
    nodes = [helper.make_node("MultiThreshold", ["x", "thr"], ["t"], name="MultiThreshold_0", domain=QONNX_DOMAIN,
                              out_dtype="UINT2"),
             helper.make_node("MatMul", ["t", "W"], ["y"], name="MatMul_0")]
    graph = helper.make_graph(nodes, "mt", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                              initializer=[numpy_helper.from_array(thr, "thr"), numpy_helper.from_array(w, "W")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)])
    proto.ir_version = 8
    return _shaped(ModelWrapper(proto))


def test_a_model_the_fast_path_cannot_run_falls_back_with_the_reason(caplog):
    model = _multithreshold_model()
    x = np.random.default_rng(3).normal(0, 1, (5, 4)).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="ohq_flow.mqe.run"):
        ex, ref = open_executor("fast", model, 1, None, x)
    assert isinstance(ex, QonnxExecutor) and "MultiThreshold_0" in ex.fallback
    assert "using the QONNX executor" in caplog.text and "MultiThreshold_0" in caplog.text
    np.testing.assert_array_equal(ref, QonnxExecutor(model).reference(x))
    assert ref.shape == (5, 2) and np.unique(ref).size > 1


def test_joint_damage_masks_every_layer_at_once():
    from ohq_flow.config import MQESection
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.model.quantizers import apply_bits
    from ohq_flow.mqe.run import joint_damage, kl_divergence
    model = _shaped(mlp(tail=None))
    layers = discover_layers(model, None)
    x = _x(16)
    mqe = MQESection(executor="fast")
    both = joint_damage(model, layers, {"MatMul_0": (2, 3), "MatMul_1": (2, 3)}, mqe, x)
    one = joint_damage(model, layers, {"MatMul_0": (2, 3)}, mqe, x)
    ref = QonnxExecutor(model)
    masked, _ = apply_bits(model, layers, {"MatMul_0": (2, 3), "MatMul_1": (2, 3)})
    want = kl_divergence(ref.reference(x), ref.masked(masked, [], x))
    assert both["kl"] == pytest.approx(want, rel=1e-4) and both["samples"] == 16 and both["executor"] == "fast"
    assert both["kl"] > one["kl"] > 0
    flips = np.mean(ref.reference(x).argmax(1) != ref.masked(masked, [], x).argmax(1))
    assert both["flips"] == pytest.approx(flips, abs=1 / 16) and 0 <= one["flips"] <= 1
