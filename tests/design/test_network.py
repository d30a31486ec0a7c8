"""The complete streaming design, simulated whole (Verilator, else Icarus) against the QONNX executor.

Real Brevitas models at mixed bit-widths, real simulators; each model is generated and compiled
once (module fixtures) and then run back to back and with random gaps/back-pressure.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from ohq_flow.design import check_supported, generate_design
from ohq_flow.design.sim import compare, simulate_network
from ohq_flow.errors import FlowError, InputError
from ohq_flow.model.layers import discover_layers
from ohq_flow.model.quantizers import apply_bits

N_INPUTS = 128


def _digits_x(root, n=N_INPUTS):
    return np.load(root / "examples" / "digits" / "digits_test.npz")["x"][:n].astype(np.float32)


def _check(model, x, tmp_path, simulator="auto", **generate):
    design = generate_design(model, tmp_path / "design", **generate)
    meta = json.loads((tmp_path / "design" / "design.json").read_text())
    for f in ("top", "sources", "in_width", "in_beats", "out_width", "out_beats", "predicted_latency_cycles"):
        assert f in meta
    assert all((tmp_path / "design" / s).is_file() for s in meta["sources"])
    rec = simulate_network(model, design, x, tmp_path / "sim", simulator=simulator, out_json=tmp_path / "network_sim.json")
    assert json.loads((tmp_path / "network_sim.json").read_text())["mismatches"] == 0
    assert rec["inputs"] == len(x) >= N_INPUTS
    assert rec["runs"] == ["back_to_back", "gaps_and_backpressure"] and rec["tlast_checked"]
    assert rec["latency_cycles"] == rec["predicted_latency_cycles"]
    assert rec["ii_cycles"] == rec["predicted_ii_cycles"]
    return design, rec


@pytest.fixture(scope="module")
def digits_cnn_final(digits_model):
    model, _ = digits_model
    layers = discover_layers(model)
    bits = {"Conv_0": (6, 8), "Conv_1": (4, 6), "MatMul_0": (4, 6), "MatMul_1": (6, 6)}
    final, changed = apply_bits(model, layers, {l.name: bits[l.name] for l in layers})
    assert changed
    return final


def test_digits_cnn_mixed_bits_bit_exact(digits_cnn_final, root, tmp_path):
    design, rec = _check(digits_cnn_final, _digits_x(root), tmp_path)
    kinds = [s["kind"] for s in design.meta["stages"]]
    assert kinds.count("window") == 4 and kinds.count("maxpool") == 2 and kinds.count("kernel") == 4
    # power-of-two scales: every requantiser is a shift
    assert {s["method"] for s in design.meta["stages"] if s["kind"] == "requant"} == {"multiply_shift"}
    assert rec["ii_cycles"] == 64                    # one 8x8 input pixel per cycle


def test_digits_mlp_mixed_bits_thresholds_bit_exact(root, tmp_path):
    from examples.suite.models import digits_mlp
    from ohq_flow.model.export import export_brevitas
    torch.manual_seed(0)
    model = export_brevitas(digits_mlp().eval(), [1, 1, 8, 8], tmp_path / "mlp.onnx")
    layers = discover_layers(model)
    final, _ = apply_bits(model, layers, {layers[0].name: (4, 6), layers[1].name: (3, 4)})
    design = generate_design(final, tmp_path / "design", prefer="thresholds")
    assert {s["method"] for s in design.meta["stages"] if s["kind"] == "requant"} == {"thresholds"}
    assert design.meta["in_beats"] == 1 and design.meta["predicted_ii_cycles"] == 1
    rec = simulate_network(final, design, _digits_x(root), tmp_path / "sim")
    assert rec["mismatches"] == 0 and rec["ii_cycles"] == 1
    assert rec["latency_cycles"] == rec["predicted_latency_cycles"]


def test_mismatch_names_sample_index_and_values():
    ref = np.zeros((3, 2, 4), dtype=np.int64)
    rtl = ref.copy()
    rtl[1, 1, 2] = 5
    with pytest.raises(FlowError, match=r"input sample 1, output index 6 \(beat 1, channel 2\): expected 0, RTL gave 5"):
        compare(rtl, ref, np.arange(12).reshape(3, 4), "back_to_back")


def test_simulation_mismatch_names_the_first_differing_stage(root, tmp_path):
    """A wrong requantiser in the RTL (stage 1 shifts one bit more) is a FlowError (exit 1) naming the sample,
    output index, expected/actual integers and, from a traced Icarus run against golden.run_stages, the stage."""
    from examples.suite.models import digits_mlp
    from ohq_flow.model.export import export_brevitas
    torch.manual_seed(0)
    model = export_brevitas(digits_mlp().eval(), [1, 1, 8, 8], tmp_path / "mlp.onnx")
    design = generate_design(model, tmp_path / "design")
    assert [s["kind"] for s in design.meta["stages"]] == ["kernel", "requant", "kernel"]
    shift = design.meta["stages"][1]["shift"]
    top = design.out_dir / "rtl" / "ohq_top.v"
    text = top.read_text()
    at = text.index("// stage 1: requant")
    assert f".S({shift})" in text[at:]
    top.write_text(text[:at] + text[at:].replace(f".S({shift})", f".S({shift + 1})", 1))
    with pytest.raises(FlowError) as exc:
        simulate_network(model, design, _digits_x(root, 8), tmp_path / "sim", simulator="iverilog", backpressure=False)
    msg = str(exc.value)
    assert exc.value.exit_code == 1
    assert re.search(r"first: input sample \d+, output index \d+ \(beat 0, channel \d+\): expected -?\d+, RTL gave -?\d+", msg)
    assert "first differing stage: stage 1 (requant, node " in msg, msg


def test_unsupported_ops_are_named(tmp_path):
    from brevitas import nn as qnn
    from ohq_flow.design.graph import require_supported
    from ohq_flow.model.export import export_brevitas

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(return_quant_tensor=True)
            self.conv = qnn.QuantConv2d(4, 4, 3, padding=1, groups=2, bias=False)
            self.fc = qnn.QuantLinear(64, 4, bias=False)

        def forward(self, x):
            return self.fc(torch.flatten(torch.sigmoid(self.conv(self.inp(x))), 1))

    torch.manual_seed(0)
    model = export_brevitas(Net().eval(), [1, 4, 4, 4], tmp_path / "bad.onnx")
    problems = check_supported(model)
    assert any("Sigmoid" in p and "op not supported" in p for p in problems)
    with pytest.raises(InputError) as exc:
        require_supported(model)
    assert exc.value.exit_code == 2 and "Sigmoid" in str(exc.value) and "supported ops" in str(exc.value)
    # the layers step refuses it up front (build.design is on by default): exit 2, the node named
    from tests.test_cli import ohq
    cfg = tmp_path / "flow.yaml"
    cfg.write_text(f"model: {{qonnx: bad.onnx}}\nboard: pynq-z2\noutput_dir: {tmp_path / 'run'}\n")
    r = ohq("layers", cfg)
    assert r.returncode == 2 and "Sigmoid_0" in r.stderr and "build.design: false" in r.stderr, r.stderr

    # a supported op with an unsupported attribute: node, op type, its attributes and what is supported
    class Pad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(return_quant_tensor=True)
            self.pool = torch.nn.MaxPool2d(2, ceil_mode=True)

        def forward(self, x):
            return self.pool(self.inp(x).value)

    problems = check_supported(export_brevitas(Pad().eval(), [1, 2, 5, 5], tmp_path / "pad.onnx"))
    assert len(problems) == 1 and "MaxPool_0 (MaxPool, attributes {" in problems[0], problems
    assert "'ceil_mode': 1" in problems[0] and "MaxPool is supported as: 2-D/1-D, padding" in problems[0]


def test_residual_cnn_float_per_channel_scales_batchnorm_bit_exact(root, tmp_path):
    from examples.suite.models import res_cnn
    from ohq_flow.model.export import export_brevitas
    model = export_brevitas(res_cnn(), [1, 1, 8, 8], tmp_path / "res.onnx")
    design, rec = _check(model, _digits_x(root), tmp_path)
    kinds = [s["kind"] for s in design.meta["stages"]]
    assert {"fork", "fifo", "add"} <= set(kinds)
    assert "thresholds" in {s.get("method") for s in design.meta["stages"]}   # float scales + BN + bias
    fifo = next(s for s in design.meta["stages"] if s["kind"] == "fifo")
    assert fifo["DEPTH"] >= 8 + 1                   # at least one image row of lead on the conv branch
    fork = next(s for s in design.meta["stages"] if s["kind"] == "fork")
    assert fork["W"] == fork["in_width"] == 8 * 8   # the whole pixel (8 channels x 8 bits) goes down both branches


def test_mnist1d_cnn_conv1d_maxpool_bit_exact(tmp_path):
    from examples.suite.models import mnist1d_cnn
    from ohq_flow.model.export import export_brevitas
    torch.manual_seed(0)
    model = export_brevitas(mnist1d_cnn().eval(), [1, 1, 40], tmp_path / "m1d.onnx")
    x = np.random.default_rng(0).normal(0, 0.6, size=(N_INPUTS, 1, 40)).astype(np.float32)
    design, rec = _check(model, x, tmp_path)
    assert design.meta["in_beats"] == 40 and rec["ii_cycles"] == 40


def test_strided_depthwise_pointwise_bit_exact(tmp_path):
    """MobileNet-style first layers: 3x3 stride-2 conv, 3x3 depthwise, 1x1 pointwise, then average pooling and a
    final quantiser as the output; float per-channel scales."""
    from brevitas import nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Uint8ActPerTensorFloat
    from ohq_flow.model.export import export_brevitas
    wq = dict(bias=False, weight_quant=Int8WeightPerChannelFloat)
    aq = dict(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
            self.c0 = qnn.QuantConv2d(3, 8, 3, stride=2, padding=1, **wq)
            self.r0 = qnn.QuantReLU(**aq)
            self.dw = qnn.QuantConv2d(8, 8, 3, padding=1, groups=8, **wq)
            self.r1 = qnn.QuantReLU(**aq)
            self.pw = qnn.QuantConv2d(8, 16, 1, **wq)
            self.r2 = qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat)
            self.pool = torch.nn.AvgPool2d(2)
            self.out = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat)

        def forward(self, x):
            return self.out(self.pool(self.r2(self.pw(self.r1(self.dw(self.r0(self.c0(self.inp(x)))))))))

    torch.manual_seed(0)
    model = export_brevitas(Net().eval(), [1, 3, 12, 12], tmp_path / "dw.onnx")
    x = np.random.default_rng(1).normal(size=(N_INPUTS, 3, 12, 12)).astype(np.float32)
    design, rec = _check(model, x, tmp_path)
    kinds = [s["kind"] for s in design.meta["stages"]]
    assert kinds.count("window") == 3 and "sumpool" in kinds     # the 1x1 conv needs no window
    assert design.meta["out_beats"] == 9 and design.meta["out_elem_bits"] == 8 and rec["ii_cycles"] == 144


@pytest.mark.parametrize("w,a", [(1, 1), (2, 2)])
def test_bnn_pynq_tfc_bit_exact(w, a, tmp_path):
    """brevitas_examples' TFC (BipolarQuant weights/activations for w1a1, 2-bit narrow Quant for w2a2, the 2x - 1
    input map, random BatchNorm, TensorNorm head as the output's affine map) at an 8x8 input (the 784-input first
    layer is in docs/benchmarks.md); Icarus: one vector per cycle, so few cycles."""
    from examples.suite.models import bnn_tfc
    from ohq_flow.model.export import export_brevitas
    model = export_brevitas(bnn_tfc(w, a, in_features=(8, 8)), [1, 1, 8, 8], tmp_path / "tfc.onnx")
    ops = {n.op_type for n in model.graph.node}
    assert ("BipolarQuant" in ops) == (w == 1)
    design = generate_design(model, tmp_path / "design")
    rq = [s for s in design.meta["stages"] if s["kind"] == "requant"]
    # +-1 activations travel packed as 1 bit (bit b means 2b - 1) up to the next kernel; 2-bit signed otherwise
    assert len(rq) == 3 and all((s["out_bits"], s["out_signed"]) == ((1, False) if a == 1 else (2, True)) for s in rq)
    if w == 1:                                     # +-1: one threshold per channel, step 2
        assert {s["method"] for s in rq} == {"thresholds"} and all(s["levels"] == 2 for s in rq)
    assert any(design.meta["out_offset"])          # TensorNorm: logits = integer * scale + offset
    x = np.random.default_rng(0).uniform(0, 1, size=(N_INPUTS, 1, 8, 8)).astype(np.float32)
    rec = simulate_network(model, design, x, tmp_path / "sim", simulator="iverilog")
    assert rec["mismatches"] == 0 and rec["inputs"] == N_INPUTS and rec["ii_cycles"] == 1
    assert rec["latency_cycles"] == rec["predicted_latency_cycles"]


# CNV's four largest layers folded (MVAU, templates/rtl/ohq_mvau.v): the da4ml kernels of the other five keep the
# Verilator C++ at half the size; each folded layer still keeps up with the 1024-cycle frame
CNV_FOLDS = {"Conv_4": "pe8_simd16", "Conv_5": "pe4_simd8", "MatMul_0": "pe4_simd8", "MatMul_1": "pe4_simd8"}


@pytest.mark.slow
def test_bnn_pynq_cnv_w2a2_bit_exact(tmp_path):
    """brevitas_examples' CNV w2a2 at 32x32x3 (six valid 3x3 convs, two max-pools, three FCs, TensorNorm) with
    every channel count / 8 (the full-width run is in docs/benchmarks.md); both layer architectures: the four
    largest layers folded, the others fully unrolled da4ml kernels."""
    from examples.suite.models import bnn_cnv
    from ohq_flow.model.export import export_brevitas
    model = export_brevitas(bnn_cnv(2, 2, width=0.125), [1, 3, 32, 32], tmp_path / "cnv.onnx")
    x = np.random.default_rng(0).uniform(0, 1, size=(N_INPUTS, 3, 32, 32)).astype(np.float32)
    design, rec = _check(model, x, tmp_path, folds=CNV_FOLDS)
    assert rec["ii_cycles"] == 1024                                         # one input pixel per cycle
    kinds = [s["kind"] for s in design.meta["stages"]]
    assert kinds.count("kernel") == 5 and kinds.count("mvau") == 4 and kinds.count("maxpool") == 2
    assert design.meta["folds"] == CNV_FOLDS and design.meta["in_beats"] == 1024


@pytest.mark.slow
def test_mobilenet_v1_4b_first_three_layers_bit_exact(tmp_path):
    """brevitas_examples' MobileNetV1-4b: the 8-bit 3x3 stride-2 conv, the 3x3 depthwise and the 1x1 pointwise conv
    (BatchNorm, 4-bit ReLU quantisers), at a 16x16 input (the unpadded stride-2 init conv gives 7x7)."""
    from examples.suite.models import mobilenet_v1_head
    from ohq_flow.model.export import export_brevitas
    model = export_brevitas(mobilenet_v1_head(), [1, 3, 16, 16], tmp_path / "mnv1.onnx")
    groups = [next((a.i for a in n.attribute if a.name == "group"), 1) for n in model.graph.node if n.op_type == "Conv"]
    assert groups == [1, 32, 1]                                    # conv, depthwise, pointwise
    x = np.random.default_rng(2).normal(size=(N_INPUTS, 3, 16, 16)).astype(np.float32)
    design, rec = _check(model, x, tmp_path)
    kinds = [s["kind"] for s in design.meta["stages"]]
    assert kinds.count("window") == 2 and kinds.count("kernel") == 3   # the 1x1 conv needs no window
    assert design.meta["out_beats"] == 7 * 7 and design.meta["out_elem_bits"] == 4   # the init conv is unpadded


def test_argmax_output_bit_exact(root, tmp_path):
    """build.output: argmax — the design outputs the index of the largest logit (first on ties), checked in
    Icarus against numpy's argmax of the QONNX executor's logits; a per-channel output scale is refused."""
    from examples.suite.models import bnn_tfc
    from ohq_flow.model.export import export_brevitas
    model = export_brevitas(bnn_tfc(2, 2, in_features=(4, 4)), [1, 1, 4, 4], tmp_path / "tfc.onnx")
    design = generate_design(model, tmp_path / "design", output="argmax")
    assert design.meta["output"] == "argmax" and design.meta["stages"][-1]["kind"] == "argmax"
    assert design.meta["out_channels"] == 1 and design.meta["out_elem_bits"] == 4 and not design.meta["out_signed"]
    x = np.random.default_rng(3).uniform(0, 1, size=(32, 1, 4, 4)).astype(np.float32)
    rec = simulate_network(model, design, x, tmp_path / "sim", simulator="iverilog", backpressure=False)
    assert rec["mismatches"] == 0
    from ohq_flow.design.sim import integer_io
    _, y = integer_io(model, design.meta, x[:32])
    assert len(set(y.reshape(-1).tolist())) > 1       # not a constant class
    # per-channel output scales: argmax of the integers is not argmax of the logits -> refused (exit 2)
    torch.manual_seed(0)
    from brevitas import nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerChannelFloat

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(16, 4, bias=False, weight_quant=Int8WeightPerChannelFloat)

        def forward(self, x):
            return self.fc(self.inp(x))

    per_ch = export_brevitas(Net().eval(), [1, 16], tmp_path / "pc.onnx")
    assert check_supported(per_ch) == []
    assert any("per-channel output scale" in p for p in check_supported(per_ch, output="argmax"))
    with pytest.raises(InputError, match="per-channel output scale") as exc:
        generate_design(per_ch, tmp_path / "d2", output="argmax")
    assert exc.value.exit_code == 2


def test_batched_reference_equals_one_sample_runs(tmp_path):
    """The expected outputs come from one QONNX-executor call on the whole batch; it equals sample-by-sample runs
    bit for bit (float per-channel scales, BatchNorm, residual Add: the values most sensitive to float order)."""
    from qonnx.core.onnx_exec import execute_onnx

    from examples.suite.models import res_cnn
    from ohq_flow.design.sim import _batched, executor_outputs
    from ohq_flow.model.export import export_brevitas
    model = export_brevitas(res_cnn(), [1, 1, 8, 8], tmp_path / "res.onnx")
    x = np.random.default_rng(5).normal(0, 0.6, size=(8, 1, 8, 8)).astype(np.float32)
    out = model.graph.output[0].name
    assert _batched(model, 8) is not None                      # this graph takes a batch: the batched path runs
    (y,) = executor_outputs(model, x, [out])
    iname = model.graph.input[0].name
    one = np.concatenate([execute_onnx(model, {iname: x[i:i + 1]})[out] for i in range(len(x))])
    assert y.shape == one.shape and np.array_equal(y, one)
