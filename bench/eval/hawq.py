"""HAWQ-V3-style sensitivity: Hessian trace x quantization perturbation, per layer and candidate.

    omega(layer, w, a) = Tr(H_W)/n_W * ||W_w - W_ref||^2  +  F_x/n_x * E||X_a - X_ref||^2

``Tr(H_W)``: Hutchinson's estimator (Rademacher probes, exact Hessian-vector products by double
back-propagation through the Brevitas model, mean cross-entropy on a training batch), as in
HAWQ-V2/V3. ``W_w``: the layer's weights re-quantized to w bits by the same rule the flow uses.
Activations: HAWQ-V3 allocates weights; for the activation bits of our (w, a) candidates we add the
analogous term with the empirical-Fisher trace ``F_x`` (mean squared per-sample gradient) of the
layer's input activation in place of its Hessian trace, and the real re-quantization error of the
recorded activations. The result is a sensitivity table solved by the same ILP as MQE's.
"""

from __future__ import annotations

import numpy as np
import torch

from ohq_flow.model.quantizers import activation_scale, integer_weights, qmax

COMPUTE_TYPES = ("QuantLinear", "QuantConv1d", "QuantConv2d")


def _value(t):
    return t.value if hasattr(t, "value") else t


def compute_modules(module, x: torch.Tensor) -> list[torch.nn.Module]:
    """The Brevitas compute modules in the order the forward pass calls them (= QONNX node order)."""
    order, hooks = [], []
    for m in module.modules():
        if type(m).__name__ in COMPUTE_TYPES:
            hooks.append(m.register_forward_pre_hook(lambda mod, inp: order.append(mod)))
    with torch.no_grad():
        module(x[:1])
    for h in hooks:
        h.remove()
    return order


def traces(module, x: np.ndarray, y: np.ndarray, probes: int = 32, seed: int = 0) -> tuple[list, np.ndarray, list]:
    """(modules, Tr(H_W)/n_W per module, per-module (F_x/n_x, recorded input activations))."""
    torch.manual_seed(seed)
    module.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    mods = compute_modules(module, xt)
    params = [m.weight for m in mods]
    loss = torch.nn.functional.cross_entropy(_value(module(xt)), torch.as_tensor(y))
    grads = torch.autograd.grad(loss, params, create_graph=True)
    tr = np.zeros(len(params))
    for _ in range(probes):
        vs = [torch.randint_like(p, 2) * 2 - 1 for p in params]
        hv = torch.autograd.grad(sum((g * v).sum() for g, v in zip(grads, vs)), params, retain_graph=True)
        tr += np.array([float((h * v).sum()) for h, v in zip(hv, vs)])
    tr /= probes
    per_weight = tr / np.array([p.numel() for p in params])

    acts = {}

    def keep(mod, inp):
        t = _value(inp[0])
        t.retain_grad()
        acts[mod] = t

    hooks = [m.register_forward_pre_hook(keep) for m in mods]
    xg = xt.clone().requires_grad_(True)
    loss_sum = torch.nn.functional.cross_entropy(_value(module(xg)), torch.as_tensor(y), reduction="sum")
    loss_sum.backward()
    for h in hooks:
        h.remove()
    act_terms = []
    for m in mods:
        t = acts[m]
        g = t.grad.reshape(len(x), -1)
        act_terms.append((float((g ** 2).sum(1).mean()) / g.shape[1], t.detach().numpy().reshape(len(x), -1)))
    module.zero_grad(set_to_none=True)
    return mods, per_weight, act_terms


def _weight_error(model, layer, bits: int) -> float:
    ref_int, ref_scale = integer_weights(model, layer, int(layer.w_bits))
    w_int, scale = integer_weights(model, layer, bits)
    return float(((w_int * scale - ref_int * ref_scale) ** 2).sum())   # scales broadcast (per tensor or channel)


def _act_error(model, layer, bits: int, xs: np.ndarray) -> float:
    q = layer.input_quant
    if q is None or q.op_type != "Quant" or q.bits is None:
        return 0.0
    node = next(n for n in model.graph.node if n.name == q.node)
    attrs = {a.name: a.i for a in node.attribute}
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    s_ref = np.asarray(model.get_initializer(node.input[1]), dtype=np.float64)
    if s_ref.size != 1:
        raise ValueError(f"HAWQ baseline: layer {layer.name} has a per-channel activation scale (not supported)")
    s = float(activation_scale(s_ref, float(q.bits), bits, signed, narrow))
    lo = -(2.0 ** (bits - 1)) + (1 if narrow else 0) if signed else 0.0
    xq = np.clip(np.round(xs / s), lo, qmax(bits, signed, narrow)) * s
    return float(((xq - xs) ** 2).sum(1).mean())


def hawq_sensitivity(module, qonnx_model, layers, space: dict, x: np.ndarray, y: np.ndarray, probes: int = 32,
                     seed: int = 0) -> dict[tuple[str, int, int], float]:
    """{(layer, w, a): omega} for every candidate of ``space`` (layers matched to modules by order)."""
    mods, per_weight, act_terms = traces(module, x, y, probes, seed)
    if len(mods) != len(layers):
        raise ValueError(f"HAWQ baseline: {len(mods)} Brevitas compute modules but {len(layers)} QONNX layers")
    out = {}
    for layer, m, hw, (fx, xs) in zip(layers, mods, per_weight, act_terms):
        if m.weight.numel() != int(np.prod(layer.weight_shape)):
            raise ValueError(f"HAWQ baseline: module {type(m).__name__} does not match layer {layer.name}")
        for w, a in space[layer.name]:
            out[(layer.name, w, a)] = float(hw * _weight_error(qonnx_model, layer, w) + fx * _act_error(qonnx_model, layer, a, xs))
    return out
