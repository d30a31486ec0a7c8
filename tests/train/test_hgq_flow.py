"""``build.source: hgq``: the hgq step's model goes through the flow's build (complete design, 0 mismatches)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.train.conftest import FIXTURES, ROOT

pytestmark = pytest.mark.skipif(shutil.which("yosys") is None or shutil.which("iverilog") is None,
                                reason="yosys and iverilog are installed by make test")

TOY = FIXTURES / "train"


def _cfg(out, **over):
    """A 16-6-4 Brevitas MLP (random init) on a toy task; da4ml estimates as the per-layer costs."""
    from ohq_flow.config import parse_config
    data = {"name": "hgq_tiny",
            "model": {"brevitas": {"factory": "examples.suite.models:MLP", "kwargs": {"sizes": [16, 6, 4]},
                                   "input_shape": [1, 1, 16], "python_path": [str(ROOT)]}},
            "board": "pynq-z2", "mqe": {"samples": 16}, "search": {"weight_bits": [4, 8], "act_bits": [8]},
            "hardware": {"cache_dir": str(out.parent / "cache"), "rules": [{"measurer": "da4ml_estimate"}]},
            "data": {"npz": str(TOY / "toy16.npz")},
            "hgq": {"enabled": True, "steps": 30, "init_bits": 6, "beta": 3e-4, "lr": 0.01, "bits_lr": 0.2},
            "build": {"source": "hgq", "verify_samples": 16, "simulator": "iverilog", "eval_npz": str(TOY / "toy16_test.npz")},
            "output_dir": str(out)}
    for k, v in over.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    return parse_config(data, base_dir=ROOT)


def _steps(*names):
    from ohq_flow.steps import STEPS
    return [s for s in STEPS if s.name in names]


def test_hgq_model_through_the_complete_design(tmp_path):
    from ohq_flow.pipeline import RunContext, run_steps
    out = tmp_path / "run"
    ctx = RunContext(_cfg(out), out)
    lines = []
    run_steps(_steps("export", "layers", "sensitivity", "profile", "solve", "finetune", "hgq", "build", "report"),
              ctx,
              echo=lines.append)
    hgq = json.loads((out / "hgq" / "hgq.json").read_text())
    build = json.loads((out / "final" / "build.json").read_text())
    assert build["source"] == "hgq" and (out / "hgq" / "hgq.onnx").is_file()
    # the build's design carries HGQ's learned widths: per-channel widths below the layer's Quant width
    assert build["assignment"] == hgq["assignment"]
    assert any(min(r["w_bits_per_channel"]) < r["w_bits"] for r in hgq["export"].values())
    assert build["verify"]["mismatches"] == 0 and build["verify"]["vectors"] > 0
    sim = build["design"]["network_sim"]
    assert sim["mismatches"] == 0 and sim["inputs"] == 16
    assert build["design"]["measured"]["lut"] > 0                       # measured by Yosys, not the regulariser
    assert build["predicted"]["lut"] == round(hgq["predicted_lut"])
    # the build's accuracy is the exported model's, which computes what HGQ trained
    assert build["accuracy"]["final"] == pytest.approx(hgq["eval_accuracy"])
    assert "brevitas" not in build
    assert "build.source: hgq" in (out / "report.md").read_text()

    # another build setting re-runs the hgq step, which reuses its model (keyed by its own inputs) ...
    before = (out / "hgq" / "hgq.onnx").stat().st_mtime_ns
    ctx2 = RunContext(_cfg(out, build={"verify_samples": 8}), out)
    said = []
    run_steps(_steps("hgq"), ctx2, echo=said.append)
    assert (out / "hgq" / "hgq.onnx").stat().st_mtime_ns == before
    assert any("same settings and inputs; reused" in l for l in said)
    # a QONNX model that is not the one hgq.json describes is never built
    from ohq_flow.errors import FlowError
    from ohq_flow.train.hgq import hgq_model_for_build
    with (out / "hgq" / "hgq.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(FlowError, match="does not match"):
        hgq_model_for_build(ctx2)
    # ... and other HGQ settings retrain it
    ctx3 = RunContext(_cfg(out, hgq={"beta": 0.0, "steps": 5}), out)
    run_steps(_steps("hgq"), ctx3, echo=said.append)
    assert json.loads((out / "hgq" / "hgq.json").read_text())["key"] != hgq["key"]


def test_build_source_hgq_needs_the_hgq_step(tmp_path):
    from ohq_flow.errors import ConfigError
    with pytest.raises((ConfigError, ValueError), match="hgq.enabled"):
        _cfg(tmp_path / "r", hgq={"enabled": False})
    with pytest.raises((ConfigError, ValueError), match="finetune.enabled: false"):
        _cfg(tmp_path / "r", finetune={"enabled": True})
