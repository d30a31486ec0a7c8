"""From a final QONNX model to a typed list of streaming stages (the design IR).

The graph is walked from its input along the single data path. A stream carries one pixel
(all channels) per beat for feature maps, or one whole vector per beat after a flatten. Stages:

* ``window``   — sliding window (conv/pool; 2-D, or 1-D as H = 1), stride, padding (zero, or the stream's
  smallest value for a MaxPool);
* ``kernel``   — da4ml constant matrix-vector product, one window/vector per cycle (II = 1);
* ``mvau``     — a ``kernel`` built folded (``design.rtl``, from the solution's ``pe{P}_simd{S}``):
  one window/vector every (MH/PE)·(MW/SIMD) cycles;
* ``requant``  — accumulator -> scale/bias/BN/ReLU -> Quant/Trunc as exact integers (see requant.py);
* ``maxpool``  — max over each channel's window (after a ``window`` stage);
* ``collect``  — the pixels of a frame into one vector (Flatten in front of a dense layer);
* ``fork``/``fifo``/``add`` — a residual block (a FIFO on each branch that has to wait for the other).

After the walk, :func:`pack_bipolar` packs +-1 streams as 1 bit per element where they reach a kernel.

Unsupported ops, attributes or quantisers raise :class:`InputError` naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ohq_flow.design.requant import Chain, Op, Requant, build_requant, qrange, round_mode
from ohq_flow.errors import InputError
from ohq_flow.model.onnx_nodes import attrs as _attrs, upstream

SUPPORTED = {
    "Quant": "signed/unsigned, narrow, any rounding mode, zero point 0, constant per-tensor/per-channel scale",
    "Trunc": "QONNX Trunc v1/v2 on a quantised stream (e.g. after AveragePool), zero point 0, any rounding mode, "
             "constant scales; a power-of-two truncation scale",
    "BipolarQuant": "binary +-1 weights or activations (a stream packed as 1 bit, or 2-bit signed), constant positive scale",
    "Conv": "1-D/2-D, constant quantised weights, stride, zero padding, dilation 1, any group count (bias allowed)",
    "MatMul": "constant quantised weights [K, N]",
    "Gemm": "constant quantised weights, alpha = beta = 1, transA = 0 (bias allowed)",
    "Relu": "followed by a Quant (or on an unsigned stream)",
    "Mul": "by a constant, before a Quant (or before the input quantiser, or in the output's affine map)",
    "Div": "by a constant, before a Quant",
    "Add": "a constant (bias), before a Quant",
    "Sub": "a constant, before a Quant",
    "BatchNormalization": "inference form, before a Quant",
    "MaxPool": "2-D/1-D, padding smaller than the kernel (pads never win), dilation 1, ceil_mode 0, on a quantised stream",
    "AveragePool": "2-D/1-D, no padding, ceil_mode 0, on a quantised stream, followed by a Quant or Trunc",
    "GlobalAveragePool": "on a quantised stream, followed by a Quant or Trunc",
    "Flatten": "feature map -> vector (a dense layer's input)",
    "Reshape": "feature map -> vector, or vector -> vector",
    "Identity": "anywhere",
    "Transpose": "of constant weights; on the data path NCHW -> NHWC (perm [0, 2, 3, 1], 1-D [0, 2, 1]) of a quantised "
                 "feature map right before a Flatten/Reshape to a dense layer",
}


def _describe(node) -> str:
    attrs = {k: (v if not isinstance(v, bytes) else v.decode()) for k, v in _attrs(node).items()}
    return f"node {node.name} ({node.op_type}, attributes {attrs})"


def _unsupported(node, why: str) -> InputError:
    hint = f"{node.op_type} is supported as: {SUPPORTED[node.op_type]}" if node.op_type in SUPPORTED else \
        f"supported ops: {', '.join(sorted(SUPPORTED))}"
    return InputError(f"complete design: {_describe(node)}: {why}", hint)


@dataclass
class Stream:
    """What flows between two stages (integers; real value = integer · scale)."""

    kind: str                 # pixels | vector
    channels: int             # elements per beat
    beats: int                # beats per frame
    spatial: tuple[int, int]  # pixels: (H, W); 1-D: (1, L)
    bits: int
    signed: bool
    lo: np.ndarray            # per element reachable range
    hi: np.ndarray
    scale: np.ndarray         # per element
    packed: bool = False      # a +-1 stream packed as 1 bit per element (bit b means 2b - 1); lo/hi stay the values

    @property
    def width(self) -> int:
        return self.channels * self.bits


@dataclass
class Stage:
    kind: str                 # window | kernel | requant | maxpool | collect | fork | fifo | add
    node: str                 # the ONNX node(s) it implements
    inp: Stream
    out: Stream
    params: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    src: list[int] = field(default_factory=list)   # stream ids read (add: two)
    dst: list[int] = field(default_factory=list)   # stream ids written (fork: two)


@dataclass
class NetworkIR:
    stages: list[Stage]
    inp: Stream
    out: Stream
    input_quant: str
    out_tensor: str
    widths: list[int]          # bits of every stream (id = index; 0 = the input)
    out_sid: int
    out_offset: np.ndarray | None = None   # logits output: real value = integer * out.scale + out_offset (per channel)


def skip_depth(stages: list[Stage]) -> int:
    """Skip FIFO depth of a residual block: what the other branch (``stages``) can hold before its first output.

    The window's lead (pixels it needs beyond the one it centres on) plus every later stage's
    buffering (kernel: LAT + 2 FIFO entries; a registered stage: 1), plus 2 — enough for the fork
    never to wait on the skip path in steady state, and never to deadlock under back-pressure.
    """
    depth, seen_window = 2, False
    for st in stages:
        if st.kind == "window":
            p = st.params
            depth += (p["KH"] - 1 - p["PT"]) * p["W"] + (p["KW"] - 1 - p["PL"]) + 2
            seen_window = True
        elif st.kind == "kernel":
            depth += st.info.get("latency", 6) + 2
        elif st.kind == "mvau":              # holds its input vector, a fold being requantised and its output
            depth += 3
        else:
            depth += 1
    return depth if seen_window else 2


def const_value(model, tensor: str) -> np.ndarray:
    """A constant tensor: an initializer, or Quant/Transpose/Reshape/Identity of constants."""
    from qonnx.custom_op.general.quant import quant
    init = model.get_initializer(tensor)
    if init is not None:
        return np.asarray(init, dtype=np.float64)
    node = model.find_producer(tensor)
    if node is None:
        raise InputError(f"complete design: tensor {tensor} is neither constant nor computed")
    if node.op_type == "Quant":
        x, s, z, b = (const_value(model, t) for t in node.input[:4])
        a = _attrs(node)
        return np.asarray(quant(x, s, z, b, a.get("signed", 1), a.get("narrow", 0),
                                a.get("rounding_mode", b"ROUND").decode() if isinstance(a.get("rounding_mode"), bytes) else a.get("rounding_mode", "ROUND")),
                          dtype=np.float64)
    if node.op_type == "Transpose":
        perm = _attrs(node).get("perm")
        return np.transpose(const_value(model, node.input[0]), perm)
    if node.op_type == "Reshape":
        return const_value(model, node.input[0]).reshape(model.get_tensor_shape(node.output[0]))
    if node.op_type == "Identity":
        return const_value(model, node.input[0])
    raise _unsupported(node, "a constant computed by this op is not supported")


def _quant_params(model, node) -> tuple[np.ndarray, np.ndarray, int, bool, bool, str]:
    """(scale, zero point, bits, signed, narrow, rounding) of a Quant node with constant parameters.

    A BipolarQuant (+-1) is a 2-bit signed narrow grid [-1, 1] with rounding ``BIPOLAR`` (sign, 0 -> +1).
    """
    if node.op_type == "BipolarQuant":
        try:
            s = const_value(model, node.input[1])
        except InputError:
            raise _unsupported(node, "the scale must be a constant") from None
        if np.any(s <= 0):
            raise _unsupported(node, "scales must be positive")
        return s, np.zeros_like(s), 2, True, True, "BIPOLAR"
    if node.op_type != "Quant":
        raise _unsupported(node, f"{node.op_type} is not supported as a quantiser (Quant or BipolarQuant only)")
    try:
        s, z, b = (const_value(model, t) for t in node.input[1:4])
    except InputError:
        raise _unsupported(node, "scale, zero point and bit-width must be constants") from None
    a = _attrs(node)
    rnd = a.get("rounding_mode", "ROUND")
    rnd = rnd.decode() if isinstance(rnd, bytes) else rnd
    bits = float(np.asarray(b).item())
    if bits != int(bits) or bits < 2:
        raise _unsupported(node, f"bit-width {bits}: integer bit-widths >= 2 only")
    if np.any(z != 0):
        raise _unsupported(node, "a non-zero zero point is not supported")
    if np.any(s <= 0):
        raise _unsupported(node, "scales must be positive")
    return s, z, int(bits), bool(a.get("signed", 1)), bool(a.get("narrow", 0)), rnd


def _per_channel(value: np.ndarray, shape: list[int], stream: Stream, node, order=None) -> np.ndarray:
    """A constant broadcast over a tensor of ``shape`` -> one value per stream element (channel)."""
    full = np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
    if stream.kind == "pixels":
        per_c = full.reshape(shape[0], shape[1], -1)[0]
        if not np.all(per_c == per_c[:, :1]):
            raise _unsupported(node, "a constant varying over the spatial positions is not supported")
        return per_c[:, 0].copy()
    flat = full.reshape(-1)
    return flat[order] if order is not None else flat.copy()


def _check_uniform(stream: Stream, node) -> float:
    if not np.allclose(stream.scale, stream.scale.flat[0], rtol=0, atol=0):
        raise _unsupported(node, "its input has per-channel scales; a kernel needs one input scale")
    return float(stream.scale.flat[0])


class _Walker:
    def __init__(self, model, prefer: str = "auto"):
        self.m = model
        self.prefer = prefer
        self.stages: list[Stage] = []

    def consumers(self, tensor: str) -> list:
        outs = {o.name for o in self.m.graph.output}
        cons = self.m.find_consumers(tensor)
        if tensor in outs and cons:
            raise InputError(f"complete design: tensor {tensor} is a graph output and also feeds {cons[0].name}")
        return cons

    def shape(self, tensor: str) -> list[int]:
        s = self.m.get_tensor_shape(tensor)
        if s is None:
            raise InputError(f"complete design: tensor {tensor} has no inferred shape")
        return [int(d) for d in s]

    def emit(self, st: Stage, n_out: int = 1) -> Stage:
        """Append a stage reading the current stream; it writes ``n_out`` new streams."""
        st.src = [self.sid]
        st.dst = list(range(self.n_streams, self.n_streams + n_out))
        self.n_streams += n_out
        self.widths += [st.out.width] * n_out
        self.sid = st.dst[0]
        self.stages.append(st)
        return st

    def run(self) -> NetworkIR:
        m = self.m
        if len(m.graph.input) != 1 or len(m.graph.output) != 1:
            raise InputError("complete design: the model must have one input and one output")
        t = m.graph.input[0].name
        cons = self.consumers(t)
        # float preprocessing before the input quantiser (e.g. brevitas_examples' 2x - 1) stays outside the design
        while len(cons) == 1 and (cons[0].op_type in ("Flatten", "Reshape", "Identity") or (
                cons[0].op_type in ("Mul", "Div", "Add", "Sub") and len(cons[0].input) == 2
                and m.get_initializer(cons[0].input[1]) is not None)):
            t = cons[0].output[0]
            cons = self.consumers(t)
        if len(cons) != 1 or cons[0].op_type not in ("Quant", "BipolarQuant"):
            raise InputError("complete design: the model input must go (through reshapes and constant Mul/Add) into one "
                             "Quant node, "
                             f"found {', '.join(c.op_type + ' ' + c.name for c in cons) or 'the output'}",
                             "quantise the input (e.g. a QuantIdentity first), or declare its integer type with "
                             "model.input {bits, signed, scale} or a QONNX datatype annotation on the input")
        node = cons[0]
        s, _, bits, signed, narrow, _ = _quant_params(m, node)
        shape = self.shape(node.output[0])
        self.stream = self.new_stream(shape, bits, signed, *qrange(bits, signed, narrow), s, node)
        self.sid, self.n_streams, self.widths = 0, 1, [self.stream.width]
        self.chain, self.chain_shape, self.order, self.hwc = None, None, None, False
        inp, in_quant = self.stream, node.name
        t, join = self.walk(node.output[0])
        if self.hwc:
            raise InputError(f"complete design: the network output {t} is a channels-last (transposed) feature map",
                             "end the network with the feature map (NCHW) or a dense layer")
        if join is not None:
            raise _unsupported(join, "an Add of two computed tensors is supported only where a fork rejoins (residual)")
        stream, chain, offset = self.stream, self.chain, None
        if chain is not None:
            # logits: the accumulator, and the affine map after it (scale, bias, BatchNorm, brevitas' TensorNorm)
            if any(o.kind not in ("mul", "add", "bn") for o in chain.ops):
                raise InputError(f"complete design: the network output {t} is an accumulator followed by "
                                 f"{[o.node for o in chain.ops]}; only constant Mul/Div/Add/Sub/BatchNorm (or a final "
                                 "Quant) may follow")
            ch = np.arange(stream.channels)
            offset = chain.eval(np.zeros(len(ch)), ch, linear=True)
            stream.scale = chain.eval(np.ones(len(ch)), ch, linear=True) - offset
            if np.any(stream.scale == 0):          # a negative scale is exact: real value = integer * scale + offset
                raise InputError(f"complete design: the network output {t} has a zero scale in channel "
                                 f"{int(np.flatnonzero(stream.scale == 0)[0])} (after {[o.node for o in chain.ops]}): "
                                 "its integer is not recoverable from the output", "end the network with a Quant")
            if not np.any(offset):
                offset = None
        return NetworkIR(self.stages, inp, stream, in_quant, t, self.widths, self.sid, offset)

    def walk(self, t: str, first=None):
        """Follow the data path from tensor ``t`` (through ``first`` if given) to the output or a joining Add."""
        while True:
            if first is not None:
                node, first = first, None
            else:
                cons = self.consumers(t)
                if not cons:
                    return t, None
                if len(cons) > 1:
                    t = self.fork(t, cons)
                    continue
                node = cons[0]
            op = node.op_type
            if self.hwc and op not in ("Flatten", "Reshape", "Identity"):
                raise _unsupported(node, "after a Transpose to channels-last only a Flatten/Reshape to a vector is "
                                   "supported")
            if op == "Add" and all(self.m.get_initializer(i) is None and
                                   (self.m.find_producer(i) is None or self.m.find_producer(i).op_type != "Quant" or
                                    self.m.get_initializer(self.m.find_producer(i).input[0]) is None)
                                   for i in node.input):
                return t, node
            if op == "Identity":
                pass
            elif op in ("Conv", "MatMul", "Gemm"):
                if self.chain is not None:
                    raise _unsupported(node, "its input is not quantised (no Quant after the previous layer)")
                self.stream, self.chain = self.compute(node, self.stream, self.order)
                self.chain_shape, self.order = self.shape(node.output[0]), None
            elif op in ("Relu", "Mul", "Div", "Add", "Sub", "BatchNormalization", "Quant", "BipolarQuant", "Trunc"):
                if self.chain is None:
                    if op == "Relu" and not self.stream.signed:
                        t = node.output[0]
                        continue
                    self.chain = Chain(unit_scale=self.stream.scale.copy())   # ops on an integer stream, up to a Quant
                    self.chain_shape = self.shape(node.input[0])
                self.chain.ops.append(self.chain_op(node, self.stream, self.chain_shape, self.order))
                if op in ("Quant", "BipolarQuant", "Trunc"):
                    self.stream = self.requant(node, self.stream, self.chain)
                    self.chain = None
            elif op in ("AveragePool", "GlobalAveragePool"):
                if self.chain is not None:
                    raise _unsupported(node, "pooling an accumulator (before its Quant) is not supported")
                self.stream, k = self.pool(node, self.stream, "sum")
                self.chain = Chain(unit_scale=self.stream.scale / k)      # the mean: sum / K, into the next Quant
                self.chain_shape = self.shape(node.output[0])
            elif op == "MaxPool":
                if self.chain is not None:
                    raise _unsupported(node, "max-pooling of an accumulator (before its Quant) is not supported")
                self.stream = self.maxpool(node, self.stream)
            elif op == "Transpose":
                perm = list(_attrs(node).get("perm", []))
                if self.chain is not None or self.stream.kind != "pixels" or \
                        perm != ([0, 2, 3, 1] if len(self.shape(node.input[0])) == 4 else [0, 2, 1]):
                    raise _unsupported(node, f"perm {perm} on a {self.stream.kind} stream"
                                       f"{' (an accumulator)' if self.chain is not None else ''}: only a quantised "
                                       "feature map to channels-last, followed by a Flatten/Reshape, is supported")
                self.hwc = True          # the stream is already channels-last: the next flatten keeps its order
            elif op in ("Flatten", "Reshape"):
                if self.chain is not None:
                    raise _unsupported(node, "reshaping an accumulator before its Quant is not supported")
                self.stream, self.order = self.flatten(node, self.stream, self.order)
            else:
                raise _unsupported(node, "op not supported")
            t = node.output[0]

    def fork(self, t: str, cons: list) -> str:
        """A residual block: the stream forks, both branches run to one Add, which sums two integer streams."""
        names = ", ".join(c.name for c in cons)
        if len(cons) != 2 or self.chain is not None or self.stream.kind != "pixels":
            raise InputError(f"complete design: tensor {t} feeds {names}; only a quantised feature map forking into "
                             "two branches that rejoin at an Add (residual block) is supported")
        base = self.stream
        self.emit(Stage("fork", t, base, base, params=dict(W=base.width)), n_out=2)
        fork_stage = self.stages[-1]
        ends = []
        for i, c in enumerate(cons):
            self.sid, self.stream, self.order = fork_stage.dst[i], base, None
            n0 = len(self.stages)
            tt, join = self.walk(t, first=c if c.op_type != "Add" else None) if c.op_type != "Add" else (t, c)
            if join is None:
                raise _unsupported(c, f"the branch from tensor {t} does not rejoin at an Add")
            if self.chain is not None:
                raise _unsupported(join, "both inputs of a residual Add must be quantised (a Quant on each branch)")
            ends.append((join, self.sid, self.stream, self.stages[n0:]))
        (ja, sa, a, stages_a), (jb, sb, b, stages_b) = ends
        if ja.name != jb.name:
            raise _unsupported(ja, f"the branches from tensor {t} end at different Adds ({ja.name}, {jb.name})")
        if a.scale.shape != b.scale.shape or not np.array_equal(a.scale, b.scale):
            raise _unsupported(ja, "both inputs of a residual Add must have the same scale (share one quantiser)")
        if a.beats != b.beats or a.channels != b.channels:
            raise _unsupported(ja, "both inputs of a residual Add must have the same shape")
        # the skip FIFO goes on the branch without a window and holds what the other branch buffers; with a window on
        # both branches (a downsampling shortcut), each branch gets one sized from the other branch's lead
        wa, wb = (any(s.kind == "window" for s in st) for st in (stages_a, stages_b))
        sids = {"a": sa, "b": sb}
        for side, stream, other in (("a", a, stages_b), ("b", b, stages_a)):
            if (side == "a" and (wb or not wa)) or (side == "b" and wa):
                depth = skip_depth(other)
                self.sid, self.stream = sids[side], stream
                self.emit(Stage("fifo", ja.name + (".skip" if not (wa and wb) else f".{side}"), stream, stream,
                                info={"other_branch": other},
                                params=dict(W=stream.width, DEPTH=depth, CW=max(2, depth.bit_length() + 1))))
                sids[side] = self.sid
        sa, sb = sids["a"], sids["b"]
        bits = max(a.bits + (0 if a.signed else 1), b.bits + (0 if b.signed else 1)) + 1
        out = Stream("pixels", a.channels, a.beats, a.spatial, bits, True, a.lo + b.lo, a.hi + b.hi, a.scale.copy())
        self.sid = sa
        st = self.emit(Stage("add", ja.name, a, out, params=dict(C=a.channels, AW=a.bits, BW=b.bits, OW=bits,
                                                                  SA=int(a.signed), SB=int(b.signed))))
        st.src = [sa, sb]
        self.stream = out
        return ja.output[0]

    def new_stream(self, shape, bits, signed, lo, hi, scale, node) -> Stream:
        if len(shape) == 2:
            c = shape[1]
            st = Stream("vector", c, 1, (1, 1), bits, signed, np.full(c, lo), np.full(c, hi), np.zeros(c))
        elif len(shape) in (3, 4):
            c = shape[1]
            sp = (1, shape[2]) if len(shape) == 3 else (shape[2], shape[3])
            st = Stream("pixels", c, sp[0] * sp[1], sp, bits, signed, np.full(c, lo), np.full(c, hi), np.zeros(c))
        else:
            raise _unsupported(node, f"tensor rank {len(shape)}: 2-D (vector), 3-D (1-D maps) or 4-D (2-D maps) only")
        st.scale = _per_channel(scale, shape, st, node)
        return st

    def chain_op(self, node, stream: Stream, shape, order) -> Op:
        op = node.op_type
        pc = lambda v: _per_channel(v, shape, stream, node, order)
        if op == "Relu":
            return Op("relu", node.name)
        if op in ("Quant", "BipolarQuant"):
            s, z, bits, signed, narrow, rnd = _quant_params(self.m, node)
            lo, hi = qrange(bits, signed, narrow)
            return Op("quant", node.name, a=pc(s), b=pc(z), lo=lo, hi=hi, rounding=rnd)
        if op == "Trunc":
            return self.trunc_op(node, pc)
        if op == "BatchNormalization":
            g, b, mu, var = (const_value(self.m, t) for t in node.input[1:5])
            eps = _attrs(node).get("epsilon", 1e-5)
            k = g / np.sqrt(var + eps)
            return Op("bn", node.name, a=pc(k.reshape(1, -1, *([1] * (len(shape) - 2)))),
                      b=pc((b - mu * k).reshape(1, -1, *([1] * (len(shape) - 2)))))
        try:
            c = const_value(self.m, node.input[1])
        except InputError:
            raise _unsupported(node, "the second operand must be a constant") from None
        if op == "Mul":
            return Op("mul", node.name, a=pc(c))
        if op == "Div":
            return Op("mul", node.name, a=pc(1.0 / c))
        if op == "Add":
            return Op("add", node.name, a=pc(c))
        return Op("add", node.name, a=pc(-c))

    def trunc_op(self, node, pc) -> Op:
        """QONNX Trunc (qonnx.custom_op.general.trunc, the version the model's opset imports): v1 (x, scale, zero point,
        in bits, out bits) drops in - out bits and keeps the input scale; v2 (x, scale, zero point, in bits, out scale,
        out bits; signed/narrow) divides by 2**round(log2(out scale / scale)), clamps to the output grid."""
        from qonnx.custom_op.general.trunc import Trunc_v1
        a = _attrs(node)
        rnd = a.get("rounding_mode", "FLOOR")
        rnd = (rnd.decode() if isinstance(rnd, bytes) else rnd).upper()
        try:
            vals = [const_value(self.m, t) for t in node.input[1:]]
            round_mode(np.zeros(1), rnd)
        except InputError as exc:
            raise _unsupported(node, f"scales, zero point and bit-widths must be constants, the rounding mode one QONNX "
                               f"defines ({exc.message})") from None
        v1 = isinstance(self.m.get_customop_wrapper(node), Trunc_v1)
        if len(vals) != (4 if v1 else 5):
            raise _unsupported(node, f"{len(node.input)} inputs; Trunc v{1 if v1 else 2} (the model's opset) has "
                               f"{5 if v1 else 6}")
        s, z = vals[0], vals[1]
        if np.any(z != 0):
            raise _unsupported(node, "a non-zero zero point is not supported")
        if np.any(s <= 0):
            raise _unsupported(node, "scales must be positive")
        if v1:
            ts, out_s, lo, hi = 2.0 ** (vals[2] - vals[3]), s, 0, 0
            ts = np.broadcast_to(ts, np.shape(s)) if np.ndim(ts) == 0 else ts
        else:
            out_s, bits = vals[3], float(np.asarray(vals[4]).item())
            if np.any(out_s <= 0) or bits != int(bits) or bits < 1:
                raise _unsupported(node, "the output scale must be positive and the output bit-width an integer >= 1")
            ts = 2.0 ** np.round(np.log2(np.asarray(out_s, dtype=np.float64) / s))
            lo, hi = qrange(int(bits), bool(a.get("signed", 1)), bool(a.get("narrow", 0)))
        return Op("trunc", node.name, a=pc(s), b=pc(z), lo=lo, hi=hi, rounding=rnd, trunc_scale=pc(ts),
                  out_scale=pc(out_s), clamp=not v1)

    def compute(self, node, stream: Stream, order) -> tuple[Stream, Chain]:
        """Window (conv) + kernel stages; returns the accumulator stream and its chain."""
        from ohq_flow.hw.rtl.cmvm import conv_kernel_matrix
        m, a = self.m, _attrs(node)
        wq = m.find_producer(node.input[1])
        w_int, w_scale, w_bits = self.weights(node)
        in_scale = _check_uniform(stream, node)
        bias = const_value(m, node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if node.op_type == "Conv":
            if stream.kind != "pixels":
                raise _unsupported(node, "a convolution needs a feature-map input")
            k = list(a.get("kernel_shape", w_int.shape[2:]))
            nd = len(k)
            if any(d != 1 for d in a.get("dilations", [1] * nd)):
                raise _unsupported(node, "dilation must be 1")
            st = list(a.get("strides", [1] * nd))
            pads = list(a.get("pads", [0] * 2 * nd))
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise _unsupported(node, "auto_pad is not supported; export explicit pads")
            pointwise = all(v == 1 for v in k + st) and not any(pads)
            win = stream if pointwise else self.window(node, stream, k, st, pads)
            mat = conv_kernel_matrix(w_int, int(a.get("group", 1)))   # block-diagonal for grouped/depthwise
            out_shape = self.shape(node.output[0])
            n_out = out_shape[1]
        else:
            if stream.kind != "vector":
                raise _unsupported(node, "a dense layer needs a vector input (Flatten first)")
            if node.op_type == "Gemm" and (a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0)):
                raise _unsupported(node, "alpha/beta must be 1 and transA 0")
            mat = w_int.T if node.op_type == "Gemm" and a.get("transB", 0) else w_int
            if order is not None:
                mat = mat[order]
            win = stream
            out_shape = self.shape(node.output[0])
            n_out = mat.shape[1]
        w_col = np.broadcast_to(np.asarray(w_scale, dtype=np.float64).reshape(-1) if np.size(w_scale) > 1
                                else np.asarray(w_scale, dtype=np.float64).reshape(1), (n_out,)).copy()
        lo_in = np.minimum(win.lo, 0) if node.op_type == "Conv" else win.lo
        hi_in = np.maximum(win.hi, 0) if node.op_type == "Conv" else win.hi
        mat64 = mat.astype(np.int64)
        amin = (np.minimum(mat64 * lo_in[:, None], mat64 * hi_in[:, None])).sum(0)
        amax = (np.maximum(mat64 * lo_in[:, None], mat64 * hi_in[:, None])).sum(0)
        kind = "pixels" if node.op_type == "Conv" else "vector"
        sp = stream.spatial if kind == "vector" else ((1, out_shape[2]) if len(out_shape) == 3 else (out_shape[2], out_shape[3]))
        acc = Stream(kind, n_out, 1 if kind == "vector" else sp[0] * sp[1], sp if kind == "pixels" else (1, 1), 0, True,
                     amin, amax, in_scale * w_col)
        self.emit(Stage("kernel", node.name, win, acc,
                                 info={"matrix": mat64, "w_bits": w_bits, "weight_quant": wq.name,
                                       "in_bits": win.bits, "in_signed": bool(win.signed), "groups": int(a.get("group", 1)),
                                       "row_order": order if node.op_type != "Conv" else None}))
        chain = Chain(unit_scale=in_scale * w_col)
        if bias is not None:
            chain.ops.append(Op("add", node.name + ".bias", a=np.broadcast_to(bias.reshape(-1), (n_out,)).copy()))
        return acc, chain

    def weights(self, node):
        """(integer weights, scale, bits for the kernel) from the weight's Quant node."""
        prod, path = upstream(self.m, node.input[1], ("Transpose", "Reshape", "Identity"))
        path = path[::-1]                  # nearest first
        if prod is None or prod.op_type not in ("Quant", "BipolarQuant") or self.m.get_initializer(prod.input[0]) is None:
            raise _unsupported(node, "weights must be a constant through a Quant or BipolarQuant node")
        s, z, bits, signed, narrow, rnd = _quant_params(self.m, prod)
        w = np.asarray(self.m.get_initializer(prod.input[0]), dtype=np.float64)
        lo, hi = qrange(bits, signed, narrow)
        w_int = round_mode(w / s, rnd) if rnd == "BIPOLAR" else round_mode(np.clip(w / s, lo, hi), rnd)
        for p in reversed(path):
            if p.op_type == "Transpose":
                w_int = np.transpose(w_int, _attrs(p).get("perm"))
                if np.size(s) > 1:
                    s = np.transpose(np.broadcast_to(s, w.shape), _attrs(p).get("perm"))
            elif p.op_type == "Reshape":
                if np.size(s) > 1:
                    raise _unsupported(node, "a per-channel weight scale through a Reshape is not supported")
                w_int = w_int.reshape(self.shape(p.output[0]))
        if node.op_type == "Conv":
            scale = np.asarray(s).reshape(-1) if np.size(s) > 1 else np.asarray(s).reshape(1)
        else:
            trans = node.op_type == "Gemm" and _attrs(node).get("transB", 0)
            if np.size(s) > 1:
                sc = np.broadcast_to(s, w_int.shape)
                per_col = sc[:, 0] if trans else sc[0, :]
                if not np.all(sc == (per_col[:, None] if trans else per_col[None, :])):
                    raise _unsupported(node, "weight scales must be per output channel")
                scale = per_col
            else:
                scale = np.asarray(s).reshape(1)
        return w_int.astype(np.int64), scale, bits if signed else bits + 1

    def window(self, node, stream: Stream, k, st, pads, pad_min: bool = False) -> Stream:
        """A window stage; ``pad_min``: pad with the stream's smallest EW-bit value (MaxPool: -inf semantics)."""
        nd = len(k)
        h, w = stream.spatial
        if nd == 1:
            kh, kw, sh, sw, pt, pl, pb, pr = 1, k[0], 1, st[0], 0, pads[0], 0, pads[1]
        elif nd == 2:
            (kh, kw), (sh, sw), (pt, pl, pb, pr) = k, st, pads
        else:
            raise _unsupported(node, f"{nd}-D windows are not supported (1-D and 2-D only)")
        oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
        if pt >= kh or pl >= kw:
            raise _unsupported(node, "padding must be smaller than the kernel")
        r = 1
        while r < kh + sh:
            r *= 2
        kk = kh * kw
        out = Stream("pixels", stream.channels * kk, oh * ow, (oh, ow), stream.bits, stream.signed,
                     np.repeat(stream.lo, kk), np.repeat(stream.hi, kk), np.repeat(stream.scale, kk))
        self.emit(Stage("window", node.name, stream, out,
                                 params=dict(C=stream.channels, EW=stream.bits, H=h, W=w, KH=kh, KW=kw, SH=sh, SW=sw,
                                             PT=pt, PL=pl, OH=oh, OW=ow, R=r, RB=max(1, r.bit_length() - 1),
                                             PADV=(1 << (stream.bits - 1)) if pad_min and stream.signed else 0)))
        return out

    def requant(self, node, stream: Stream, chain: Chain) -> Stream:
        rq: Requant = build_requant(chain, stream.lo.astype(np.int64), stream.hi.astype(np.int64), node.name, self.prefer)
        out = Stream(stream.kind, stream.channels, stream.beats, stream.spatial, rq.out_bits, rq.out_signed,
                     rq.lo.copy(), rq.hi.copy(), (chain.quant.out_scale if chain.quant.kind == "trunc" else chain.quant.a).copy())
        self.emit(Stage("requant", ",".join(o.node for o in chain.ops), stream, out, info={"requant": rq}))
        return out

    def maxpool(self, node, stream: Stream) -> Stream:
        return self.pool(node, stream, "max")[0]

    def pool(self, node, stream: Stream, op: str) -> tuple[Stream, int]:
        """Window + per-channel max or sum; returns (stream, window size)."""
        a = _attrs(node)
        if stream.kind != "pixels":
            raise _unsupported(node, "pooling needs a feature map")
        if node.op_type == "GlobalAveragePool":
            h, w = stream.spatial
            k, strides = ([w] if len(self.shape(node.input[0])) == 3 else [h, w]), None
        else:
            k = list(a["kernel_shape"])
            strides = list(a.get("strides", k))
        nd = len(k)
        pads = list(a.get("pads", [0] * 2 * nd))
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1] * nd)) or \
                a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise _unsupported(node, "pooling with ceil_mode, auto_pad or dilation is not supported")
        if any(pads) and op != "max":
            raise _unsupported(node, "average pooling with padding is not supported")
        if any(p >= kk for p, kk in zip(pads, k + k)):
            raise _unsupported(node, "padding must be smaller than the kernel")
        # MaxPool pads are -inf: the window pads with the smallest value of the stream's integer type (0 unsigned),
        # which never exceeds a real element, and every window holds at least one real element (pad < kernel)
        win = self.window(node, stream, k, strides or k, pads, pad_min=True)
        kk = int(np.prod(k))
        if op == "max":
            bits, lo, hi = stream.bits, stream.lo.copy(), stream.hi.copy()
        else:
            lo, hi = stream.lo * kk, stream.hi * kk
            bits = int(max(int(abs(lo).max()), int(abs(hi).max()))).bit_length() + 1
        out = Stream("pixels", stream.channels, win.beats, win.spatial, bits, stream.signed or op == "sum",
                     lo, hi, stream.scale.copy())
        self.emit(Stage("maxpool" if op == "max" else "sumpool", node.name, win, out,
                        params=dict(C=stream.channels, K=kk, EW=stream.bits, SIGNED=int(stream.signed),
                                    OP=int(op == "sum"), OW=bits)))
        return out, kk

    def flatten(self, node, stream: Stream, order):
        shape_out = self.shape(node.output[0])
        if len(shape_out) != 2 or shape_out[0] != 1:
            raise _unsupported(node, f"output shape {shape_out}: only flattening to [1, N] is supported")
        if stream.kind == "vector":
            return stream, order
        c = stream.channels
        hw = stream.beats
        n = c * hw
        new_order = np.array([ci * hw + p for p in range(hw) for ci in range(c)], dtype=np.int64)
        if self.hwc:                   # Transpose to channels-last first: the model flattens in stream order
            new_order, self.hwc = np.arange(n, dtype=np.int64), False
        vec = Stream("vector", n, 1, (1, 1), stream.bits, stream.signed, np.tile(stream.lo, hw), np.tile(stream.hi, hw),
                     np.tile(stream.scale, hw))
        if hw > 1:
            self.emit(Stage("collect", node.name, stream, vec, params=dict(N=hw, BW=stream.width)))
        return vec, new_order


