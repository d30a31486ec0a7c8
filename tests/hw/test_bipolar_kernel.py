"""FINN-style w1a1 layers (BipolarQuant weights and inputs, e.g. TFC-w1a1 from the QONNX model zoo): their
per-layer kernels are generated at their own bits, +-1 carried as 2-bit signed, and compute x @ W exactly."""

from __future__ import annotations

import shutil

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
from ohq_flow.model.layers import discover_layers
from ohq_flow.model.quantizers import integer_weights

DOMAIN = "qonnx.custom_op.general"


def _w1a1_model(w):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model
    inits = [numpy_helper.from_array(w.astype(np.float32), "W"), numpy_helper.from_array(np.float32(1.0), "one")]
    nodes = [helper.make_node("BipolarQuant", ["x", "one"], ["xq"], name="BipolarQuant_in", domain=DOMAIN),
             helper.make_node("BipolarQuant", ["W", "one"], ["Wq"], name="BipolarQuant_w", domain=DOMAIN),
             helper.make_node("MatMul", ["xq", "Wq"], ["y"], name="MatMul_0")]
    g = helper.make_graph(nodes, "w1a1", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[0]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w.shape[1]])], initializer=inits)
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(DOMAIN, 1)])
    proto.ir_version = 8
    return cleanup_model(ModelWrapper(proto))


def test_bipolar_layer_kernel_at_its_own_bits(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(12, 5))
    model = _w1a1_model(w)
    (layer,) = discover_layers(model)
    w_int, scale = integer_weights(model, layer, 1)
    assert np.array_equal(w_int, np.where(w >= 0, 1.0, -1.0)) and float(scale) == 1.0
    design = generate_cmvm_rtl(w_int, w_bits=1, a_bits=1, a_signed=True, out_dir=tmp_path / "rtl")
    x = np.where(rng.random((16, 12)) < 0.5, -1, 1)
    assert np.array_equal(design.predict(x), x @ w_int)
    if shutil.which("iverilog"):
        from ohq_flow.hw.rtl.sim import simulate
        assert np.array_equal(simulate(design, x, tmp_path / "sim"), x @ w_int)
