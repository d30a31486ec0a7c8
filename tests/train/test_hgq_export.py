"""HGQ's learned bit-widths reach the hardware: QONNX carries them, the complete design is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ohq_flow.train.hgq import HGQModel, train_hgq
from ohq_flow.train.hgq_export import hgq_qonnx


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 16-6-4 Brevitas MLP, HGQ-trained a few steps on a separable toy task, and its QONNX export."""
    from examples.suite.models import MLP
    from ohq_flow.model.export import export_brevitas
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.train.data import Dataset
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.6, (256, 1, 16)).astype(np.float32)
    y = (x[:, 0, :4].argmax(1)).astype(np.int64)
    module = MLP([16, 6, 4])
    model = HGQModel(module, "per_channel", init_bits=6, act_granularity="per_tensor")
    train_hgq(model, Dataset(x[:192], y[:192], x[192:], y[192:], "toy"), steps=30, beta=1e-4,
              lut_per_ebop=1.0, lr=1e-2, bits_lr=0.2, batch_size=64)
    graph = export_brevitas(module, [1, 1, 16], tmp_path_factory.mktemp("tiny") / "m.onnx")
    return model, graph, discover_layers(graph), x


def test_qonnx_carries_the_learned_widths(tiny):
    from ohq_flow.mqe.run import FastExecutor
    from ohq_flow.design.graph import build_ir
    model, graph, layers, x = tiny
    q, rec = hgq_qonnx(graph, layers, model)
    summary = model.bit_summary()
    for (name, _), layer in zip(model.layers.items(), layers):
        r = rec[layer.name]
        # per-channel widths narrower than the layer's Quant width survive as small integers
        assert r["w_bits"] == max(2, max(r["w_bits_per_channel"]))
        assert r["w_bits_per_channel"] == [int(round(b)) for b in summary[name]["weight_bits_per_channel"]]
        assert r["w_bits_mean"] < 6                              # the resource term narrowed it from 6
        ir_w = next(s for s in build_ir(q).stages if s.info.get("weight_quant") == layer.weight_quant.node)
        ints = np.asarray(ir_w.info["matrix"])
        per_out = np.abs(ints).max(axis=0)                      # the kernel matrix is [in, out]
        assert len(per_out) == len(r["w_bits_per_channel"])
        for b, hi in zip(r["w_bits_per_channel"], per_out):    # every channel's integers fit its learned width
            assert hi <= (2 ** (b - 1) if b > 0 else 0)
    assert any(min(r["w_bits_per_channel"]) < r["w_bits"] for r in rec.values())   # channels differ
    # the exported model computes exactly what HGQ's model computes (per-tensor activation steps)
    with torch.no_grad():
        ref = model(torch.from_numpy(x[:64])).numpy()
    assert np.abs(FastExecutor(q).reference(x[:64]).reshape(64, -1) - ref).max() < 1e-5
    assert np.abs(ref).max() > 0


def test_hgq_design_is_exact(tiny, tmp_path):
    from ohq_flow.design.rtl import generate_design
    from ohq_flow.design.sim import simulate_network
    model, graph, layers, x = tiny
    q, _ = hgq_qonnx(graph, layers, model)
    design = generate_design(q, tmp_path / "design")
    rec = simulate_network(q, design, x[:8], tmp_path / "sim")
    assert rec["mismatches"] == 0 and rec["inputs"] == 8
