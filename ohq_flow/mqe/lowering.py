"""The fast execution path: QONNX quantizers lowered to standard ONNX, run batched in onnxruntime.

Quant(x, scale, zeropt, bits) becomes ``(round(clip(x/scale + zeropt, qmin, qmax)) - zeropt) * scale``
with the same clamp-then-round order and half-to-even rounding as ``qonnx.core.onnx_exec``;
BipolarQuant becomes ``where(x >= 0, 1, -1) * scale``; Trunc (v1) its documented formula. The
batch dimension is made dynamic (Reshape targets with a leading 1 become -1), so all synthetic
samples run in one session call. :func:`suffix_model` cuts the graph so only what a mask
changes is recomputed. Agreement with the QONNX executor is tested (tests/mqe).
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ohq_flow.errors import ModelError
from ohq_flow.model.quantizers import qmax
from ohq_flow.model.onnx_nodes import attr as _attr

_ROUND_OPS = {"ROUND": "Round", "HALF_EVEN": "Round", "FLOOR": "Floor", "CEIL": "Ceil", "UP": None, "DOWN": None}


class _Builder:
    def __init__(self, graph):
        self.graph = graph
        self.nodes: list = []
        self.n = 0

    def const(self, value, name_hint: str) -> str:
        self.n += 1
        name = f"{name_hint}_c{self.n}"
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, output: str | None = None) -> str:
        self.n += 1
        out = output or f"{hint}_t{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{hint}_{op_type}{self.n}"))
        return out


def _init(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    for t in model.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    return None


def _float(b: _Builder, model, name: str, hint: str) -> str:
    """``name``, or a float32 copy of it when it is an initialiser of another type (int64/int8 zero points, float64
    scales as other converters write them): ONNX arithmetic needs one element type."""
    value = _init(model, name)
    if value is None or value.dtype == np.float32:
        return name
    return b.const(value.astype(np.float32), hint)


def _round(b: _Builder, x: str, mode: str, hint: str, node) -> str:
    op = _ROUND_OPS.get(str(mode).upper())
    if op is None:
        raise ModelError(f"node {node.name}: rounding mode {mode} has no fast lowering", "use mqe.executor: qonnx")
    return b.op(op, [x], hint)


def _lower_quant(b: _Builder, model, node) -> None:
    x, s, z, bw = node.input[:4]
    s, z = _float(b, model, s, node.name), _float(b, model, z, node.name)
    bits = _init(model, bw)
    if bits is None:
        raise ModelError(f"node {node.name}: non-constant bit-width cannot be lowered", "use mqe.executor: qonnx")
    bits = float(np.asarray(bits).item())
    signed, narrow = bool(_attr(node, "signed", 1)), bool(_attr(node, "narrow", 0))
    h = node.name
    y = b.op("Add", [b.op("Div", [x, s], h), z], h)
    if bits == 1 and signed:  # qonnx maps 1-bit signed Quant to bipolar values
        y = b.op("Where", [b.op("GreaterOrEqual", [y, b.const(0.0, h)], h), b.const(1.0, h), b.const(-1.0, h)], h)
    else:
        lo = -(2 ** (bits - 1)) + (1 if narrow else 0) if signed else 0.0
        y = _round(b, b.op("Clip", [y, b.const(lo, h), b.const(qmax(bits, signed, narrow), h)], h),
                   _attr(node, "rounding_mode", b"ROUND").decode() if isinstance(_attr(node, "rounding_mode", "ROUND"), bytes)
                   else _attr(node, "rounding_mode", "ROUND"), h, node)
    b.op("Mul", [b.op("Sub", [y, z], h), s], h, output=node.output[0])


def _lower_bipolar(b: _Builder, model, node) -> None:
    x, s = node.input[:2]
    h = node.name
    s = _float(b, model, s, h)
    y = b.op("Where", [b.op("GreaterOrEqual", [x, b.const(0.0, h)], h), b.const(1.0, h), b.const(-1.0, h)], h)
    b.op("Mul", [y, s], h, output=node.output[0])


def _lower_trunc(b: _Builder, model, node) -> None:
    """Trunc v1 (5 inputs) and v2 (6 inputs: output scale before output bit-width), constant parameters."""
    h = node.name
    mode = _attr(node, "rounding_mode", "FLOOR")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    x, s, z = node.input[:3]
    s, z = _float(b, model, s, h), _float(b, model, z, h)
    consts = [_init(model, n) for n in node.input[1:]]
    if any(c is None for c in consts):
        raise ModelError(f"node {node.name}: Trunc with non-constant parameters has no fast lowering", "use mqe.executor: qonnx")
    y = b.op("Round", [b.op("Add", [b.op("Div", [x, s], h), z], h)], h)
    if len(node.input) == 5:  # v1: drop (in_bw - out_bw) LSBs
        in_bw, out_bw = (float(np.asarray(c).item()) for c in consts[2:4])
        y = _round(b, b.op("Div", [y, b.const(2.0 ** (in_bw - out_bw), h)], h), mode, h, node)
        b.op("Mul", [b.op("Sub", [y, z], h), s], h, output=node.output[0])
        return
    scale, zeropt, _, out_scale, out_bw = (np.asarray(c, dtype=np.float64) for c in consts)
    trunc = 2.0 ** np.round(np.log2(out_scale / scale))
    signed, narrow = bool(_attr(node, "signed", 1)), bool(_attr(node, "narrow", 0))
    bits = float(out_bw.item())
    lo = -(2 ** (bits - 1)) + (1 if narrow else 0) if signed else 0.0
    y = b.op("Clip", [b.op("Div", [y, b.const(trunc, h)], h), b.const(lo, h), b.const(qmax(bits, signed, narrow), h)], h)
    y = _round(b, y, mode, h, node)
    y = b.op("Sub", [y, b.const(zeropt / trunc, h)], h)
    b.op("Mul", [y, b.const(out_scale, h)], h, output=node.output[0])


_LOWER = {"Quant": _lower_quant, "BipolarQuant": _lower_bipolar, "Trunc": _lower_trunc}


def lower_to_onnx(qmodel, dynamic_batch: bool = True) -> onnx.ModelProto:
    """A standard-ONNX copy of a QONNX ModelWrapper (quantizers lowered, batch made dynamic)."""
    model = copy.deepcopy(qmodel.model)
    graph = model.graph
    known_shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
                    for vi in list(graph.value_info) + list(graph.output)}
    b = _Builder(graph)
    new_nodes = []
    for node in graph.node:
        if node.op_type in _LOWER and node.domain not in ("", "ai.onnx"):
            b.nodes = []
            _LOWER[node.op_type](b, model, node)
            new_nodes.extend(b.nodes)
        elif node.domain not in ("", "ai.onnx"):
            raise ModelError(f"node {node.name} ({node.domain}.{node.op_type}) has no fast lowering",
                             "use mqe.executor: qonnx")
        else:
            new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    if dynamic_batch:
        _make_batch_dynamic(model, known_shapes)
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 8)
    return model


def _make_batch_dynamic(model: onnx.ModelProto, known_shapes: dict) -> None:
    graph = model.graph
    for vi in list(graph.input) + list(graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"
    del graph.value_info[:]
    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[1] not in inits:
            continue
        shape = numpy_helper.to_array(inits[node.input[1]]).astype(np.int64)
        if shape.size and shape[0] == 1:
            out = known_shapes.get(node.output[0])
            new = np.array([-1] + (out[1:] if out and all(d > 0 for d in out[1:]) else list(shape[1:])), dtype=np.int64)
            if (new[1:] == -1).any():
                raise ModelError(f"Reshape {node.name}: cannot make the batch dimension dynamic", "use mqe.executor: qonnx")
            name = node.input[1] + "_dynbatch"
            graph.initializer.append(numpy_helper.from_array(new, name))
            node.input[1] = name


class OrtRunner:
    """An onnxruntime session over a lowered model; ``run(feeds) -> outputs dict``."""

    def __init__(self, model: onnx.ModelProto, threads: int | None = None):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        names = outputs or self.outputs
        vals = self.session.run(names, {k: v.astype(np.float32) for k, v in feeds.items() if k in self.inputs})
        return dict(zip(names, vals))


def expose_all(model: onnx.ModelProto, names: set[str] | None = None) -> onnx.ModelProto:
    """Copy of a lowered model whose node outputs (all, or those in ``names``) are also graph outputs."""
    m = copy.deepcopy(model)
    existing = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for out in node.output:
            if out and out not in existing and (names is None or out in names):
                m.graph.output.append(helper.make_empty_tensor_value_info(out))
                existing.add(out)
    return m


def suffix_model(model: onnx.ModelProto, changed_nodes: set[str]) -> tuple[onnx.ModelProto, list[str]]:
    """The part of a lowered graph downstream of the (lowered) nodes named in ``changed_nodes``.

    ``changed_nodes`` are original QONNX node names; lowered nodes carry them as name prefixes.
    Returns (sub-model, names of its dynamic inputs): tensors computed upstream, fed from a
    cached reference run.
    """
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    dirty_tensors: set[str] = set()
    suffix = []
    for node in graph.node:  # graph is topologically sorted
        starts = any(node.name.startswith(c + "_") or node.name == c for c in changed_nodes)
        if starts or any(i in dirty_tensors for i in node.input):
            suffix.append(node)
            dirty_tensors.update(node.output)
    produced = {o for n in suffix for o in n.output}
    cut = []
    for node in suffix:
        for i in node.input:
            if i and i not in produced and i not in inits and i not in cut:
                cut.append(i)
    outputs = [o.name for o in graph.output]
    used_inits = {i for n in suffix for i in n.input if i in inits}
    sub = helper.make_graph(
        suffix, "suffix",
        [helper.make_tensor_value_info(c, TensorProto.FLOAT, None) for c in cut],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [t for t in graph.initializer if t.name in used_inits])
    m = helper.make_model(sub, opset_imports=list(model.opset_import))
    m.ir_version = model.ir_version
    missing = [o for o in outputs if o not in produced]
    if missing:  # a mask that does not reach the output changes nothing
        raise ModelError(f"masked nodes {sorted(changed_nodes)} do not reach the output {missing}")
    return m, cut
