"""The model's two ends, as the flow takes them from a user's QONNX file.

* Output: a final Softmax/LogSoftmax (the usual last layer of hls4ml/QKeras-style models) is removed from
  ``model.onnx``; the design emits its input, the logits, and the softmax is left to the host (argmax is
  unchanged by it). Sensitivity (MQE's KL compares softmax(logits)), costs, the design and its verification
  all use the model without it, so every step sees the same tensor. A Softmax anywhere else stays in the
  graph and the design check refuses it, naming the node.
* Input: an input that goes straight into a layer (no Quant node) gets its datatype from ``model.input`` or,
  failing that, from the file's QONNX tensor datatype annotation (FINN's INT8, UINT8, BIPOLAR, FIXED<w,i>, ...). The flow
  inserts that type as an explicit quantiser (Quant, or BipolarQuant for +-1) — an identity on inputs of that
  type — so it is the first layer's input quantiser, with its activation bits fixed to the declared ones.
  Without either, the analysis steps run (warning, naming ``model.input``) and only the build refuses.

What was done is recorded in ``model.onnx``'s metadata (``ohq.host_output``, ``ohq.input_quant``,
``ohq.input_declared``).
"""

from __future__ import annotations

import json
import logging

import numpy as np

from ohq_flow.errors import InputError, ModelError

log = logging.getLogger(__name__)

HOST_OPS = ("Softmax", "LogSoftmax")
META_HOST = "ohq.host_output"
META_INPUT_QUANT = "ohq.input_quant"
META_INPUT_DECLARED = "ohq.input_declared"
INPUT_KEY = "model.input"
QONNX_DOMAIN = "qonnx.custom_op.general"
# ops between the model input and its quantiser that the design leaves outside (float preprocessing)
_PREP = ("Flatten", "Reshape", "Identity")
_PREP_CONST = ("Mul", "Div", "Add", "Sub")


# ------------------------------------------------------------------------------------------- output
def strip_host_output(model) -> dict | None:
    """Remove a Softmax/LogSoftmax that produces the graph's only output; returns what was removed (or None).

    The node's input (the logits) becomes the graph output. Only the final node is removed: a softmax whose
    input also feeds another node, or one in the middle of the graph, is left for the design check to refuse.
    """
    g = model.graph
    if len(g.output) != 1:
        return None
    out = g.output[0].name
    node = model.find_producer(out)
    if node is None or node.op_type not in HOST_OPS or node.domain not in ("", "ai.onnx"):
        return None
    logits = node.input[0]
    if len(model.find_consumers(logits)) != 1 or logits in {i.name for i in g.input}:
        return None
    from onnx import TensorProto, helper
    from ohq_flow.model.onnx_nodes import attr
    shape = model.get_tensor_shape(logits) or model.get_tensor_shape(out)
    axis = int(attr(node, "axis", -1))
    info = {"node": node.name, "op_type": node.op_type, "axis": axis, "removed_output": out, "logits": logits}
    g.node.remove(node)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, shape))
    for i, vi in enumerate(list(g.value_info)):      # a graph output is not also a value_info entry
        if vi.name == logits:
            del g.value_info[i]
            break
    model.set_metadata_prop(META_HOST, json.dumps(info))
    log.warning("%s (%s, axis %d), the graph's last node, is left to the host: the design emits its input %s (the "
                "logits; argmax is unchanged by it), and sensitivity, costs and verification use the model without it",
                node.name, node.op_type, axis, logits)
    return info


def host_output(model) -> dict | None:
    """What :func:`strip_host_output` removed from this model (from its metadata), or None."""
    v = model.get_metadata_prop(META_HOST)
    return json.loads(v) if v else None


# -------------------------------------------------------------------------------------------- input
def input_path(model) -> tuple[str, list]:
    """(tensor the input reaches through float preprocessing, the consumers of that tensor)."""
    t = model.graph.input[0].name
    cons = model.find_consumers(t)
    while len(cons) == 1 and (cons[0].op_type in _PREP or (
            cons[0].op_type in _PREP_CONST and len(cons[0].input) == 2
            and model.get_initializer(cons[0].input[1]) is not None)):
        t = cons[0].output[0]
        cons = model.find_consumers(t)
    return t, cons


