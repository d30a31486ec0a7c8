"""Changing a quantizer's bit-width in a QONNX graph — the one rule used everywhere.

MQE masking, per-layer extraction and the final write-back all call :func:`set_quant_bits`, so
a layer at (w, a) bits is the same model in sensitivity, hardware and the final design. The
rule follows what Brevitas does when its quantizer's bit-width changes, so a Brevitas model
with the new bit-widths re-exports to the same graph:

* **weights** (the Quant input is a constant): the scale is recomputed from the weights' absolute
  maximum at the quantizer's granularity (per tensor, or per output channel):
  power-of-two scales (fixed-point quantizers): ``2**ceil(log2(absmax)) / 2**(b - signed)``;
  float scales: ``absmax / qmax(b)``.
* **activations** (runtime input): the clipping range is kept: power-of-two scales:
  ``scale * 2**(b_old - b_new)``; float scales: ``scale * qmax(b_old) / qmax(b_new)``.

The bit-width and scale of the changed node become private initializers, so a tensor shared
with another quantizer is never modified.
"""

from __future__ import annotations

import numpy as np

from ohq_flow.errors import ModelError
from ohq_flow.model.onnx_nodes import attr as _attr


def qmax(bits: float, signed: bool, narrow: bool) -> float:
    """Largest integer of a Quant node's grid."""
    return 2.0 ** (bits - 1) - 1 if signed else 2.0 ** bits - 1 - (1 if narrow else 0)


def is_power_of_two(scale: np.ndarray) -> bool:
    s = np.asarray(scale, dtype=np.float64)
    if np.any(s <= 0):
        return False
    e = np.log2(s)
    return bool(np.all(np.abs(e - np.round(e)) < 1e-9))


def weight_scale(w: np.ndarray, scale_shape: tuple, bits: int, signed: bool, narrow: bool, pow2: bool) -> np.ndarray:
    """Scale of weights ``w`` at ``bits`` with the granularity given by ``scale_shape``."""
    w = np.asarray(w, dtype=np.float64)
    if int(np.prod(scale_shape)) == 1:
        absmax = np.abs(w).max().reshape(scale_shape)
    else:
        axes = tuple(i for i, d in enumerate(scale_shape) if d == 1 and i < w.ndim)
        absmax = np.abs(w).max(axis=axes, keepdims=True).reshape(scale_shape)
    absmax = np.maximum(absmax, 1e-12)
    if pow2:
        return (2.0 ** np.ceil(np.log2(absmax)) / 2.0 ** (bits - (1 if signed else 0))).astype(np.float32)
    return (absmax / qmax(bits, signed, narrow)).astype(np.float32)


def activation_scale(old_scale: np.ndarray, old_bits: float, bits: int, signed: bool, narrow: bool) -> np.ndarray:
    """Range-preserving scale of an activation quantizer moved from ``old_bits`` to ``bits``."""
    old_scale = np.asarray(old_scale, dtype=np.float64)
    if is_power_of_two(old_scale):
        return (old_scale * 2.0 ** (old_bits - bits)).astype(np.float32)
    return (old_scale * qmax(old_bits, signed, narrow) / qmax(bits, signed, narrow)).astype(np.float32)


def _private_initializer(model, node, index: int, value: np.ndarray) -> None:
    name = f"{node.name}_ohq_in{index}"
    model.set_initializer(name, np.asarray(value, dtype=np.float32))
    node.input[index] = name


def _node(model, name: str):
    node = model.get_node_from_name(name)
    if node is None:
        raise ModelError(f"quantizer node '{name}' is not in the graph", "re-run the layers step on this model")
    return node


def set_quant_bits(model, node_name: str, bits: int) -> None:
    """Set the bit-width of Quant node ``node_name`` in place, rescaling by the module rule."""
    node = _node(model, node_name)
    new_scale = quant_scale_at(model, node_name, bits)
    _private_initializer(model, node, 1, new_scale)
    _private_initializer(model, node, 3, np.asarray(float(bits), dtype=np.float32))


def quant_scale_at(model, node_name: str, bits: int) -> np.ndarray:
    """The scale Quant node ``node_name`` gets at ``bits`` (the module rule; shape of its scale)."""
    node = _node(model, node_name)
    if node.op_type != "Quant":
        raise ModelError(f"node '{node_name}' is a {node.op_type}; only Quant nodes take a bit-width",
                         "BipolarQuant (1-bit) and Trunc quantizers keep their precision; pin those layers")
    old_bits = model.get_initializer(node.input[3])
    scale = model.get_initializer(node.input[1])
    if old_bits is None or scale is None:
        raise ModelError(f"Quant node '{node_name}' has a non-constant scale or bit-width", "export with static quantizers")
    old_bits = float(np.asarray(old_bits).item())
    signed, narrow = bool(_attr(node, "signed", 1)), bool(_attr(node, "narrow", 0))
    weights = model.get_initializer(node.input[0])
    if weights is not None:
        new_scale = weight_scale(weights, np.shape(scale), bits, signed, narrow, is_power_of_two(scale))
    else:
        new_scale = activation_scale(scale, old_bits, bits, signed, narrow)
    return np.asarray(new_scale).reshape(np.shape(scale))


