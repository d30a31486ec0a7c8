"""Geometry of a layer's tensors (facts of the model, used by hardware measurers and design terms)."""

from __future__ import annotations

import math


def n_pixels(layer) -> int:
    """Output pixels per inference of a Conv layer (1 for dense layers)."""
    if layer.op_type != "Conv":
        return 1 if len(layer.output_shape) <= 2 else math.prod(layer.output_shape[1:-1])
    return math.prod(layer.output_shape[2:])


def mvau_dims(layer) -> tuple[int, int, int]:
    """(MH, MW, input vectors) of a layer as a matrix-vector unit: a conv's MH = C_out, MW = C_in/g·k_h·k_w,
    vectors = output pixels; a dense layer's MH = outputs, MW = inputs (Gemm with transB read as such)."""
    if layer.op_type == "Conv":
        c_out, cin_g = layer.weight_shape[0], layer.weight_shape[1]
        k = math.prod(layer.kernel_shape) if layer.kernel_shape else 1
        return c_out, cin_g * k, n_pixels(layer)
    mw, mh = layer.weight_shape[0], layer.weight_shape[1]
    if layer.op_type == "Gemm" and len(layer.input_shape) == 2 and layer.input_shape[1] != mw:
        mh, mw = mw, mh  # transB
    return mh, mw, n_pixels(layer)
