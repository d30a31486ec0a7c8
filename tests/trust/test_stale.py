"""No stale state is reused: partial results and step skips are keyed by everything that made them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from ohq_flow.config import HardwareSection, MQESection, SearchSection, parse_config
from ohq_flow.errors import InputError
from ohq_flow.pipeline import RunContext, Step, input_hash, run_dir_lock, run_steps

ROOT = Path(__file__).resolve().parents[2]


def test_sensitivity_parts_are_keyed_by_what_made_them(digits_model, tmp_path):
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.mqe.run import FastExecutor, compute_sensitivity, synthetic_inputs
    from ohq_flow.search_space import search_space
    model, _ = digits_model
    layers = discover_layers(model)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    calls = []

    class Counting(FastExecutor):
        def masked(self, masked_model, changed, xx):
            calls.append(changed)
            return super().masked(masked_model, changed, xx)

        def candidate_runner(self, layer, mode):        # the reused-session path (mqe/param.py) counts too
            run_one = super().candidate_runner(layer, mode)

            def counted(w, a):
                calls.append((layer.name, w, a))
                return run_one(w, a)
            return counted if run_one is not None else None

    def run(mqe, bits):
        calls.clear()
        space = search_space(layers, SearchSection(weight_bits=bits, act_bits=[8]))
        x = synthetic_inputs(mqe, shape)
        return compute_sensitivity(model, layers, space, mqe, x, tmp_path, progress=False, executor=Counting(model))

    first = run(MQESection(samples=8, seed=0), [4, 8])
    assert len(calls) == 8 and {(r.seed, r.n_samples) for r in first} == {(0, 8)}
    run(MQESection(samples=8, seed=0), [4, 8])
    assert calls == []                                            # same inputs: resumed from the parts
    other = run(MQESection(samples=12, seed=7), [4, 8])
    assert len(calls) == 8 and {(r.seed, r.n_samples) for r in other} == {(7, 12)}
    bits = run(MQESection(samples=12, seed=7), [2, 4, 8])
    assert len(calls) == 12 and sorted({r.w_bits for r in bits}) == [2, 4, 8]


def test_damaged_part_is_recomputed(digits_model, tmp_path):
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.mqe.run import compute_sensitivity, synthetic_inputs
    from ohq_flow.search_space import search_space
    model, _ = digits_model
    layers = discover_layers(model)[:1]
    mqe = MQESection(samples=4)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    space = search_space(layers, SearchSection(weight_bits=[4], act_bits=[8]))
    x = synthetic_inputs(mqe, shape)
    compute_sensitivity(model, layers, space, mqe, x, tmp_path, progress=False)
    part = next((tmp_path / "sensitivity_parts").glob("*.csv"))
    lines = part.read_text().splitlines()
    cells = lines[1].split(",")
    cells[3] = "-4.77"
    part.write_text("\n".join([lines[0], ",".join(cells)]) + "\n")
    rows = compute_sensitivity(model, layers, space, mqe, x, tmp_path, progress=False)
    assert all(r.kl >= 0 for r in rows)


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"model-v1")
    board = yaml.safe_load((ROOT / "ohq_flow" / "boards" / "pynq-z2.yaml").read_text())
    (tmp_path / "myboard.yaml").write_text(yaml.safe_dump(board))
    cfg = parse_config({"model": {"qonnx": "m.onnx"}, "board": "myboard.yaml", "output_dir": "run"}, base_dir=tmp_path)
    return RunContext(cfg=cfg, run_dir=cfg.output_dir)


def test_board_content_is_in_the_input_hash(ctx, tmp_path):
    step = Step("p", lambda c: None, (), ("hardware", "board"))
    h0 = input_hash(step, ctx)
    board = yaml.safe_load((tmp_path / "myboard.yaml").read_text())
    board["part"] = "xc7z010clg400-1"
    (tmp_path / "myboard.yaml").write_text(yaml.safe_dump(board))
    assert input_hash(step, ctx) != h0


def test_files_named_by_the_config_are_in_the_input_hash(tmp_path):
    """A calibration file, a checkpoint or the factory's source edited in place invalidates the step."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "net.py").write_text("def build():\n    return 1\n")
    (tmp_path / "ck.pt").write_bytes(b"v1")
    cfg = parse_config({"model": {"brevitas": {"factory": "pkg.net:build", "input_shape": [1, 4],
                                               "checkpoint": "ck.pt"}},
                        "board": "pynq-z2", "output_dir": "run"}, base_dir=tmp_path)
    ctx = RunContext(cfg=cfg, run_dir=cfg.output_dir)
    step = Step("export", lambda c: None, (), ("model",))
    h0 = input_hash(step, ctx)
    (tmp_path / "pkg" / "net.py").write_text("def build():\n    return 2\n")
    h1 = input_hash(step, ctx)
    (tmp_path / "ck.pt").write_bytes(b"v2")
    h2 = input_hash(step, ctx)
    assert len({h0, h1, h2}) == 3