def input_quantised(model) -> bool:
    """Whether the model input goes (through reshapes and constant Mul/Add) into one Quant/BipolarQuant node."""
    if len(model.graph.input) != 1:
        return True                        # not ours to judge: the design check names the problem
    _, cons = input_path(model)
    return len(cons) == 1 and cons[0].op_type in ("Quant", "BipolarQuant")


def input_from_annotation(model) -> dict | None:
    """The declared input type from the QONNX tensor datatype annotation of the graph input, or None."""
    from qonnx.core.datatype import DataType
    name = model.graph.input[0].name
    dt = model.get_tensor_datatype(name)
    if dt is None or dt == DataType["FLOAT32"]:
        return None
    where = f"the QONNX datatype annotation {dt.name} of input {name}"
    if dt.is_fixed_point():                           # FIXED<w,i>: w-bit signed integers times 2^-(w-i)
        return {"bits": int(dt.bitwidth()), "signed": bool(dt.signed()), "bipolar": False,
                "scale": float(dt.scale_factor()), "zero_point": 0, "source": where}
    if not dt.is_integer():
        raise ModelError(f"{where}: not an integer type; the design needs an integer input",
                         f"set {INPUT_KEY}: {{bits, signed, scale}} in the config (it takes precedence)")
    if dt.name == "BIPOLAR":
        return {"bits": 1, "signed": True, "bipolar": True, "scale": 1.0, "zero_point": 0, "source": where}
    if dt.name == "TERNARY":
        return {"bits": 2, "signed": True, "bipolar": False, "narrow": True, "scale": 1.0, "zero_point": 0,
                "source": where}
    return {"bits": int(dt.bitwidth()), "signed": bool(dt.signed()), "bipolar": False, "scale": 1.0,
            "zero_point": 0, "source": where}


def declared_input(model, cfg_input) -> dict | None:
    """The input type: ``model.input`` if set, else the file's annotation, else None."""
    ann = input_from_annotation(model) if cfg_input is None else None
    if cfg_input is not None:
        return {**cfg_input.model_dump(), "source": INPUT_KEY}
    return ann


def _quant_form(decl: dict) -> dict:
    """(bits, signed, narrow, zero point) of the Quant node that implements ``decl`` exactly on its values."""
    bits, signed, zp = int(decl["bits"]), bool(decl["signed"]), int(decl.get("zero_point", 0))
    narrow = bool(decl.get("narrow", False))
    note = None
    if not signed and zp and zp == 1 << (bits - 1):   # unsigned with a mid-range offset = signed, no offset
        signed, zp, note = True, 0, f"unsigned {bits}-bit with zero point {1 << (bits - 1)} taken as signed {bits}-bit"
    if bits == 1 and not signed:                      # 0/1: the design's integer grids start at 2 bits
        bits, note = 2, "a 0/1 (binary) input is carried as 2-bit unsigned (its values are the same)"
    return {"bits": bits, "signed": signed, "narrow": narrow, "zero_point": zp, "note": note}


def _affine_prep(model) -> tuple[str, float, float] | None:
    """(tensor, a, b): the input's float preprocessing up to its first consumer that is not one, as y = a*x + b.

    None when a constant in the chain is not one scalar (a per-channel normalisation changes the type per channel).
    """
    t, a, b = model.graph.input[0].name, 1.0, 0.0
    cons = model.find_consumers(t)
    while len(cons) == 1 and (cons[0].op_type in _PREP or cons[0].op_type in _PREP_CONST):
        n = cons[0]
        if n.op_type in _PREP_CONST:
            c = model.get_initializer(n.input[1]) if len(n.input) == 2 and n.input[0] == t else None
            if c is None or np.asarray(c).size == 0 or not np.all(np.asarray(c) == np.asarray(c).flat[0]):
                return None
            c = float(np.asarray(c).flat[0])
            if n.op_type == "Mul":
                a, b = a * c, b * c
            elif n.op_type == "Div":
                a, b = a / c, b / c
            else:
                b = b + c if n.op_type == "Add" else b - c
        t = n.output[0]
        cons = model.find_consumers(t)
    return t, a, b


