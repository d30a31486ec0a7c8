"""The finetune step: resume after an interruption equals an uninterrupted run; NaN loss; output for build."""

from __future__ import annotations

import json

import pytest
import torch

from ohq_flow.errors import FlowError
from tests.train.conftest import ASSIGNMENT, data_factory

FT = {"enabled": True, "steps": 8, "batch_size": 32, "lr": 1e-3, "eval_every": 2, "checkpoint_every": 3,
      "patience": None, "seed": 3}
DATA = data_factory("loaders")


def _state(ctx):
    return torch.load(ctx.path("finetune/brevitas_state_dict.pt"), weights_only=True)


def test_resume_after_interruption_equals_uninterrupted(run_ctx):
    from ohq_flow.train.finetune import run_finetune
    quiet = lambda s: None  # noqa: E731
    a = run_ctx(data=DATA, finetune=FT)
    run_finetune(a, echo=quiet)

    b = run_ctx(data=DATA, finetune=FT)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(b, echo=quiet, stop_after=5)        # killed after step 5; the checkpoint holds step 3
    assert torch.load(b.path("finetune/checkpoint.pt"), weights_only=False)["step"] == 3
    lines = []
    run_finetune(b, echo=lines.append)
    assert any("resuming from the checkpoint at step 3/8" in l for l in lines)

    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    ra, rb = (json.loads(c.path("finetune/finetune.json").read_text()) for c in (a, b))
    assert ra["history"] == rb["history"] and ra["accuracy_after"] == rb["accuracy_after"]
    assert rb["resumed_from_step"] == 3 and ra["resumed_from_step"] is None
    assert ra["steps"] == 8 and [h["step"] for h in ra["history"]] == [0, 2, 4, 6, 8]

    # other inputs (the learning rate) -> the checkpoint is stale and never reused
    c = run_ctx(data=DATA, finetune={**FT, "lr": 2e-3})
    c.path("finetune").mkdir(exist_ok=True)
    c.path("finetune/checkpoint.pt").write_bytes(b.path("finetune/checkpoint.pt").read_bytes())
    lines = []
    with pytest.raises(KeyboardInterrupt):
        run_finetune(c, echo=lines.append, stop_after=1)
    assert any("from other inputs; starting over" in l for l in lines)
    assert not any("resuming" in l for l in lines)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(run_ctx, monkeypatch):
    import torch.nn.functional as F
    from ohq_flow.train.finetune import run_finetune
    ctx = run_ctx(data=DATA, finetune=FT)
    real, calls = F.cross_entropy, []

    def diverging(*args, **kwargs):
        loss = real(*args, **kwargs)
        if kwargs.get("reduction") == "sum":  # validation
            return loss
        calls.append(1)                       # training step len(calls)
        return loss * float("nan") if len(calls) > 4 else loss
    monkeypatch.setattr(F, "cross_entropy", diverging)
    with pytest.raises(FlowError) as e:
        run_finetune(ctx, echo=lambda s: None)
    msg = str(e.value)
    assert "diverged" in msg and "step 5" in msg and "last good checkpoint (step 3)" in msg and "finetune.lr" in msg
    ck = torch.load(ctx.path("finetune/checkpoint.pt"), weights_only=False)
    assert ck["step"] == 3 and all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert not ctx.path("finetune/finetune.json").exists()


def test_disabled_records_and_build_model(run_ctx):
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.train.finetune import final_model_for_build, run_finetune
    off = run_ctx()
    assert run_finetune(off) == {"enabled": False}
    assert json.loads(off.path("finetune/finetune.json").read_text()) == {"enabled": False}
    assert final_model_for_build(off) is None

    ctx = run_ctx(data=DATA, finetune={**FT, "steps": 4})
    run_finetune(ctx, echo=lambda s: None)
    model, module = final_model_for_build(ctx)
    # the fine-tuned QONNX model has the run's layers, at the chosen bit-widths
    layers = {l.name: l for l in discover_layers(model)}
    assert set(layers) == set(ASSIGNMENT)
    assert {n: (l.w_bits, l.a_bits) for n, l in layers.items()} == ASSIGNMENT
    # with the Quant node names of the run's layers.json, so build's layer records apply to it
    run_layers = {l["name"]: l for l in json.loads(ctx.path("layers.json").read_text())["layers"]}
    for name, layer in layers.items():
        assert layer.weight_quant.node == run_layers[name]["weight_quant"]["node"]
        assert layer.input_quant.node == run_layers[name]["input_quant"]["node"]
    # a fine-tune of other bit-widths than solution.json is refused
    sol = json.loads(ctx.path("solution.json").read_text())
    sol["assignment"]["Conv_0"]["w_bits"] = 8
    ctx.path("solution.json").write_text(json.dumps(sol))
    with pytest.raises(FlowError, match="other bit-widths"):
        final_model_for_build(ctx)
    # and computes what the fine-tuned Brevitas module computes
    from ohq_flow.model.export import execute
    x = torch.randn(4, 1, 8, 8) * 0.6
    with torch.no_grad():
        ref = module(x)
    got = torch.cat([torch.from_numpy(execute(model, x[i:i + 1].numpy())) for i in range(len(x))])
    assert torch.allclose(got, ref, atol=1e-4)
