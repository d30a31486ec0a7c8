"""Discovery of quantizable layers in a (cleaned) QONNX model.

Ties: layers whose input activations come from one quantizer must share its bit-width. One
quantizer is either one Quant node feeding several layers, or — in a Brevitas model — one
Brevitas quantizer module used in several places, which the export turns into several Quant
nodes (``quant_owners``: node -> Brevitas quantizer path, from the export step).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ohq_flow.model.onnx_nodes import attr as _attr, upstream


@dataclass
class QuantizerInfo:
    """A quantizer node in the QONNX graph (Quant, BipolarQuant or Trunc)."""

    node: str                 # node name in the graph
    op_type: str              # Quant | BipolarQuant
    bits: float | None        # current bit-width (None when not a constant)
    signed: bool | None
    narrow: bool | None
    per_channel: bool         # scale has more than one element
    bitwidth_input: str | None  # name of the bit-width initializer (for Quant)
    owner: str | None = None  # the Brevitas quantizer this node was exported from (when known)
    siblings: list[str] = field(default_factory=list)  # other Quant nodes of the same Brevitas quantizer
    fixed: bool = False       # the declared type of the model input (model.input / QONNX annotation): not searched

    @property
    def nodes(self) -> list[str]:
        """Every graph node that takes this quantizer's bit-width (itself and its siblings)."""
        return [self.node, *self.siblings]


@dataclass
class LayerInfo:
    """One quantizable layer: its compute node and the quantizers that feed it."""

    name: str                          # stable layer name used in every table (e.g. "conv0", "fc1")
    op_type: str                       # Conv | Gemm | MatMul
    node: str                          # compute node name
    weight_quant: QuantizerInfo | None
    input_quant: QuantizerInfo | None  # the activation quantizer feeding the input (through reshapes/pools)
    input_shape: list[int]
    output_shape: list[int]
    weight_shape: list[int]
    macs: int                          # per inference (batch 1)
    params: int                        # weight elements (+ bias elements)
    groups: int = 1
    depthwise: bool = False
    kernel_shape: list[int] = field(default_factory=list)
    tied_group: str | None = None      # name of the group of layers sharing one input-activation quantizer

    @property
    def w_bits(self) -> float | None:
        return self.weight_quant.bits if self.weight_quant else None

    @property
    def a_bits(self) -> float | None:
        return self.input_quant.bits if self.input_quant else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["w_bits"] = self.w_bits
        d["a_bits"] = self.a_bits
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LayerInfo":
        """Inverse of :meth:`to_dict`."""
        d = {k: v for k, v in d.items() if k not in ("w_bits", "a_bits")}
        for q in ("weight_quant", "input_quant"):
            if d.get(q) is not None:
                d[q] = QuantizerInfo(**d[q])
        return cls(**d)


COMPUTE_OPS = ("Conv", "Gemm", "MatMul")
QUANT_OPS = ("Quant", "BipolarQuant", "Trunc")
# ops an activation passes through unchanged in value grid (so its quantizer still applies)
TRANSPARENT_OPS = ("Reshape", "Flatten", "Transpose", "MaxPool", "Identity", "Squeeze", "Unsqueeze", "Pad")


def quantizer_info(model, node) -> QuantizerInfo:
    """Bit-width, signedness and granularity of a Quant/BipolarQuant/Trunc node."""
    import numpy as np
    if node.op_type == "BipolarQuant":
        scale = model.get_initializer(node.input[1])
        return QuantizerInfo(node.name, node.op_type, 1.0, True, False,
                             scale is not None and np.size(scale) > 1, None)
    # Quant: X, scale, zeropt, bw. Trunc v1: X, scale, zeropt, in_bw, out_bw; v2 adds out_scale before out_bw.
    bw_index = 3 if node.op_type == "Quant" else (5 if len(node.input) >= 6 else 4)
    bw_name = node.input[bw_index] if len(node.input) > bw_index else None
    bw = model.get_initializer(bw_name) if bw_name else None
    scale = model.get_initializer(node.input[1])
    signed = bool(_attr(node, "signed", 1)) if node.op_type == "Quant" else None
    narrow = bool(_attr(node, "narrow", 0)) if node.op_type == "Quant" else None
    return QuantizerInfo(node.name, node.op_type, float(np.asarray(bw).item()) if bw is not None else None,
                         signed, narrow, scale is not None and np.size(scale) > 1, bw_name)


