"""Channels whose effective scale is negative (falling) or zero (constant), e.g. a BatchNorm with negative and zero
factors: the whole design simulated against the QONNX executor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ohq_flow.design import generate_design
from ohq_flow.design.sim import pick_simulator, simulate_network
from ohq_flow.model.export import export_brevitas

N_INPUTS = 128
FALLING = [0, 3, 6, 9]          # channels given a negative BatchNorm factor (every third); channel 1 a zero factor


def _sign_batchnorm(module: torch.nn.Module) -> int:
    """Negate every third BatchNorm factor and zero channel 1's; returns the falling-or-constant channels per BN."""
    n = 0
    with torch.no_grad():
        for bn in module.modules():
            if isinstance(bn, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                bn.weight[::3] *= -1
                bn.weight[1] = 0
                n = len(bn.weight[::3]) + 1
    return n


def _requants(design):
    return [st.info["requant"] for st in design.ir.stages if st.kind == "requant"]


@pytest.mark.parametrize("w,a,prefer,folds", [
    (1, 1, "auto", None),                                     # +-1 thresholds, step 2, packed
    (1, 1, "auto", {"MatMul_1": "pe4_simd8"}),                # ... fused into a folded unit that emits packed bits
    (2, 2, "auto", None),                                     # float scales, 2-bit outputs: thresholds, no multiplier
    (2, 2, "auto", {"MatMul_1": "pe4_simd8"}),                # ... but multiply-shift where fused (shared lanes)
    (2, 2, "multiply_shift", {"MatMul_1": "pe4_simd8"}),      # negative multiply-shift factors, one fused
    (2, 2, "thresholds", {"MatMul_1": "pe4_simd8"}),          # threshold direction, also fused into ohq_mvau
])
def test_tfc_negative_and_zero_batchnorm_bit_exact(w, a, prefer, folds, tmp_path):
    """brevitas_examples' TFC (FINN's MNIST MLP) at an 8x8 input with BatchNorm factors negative on a third of the
    channels and zero on one; float (non-power-of-two) BatchNorm scales."""
    from examples.suite.models import bnn_tfc
    m = bnn_tfc(w, a, in_features=(8, 8))
    per_bn = _sign_batchnorm(m)
    model = export_brevitas(m, [1, 1, 8, 8], tmp_path / "tfc.onnx")
    design = generate_design(model, tmp_path / "design", prefer=prefer, folds=folds)
    rqs = _requants(design)
    assert len(rqs) == 3 and all(int(rq.desc.sum()) == per_bn == 23 for rq in rqs)
    assert all(rq.lo[1] == rq.hi[1] for rq in rqs)                       # the zero factor: a constant code
    assert all(np.all(rq.hi[FALLING] > rq.lo[FALLING]) for rq in rqs)     # falling channels keep their levels
    recs = [s for s in design.meta["stages"] if s["kind"] == "requant"]
    assert all(s["falling"] == 23 for s in recs)
    seq = [s for s in recs if s.get("fused")]
    if prefer == "auto" and w > 1:          # float scales at 2-bit outputs: thresholds, multiply-shift where fused
        assert {s["method"] for s in recs if s not in seq} == {"thresholds"}
        assert all(s["method"] == "multiply_shift" and min(s["mult"]) < 0 for s in seq)
    elif prefer != "multiply_shift":
        assert {s["method"] for s in recs} == {"thresholds"}
    else:
        assert {s["method"] for s in recs} == {"multiply_shift"} and all(min(s["mult"]) < 0 for s in recs)
    if folds:
        assert len(seq) == 1 and seq[0]["lanes"] == 1                       # after the folded layer: fused, one lane
    x = np.random.default_rng(0).uniform(0, 1, size=(N_INPUTS, 1, 8, 8)).astype(np.float32)
    rec = simulate_network(model, design, x, tmp_path / "sim", simulator="iverilog")
    assert rec["mismatches"] == 0 and rec["inputs"] == N_INPUTS
    assert rec["latency_cycles"] == rec["predicted_latency_cycles"]


def test_negative_batchnorm_after_average_pool_bit_exact(tmp_path):
    """A requantiser after a pooling (no weights to fold a sign into): conv -> ReLU quant -> 2x2 average ->
    BatchNorm (negative and zero factors) -> Quant; Verilator where installed."""
    from brevitas import nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Uint8ActPerTensorFloat

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
            self.conv = qnn.QuantConv2d(2, 6, 3, padding=1, bias=False, weight_quant=Int8WeightPerChannelFloat)
            self.relu = qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.pool = torch.nn.AvgPool2d(2)
            self.bn = torch.nn.BatchNorm2d(6)
            self.out = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat)

        def forward(self, x):
            return self.out(self.bn(self.pool(self.relu(self.conv(self.inp(x))))))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.bn.weight.uniform_(0.5, 1.5)
        net.bn.bias.normal_(0, 0.3)
        net.bn.running_mean.normal_(0, 0.3)
        net.bn.running_var.uniform_(0.5, 2.0)
    assert _sign_batchnorm(net) == 3
    x = np.random.default_rng(1).normal(size=(N_INPUTS, 2, 6, 6)).astype(np.float32)
    with torch.no_grad():                           # calibrate the output quantiser's range on the data
        net.train()
        net(torch.from_numpy(x))
    model = export_brevitas(net.eval(), [1, 2, 6, 6], tmp_path / "pool_bn.onnx")
    design = generate_design(model, tmp_path / "design")
    kinds = [st.kind for st in design.ir.stages]
    assert kinds[kinds.index("sumpool") + 1] == "requant"
    rq = _requants(design)[-1]
    assert list(np.flatnonzero(rq.desc)) == [0, 1, 3] and rq.lo[1] == rq.hi[1]
    assert np.all(rq.hi[[0, 3]] > rq.lo[[0, 3]])
    rec = simulate_network(model, design, x, tmp_path / "sim")
    assert rec["mismatches"] == 0 and rec["inputs"] == N_INPUTS
    assert rec["simulator"] == pick_simulator()
