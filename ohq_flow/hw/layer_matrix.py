"""A layer's hardware view: its integer kernel matrix [inputs, outputs] at a weight bit-width."""

from __future__ import annotations

import numpy as np
from onnx import helper

from ohq_flow.hw.rtl.cmvm import conv_kernel_matrix, kernel_blocks
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


def kernel_operand(model, layer, w_bits: int) -> np.ndarray:
    """The kernel as cost jobs take it: the matrix, or per-group blocks [groups, R, C] for a grouped conv.

    A depthwise convolution with G channels is G small kernels, not one G²-sized block-diagonal
    matrix (which, per candidate, is what made profiling ImageNet-size models run out of memory).
    """
    if layer.op_type == "Conv" and layer.groups > 1:
        w_int, _ = integer_weights(model, layer, w_bits)
        return kernel_blocks(w_int, layer.groups)
    return kernel_matrix(model, layer, w_bits)
