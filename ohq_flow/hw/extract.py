"""Per-layer extraction: one quantizable layer as a standalone QONNX model (OQA's unit of cost).

The extracted graph is::

    graph input (float) -> input Quant -> [path ops] -> compute node (+ its constant weight
    subgraph: weight Quant, bias ...) -> [elementwise ops] -> output Quant -> graph output

* **input side**: the layer's input activation quantizer and the shape-only/monotone ops
  between it and the compute node (``TRANSPARENT_OPS``: Reshape, Flatten, MaxPool, ...). With
  ``input_path=False`` the quantizer is moved right in front of the compute node instead (valid
  because Quant is elementwise and monotone, so it commutes with MaxPool and reshapes); the graph
  input is then the compute node's input tensor. A layer without an input quantizer takes its
  float input directly.
* **output side**: the chain of elementwise single-data-input ops after the compute node
  (Relu, BatchNormalization, Mul/Add/Sub/Div by a constant) up to and including the next
  Quant (the output activation quantizer, which keeps its bits). The chain stops at a fork, a
  non-elementwise op or the graph output; then the graph output is the last tensor reached.
* **bits**: the weight and input quantizers are set with :func:`ohq_flow.model.quantizers.set_quant_bits`,
  the one rule MQE and write-back use. Weights: scale from max|w| per original granularity;
  power-of-two scales stay power-of-two (``2**ceil(log2 max|w|) / 2**(b-1)``, i.e. rounded up to
  the power of two at which max|w| fits the b-bit grid). Activations keep their clipping
  range: ``scale·qmax_old/qmax_new`` (power of two: ``scale·2**(b_old-b))``, exact for
  unsigned/non-narrow grids up to one LSB). Quantizers already at the requested bits are untouched.
* batch is 1; node and tensor names are the original ones.
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import onnx
from onnx import helper

from ohq_flow.errors import ModelError
from ohq_flow.model.layers import QUANT_OPS, TRANSPARENT_OPS
from ohq_flow.model.onnx_nodes import upstream

ELEMENTWISE_OPS = ("Relu", "BatchNormalization", "Mul", "Add", "Sub", "Div")
COMMUTING_OPS = ("Reshape", "Flatten", "Transpose", "MaxPool", "Identity", "Squeeze", "Unsqueeze")
WEIGHT_PATH_OPS = ("Transpose", "Reshape", "Identity")


def _node(model, name: str):
    node = model.get_node_from_name(name)
    if node is None:
        raise ModelError(f"node '{name}' is not in the graph", "re-run the layers step on this model")
    return node


def _const_subgraph(model, tensor: str) -> list:
    """Nodes computing ``tensor`` from initializers only (weight Quant, Transpose, ...)."""
    if tensor == "" or model.get_initializer(tensor) is not None:
        return []
    prod = model.find_producer(tensor)
    if prod is None:
        raise ModelError(f"tensor '{tensor}' is neither an initializer nor produced by a node",
                         "only layers with constant weights/bias can be extracted")
    nodes = []
    for t in prod.input:
        nodes += _const_subgraph(model, t)
    return nodes + [prod]


def _input_side(model, compute, layer):
    """(input Quant node or None, path nodes between it and the compute node)."""
    if layer.input_quant is None:
        return None, []
    q = _node(model, layer.input_quant.node)
    prod, path = upstream(model, compute.input[0], TRANSPARENT_OPS)
    if prod is None or q.output[0] not in prod.output:
        raise ModelError(f"layer {layer.name}: cannot walk from its input to quantizer {q.name}")
    return q, path


def _output_side(model, compute) -> tuple[list, str]:
    """Elementwise chain after the compute node up to (and including) the next Quant."""
    chain, t = [], compute.output[0]
    outputs = {o.name for o in model.graph.output}
    while t not in outputs:
        cons = model.find_consumers(t)
        if len(cons) != 1 or cons[0].input[0] != t:
            break
        c = cons[0]
        extra_const = all(model.get_initializer(i) is not None or i == "" for i in c.input[1:])
        if c.op_type in QUANT_OPS and extra_const:
            chain.append(c)
            t = c.output[0]
            break
        if c.op_type not in ELEMENTWISE_OPS or not extra_const:
            break
        chain.append(c)
        t = c.output[0]
    return chain, t


def _value_info(model, name: str, shape=None):
    """Float value info of ``name`` with batch 1 (shape None = let shape inference fill it)."""
    shape = list(shape if shape is not None else (model.get_tensor_shape(name) or []))
    if shape:
        shape[0] = 1
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape or None)


def extract_layer(model, layer, w_bits: int | None = None, a_bits: int | None = None, *,
                  input_path: bool = True):
    """Standalone QONNX ModelWrapper of ``layer`` at (``w_bits``, ``a_bits``); None = reference bits."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    from ohq_flow.model.quantizers import set_quant_bits

    compute = _node(model, layer.node)
    q_in, path = _input_side(model, compute, layer)
    if not input_path and any(n.op_type not in COMMUTING_OPS for n in path):
        bad = sorted({n.op_type for n in path if n.op_type not in COMMUTING_OPS})
        raise ModelError(f"layer {layer.name}: input path has {bad}, which a quantizer does not commute with",
                         "extract with input_path=True")
    weight_nodes = []
    for t in compute.input[1:]:
        weight_nodes += _const_subgraph(model, t)
    out_chain, out_tensor = _output_side(model, compute)

    keep = [] if q_in is None else [q_in]
    if input_path:
        keep += path
    in_tensor = q_in.input[0] if q_in is not None else compute.input[0]
    keep += weight_nodes + [compute] + out_chain
    nodes = [copy.deepcopy(n) for n in keep]
    in_shape = model.get_tensor_shape(in_tensor)
    if not input_path and q_in is not None:  # quantizer moved to the compute input
        in_shape = model.get_tensor_shape(compute.input[0])
        in_tensor = f"{layer.name}_ohq_in"
        qn = nodes[0]
        qn.input[0] = in_tensor
        cn = next(n for n in nodes if n.name == compute.name)
        cn.input[0] = qn.output[0]

    used = {i for n in nodes for i in n.input}
    inits = [copy.deepcopy(x) for x in model.graph.initializer if x.name in used]
    graph = helper.make_graph(nodes, f"{layer.name}_layer", [_value_info(model, in_tensor, in_shape)],
                              [_value_info(model, out_tensor)], initializer=inits)
    proto = helper.make_model(graph, opset_imports=list(model.model.opset_import))
    proto.ir_version = model.model.ir_version
    out = ModelWrapper(proto)
    out = out.transform(InferShapes())
    for q, bits in ((layer.weight_quant, w_bits), (layer.input_quant, a_bits)):
        if q is not None and bits is not None and (q.bits is None or int(q.bits) != int(bits)):
            set_quant_bits(out, q.node, int(bits))
    return out