def kernel_row_orders(model) -> dict[str, np.ndarray]:
    """Per dense layer (compute node) whose input the design streams in another order than the model's (a feature
    map flattened channels-last): the order of its kernel matrix's rows in the design (``matrix[order]``). The
    profile costs the kernel in this order, so the measured kernel is the one the build generates (da4ml's adder
    graph, its cost and latency depend on the row order). Empty when the design cannot build the model."""
    from ohq_flow.errors import ModelError
    try:
        ir = build_ir(model)
    except (InputError, ModelError):
        return {}
    out = {}
    for s in ir.stages:
        order = s.info.get("row_order") if s.kind == "kernel" else None
        if order is not None and not np.array_equal(order, np.arange(len(order))):
            out[s.node] = np.asarray(order, dtype=np.int64)
    return out


def build_ir(model, prefer: str = "auto", output: str = "logits") -> NetworkIR:
    """The streaming stages of ``model`` (raises InputError naming the first unsupported node).

    ``output="argmax"`` ends the stream with the index of the largest output element (one beat per frame).
    """
    ir = _Walker(model, prefer).run()
    if output == "argmax":
        _add_argmax(ir)
    elif output != "logits":
        raise InputError(f"build.output: {output!r} is not an output form", "use logits or argmax")
    return ir