def apply_bits(model, layers, assignment: dict[str, tuple[int, int]]):
    """A copy of ``model`` with each layer's weight/input quantizers set to ``assignment[layer]``.

    Returns (new model, list of changed Quant node names). Quantizers already at the requested
    bits are left untouched; a layer without an input quantizer keeps its float input. A
    quantizer's siblings (other nodes of one Brevitas quantizer) change with it, as they do when
    the Brevitas model itself is given the new bit-width.
    """
    import copy

    from qonnx.core.modelwrapper import ModelWrapper

    out = ModelWrapper(copy.deepcopy(model.model))
    changed = []
    by_name = {l.name: l for l in layers}
    for name, (w_bits, a_bits) in assignment.items():
        layer = by_name.get(name)
        if layer is None:
            raise ModelError(f"assignment names layer '{name}', which the model does not have")
        for q, bits in ((layer.weight_quant, w_bits), (layer.input_quant, a_bits)):
            if q is None or (q.bits is not None and int(q.bits) == int(bits)):
                continue
            for node in q.nodes:  # a Brevitas quantizer used in several places: every exported node
                if node in changed:
                    continue  # a shared input quantizer (tied layers) is set once
                set_quant_bits(out, node, int(bits))
                changed.append(node)
    return out, changed


def held_integer_weights(model, layer) -> tuple[np.ndarray, np.ndarray]:
    """(integer weights, scale) as the layer's weight Quant node holds them (its own scale, not
    re-derived for a bit-width): for models whose weights were put on their grid by another method (HGQ)."""
    q = layer.weight_quant
    if q is None or q.op_type != "Quant":
        raise ModelError(f"layer {layer.name}: weights have no Quant node ({q.op_type if q else 'float'})")
    node = _node(model, q.node)
    w = np.asarray(model.get_initializer(node.input[0]), dtype=np.float64)
    scale = np.asarray(model.get_initializer(node.input[1]), dtype=np.float64)
    ints = w / scale
    if not np.allclose(ints, np.round(ints), atol=1e-6):
        raise ModelError(f"layer {layer.name}: the weights of {q.node} are not integers times its scale")
    return np.round(ints), scale


def integer_weights(model, layer, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(integer weights at ``bits`` in the graph's layout, their scale) by the module rule.

    Same computation as the QONNX Quant node after :func:`set_quant_bits`: clamp then round
    (half to even) of ``w / scale``. At the node's own bit-width the node's own scale is kept, as
    :func:`apply_bits` keeps it (a QONNX file's scale need not follow the module rule).
    """
    q = layer.weight_quant
    if q is not None and q.op_type == "BipolarQuant" and int(bits) == 1:   # +-1 (FINN's w1): at its own bits
        node = _node(model, q.node)
        w = np.asarray(model.get_initializer(node.input[0]), dtype=np.float64)
        scale = np.asarray(model.get_initializer(node.input[1]), dtype=np.float64)
        return np.where(w >= 0, 1.0, -1.0), scale
    if q is None or q.op_type != "Quant":
        raise ModelError(f"layer {layer.name}: weights have no Quant node ({q.op_type if q else 'float'})",
                         "only Quant-quantized weights can be re-quantized; pin this layer")
    node = _node(model, q.node)
    w = np.asarray(model.get_initializer(node.input[0]), dtype=np.float64)
    scale = model.get_initializer(node.input[1])
    signed, narrow = bool(_attr(node, "signed", 1)), bool(_attr(node, "narrow", 0))
    held_bits = model.get_initializer(node.input[3])
    if held_bits is not None and float(np.asarray(held_bits).item()) == float(bits):
        new_scale = np.asarray(scale, dtype=np.float64)
    else:
        new_scale = weight_scale(w, np.shape(scale), bits, signed, narrow, is_power_of_two(scale)).astype(np.float64)
    lo = -(2.0 ** (bits - 1)) + (1 if narrow else 0) if signed else 0.0
    w_int = np.round(np.clip(w / new_scale.reshape(np.shape(scale)), lo, qmax(bits, signed, narrow)))
    return w_int, new_scale
