"""A layer's hardware view: its integer kernel matrix [inputs, outputs] at a weight bit-width."""

from __future__ import annotations

import hashlib

import numpy as np
from onnx import helper

from ohq_flow.hw.rtl.cmvm import conv_kernel_matrix
from ohq_flow.model.quantizers import integer_weights


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def kernel_matrix(model, layer, w_bits: int) -> np.ndarray:
    """Integer matrix y = x @ M of one output pixel (dense: the layer; conv: one kernel, block-diagonal)."""
    w_int, _ = integer_weights(model, layer, w_bits)
    node = model.get_node_from_name(layer.node)
    if layer.op_type == "Conv":
        return conv_kernel_matrix(w_int, layer.groups)
    if layer.op_type == "Gemm" and _attrs(node).get("transB", 0):
        return w_int.T
    return w_int


def layer_hash(model, layer) -> str:
    """Content hash of the layer: op, attributes, weights and quantizer parameters (for the cost cache)."""
    h = hashlib.sha256()
    node = model.get_node_from_name(layer.node)
    h.update(repr((layer.op_type, sorted((k, repr(v)) for k, v in _attrs(node).items()), layer.input_shape,
                   layer.output_shape)).encode())
    for q in (layer.weight_quant, layer.input_quant):
        if q is None:
            h.update(b"none")
            continue
        qnode = model.get_node_from_name(q.node)
        h.update(repr((q.op_type, q.signed, q.narrow, sorted((k, repr(v)) for k, v in _attrs(qnode).items()))).encode())
        for name in qnode.input:
            value = model.get_initializer(name)
            if value is not None:
                h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()