def _canonical_attr(a) -> str:
    v = helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        v = (v.dims, v.raw_data)
    return f"{a.name}={v!r}"


def layer_subgraph_hash(model, layer) -> str:
    """SHA-256 of the extracted layer at reference bits, independent of tensor/node names.

    Covers op types, domains, attributes, wiring (tensors renamed in order of appearance),
    initializer dtypes/shapes/bytes and the input shape — so the same layer in two models has
    the same hash (cost-cache key) and any change to weights, quantizers or shapes changes it.
    """
    from onnx import numpy_helper
    ex = extract_layer(model, layer)
    g = ex.graph
    ids: dict[str, str] = {}

    def cid(name: str) -> str:
        if name == "":
            return ""
        return ids.setdefault(name, f"t{len(ids)}")

    h = hashlib.sha256()
    h.update(repr(("in", cid(g.input[0].name), ex.get_tensor_shape(g.input[0].name))).encode())
    inits = {x.name: x for x in g.initializer}
    for n in g.node:
        h.update(repr((n.op_type, n.domain, [cid(i) for i in n.input], [cid(o) for o in n.output],
                       sorted(_canonical_attr(a) for a in n.attribute))).encode())
        for i in n.input:
            if i in inits:
                arr = numpy_helper.to_array(inits.pop(i))
                h.update(repr((cid(i), str(arr.dtype), arr.shape)).encode())
                h.update(np.ascontiguousarray(arr).tobytes())
    h.update(repr(("out", cid(g.output[0].name))).encode())
    return h.hexdigest()


def _weight_path(model, compute, wq_node) -> list:
    """Nodes between the weight Quant and the compute node (Transpose/Reshape/Identity), in order."""
    prod, path = upstream(model, compute.input[1], WEIGHT_PATH_OPS)
    if prod is None or wq_node.output[0] not in prod.output:
        raise ModelError(f"node {compute.name}: unsupported op between weight and its quantizer")
    return path


