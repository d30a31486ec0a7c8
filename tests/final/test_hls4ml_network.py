"""The whole-network hls4ml project of the build step on a model hls4ml 1.3 cannot convert (1-D
max-pooling): the build records why and goes on (the RTL design is the verified one)."""

from __future__ import annotations

import numpy as np
import torch

from ohq_flow.final.interop import write_hls4ml_bundle
from ohq_flow.final.step import format_build
from ohq_flow.config import parse_config
from ohq_flow.model.export import export_brevitas


def test_unconvertible_network_is_reported_not_fatal(tmp_path):
    from examples.suite.models import mnist1d_cnn
    torch.manual_seed(0)
    model = export_brevitas(mnist1d_cnn().eval(), [1, 1, 40], tmp_path / "m.onnx")
    cfg = parse_config({"model": {"qonnx": "m.onnx"}, "board": "pynq-z2", "output_dir": "run"}, base_dir=tmp_path)
    x = np.random.default_rng(0).normal(size=(4, 1, 40)).astype(np.float32)
    rec = write_hls4ml_bundle(cfg, model, x, tmp_path)
    if rec["status"] == "ok":                       # a newer hls4ml converts it: then it must be exact
        assert rec["mismatches"] == 0
        return
    assert rec["status"] == "not_generated" and "hls4ml could not convert" in rec["error"]
    assert "MaxPool" in rec["error"] and "mismatches" not in rec     # no made-up zero
    text = format_build({"assignment": {}, "predicted": {}, "measured": {},
                         "verify": {"mismatches": 0, "vectors": 1, "samples": 1}, "hls4ml": rec})
    assert "NOT generated" in text


def test_per_channel_weight_scales_convert_bit_exact(tmp_path):
    """A MatMul with per-output-channel weight scales (Brevitas' per-channel weight quantisers, FINN's KWS MLP):
    hls4ml's front end alone fails on it (IndexError); the bundle moves the scales after the MatMul."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "models"))
    from qonnx_mlp import mlp
    from qonnx.util.cleanup import cleanup_model
    model = cleanup_model(mlp(tail=None, channel_scales=True))
    model.save(str(tmp_path / "m.onnx"))
    cfg = parse_config({"model": {"qonnx": "m.onnx"}, "board": "pynq-z2", "output_dir": "run"}, base_dir=tmp_path)
    x = (np.random.default_rng(0).integers(-128, 128, size=(8, 16)) / 16).astype(np.float32)
    rec = write_hls4ml_bundle(cfg, model, x, tmp_path)
    assert rec["status"] == "ok", rec
    assert rec["mismatches"] == 0 and rec["max_abs_diff"] == 0.0
