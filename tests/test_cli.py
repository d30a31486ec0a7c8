"""The ohq-flow command line, run as a user would (subprocess), on real models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def ohq(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "ohq_flow", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout)


def _digits_config(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((ROOT / "examples/digits/flow.yaml").read_text())
    data["model"]["brevitas"]["checkpoint"] = str(ROOT / "examples/digits/digits_w8a8.pt")
    data["model"]["brevitas"]["python_path"] = [str(ROOT)]
    data["build"]["eval_npz"] = str(ROOT / "examples/digits/digits_test.npz")
    data["output_dir"] = str(tmp_path / "run")
    for key, value in changes.items():
        data["model"]["brevitas"][key] = value
    p = tmp_path / "flow.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_help_lists_subcommands():
    r = ohq("--help")
    assert r.returncode == 0
    for cmd in ("validate", "init", "schema", "boards", "layers", "run", "parse-report"):
        assert cmd in r.stdout


def test_version():
    r = ohq("--version")
    assert r.returncode == 0 and r.stdout.startswith("ohq-flow ")


def test_validate_lists_every_problem_exit_2(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  qonnx: missing.onnx\nboard: pynq-z3\nsearch:\n  weight_bits: [2, 99]\n  act_bit: [8]\nmqe: {samples: 0}\n")
    r = ohq("validate", p)
    assert r.returncode == 2
    for piece in ("model.qonnx", "missing.onnx", "did you mean 'pynq-z2'", "search.weight_bits[1]",
                  "search.act_bit", "did you mean 'act_bits'", "mqe.samples"):
        assert piece in r.stderr
    assert "Traceback" not in r.stderr


def test_init_then_schema_then_boards(tmp_path):
    p = tmp_path / "new.yaml"
    assert ohq("init", p).returncode == 0 and "factory" in p.read_text()
    assert ohq("init", p).returncode == 2  # refuses to overwrite
    schema = json.loads(ohq("schema").stdout)
    assert "budgets" in schema["properties"]
    boards = json.loads(ohq("boards", "--json").stdout)
    assert boards["zcu104"]["resources"]["uram"] == 96


def test_layers_prints_table_and_writes_json(tmp_path):
    cfg = _digits_config(tmp_path)
    r = ohq("layers", cfg)
    assert r.returncode == 0, r.stderr
    assert "Conv_0" in r.stdout and "MatMul_1" in r.stdout and "4 layers" in r.stdout
    data = json.loads((tmp_path / "run" / "layers.json").read_text())
    assert [l["name"] for l in data["layers"]] == ["Conv_0", "Conv_1", "MatMul_0", "MatMul_1"]
    r2 = ohq("layers", cfg)
    assert "up to date, skipped" in r2.stdout


@pytest.mark.parametrize("change,expect", [
    ({"factory": "examples.digits.nomodule:build_model"}, "cannot import module 'examples.digits.nomodule'"),
    ({"factory": "examples.digits.model:build_modle"}, "did you mean 'build_model'"),
    ({"input_shape": [1, 3, 32, 32]}, "input_shape [1, 3, 32, 32] does not fit the model"),
    ({"kwargs": {"w_bits": 8, "colour": 1}}, "check model.brevitas.kwargs"),
])
def test_model_errors_are_one_clear_message(tmp_path, change, expect):
    r = ohq("layers", _digits_config(tmp_path, **change))
    assert r.returncode == 2, r.stdout + r.stderr
    assert expect in r.stderr
    assert "Traceback" not in r.stderr


def test_checkpoint_that_does_not_fit(tmp_path):
    import torch
    ck = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, ck)
    r = ohq("layers", _digits_config(tmp_path, checkpoint=str(ck)))
    assert r.returncode == 2 and "does not fit" in r.stderr and "Traceback" not in r.stderr


def test_unsupported_node_is_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    node = helper.make_node("FancyOp", ["x"], ["y"], domain="my.domain", name="fancy_0")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("my.domain", 1)])
    onnx.save(model, tmp_path / "m.onnx")
    cfg = tmp_path / "flow.yaml"
    cfg.write_text(f"model: {{qonnx: m.onnx}}\nboard: pynq-z2\noutput_dir: {tmp_path / 'run'}\n")
    r = ohq("layers", cfg)
    assert r.returncode == 2, r.stderr
    assert "FancyOp" in r.stderr and "Traceback" not in r.stderr


def test_debug_shows_traceback(tmp_path):
    r = ohq("--debug", "layers", _digits_config(tmp_path, factory="examples.digits.nomodule:f"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_solve_json_prints_only_json(tmp_path):
    """Steps report through the run context: with --json, stdout is the solution and nothing else."""
    cfg = yaml.safe_load(_digits_config(tmp_path).read_text())
    cfg["search"] = {"weight_bits": [4], "act_bits": [8]}
    cfg["mqe"].update(samples=8, modes=["joint"])
    cfg["hardware"] = {"rules": [{"measurer": "da4ml_estimate"}], "cache_dir": str(tmp_path / "cache")}
    cfg["budgets"] = {"lut": "100%"}
    cfg["solver"]["sweep"] = []
    (tmp_path / "flow.yaml").write_text(yaml.safe_dump(cfg))
    r = ohq("solve", tmp_path / "flow.yaml", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)                                  # the whole stdout is one JSON document
    assert doc["status"] == "optimal" and set(doc["assignment"]) and "[solve]" in r.stderr
    assert "ohq_flow" in (tmp_path / "run" / "ohq_flow.log").read_text()   # the run log got the records
