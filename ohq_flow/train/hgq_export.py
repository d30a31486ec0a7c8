"""HGQ's learned bit-widths into QONNX, so the da4ml RTL and the complete design are built from them.

QONNX's ``Quant`` has one bit-width per node, so the per-channel (or per-weight) widths travel in
the values: every weight ``Quant`` gets a per-output-channel power-of-two scale ``2**-f`` (the
finest step HGQ learned in that channel) and integer weights that are exactly HGQ's quantized
weights; its bit-width is the widest channel's. A narrowed channel then has small integers and a
pruned weight (0 bits) is 0: the da4ml constant multipliers, whose cost depends on the constant
values, shrink by themselves. Activations: the design needs one input scale per kernel, so a
layer's input ``Quant`` gets a per-tensor fixed-point step ``2**-F`` (``F`` = the finest of the
channels HGQ kept) and the widest channel's integer bits; input channels HGQ pruned (0 bits) get
their weight column set to 0 instead. The returned record says which widths were kept per layer.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from ohq_flow.errors import ModelError


def _bits_for(ints: np.ndarray, signed: bool, narrow: bool) -> int:
    """Fewest bits (>= 2) whose range holds every integer of ``ints``."""
    hi, lo = float(np.max(ints, initial=0)), float(np.min(ints, initial=0))
    for b in range(2, 33):
        top = 2 ** (b - 1) - 1 if signed else 2 ** b - 1
        low = (-top if narrow else -(top + 1)) if signed else 0
        if hi <= top and lo >= low:
            return b
    raise ModelError(f"HGQ export: integers in [{lo:.0f}, {hi:.0f}] need more than 32 bits")


def _set(model, node, index: int, value: np.ndarray) -> None:
    """A private initializer for input ``index`` of ``node`` (never shared with another node)."""
    name = f"{node.name}_hgq_in{index}"
    model.set_initializer(name, np.asarray(value, dtype=np.float32))
    node.input[index] = name


def _node(model, name: str):
    for n in model.graph.node:
        if n.name == name:
            return n
    raise ModelError(f"HGQ export: node {name} not in the QONNX graph")


def _signed(node) -> bool:
    for a in node.attribute:
        if a.name == "signed":
            return bool(a.i)
    return True


def match_layers(hgq, layers) -> list[tuple[str, object, object]]:
    """(HGQ module name, module, QONNX layer) pairs, matched in order and checked by weight shape."""
    mods = list(hgq.layers.items())
    if len(mods) != len(layers):
        raise ModelError(f"HGQ export: {len(mods)} Conv/Linear modules but {len(layers)} QONNX layers",
                         "export the QONNX model from the same Brevitas model HGQ trained")
    out = []
    for (name, mod), layer in zip(mods, layers):
        w = hgq._weight(mod)
        if w.numel() != int(np.prod(layer.weight_shape)):
            raise ModelError(f"HGQ export: module {name} {tuple(w.shape)} does not match layer {layer.name} "
                             f"{layer.weight_shape}")
        out.append((name, mod, layer))
    return out


def hgq_qonnx(model, layers, hgq) -> tuple[object, dict]:
    """A copy of the QONNX ``model`` carrying HGQ's weights and bit-widths; and a per-layer record."""
    m = copy.deepcopy(model)
    record = {}
    with torch.no_grad():
        for name, mod, layer in match_layers(hgq, layers):
            key = name.replace(".", "__")
            wq_mod, aq = hgq.wq[key], hgq.aq[key]
            w = hgq._weight(mod)
            wq = mod.weight.detach().double().numpy()                # HGQ's quantized weights (parametrized)
            f = torch.round(wq_mod.f).expand_as(w).reshape(w.shape[0], -1).double().numpy()
            wbits = wq_mod.bits(w).reshape(w.shape[0], -1).numpy()
            # input channels HGQ pruned: their weights see only zeros -> 0
            abits = aq.bits().numpy()
            kept = abits > 0
            if not kept.any():
                raise ModelError(f"HGQ export: every input channel of {layer.name} has 0 bits",
                                 "lower the regularisation strength (hgq.beta)")
            wq = wq.copy()
            per_in = wq.reshape(w.shape[0], w.shape[1], -1)
            if getattr(mod, "groups", 1) != 1 or per_in.shape[1] != kept.size:
                raise ModelError(f"HGQ export: layer {layer.name}: grouped convolutions are not supported")
            per_in[:, ~kept, :] = 0.0
            wq = per_in.reshape(w.shape)
            flat = wq.reshape(w.shape[0], -1)
            live = wbits > 0
            fmax = np.where(live.any(1), np.where(live, f, -np.inf).max(1), 0.0)      # finest step per channel
            ints = flat * np.power(2.0, fmax)[:, None]
            if not np.allclose(ints, np.round(ints), atol=1e-6):
                raise ModelError(f"HGQ export: weights of {layer.name} are not on HGQ's fixed-point grid")
            ints = np.round(ints)
            wnode = _node(m, layer.weight_quant.node)
            for a in wnode.attribute:        # HGQ's range is the full two's-complement one: [-2**i, 2**i - step]
                if a.name == "narrow":
                    a.i = 0
            bits = _bits_for(ints, _signed(wnode), False)
            scale = np.power(2.0, -fmax)
            if isinstance(mod, torch.nn.Linear) and layer.op_type == "MatMul":   # ONNX MatMul weight: [in, out]
                _set(m, wnode, 0, (ints * scale[:, None]).reshape(w.shape).T)
                _set(m, wnode, 1, scale.reshape(1, -1))
            else:
                _set(m, wnode, 0, (ints * scale[:, None]).reshape(w.shape))
                _set(m, wnode, 1, scale.reshape((-1,) + (1,) * (w.dim() - 1)))
            _set(m, wnode, 3, np.float32(bits))
            # the layer's input: one fixed-point step for the channels HGQ kept
            anode = _node(m, layer.input_quant.node)
            fa = torch.round(aq.f).expand(aq.amax.shape).numpy()
            ia = aq._int_bits().expand(aq.amax.shape).numpy()
            F, I = float(fa[kept].max()), float(ia[kept].max())
            a_signed = _signed(anode)
            a_bits = int(max(2, I + F + (1 if a_signed else 0)))
            _set(m, anode, 1, np.float32(2.0 ** -F))
            _set(m, anode, 3, np.float32(a_bits))
            record[layer.name] = {
                "w_bits": bits, "w_bits_per_channel": [int(b) for b in wbits.max(1)],
                "w_bits_mean": float(wbits.mean()), "zero_weights": int((ints == 0).sum()),
                "weights": int(ints.size), "a_bits": a_bits, "a_bits_per_channel_learned": [float(b) for b in abits],
                "pruned_inputs": int((~kept).sum())}
    return m, record