def _add_argmax(ir: NetworkIR) -> None:
    """Append an argmax stage; exact only where one scale and one offset serve every element."""
    o = ir.out
    off = ir.out_offset if ir.out_offset is not None else np.zeros(o.channels)
    if o.kind != "vector" or o.beats != 1:
        raise InputError(f"build.output: argmax needs a vector output (one beat per frame); the network output "
                         f"{ir.out_tensor} is a feature map of {o.beats} pixels x {o.channels} channels",
                         "use build.output: logits")
    if np.ptp(o.scale) != 0 or np.ptp(off) != 0 or o.scale[0] < 0:
        raise InputError(f"build.output: argmax over the integers of {ir.out_tensor} would not be the argmax of the "
                         "logits: their scales/offsets differ per element (per-channel output scale), or the "
                         "scale is negative",
                         "use build.output: logits, or a per-tensor scale in the last layer")
    iw = max(1, (o.channels - 1).bit_length())
    out = Stream("vector", 1, 1, (1, 1), iw, False, np.zeros(1), np.full(1, o.channels - 1), np.ones(1))
    st = Stage("argmax", ir.out_tensor + ".argmax", o, out, params=dict(C=o.channels, EW=o.bits, SIGNED=int(o.signed), IW=iw))
    st.src, st.dst = [ir.out_sid], [len(ir.widths)]
    ir.widths.append(out.width)
    ir.stages.append(st)
    ir.out, ir.out_sid, ir.out_offset = out, st.dst[0], None


