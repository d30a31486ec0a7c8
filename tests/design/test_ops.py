"""Operators of the complete design beyond the basics: Trunc, padded MaxPool, residual blocks with a convolution on
both branches, 1-bit +-1 streams. Tiny real Brevitas models (or QONNX edited where Brevitas cannot produce the
case), simulated whole in Icarus against the QONNX executor (>= 128 inputs, back to back and with random
gaps/back-pressure)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brevitas import nn as qnn

from ohq_flow.design import check_supported, generate_design
from ohq_flow.design.golden import run_stages
from ohq_flow.design.graph import build_ir
from ohq_flow.design.sim import integer_io
from ohq_flow.model.export import export_brevitas
from tests.design.test_network import N_INPUTS, _check as _network_check


def _check(model, x, tmp_path):
    """Generate, simulate whole in Icarus (tiny models): 0 mismatches, tlast, latency/II = prediction."""
    return _network_check(model, x, tmp_path, simulator="iverilog")


def _golden_equals_executor(model, x):
    """The stage-list integer model (what the RTL computes) equals the QONNX executor on every input."""
    ir = build_ir(model)
    meta = {"input_quant": ir.input_quant, "in_beats": ir.inp.beats, "in_channels": ir.inp.channels,
            "in_scale": list(ir.inp.scale), "out_beats": ir.out.beats, "out_channels": ir.out.channels,
            "out_scale": list(ir.out.scale), "out_offset": list(ir.out_offset if ir.out_offset is not None else [0.0])}
    x_int, y = integer_io(model, meta, x)
    for i in range(len(x)):
        got = np.asarray(run_stages(ir, x_int[i])[-1], dtype=np.int64)
        assert np.array_equal(got.reshape(y[i].shape), y[i]), (i, got, y[i])
    return ir


# ---------------------------------------------------------------- Trunc

class _TruncNet(torch.nn.Module):
    """conv -> 4-bit ReLU -> TruncAvgPool (QONNX AveragePool + Trunc v2) -> dense."""

    def __init__(self, rounding="floor"):
        super().__init__()
        self.inp = qnn.QuantIdentity(return_quant_tensor=True)
        self.c = qnn.QuantConv2d(2, 4, 3, padding=1, bias=False)
        self.r = qnn.QuantReLU(return_quant_tensor=True, bit_width=4)
        self.p = qnn.TruncAvgPool2d(2, bit_width=4, float_to_int_impl_type=rounding)
        self.fc = qnn.QuantLinear(16, 3, bias=False)

    def forward(self, x):
        return self.fc(torch.flatten(self.p(self.r(self.c(self.inp(x)))), 1))


@pytest.fixture(scope="module")
def trunc_model(tmp_path_factory):
    torch.manual_seed(0)
    return export_brevitas(_TruncNet().eval(), [1, 2, 4, 4], tmp_path_factory.mktemp("trunc") / "trunc.onnx")


def test_trunc_avgpool_bit_exact(trunc_model, tmp_path):
    assert "Trunc" in {n.op_type for n in trunc_model.graph.node}
    x = np.random.default_rng(0).normal(0, 1, size=(N_INPUTS, 2, 4, 4)).astype(np.float32)
    design, _ = _check(trunc_model, x, tmp_path)
    kinds = [s["kind"] for s in design.meta["stages"]]
    assert "sumpool" in kinds
    rq = [s for s in design.meta["stages"] if s["kind"] == "requant" and "Trunc" in s["node"]]
    assert len(rq) == 1 and rq[0]["out_bits"] == 4 and not rq[0]["out_signed"]


def _trunc_v1(model):
    """The same graph with a QONNX Trunc v1 (x, scale, zero point, in bits, out bits; no clamp, keeps the input
    scale): Brevitas exports v2 only, so the node and the opset import are edited."""
    from onnx import helper
    from qonnx.core.modelwrapper import ModelWrapper
    m = ModelWrapper(model.model.__deepcopy__())
    node = next(n for n in m.graph.node if n.op_type == "Trunc")
    rnd = next(a for a in node.attribute if a.name == "rounding_mode").s.decode()
    new = helper.make_node("Trunc", list(node.input[:4]) + [node.input[5]], list(node.output), name=node.name,
                           domain=node.domain, rounding_mode=rnd)
    idx = list(m.graph.node).index(node)
    m.graph.node.remove(node)
    m.graph.node.insert(idx, new)
    next(o for o in m.model.opset_import if o.domain == node.domain).version = 1
    return m


class _SignedTruncNet(torch.nn.Module):
    """signed 8-bit input -> TruncAvgPool 2x2 to 5 bits (signed) -> dense: negative sums exercise every mode."""

    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(return_quant_tensor=True)
        self.p = qnn.TruncAvgPool2d(2, bit_width=5, float_to_int_impl_type="round")
        self.fc = qnn.QuantLinear(8, 3, bias=False)

    def forward(self, x):
        return self.fc(torch.flatten(self.p(self.inp(x)), 1))


def _set_rounding(model, mode):
    from qonnx.core.modelwrapper import ModelWrapper
    model = ModelWrapper(model.model.__deepcopy__())
    for n in model.graph.node:
        if n.op_type == "Trunc":
            next(a for a in n.attribute if a.name == "rounding_mode").s = mode.encode()
    return model


def test_trunc_v1_and_every_rounding_mode_integer_model_exact(trunc_model, tmp_path):
    """Every rounding mode QONNX's Trunc defines, Trunc v1 and v2, unsigned (after a ReLU) and signed streams (the
    rounding attribute edited): the stage list's integers equal the executor's; the requantiser RTL is checked per
    rounding mode in test_requant.py, a v1 Trunc in Icarus below."""
    torch.manual_seed(0)
    signed = export_brevitas(_SignedTruncNet().eval(), [1, 2, 4, 4], tmp_path / "strunc.onnx")
    x = np.random.default_rng(1).normal(0, 1, size=(16, 2, 4, 4)).astype(np.float32)
    outs = set()
    for mode in ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]:
        for base in (trunc_model, signed):
            for m in (_set_rounding(base, mode), _trunc_v1(_set_rounding(base, mode))):
                ir = _golden_equals_executor(m, x)
                rq = next(st for st in ir.stages if st.kind == "requant" and "Trunc" in st.node)
                outs.add((mode, base is signed, rq.out.signed, tuple(rq.info["requant"].hi)))
    assert any(s for _, _, s, _ in outs) and not all(s for _, _, s, _ in outs)
    # the modes differ on these inputs (a mode ignored would make two results equal everywhere)
    assert len({o[3] for o in outs if o[1]}) > 1


def test_trunc_v1_bit_exact(trunc_model, tmp_path):
    m = _trunc_v1(_set_rounding(trunc_model, "HALF_UP"))
    assert m.get_opset_imports()["qonnx.custom_op.general"] == 1
    x = np.random.default_rng(2).normal(0, 1, size=(N_INPUTS, 2, 4, 4)).astype(np.float32)
    _check(m, x, tmp_path)


# ---------------------------------------------------------------- MaxPool with padding

class _PadPoolNet(torch.nn.Module):
    """A signed stream (no ReLU: a zero pad would win) max-pooled 3x3 stride 2 pad 1, a 1x1 conv, then a padded
    2x2 max-pool of an unsigned (ReLU) stream; dense head."""

    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(return_quant_tensor=True)
        self.c = qnn.QuantConv2d(2, 4, 3, padding=1, bias=False)
        self.q = qnn.QuantIdentity(return_quant_tensor=True, bit_width=4)
        self.p0 = torch.nn.MaxPool2d(3, stride=2, padding=1)
        self.c2 = qnn.QuantConv2d(4, 4, 1, bias=False)
        self.r = qnn.QuantReLU(return_quant_tensor=True, bit_width=3)
        self.p1 = torch.nn.MaxPool2d(2, stride=1, padding=1)
        self.fc = qnn.QuantLinear(4 * 4 * 4, 3, bias=False)

    def forward(self, x):
        y = self.p0(self.q(self.c(self.inp(x))))
        return self.fc(torch.flatten(self.p1(self.r(self.c2(y))), 1))


def test_maxpool_with_padding_bit_exact(tmp_path):
    torch.manual_seed(0)
    model = export_brevitas(_PadPoolNet().eval(), [1, 2, 6, 6], tmp_path / "padpool.onnx")
    pads = [list(next(a.ints for a in n.attribute if a.name == "pads")) for n in model.graph.node if n.op_type == "MaxPool"]
    assert pads == [[1, 1, 1, 1], [1, 1, 1, 1]]
    # shifted inputs: most values negative, so a zero pad would win the first max-pool
    x = (np.random.default_rng(0).normal(0, 1, size=(N_INPUTS, 2, 6, 6)) - 1.5).astype(np.float32)
    design, _ = _check(model, x, tmp_path)
    wins = [s for s in design.meta["stages"] if s["kind"] == "window" and s["node"].startswith("MaxPool")]
    assert [w["PADV"] for w in wins] == [8, 0]          # 4-bit signed: -8 (pattern 8); unsigned: 0
    # the zero-padded result would differ: some border window's real elements are all negative
    ir = build_ir(model)
    k = next(i for i, s in enumerate(ir.stages) if s.kind == "window" and s.node.startswith("MaxPool"))
    x_int, _ = integer_io(model, design.meta, x[:16])
    ref = [run_stages(ir, x_int[i])[k + 1] for i in range(16)]
    ir.stages[k].params["PADV"] = 0
    assert any(not np.array_equal(run_stages(ir, x_int[i])[k + 1], ref[i]) for i in range(16))


class _Conv5Net(torch.nn.Module):
    """A 5x5 convolution (padding 2, stride 2): a window of 25 positions, whose line buffer is a copy per position."""

    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(return_quant_tensor=True)
        self.c = qnn.QuantConv2d(2, 3, 5, padding=2, stride=2, bias=False)
        self.r = qnn.QuantReLU(return_quant_tensor=True, bit_width=4)
        self.fc = qnn.QuantLinear(3 * 3 * 3, 4, bias=False)

    def forward(self, x):
        return self.fc(torch.flatten(self.r(self.c(self.inp(x))), 1))


def test_5x5_window_with_a_line_buffer_copy_per_position_bit_exact(tmp_path):
    torch.manual_seed(0)
    model = export_brevitas(_Conv5Net().eval(), [1, 2, 6, 6], tmp_path / "conv5.onnx")
    x = np.random.default_rng(0).normal(0, 1, size=(N_INPUTS, 2, 6, 6)).astype(np.float32)
    design, _ = _check(model, x, tmp_path)
    win = next(s for s in design.meta["stages"] if s["kind"] == "window")
    assert win["KH"] * win["KW"] == 25
    assert "g_copy" in (design.out_dir / "rtl" / "ohq_window.v").read_text()


def test_average_pool_with_padding_refused(tmp_path):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(return_quant_tensor=True)
            self.p = torch.nn.AvgPool2d(3, stride=1, padding=1)
            self.q = qnn.QuantIdentity()

        def forward(self, x):
            return self.q(self.p(self.inp(x).value))

    model = export_brevitas(Net().eval(), [1, 2, 4, 4], tmp_path / "avgpad.onnx")
    problems = check_supported(model)
    assert len(problems) == 1 and "AveragePool_0 (AveragePool, attributes {" in problems[0], problems
    assert "average pooling with padding is not supported" in problems[0] and "'pads': [1, 1, 1, 1]" in problems[0]


# ---------------------------------------------------------------- residual block, convolution on both branches

class _DownBlockNet(torch.nn.Module):
    """ResNet-style downsampling block with float per-channel scales and BatchNorm: stem 3x3 conv -> [3x3 stride-2
    conv + BN + ReLU -> 3x3 conv + BN] + [1x1 stride-2 conv + BN] -> ReLU -> dense. ``shared``: both branch ends go
    through one quantiser (one scale at the Add); otherwise each has its own."""

    def __init__(self, shared=True):
        super().__init__()
        from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Uint8ActPerTensorFloat
        wq = dict(weight_quant=Int8WeightPerChannelFloat, bias=False)
        u = dict(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
        s = dict(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
        self.inp = qnn.QuantIdentity(**s)
        self.stem = qnn.QuantConv2d(1, 4, 3, padding=1, **wq)
        self.r0 = qnn.QuantReLU(**u)
        self.c1 = qnn.QuantConv2d(4, 4, 3, stride=2, padding=1, **wq)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.r1 = qnn.QuantReLU(**u)
        self.c2 = qnn.QuantConv2d(4, 4, 3, padding=1, **wq)
        self.bn2 = torch.nn.BatchNorm2d(4)
        self.sc = qnn.QuantConv2d(4, 4, 1, stride=2, **wq)
        self.bns = torch.nn.BatchNorm2d(4)
        self.qa = qnn.QuantIdentity(**s)
        self.qb = self.qa if shared else qnn.QuantIdentity(bit_width=6, **s)
        self.r2 = qnn.QuantReLU(**u)
        self.fc = qnn.QuantLinear(4 * 3 * 3, 5, bias=False, weight_quant=Int8WeightPerChannelFloat)
        with torch.no_grad():
            for bn in (self.bn1, self.bn2, self.bns):
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.normal_(0, 0.1)
                bn.running_mean.normal_(0, 0.1)
                bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        a = self.r0(self.stem(self.inp(x)))
        main = self.qa(self.bn2(self.c2(self.r1(self.bn1(self.c1(a))))))
        short = self.qb(self.bns(self.sc(a)))
        if self.qb is not self.qa:        # brevitas adds QuantTensors of one scale only: add their values
            main, short = main.value, short.value
        return self.fc(torch.flatten(self.r2(main + short), 1))


def test_residual_conv_on_both_branches_bit_exact(tmp_path):
    """Both branches have a window (3x3 stride 2 and 1x1 stride 2); each gets a FIFO sized from the other branch's
    lead, so neither stalls the fork — checked with random gaps and back-pressure, and by latency = prediction."""
    torch.manual_seed(0)
    model = export_brevitas(_DownBlockNet().eval(), [1, 1, 6, 6], tmp_path / "down.onnx")
    x = np.random.default_rng(0).normal(0, 1, size=(N_INPUTS, 1, 6, 6)).astype(np.float32)
    design, rec = _check(model, x, tmp_path)
    st = design.meta["stages"]
    fork = next(i for i, s in enumerate(st) if s["kind"] == "fork")
    add = next(i for i, s in enumerate(st) if s["kind"] == "add")
    branch_windows = [s for s in st[fork:add] if s["kind"] == "window"]
    assert len(branch_windows) == 3                                # 3x3 s2, 3x3, 1x1 s2
    fifos = [s for s in st if s["kind"] == "fifo"]
    assert len(fifos) == 2 and all(f["DEPTH"] > 2 for f in fifos)
    # the 1x1 shortcut waits for the main branch: its FIFO holds at least the main branch's second window's lead
    assert max(f["DEPTH"] for f in fifos) >= 3 + 1 + 2


def test_residual_add_of_two_scales_refused(tmp_path):
    """Different scales at the Add (no shared quantiser) are refused at `layers`: an integer add on one scale only."""
    torch.manual_seed(0)
    model = export_brevitas(_DownBlockNet(shared=False).eval(), [1, 1, 6, 6], tmp_path / "down2.onnx")
    problems = check_supported(model)
    assert len(problems) == 1 and "(Add, attributes {}" in problems[0], problems
    assert "must have the same scale" in problems[0]


# ---------------------------------------------------------------- 1-bit +-1 streams

class _BinNet(torch.nn.Module):
    """BipolarQuant weights and activations with BatchNorm (8x8x2 input): conv -> +-1 -> padded max-pool -> conv
    (a packed group), -> +-1 -> zero-padded conv (stays 2-bit: zero is not +-1), -> +-1 -> flatten -> dense (packed)."""

    def __init__(self):
        super().__init__()
        from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
        wq = dict(weight_quant=SignedBinaryWeightPerTensorConst, bias=False)
        self.inp = qnn.QuantIdentity(bit_width=4, return_quant_tensor=True)
        self.c0 = qnn.QuantConv2d(2, 4, 3, **wq)
        self.c1 = qnn.QuantConv2d(4, 4, 3, **wq)
        self.c2 = qnn.QuantConv2d(4, 4, 3, padding=1, **wq)
        self.bns = torch.nn.ModuleList(torch.nn.BatchNorm2d(4) for _ in range(3))
        self.acts = torch.nn.ModuleList(qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=True)
                                        for _ in range(3))
        self.pool = torch.nn.MaxPool2d(2, stride=2, padding=1)
        self.fc = qnn.QuantLinear(4 * 2 * 2, 4, **wq)
        with torch.no_grad():
            for bn in self.bns:
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.normal_(0, 0.5)
                bn.running_mean.normal_(0, 1.0)
                bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        y = self.acts[0](self.bns[0](self.c0(self.inp(x))))
        y = self.acts[1](self.bns[1](self.c1(self.pool(y))))
        y = self.acts[2](self.bns[2](self.c2(y)))
        return self.fc(torch.flatten(y, 1))


def test_bipolar_streams_packed_as_one_bit_bit_exact(tmp_path):
    torch.manual_seed(0)
    model = export_brevitas(_BinNet().eval(), [1, 2, 8, 8], tmp_path / "bin.onnx")
    assert sum(n.op_type == "BipolarQuant" for n in model.graph.node) == 7      # 4 weights, 3 activations
    x = np.random.default_rng(0).normal(0, 1, size=(N_INPUTS, 2, 8, 8)).astype(np.float32)
    design, _ = _check(model, x, tmp_path)
    st = design.meta["stages"]
    rq = [s for s in st if s["kind"] == "requant"]
    assert [s.get("packed") for s in rq] == [True, False, True]
    assert [(s["out_bits"], s["out_signed"]) for s in rq] == [(1, False), (2, True), (1, False)]
    _, y = integer_io(model, design.meta, x[:16])
    assert len(np.unique(y)) > 4                        # the BatchNorm thresholds are not degenerate
    # the packed group: the max-pool's window pads with bit 0 (= -1, never wins), 1-bit elements up to the kernel
    pool_win = next(s for s in st if s["kind"] == "window" and s["node"].startswith("MaxPool"))
    assert pool_win["EW"] == 1 and pool_win["PADV"] == 0 and pool_win["in_width"] == 4
    collect = next(s for s in st if s["kind"] == "collect")
    assert collect["in_width"] == 4 and collect["out_width"] == 16
    top = (design.out_dir / "rtl" / "ohq_top.v").read_text()
    assert top.count("ohq_unpack_bipolar #") == 2
    # unpacked (pack=False): the same network with 2-bit streams, the stream widths doubled
    d2 = generate_design(model, tmp_path / "d2", pack=False)
    assert not any(s.get("packed") for s in d2.meta["stages"])
    assert next(s for s in d2.meta["stages"] if s["kind"] == "collect")["in_width"] == 8


# ---------------------------------------------------------------- Transpose between the conv and the dense part

class _NhwcNet(torch.nn.Module):
    """conv -> ReLU quant -> max-pool -> permute to channels-last -> flatten -> dense (``perm``: the permutation)."""

    def __init__(self, perm=(0, 2, 3, 1)):
        super().__init__()
        self.perm = perm
        self.inp = qnn.QuantIdentity(return_quant_tensor=True)
        self.c = qnn.QuantConv2d(2, 4, 3, padding=1, bias=False)
        self.r = qnn.QuantReLU(bit_width=4)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = qnn.QuantLinear(4 * 2 * 2, 5, bias=False)

    def forward(self, x):
        y = self.pool(self.r(self.c(self.inp(x))))
        return self.fc(torch.flatten(y.permute(*self.perm), 1))


def test_transpose_to_channels_last_before_dense_bit_exact(tmp_path):
    torch.manual_seed(0)
    model = export_brevitas(_NhwcNet().eval(), [1, 2, 4, 4], tmp_path / "nhwc.onnx")
    assert any(n.op_type == "Transpose" and "Quant" not in n.input[0] for n in model.graph.node)
    x = np.random.default_rng(0).normal(0, 1, size=(N_INPUTS, 2, 4, 4)).astype(np.float32)
    design, _ = _check(model, x, tmp_path)
    assert [s["kind"] for s in design.meta["stages"]][-2:] == ["collect", "kernel"]


def test_transpose_other_permutation_refused(tmp_path):
    torch.manual_seed(0)
    model = export_brevitas(_NhwcNet((0, 1, 3, 2)).eval(), [1, 2, 4, 4], tmp_path / "nchw_t.onnx")
    problems = check_supported(model)
    assert len(problems) == 1 and "(Transpose, attributes {'perm': [0, 1, 3, 2]}" in problems[0], problems
    assert "only a quantised feature map to channels-last" in problems[0]


def test_transpose_refusals_name_the_node(tmp_path):
    """A channels-last map as the network output, or followed by anything but a flatten, is refused at `layers`."""
    class Out(torch.nn.Module):
        def __init__(self, then_relu=False):
            super().__init__()
            self.then_relu = then_relu
            self.inp = qnn.QuantIdentity(return_quant_tensor=True)
            self.c = qnn.QuantConv2d(2, 4, 3, padding=1, bias=False)
            self.q = qnn.QuantIdentity()

        def forward(self, x):
            y = self.q(self.c(self.inp(x))).permute(0, 2, 3, 1)
            return torch.relu(y) if self.then_relu else y

    torch.manual_seed(0)
    out = check_supported(export_brevitas(Out().eval(), [1, 2, 4, 4], tmp_path / "t_out.onnx"))
    assert len(out) == 1 and "is a channels-last (transposed) feature map" in out[0], out
    relu = check_supported(export_brevitas(Out(True).eval(), [1, 2, 4, 4], tmp_path / "t_relu.onnx"))
    assert len(relu) == 1 and "(Relu, attributes {}" in relu[0] and "after a Transpose to channels-last" in relu[0], relu


def test_trunc_refusals_name_the_node(trunc_model):
    """A Trunc with a non-zero zero point or a rounding mode QONNX does not define is refused at `layers`."""
    from qonnx.core.modelwrapper import ModelWrapper
    m = ModelWrapper(trunc_model.model.__deepcopy__())
    node = next(n for n in m.graph.node if n.op_type == "Trunc")
    m.set_initializer(node.input[2], np.asarray(1.0, dtype=np.float32))
    problems = check_supported(m)
    assert len(problems) == 1 and f"node {node.name} (Trunc, attributes {{" in problems[0], problems
    assert "non-zero zero point" in problems[0] and "Trunc is supported as:" in problems[0]
    bad = _set_rounding(trunc_model, "STOCHASTIC")
    problems = check_supported(bad)
    assert len(problems) == 1 and "'rounding_mode': 'STOCHASTIC'" in problems[0] and "unknown rounding mode" in problems[0]