def test_partial_step_runs_again(ctx):
    calls = []

    def flaky(c):
        calls.append(1)
        (c.run_dir / "out.txt").write_text("x")
        return {"partial": len(calls) == 1}

    steps = [Step("p", flaky, ("out.txt",), ())]
    assert run_steps(steps, ctx, echo=lambda s: None) == {"p": "ran"}
    assert json.loads((ctx.run_dir / "manifest.json").read_text())["steps"]["p"]["status"] == "partial"
    assert run_steps(steps, ctx, echo=lambda s: None) == {"p": "ran"}      # retried
    assert run_steps(steps, ctx, echo=lambda s: None) == {"p": "skipped"}  # complete now


def test_run_directory_is_locked(ctx):
    ctx.run_dir.mkdir(parents=True)
    with run_dir_lock(ctx.run_dir):
        with pytest.raises(InputError) as ei:
            run_steps([Step("p", lambda c: None, (), ())], ctx, echo=lambda s: None)
    assert f"pid {os.getpid()}" in str(ei.value) and ei.value.exit_code == 2
    assert run_steps([Step("p", lambda c: (c.run_dir / "o").write_text("1") and None, ("o",), ())], ctx,
                     echo=lambda s: None) == {"p": "ran"}                    # released afterwards


def test_cost_cache_key_holds_each_measurers_settings():
    from ohq_flow.hw.measurers import NAMES, get
    from ohq_flow.hw.profile import measurer_key_settings
    assert all(get(name).name == name for name in NAMES)            # every registered measurer loads
    base = HardwareSection()
    for measurer, field, value in (("vitis_hls", "io_type", "io_stream"), ("vivado_hls", "reuse_factor", 4),
                                   ("board", "board_command", ["other", "{layer}"]), ("analytic", "pe", 2),
                                   ("yosys", "latency_cutoff", 2.0), ("nextpnr", "latency_cutoff", 2.0)):
        changed = base.model_copy(update={field: value})
        assert measurer_key_settings(measurer, changed) != measurer_key_settings(measurer, base), (measurer, field)
    assert any(k.startswith("template:") for k in measurer_key_settings("yosys", base))


def _profile_config(tmp_path: Path, marks: Path, qonnx: Path) -> Path:
    script = (f'[ -e "{marks}/all" ] && exit 3; [ -e "{marks}/$0" ] && exit 3; '
              'echo "{\\"latency_cycles\\": 5, \\"lut\\": 10}"')
    cfg = yaml.safe_load((ROOT / "examples" / "digits" / "flow.yaml").read_text())
    cfg["model"] = {"qonnx": str(qonnx)}
    cfg["search"] = {"weight_bits": [4], "act_bits": [8]}
    cfg["hardware"] = {"rules": [{"measurer": "board"}], "board_command": ["sh", "-c", script, "{layer}"],
                       "cache_dir": str(tmp_path / "cache"), "workers": 2}
    cfg["build"] = {"design": False}
    cfg.pop("budgets"), cfg.pop("solver")
    cfg["output_dir"] = str(tmp_path / "run")
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cli(*args) -> int:
    from ohq_flow.cli import main
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code or 0
    return 0


def test_profile_failures_are_partial_and_retried(tmp_path, digits_model, export_dir):
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "all").touch()
    config = _profile_config(tmp_path, marks, export_dir / "digits.onnx")
    assert _cli("-q", "profile", str(config)) == 1                        # every job failed: non-zero
    manifest = tmp_path / "run" / "manifest.json"
    assert json.loads(manifest.read_text())["steps"].get("profile", {}).get("status") not in ("ok", "partial")
    layers = [l.split(",")[0] for l in (tmp_path / "run" / "costs.csv").read_text().splitlines()[1:]]
    assert len(layers) >= 2
    (marks / "all").unlink()
    (marks / layers[0]).touch()
    assert _cli("-q", "profile", str(config)) == 0
    entry = json.loads(manifest.read_text())["steps"]["profile"]
    assert entry["status"] == "partial" and entry["info"]["failed"] == 1
    (marks / layers[0]).unlink()
    assert _cli("-q", "profile", str(config)) == 0                        # not skipped: the failure is retried
    entry = json.loads(manifest.read_text())["steps"]["profile"]
    assert entry["status"] == "ok" and entry["info"]["ran"] == 1 and entry["info"]["cached"] == len(layers) - 1