def _through_prep(model, decl: dict) -> tuple[str, dict]:
    """(tensor, type): the declared input type carried through scalar float preprocessing (Add/Sub/Mul/Div).

    A FINN model that declares a BIPOLAR input and computes ``(x + 1) / 2`` feeds its first layer 0/1 values:
    the quantiser goes after the preprocessing, with the type of what the layer receives. Where the image of the
    declared grid is not an integer grid (or a constant is per channel), the quantiser stays at the input.
    """
    x = model.graph.input[0].name
    prep = _affine_prep(model)
    if prep is None or (prep[1], prep[2]) == (1.0, 0.0) or prep[1] <= 0:
        return x, decl
    t, a, b = prep
    s = float(decl.get("scale", 1.0)) * a
    if decl.get("bipolar"):                           # values -s0, +s0 -> a*(-s0)+b, a*s0+b
        lo, hi = -s + b, s + b
        if abs(lo) <= 1e-9 * abs(hi):                 # 0 / hi: a 0/1 input at scale hi
            out = {"bits": 1, "signed": False, "bipolar": False, "scale": hi, "zero_point": 0}
        elif abs(lo + hi) <= 1e-9 * abs(hi):          # still +-: bipolar at scale hi
            out = {"bits": 1, "signed": True, "bipolar": True, "scale": hi, "zero_point": 0}
        else:
            return x, decl
    else:
        bits, signed = int(decl["bits"]), bool(decl["signed"])
        zp = float(decl.get("zero_point", 0))
        qmin = (-(1 << (bits - 1)) + int(bool(decl.get("narrow")))) if signed else 0
        qmax = ((1 << (bits - 1)) - 1) if signed else (1 << bits) - 1
        off = b / s - zp                              # y = s * (q - zp) + b = s * (q + off)
        if abs(off - round(off)) > 1e-6:
            return x, decl
        lo, hi = qmin + round(off), qmax + round(off)
        if lo >= 0:
            out = {"bits": max(1, int(hi).bit_length()), "signed": False, "bipolar": False, "scale": s,
                   "zero_point": 0}
        else:
            nb = max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1
            out = {"bits": nb, "signed": True, "bipolar": False, "scale": s, "zero_point": 0}
    out["source"] = f"{decl['source']}, through the input preprocessing y = {a:g}*x + {b:g}"
    return t, out


def insert_input_quant(model, decl: dict) -> str:
    """Insert the declared type as the input's quantiser; returns the node name.

    Right after the graph input, or after the input's scalar float preprocessing when the declared type's image
    through it is an integer grid (:func:`_through_prep`): the quantiser then carries that image's type.
    """
    from onnx import helper, numpy_helper
    g = model.graph
    x, decl = _through_prep(model, decl)
    y = f"{x}_declared"
    name = "Quant_input" if not decl.get("bipolar") else "BipolarQuant_input"
    names = {n.name for n in g.node}
    while name in names:
        name += "_"
    shape = model.get_tensor_shape(x)

    def init(suffix, value):
        t = f"{name}_{suffix}"
        g.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), t))
        return t

    scale = float(decl.get("scale", 1.0))
    if decl.get("bipolar"):
        node = helper.make_node("BipolarQuant", [x, init("scale", scale)], [y], name=name, domain=QONNX_DOMAIN)
        form = {"bits": 1, "signed": True, "narrow": False, "zero_point": 0, "note": None}
    else:
        form = _quant_form(decl)
        node = helper.make_node("Quant", [x, init("scale", scale), init("zeropt", float(form["zero_point"])),
                                          init("bitwidth", float(form["bits"]))], [y], name=name, domain=QONNX_DOMAIN,
                                signed=int(form["signed"]), narrow=int(form["narrow"]), rounding_mode="ROUND")
    for n in g.node:
        for i, t in enumerate(n.input):
            if t == x:
                n.input[i] = y
    producer = model.find_producer(x)
    g.node.insert(0 if producer is None else list(g.node).index(producer) + 1, node)
    # the type is now the quantiser's: the executor would refuse inputs off the annotation's grid (MQE's synthetic ones)
    from qonnx.core.datatype import DataType
    model.set_tensor_datatype(g.input[0].name, DataType["FLOAT32"])
    if shape is not None:
        model.set_tensor_shape(y, list(shape))
    if not any(o.domain == QONNX_DOMAIN for o in model.model.opset_import):
        model.model.opset_import.append(helper.make_opsetid(QONNX_DOMAIN, 1))
    record = {k: v for k, v in decl.items()}
    record["node"] = name
    if form["note"]:
        record["note"] = form["note"]
    model.set_metadata_prop(META_INPUT_QUANT, name)
    model.set_metadata_prop(META_INPUT_DECLARED, json.dumps(record))
    kind = "bipolar +-1" if decl.get("bipolar") else \
        f"{form['bits']}-bit {'signed' if form['signed'] else 'unsigned'}" + (f", zero point {form['zero_point']}"
                                                                              if form["zero_point"] else "")
    log.info("input %s: declared type (%s) %s, scale %g, inserted as %s%s", x, decl["source"], kind, scale, name,
             f" ({form['note']})" if form["note"] else "")
    return name