def _producer_quant(model, tensor: str, through: tuple[str, ...]):
    """Walk upstream from ``tensor`` through ``through`` ops to a quantizer node (or None)."""
    node, _ = upstream(model, tensor, tuple(op for op in through if op not in QUANT_OPS))
    return node if node is not None and node.op_type in QUANT_OPS else None


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _layer_from_node(model, node) -> LayerInfo | None:
    """LayerInfo of a Conv/Gemm/MatMul node with a constant (possibly quantized) weight, else None."""
    w_name = node.input[1]
    wq_node = _producer_quant(model, w_name, ("Transpose", "Reshape", "Identity"))
    if wq_node is not None:
        weight = model.get_initializer(wq_node.input[0])
        if weight is None:  # quantizer of a dynamic tensor (e.g. attention): not a weight layer
            return None
        wq = quantizer_info(model, wq_node)
    else:
        weight = model.get_initializer(w_name)
        if weight is None:
            return None
        wq = None
    w_shape = list(model.get_tensor_shape(w_name) or weight.shape)
    in_shape = list(model.get_tensor_shape(node.input[0]) or [])
    out_shape = list(model.get_tensor_shape(node.output[0]) or [])
    if not out_shape:
        raise ValueError(f"node {node.name}: output shape unknown after shape inference")
    bias = _numel(model.get_tensor_shape(node.input[2]) or []) if len(node.input) > 2 and node.input[2] else 0
    aq_node = _producer_quant(model, node.input[0], TRANSPARENT_OPS)
    aq = quantizer_info(model, aq_node) if aq_node is not None else None
    groups, kernel, depthwise = 1, [], False
    if node.op_type == "Conv":
        groups = int(_attr(node, "group", 1))
        kernel = list(w_shape[2:])
        cin_per_group = w_shape[1]
        macs = _numel(out_shape[1:]) * cin_per_group * _numel(kernel)  # per sample
        depthwise = groups > 1 and cin_per_group == 1
    else:
        trans_b = bool(_attr(node, "transB", 0)) if node.op_type == "Gemm" else False
        k = w_shape[1] if trans_b else w_shape[0]
        n_out = w_shape[0] if trans_b else w_shape[1]
        rows = _numel(out_shape[1:-1]) if len(out_shape) > 2 else 1
        macs = rows * k * n_out
    return LayerInfo(name=node.name, op_type=node.op_type, node=node.name, weight_quant=wq, input_quant=aq,
                     input_shape=in_shape, output_shape=out_shape, weight_shape=w_shape, macs=int(macs),
                     params=_numel(w_shape) + bias, groups=groups, depthwise=depthwise, kernel_shape=kernel)