def pack_bipolar(ir: NetworkIR) -> int:
    """Pack +-1 (BipolarQuant) streams as 1 bit per element (bit b means 2b - 1); returns the streams packed.

    A binary requantiser's output is packed when every stage it reaches until a kernel is a window without zero
    padding (or one feeding a max-pool: its pad, bit 0 = -1, never wins), a max-pool (the max of the bits is the
    bit of the max) or a collect, and it ends at a kernel or folded layer (widened to 2-bit signed there by
    ``ohq_unpack_bipolar``). Otherwise (an add, a fork, an average, the output) it stays 2-bit.
    """
    consumer = {sid: st for st in ir.stages for sid in st.src}
    packed = 0
    for st in list(ir.stages):
        if st.kind != "requant" or st.info["requant"].step != 2:
            continue
        group, sid = [st], st.dst[0]
        while sid != ir.out_sid and sid in consumer:
            nxt = consumer[sid]
            if nxt.kind == "window":
                p = nxt.params
                padded = p["PT"] or p["PL"] or (p["OH"] - 1) * p["SH"] + p["KH"] > p["H"] or \
                    (p["OW"] - 1) * p["SW"] + p["KW"] > p["W"]
                if padded and consumer.get(nxt.dst[0]) is not None and consumer[nxt.dst[0]].kind != "maxpool":
                    break
            elif nxt.kind not in ("maxpool", "collect", "kernel", "mvau"):
                break
            group.append(nxt)
            if nxt.kind in ("kernel", "mvau"):
                break
            sid = nxt.dst[0]
        if group[-1].kind not in ("kernel", "mvau"):
            continue
        for g in group[:-1]:
            g.out.bits, g.out.signed, g.out.packed = 1, False, True
            if g.kind == "window":
                g.params.update(EW=1, PADV=0)
            elif g.kind == "maxpool":
                g.params.update(EW=1, SIGNED=0, OW=1)
            elif g.kind == "collect":
                g.params.update(BW=g.inp.width)
            packed += 1
        st.info["packed"] = True
        group[-1].info["unpack"] = group[-1].inp.channels
        for g in group:
            ir.widths[g.dst[0]] = g.out.width
    return packed


def check_supported(model, output: str = "logits") -> list[str]:
    """Problems that stop the complete design (node, op, attributes, what is supported); empty = supported."""
    problems = []
    for node in model.graph.node:
        if node.op_type not in SUPPORTED:
            problems.append(f"{_describe(node)}: op not supported; supported ops: {', '.join(sorted(SUPPORTED))}")
    if problems:
        return problems
    try:
        build_ir(model, prefer="thresholds", output=output)
    except InputError as exc:
        problems.append(str(exc))
    return problems


def require_supported(model, output: str = "logits") -> None:
    """:func:`check_supported`, raising one InputError (exit 2) that lists every problem."""
    problems = check_supported(model, output)
    if problems:
        raise InputError("the complete design (build.design) cannot be generated for this model:\n  - "
                         + "\n  - ".join(p.replace("\n", "\n    ") for p in problems),
                         "change the model, or set build.design: false to build the per-layer kernels only")