def layer_integer_matrix(model, layer, w_bits: int, held: bool = False):
    """(W_int [inputs, outputs] int64, w_scale, meta) of ``layer`` at ``w_bits`` (same rule as extraction).

    Layouts (y = x @ W_int · w_scale):

    * MatMul: the weight as is ([K, N]); Gemm: transposed when ``transB``.
    * Conv: the kernel matrix of one output pixel, rows ordered (input channel, kh, kw)
      (channel-major im2col), columns = output channels. With ``groups > 1`` it is block
      diagonal: rows ``g·(C_in/g·kh·kw) ..`` feed columns ``g·(C_out/g) ..`` (so
      ``W_int[g*r:(g+1)*r, g*c:(g+1)*c]`` is group ``g``'s [C_in/g·kh·kw, C_out/g] matrix).

    ``w_scale`` is a scalar (per-tensor) or a vector over output columns (per-channel). ``held``:
    the integers the Quant node holds at its own scale (HGQ's), instead of re-quantized at ``w_bits``.
    """
    from ohq_flow.hw.rtl.cmvm import conv_kernel_matrix
    from ohq_flow.model.quantizers import held_integer_weights, integer_weights

    compute = _node(model, layer.node)
    w_int, scale = held_integer_weights(model, layer) if held else integer_weights(model, layer, int(w_bits))
    scale = np.asarray(scale, dtype=np.float64)
    wq_node = _node(model, layer.weight_quant.node)
    for p in _weight_path(model, compute, wq_node):
        if p.op_type == "Transpose":
            perm = [a.ints for a in p.attribute if a.name == "perm"]
            perm = list(perm[0]) if perm else list(range(w_int.ndim))[::-1]
            w_int = np.transpose(w_int, perm)
            if scale.ndim == w_int.ndim:
                scale = np.transpose(scale, perm)
        elif p.op_type == "Reshape":
            shape = model.get_tensor_shape(p.output[0])
            w_int = w_int.reshape(shape)
            if scale.size > 1:
                raise ModelError(f"layer {layer.name}: per-channel weight scale through a Reshape is not supported")
    attrs = {a.name: helper.get_attribute_value(a) for a in compute.attribute}
    if layer.op_type == "Conv":
        mat = conv_kernel_matrix(w_int, layer.groups)
        col_scale = scale.reshape(-1) if scale.size > 1 else scale.reshape(())
        layout = "conv: rows (c_in, kh, kw) channel-major, cols c_out; block-diagonal over groups"
        pixels = int(np.prod(layer.output_shape[2:]))
    else:
        trans = layer.op_type == "Gemm" and attrs.get("transB", 0)
        mat = w_int.T if trans else w_int
        col_scale = scale.reshape(-1) if scale.size > 1 else scale.reshape(())
        layout = "dense: rows = inputs, cols = outputs"
        pixels = int(np.prod(layer.output_shape[1:-1])) if len(layer.output_shape) > 2 else 1
    wq = layer.weight_quant
    aq = layer.input_quant
    meta = {"layer": layer.name, "op_type": layer.op_type, "layout": layout, "groups": layer.groups,
            "kernel_shape": list(layer.kernel_shape), "inputs": int(mat.shape[0]), "outputs": int(mat.shape[1]),
            "pixels": pixels, "w_bits": int(w_bits), "w_signed": wq.signed, "w_narrow": wq.narrow,
            "per_channel": wq.per_channel, "a_bits": aq.bits if aq else None, "a_signed": aq.signed if aq else None}
    return np.asarray(mat).astype(np.int64), col_scale, meta


def kernel_operand(model, layer, w_bits: int, row_order=None) -> np.ndarray:
    """The kernel as cost jobs take it: the matrix, or per-group blocks [groups, R, C] for a grouped conv.

    A depthwise convolution with G channels is G small kernels, not one G²-sized block-diagonal
    matrix (which, per candidate, is what made profiling ImageNet-size models run out of memory).
    ``row_order``: the matrix's rows in the order the complete design streams them
    (:func:`ohq_flow.design.graph.kernel_row_orders`), so the cost is that of the kernel the build generates.
    """
    if layer.op_type == "Conv" and layer.groups > 1:
        from ohq_flow.hw.rtl.cmvm import kernel_blocks
        from ohq_flow.model.quantizers import integer_weights
        w_int, _ = integer_weights(model, layer, w_bits)
        return kernel_blocks(w_int, layer.groups)
    mat = layer_integer_matrix(model, layer, w_bits)[0]
    return mat if row_order is None else mat[np.asarray(row_order)]
