"""Geometry of a layer's tensors (facts of the model, used by hardware measurers and design terms)."""

from __future__ import annotations

import math


def n_pixels(layer) -> int:
    """Output pixels per inference of a Conv layer (1 for dense layers)."""
    if layer.op_type != "Conv":
        return 1 if len(layer.output_shape) <= 2 else math.prod(layer.output_shape[1:-1])
    return math.prod(layer.output_shape[2:])