def declared_input_quant(model) -> str | None:
    """The name of the quantiser :func:`insert_input_quant` put in this model (its bits are fixed), or None."""
    return model.get_metadata_prop(META_INPUT_QUANT) or None


def prepare_ends(model, cfg_input) -> dict:
    """Strip a final softmax and insert the declared input type (in place); returns what was done."""
    done: dict = {}
    host = strip_host_output(model)
    if host:
        done["host_output"] = host
    if len(model.graph.input) != 1:
        return done
    quantised = input_quantised(model)
    if quantised:
        if cfg_input is not None:
            log.warning("%s is ignored: the model input %s already goes into a quantiser (%s)", INPUT_KEY,
                        model.graph.input[0].name, input_path(model)[1][0].name)
        return done
    decl = declared_input(model, cfg_input)
    if decl is not None:
        done["input"] = {"source": decl["source"], "node": insert_input_quant(model, decl)}
    else:
        done["input"] = None
    return done


# -------------------------------------------------------------------------------- no declared type
def undeclared_message(model) -> str:
    t, cons = input_path(model)
    found = ", ".join(f"{c.op_type} {c.name}" for c in cons) or "the output"
    return (f"the model input {model.graph.input[0].name} goes into {found} with no Quant node and no declared "
            f"datatype (no {INPUT_KEY} in the config, no QONNX datatype annotation on the input)")


UNDECLARED_HINT = (f"set {INPUT_KEY}: {{bits: 8, signed: true, scale: 1.0}} (the integer type of the input, e.g. "
                   "INT8; bipolar: true for +-1), or annotate the input tensor's datatype in the QONNX file "
                   "(ModelWrapper.set_tensor_datatype)")


def warn_undeclared(model, cfg, step: str) -> bool:
    """Log the missing input type (naming ``model.input``) when the input is neither quantised nor declared."""
    if len(model.graph.input) != 1 or input_quantised(model):
        return False
    log.warning("%s: %s; the hardware cost assumes search.unquantized_input_bits = %d (signed) for it and the "
                "build step will refuse; %s", step, undeclared_message(model), cfg.search.unquantized_input_bits,
                UNDECLARED_HINT)
    return True


def require_declared(model) -> None:
    """InputError (exit 2) naming ``model.input`` when the input is neither quantised nor declared."""
    if len(model.graph.input) == 1 and not input_quantised(model):
        raise InputError(f"build: {undeclared_message(model)}: the design's input stream needs an integer type",
                         UNDECLARED_HINT)


def with_placeholder_input(model, bits: int):
    """A copy of ``model`` whose undeclared input gets a ``bits``-bit signed placeholder quantiser (scale 1).

    For checking and pricing the rest of the design before the input type is known; never built.
    """
    import copy
    from qonnx.core.modelwrapper import ModelWrapper
    if len(model.graph.input) != 1 or input_quantised(model):
        return model
    out = ModelWrapper(copy.deepcopy(model.model))
    insert_input_quant(out, {"bits": int(bits), "signed": True, "scale": 1.0, "zero_point": 0,
                             "source": "placeholder (search.unquantized_input_bits)"})
    out.set_metadata_prop(META_INPUT_QUANT, "")
    out.set_metadata_prop(META_INPUT_DECLARED, "")
    return out
