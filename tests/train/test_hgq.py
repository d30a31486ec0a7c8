"""HGQ: the surrogate gradient, the resource term moving bit-widths, the LUT fit on measured costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ohq_flow.train.hgq import HGQModel, _FixedPoint, fit_lut_model, train_hgq
from tests.train.conftest import FIXTURES


@pytest.fixture(scope="module")
def digits():
    from examples.digits.data import finetune_data
    from ohq_flow.model.export import build_brevitas_model
    from ohq_flow.train.data import Dataset
    from tests.train.conftest import DIGITS, ROOT
    (xt, yt), (xv, yv) = finetune_data(0)
    module = build_brevitas_model("examples.digits.model:build_model", {}, DIGITS / "digits_w8a8.pt", [ROOT])
    return module, Dataset(xt[:320], yt[:320], xv[:128], yv[:128], "digits")


def test_surrogate_gradient_pushes_bits_up_where_error_hurts():
    x = torch.tensor([0.30, -0.70, 0.55])
    f = torch.zeros(1, requires_grad=True)
    xq = _FixedPoint.apply(x, f)
    assert torch.equal(xq, torch.round(x))
    ((xq - x) ** 2).sum().backward()      # error shrinks like 2**-f: d loss / d f must be negative
    assert f.grad.item() < 0


def _mean_weight_bits(model):
    return float(np.mean([v["weight_bits_mean"] for v in model.bit_summary().values()]))


def test_resource_term_moves_bits_down(digits):
    module, data = digits
    runs = {}
    for beta in (0.0, 1.0):
        model = HGQModel(module, "per_channel", init_bits=8)
        before = _mean_weight_bits(model)
        info = train_hgq(model, data, steps=8, beta=beta, lut_per_ebop=0.1, bits_lr=0.3, batch_size=64)
        runs[beta] = (before, _mean_weight_bits(model), info["ebops"], model)
    (b0, a0, e0, m0), (b1, a1, e1, m1) = runs[0.0], runs[1.0]
    assert b0 == b1 == pytest.approx(8.0)
    assert a1 <= b1 - 1.5, f"the resource term did not lower the weight bits: {b1} -> {a1}"
    assert a1 < a0 - 1.0 and e1 < 0.7 * e0
    act = [v["input_bits_mean"] for v in m1.bit_summary().values()]
    act0 = [v["input_bits_mean"] for v in m0.bit_summary().values()]
    assert np.mean(act) < np.mean(act0) - 1.0


def test_per_weight_granularity(digits):
    module, data = digits
    model = HGQModel(module, "per_weight", init_bits=6)
    assert model.wq["conv1"].f.shape == model.layers["conv1"].parametrizations.weight.original.shape
    train_hgq(model, data, steps=2, beta=1.0, lut_per_ebop=0.1, bits_lr=0.3)
    s = model.bit_summary()["conv1"]
    assert len(s["weight_bits_per_channel"]) == 16 and len(s["input_bits_per_channel"]) == 8


def test_lut_fit_on_measured_costs():
    fit = fit_lut_model(FIXTURES / "train" / "digits_costs.csv", FIXTURES / "train" / "digits_layers.json")
    assert fit.rows >= 20 and fit.lut_per_ebop > 0 and 0.5 < fit.r2 <= 1.0


def test_hgq_step_writes_record(run_ctx):
    import json
    import shutil
    from ohq_flow.train.hgq import run_hgq
    from tests.train.conftest import data_factory
    off = run_ctx()
    assert run_hgq(off) == {"enabled": False}
    ctx = run_ctx(data=data_factory("loaders"), hgq={"enabled": True, "steps": 2, "batch_size": 32})
    shutil.copy(FIXTURES / "train" / "digits_costs.csv", ctx.path("costs.csv"))
    lines = []
    run_hgq(ctx, echo=lines.append)
    rec = json.loads(ctx.path("hgq/hgq.json").read_text())
    assert rec["lut_model"]["lut_per_ebop"] > 0 and rec["predicted_lut"] > 0
    assert set(rec["bits"]) == {"conv0", "conv1", "fc0", "fc1"} and 0.5 < rec["val_accuracy"] <= 1
    assert any("R^2" in l for l in lines)


def test_divergence_stops_hgq_and_keeps_the_last_result(run_ctx, monkeypatch):
    import json
    import shutil
    import torch.nn.functional as F
    from ohq_flow.errors import FlowError
    from ohq_flow.train.hgq import run_hgq
    from tests.train.conftest import data_factory
    ctx = run_ctx(data=data_factory("loaders"), hgq={"enabled": True, "steps": 2, "batch_size": 32})
    shutil.copy(FIXTURES / "train" / "digits_costs.csv", ctx.path("costs.csv"))
    run_hgq(ctx, echo=lambda s: None)
    good = json.loads(ctx.path("hgq/hgq.json").read_text())
    real, calls = F.cross_entropy, []

    def diverging(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs) * (float("nan") if len(calls) > 1 else 1.0)
    monkeypatch.setattr(F, "cross_entropy", diverging)
    ctx2 = run_ctx(data=data_factory("loaders"), hgq={"enabled": True, "steps": 3, "batch_size": 32})
    for rel in ("costs.csv", "hgq"):
        src, dst = ctx.path(rel), ctx2.path(rel)
        shutil.copytree(src, dst) if src.is_dir() else shutil.copy(src, dst)
    with pytest.raises(FlowError, match="HGQ diverged: loss is nan at step 2") as e:
        run_hgq(ctx2, echo=lambda s: None)
    assert "hgq.lr" in e.value.hint
    assert json.loads(ctx2.path("hgq/hgq.json").read_text()) == good     # the last complete result is kept