def discover_layers(model, quant_owners: dict[str, str] | None = None) -> list[LayerInfo]:
    """Every quantizable compute layer of a cleaned QONNX model, in graph order, with ties marked.

    Layers whose inputs come from the same activation quantizer are one tied group: the same
    Quant node (e.g. the main and shortcut convolutions of a residual block), or Quant nodes that
    ``quant_owners`` (Quant node -> Brevitas quantizer path) maps to one Brevitas quantizer.
    """
    from ohq_flow.errors import ModelError
    layers = []
    for node in model.graph.node:
        if node.op_type in COMPUTE_OPS:
            try:
                layer = _layer_from_node(model, node)
            except ValueError as exc:
                raise ModelError(str(exc), "run shape inference (the flow's cleanup does) or give a static input shape") from None
            if layer is not None:
                layers.append(layer)
    if not layers:
        ops = sorted({n.op_type for n in model.graph.node})
        raise ModelError(f"no quantizable layer (Conv, Gemm, MatMul with constant weights) found; graph ops: {ops}",
                         "ohq_flow searches bit-widths of Conv/Gemm/MatMul layers; export the model with Brevitas quant layers")
    if quant_owners:
        _mark_owners(model, layers, quant_owners)
    from ohq_flow.model.boundary import declared_input_quant
    declared = declared_input_quant(model)
    if declared:
        for layer in layers:
            if layer.input_quant is not None and layer.input_quant.node == declared:
                layer.input_quant.fixed = True
    by_quant: dict[str, list[LayerInfo]] = {}
    for layer in layers:
        if layer.input_quant is not None:
            by_quant.setdefault(layer.input_quant.owner or layer.input_quant.node, []).append(layer)
    for qname, group in by_quant.items():
        if len(group) > 1:
            for layer in group:
                layer.tied_group = qname
    return layers


def _mark_owners(model, layers: list[LayerInfo], quant_owners: dict[str, str]) -> None:
    """Set each quantizer's Brevitas owner and the other Quant nodes exported from that owner."""
    present = {n.name for n in model.graph.node if n.op_type == "Quant"}
    by_owner: dict[str, list[str]] = {}
    for node, owner in quant_owners.items():
        if node in present:
            by_owner.setdefault(owner, []).append(node)
    for layer in layers:
        for q in (layer.weight_quant, layer.input_quant):
            if q is not None and q.node in quant_owners:
                q.owner = quant_owners[q.node]
                q.siblings = sorted(n for n in by_owner.get(q.owner, []) if n != q.node)


def tied_groups(layers: list[LayerInfo]) -> dict[str, list[str]]:
    """Group name -> layer names, for layers sharing one input-activation quantizer."""
    groups: dict[str, list[str]] = {}
    for layer in layers:
        if layer.tied_group:
            groups.setdefault(layer.tied_group, []).append(layer.name)
    return groups


def unsupported_ops(model) -> list[str]:
    """Op types in the graph that the QONNX executor cannot run (neither ONNX standard nor qonnx custom)."""
    import onnx.defs
    from qonnx.custom_op.registry import getCustomOp
    bad = set()
    for node in model.graph.node:
        if node.domain in ("", "ai.onnx"):
            if not onnx.defs.has(node.op_type):
                bad.add(node.op_type)
        else:
            try:
                getCustomOp(node)
            except Exception:
                bad.add(f"{node.domain}.{node.op_type}")
    return sorted(bad)


def layers_table(layers: list[LayerInfo]) -> str:
    """A plain aligned text table of the layers."""
    def fmt_bits(q):
        if q is None:
            return "float"
        b = "?" if q.bits is None else (f"{q.bits:g}")
        return (f"{b}{'s' if q.signed else 'u' if q.signed is False else ''}{' pc' if q.per_channel else ''}"
                f"{' declared' if q.fixed else ''}")
    head = ["layer", "op", "weight", "out shape", "params", "MACs", "w bits", "a bits", "w quant", "a quant", "tied"]
    rows = []
    for l in layers:
        op = l.op_type + (" dw" if l.depthwise else f" g{l.groups}" if l.groups > 1 else "")
        rows.append([l.name, op, "x".join(map(str, l.weight_shape)), "x".join(map(str, l.output_shape)),
                     f"{l.params:,}", f"{l.macs:,}", fmt_bits(l.weight_quant), fmt_bits(l.input_quant),
                     l.weight_quant.node if l.weight_quant else "-", l.input_quant.node if l.input_quant else "-",
                     l.tied_group or ""])
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    total_macs = sum(l.macs for l in layers)
    total_params = sum(l.params for l in layers)
    lines.append(f"{len(layers)} layers, {total_params:,} parameters, {total_macs:,} MACs per inference, "
                 f"{len(tied_groups(layers))} tied group(s)")
    return "\n".join(lines)
