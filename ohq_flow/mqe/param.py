"""MQE at scale: one onnxruntime session per (layer, mode), the candidate's bit-width fed as inputs.

The fast executor's generic path, per candidate, copies the model, moves the layer's
quantizers (:func:`~ohq_flow.model.quantizers.apply_bits`), lowers it to ONNX, cuts the suffix
and builds a new session — seconds per candidate on an ImageNet-size model, more than the
suffix run itself. A candidate only changes the masked Quant nodes' *scale* and their clip
bounds, so here the suffix of a (layer, mode) is cut once from the lowered reference model,
those constants of the masked nodes become graph inputs, and each candidate is one session
run with the scale (computed by the same rule as :func:`~ohq_flow.model.quantizers.set_quant_bits`)
and bounds fed in. The same nodes change as with ``apply_bits`` (siblings included; a quantizer
already at the requested bits keeps its scale), so the result equals the generic path
(tested). 1-bit signed (bipolar) candidates fall back to the generic path.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from ohq_flow.model.quantizers import qmax


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def mode_quantizers(layer, mode: str) -> list:
    """The (layer quantizer, 'w'|'a') pairs a mode can change, in apply_bits' order."""
    out = []
    if mode in ("joint", "weight_only") and layer.weight_quant is not None:
        out.append((layer.weight_quant, "w"))
    if mode in ("joint", "act_only") and layer.input_quant is not None:
        out.append((layer.input_quant, "a"))
    return out


class ParamSuffix:
    """The suffix of one (layer, mode) with its masked Quant nodes' scale/bounds as inputs."""

    def __init__(self, qmodel, lowered, layer, mode: str, threads: int | None = None):
        from ohq_flow.mqe.lowering import OrtRunner, suffix_model
        self.layer, self.mode = layer, mode
        self.qmodel = qmodel
        self.nodes: list[tuple[str, object, str]] = []          # (Quant node, layer quantizer, side)
        seen = set()
        for q, side in mode_quantizers(layer, mode):
            for n in q.nodes:
                if n not in seen:
                    seen.add(n)
                    self.nodes.append((n, q, side))
        self.qnodes = {n: qmodel.get_node_from_name(n) for n, _, _ in self.nodes}
        if not self.nodes or any(q.op_type != "Quant" for q in self.qnodes.values()):
            raise ValueError("not parametrisable")
        sub, self.cut = suffix_model(lowered, set(self.qnodes))
        self._parametrise(sub)
        self.runner = OrtRunner(sub, threads)

    def _parametrise(self, sub) -> None:
        """Rewire each masked node's lowered Div/Mul scale and Clip bounds to new graph inputs."""
        graph = sub.graph
        new_inputs = []
        for name, node in self.qnodes.items():
            scale = node.input[1]
            mine = [n for n in graph.node if n.name.startswith(name + "_")]
            clips = [n for n in mine if n.op_type == "Clip"]
            if len(clips) != 1:
                raise ValueError("not parametrisable")          # e.g. a 1-bit bipolar lowering
            for n in mine:
                if n.op_type in ("Div", "Mul") and len(n.input) > 1 and n.input[1] == scale:
                    n.input[1] = f"{name}::scale"
            clips[0].input[1], clips[0].input[2] = f"{name}::lo", f"{name}::hi"
            new_inputs += [f"{name}::scale", f"{name}::lo", f"{name}::hi"]
        used = {i for n in graph.node for i in n.input}
        keep = [t for t in graph.initializer if t.name in used]
        del graph.initializer[:]
        graph.initializer.extend(keep)
        graph.input.extend(helper.make_tensor_value_info(i, TensorProto.FLOAT, None) for i in new_inputs)

    def feeds(self, w_bits: int, a_bits: int) -> dict[str, np.ndarray] | None:
        """Scale and bounds of every masked node at (w_bits, a_bits); None for a 1-bit signed candidate."""
        from ohq_flow.model.quantizers import quant_scale_at
        out = {}
        for name, q, side in self.nodes:
            node = self.qnodes[name]
            bits = w_bits if side == "w" else a_bits
            signed, narrow = bool(_attr(node, "signed", 1)), bool(_attr(node, "narrow", 0))
            scale = np.asarray(self.qmodel.get_initializer(node.input[1]), dtype=np.float32)
            cur = float(np.asarray(self.qmodel.get_initializer(node.input[3])).item())
            if q.bits is None or int(q.bits) != int(bits):          # apply_bits moves this quantizer
                scale = np.asarray(quant_scale_at(self.qmodel, name, int(bits)), dtype=np.float32).reshape(scale.shape)
                cur = float(bits)
            if cur == 1 and signed:
                return None
            lo = -(2 ** (cur - 1)) + (1 if narrow else 0) if signed else 0.0
            out[f"{name}::scale"] = scale
            out[f"{name}::lo"] = np.asarray(lo, dtype=np.float32)
            out[f"{name}::hi"] = np.asarray(qmax(cur, signed, narrow), dtype=np.float32)
        return out

    def run(self, cache: dict[str, np.ndarray], feeds: dict[str, np.ndarray], output: str) -> np.ndarray:
        return self.runner.run({**{c: cache[c] for c in self.cut}, **feeds}, [output])[output]
