"""The step runner: skip unchanged steps, redo on change, --from/--to, atomic manifest."""

from __future__ import annotations

import json

import pytest

from ohq_flow.config import parse_config
from ohq_flow.errors import InputError
from ohq_flow.pipeline import RunContext, Step, run_steps


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"model-v1")
    cfg = parse_config({"model": {"qonnx": "m.onnx"}, "board": "pynq-z2", "output_dir": "run"}, base_dir=tmp_path)
    return RunContext(cfg=cfg, run_dir=cfg.output_dir)


def _steps(calls):
    def a(ctx):
        calls.append("a")
        (ctx.run_dir / "a.txt").write_text(str(ctx.cfg.search.weight_bits))

    def b(ctx):
        calls.append("b")
        (ctx.run_dir / "b.txt").write_text((ctx.run_dir / "a.txt").read_text() + "!")

    return [Step("a", a, ("a.txt",), ("model", "search")), Step("b", b, ("b.txt",), (), ("a.txt",))]


def test_second_run_skips_and_changes_rerun(ctx, tmp_path):
    calls = []
    assert run_steps(_steps(calls), ctx, echo=lambda s: None) == {"a": "ran", "b": "ran"}
    assert run_steps(_steps(calls), ctx, echo=lambda s: None) == {"a": "skipped", "b": "skipped"}
    assert calls == ["a", "b"]
    # a changed model file invalidates the step that reads the model, and everything downstream of it
    (tmp_path / "m.onnx").write_bytes(b"model-v2")
    ctx.cfg.search.weight_bits = [4, 8]
    assert run_steps(_steps(calls), ctx, echo=lambda s: None) == {"a": "ran", "b": "ran"}
    # a damaged output is redone
    (ctx.run_dir / "b.txt").write_text("tampered")
    assert run_steps(_steps(calls), ctx, echo=lambda s: None) == {"a": "skipped", "b": "ran"}
    manifest = json.loads((ctx.run_dir / "manifest.json").read_text())
    assert set(manifest["steps"]) == {"a", "b"} and "elapsed_s" in manifest["steps"]["a"]


def test_from_to_and_force(ctx):
    calls = []
    run_steps(_steps(calls), ctx, stop="a", echo=lambda s: None)
    assert calls == ["a"]
    with pytest.raises(InputError, match="no such step"):
        run_steps(_steps(calls), ctx, start="zz", echo=lambda s: None)
    ctx.force = True
    run_steps(_steps(calls), ctx, start="b", echo=lambda s: None)
    assert calls == ["a", "b"]


def test_missing_upstream_is_named(ctx):
    with pytest.raises(InputError, match="a.txt"):
        run_steps(_steps([]), ctx, start="b", echo=lambda s: None)


def test_other_ohq_flow_code_redoes_the_steps(ctx, monkeypatch):
    from ohq_flow import pipeline
    calls = []
    run_steps(_steps(calls), ctx, echo=lambda s: None)
    assert len(pipeline.code_hash()) == 64 and pipeline.code_hash() == pipeline.code_hash()
    monkeypatch.setattr(pipeline, "code_hash", lambda: "another ohq_flow version")
    assert run_steps(_steps(calls), ctx, echo=lambda s: None) == {"a": "ran", "b": "ran"}
