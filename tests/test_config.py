"""FlowConfig: loading, every problem reported at once with YAML paths and hints."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ohq_flow.config import STARTER_CONFIG, FlowConfig, load_config, parse_config
from ohq_flow.errors import ConfigError, InputError


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "flow.yaml"
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def _good(tmp_path: Path) -> dict:
    (tmp_path / "m.onnx").write_bytes(b"x")
    return {"name": "t", "model": {"qonnx": "m.onnx"}, "board": "pynq-z2"}


def test_digits_example_config_is_valid(digits_cfg):
    assert digits_cfg.name == "digits-pynq-z2"
    assert digits_cfg.model.brevitas.checkpoint.is_file()
    assert digits_cfg.board_obj().part == "xc7z020clg400-1"
    assert digits_cfg.output_dir.is_absolute()


def test_default_demo_targets_ulx3s_and_matches_the_pynq_example():
    """`make demo` (examples/digits/flow.yaml) ends with an ECP5 bitstream; the PYNQ-Z2 example is the same flow."""
    root = Path(__file__).resolve().parents[1] / "examples" / "digits"
    demo = load_config(root / "flow.yaml")
    assert demo.name == "digits" and demo.board_obj().part == "LFE5U-85F-6BG381C" and demo.board_obj().is_ecp5
    assert demo.implement.enabled and demo.output_dir == (root / "../../runs/digits").resolve()
    a, b = (yaml.safe_load((root / f).read_text()) for f in ("flow.yaml", "flow_pynq_z2.yaml"))
    differ = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    assert differ <= {"name", "board", "budgets", "solver", "implement", "hardware", "output_dir"}, differ
    assert a["model"] == b["model"] and a["search"] == b["search"] and a["mqe"] == b["mqe"]


def test_defaults_and_relative_paths(tmp_path):
    cfg = load_config(_write(tmp_path, _good(tmp_path)))
    assert cfg.model.qonnx == (tmp_path / "m.onnx").resolve()
    assert cfg.search.weight_bits == [2, 3, 4, 5, 6, 7, 8]
    assert cfg.output_dir == (tmp_path / "runs/run").resolve()
    assert cfg.clock_ns() == pytest.approx(10.0)


def test_every_problem_reported_at_once_with_paths_and_hints(tmp_path):
    data = _good(tmp_path)
    data.update({"board": "pynq-z3", "serach": {}, "search": {"weight_bits": [2, 3, 40], "act_bit": [8]},
                 "mqe": {"samples": 0, "metric": "kll"}, "budgets": {"lut": "50 percent", "latency_cycles": "10%"}})
    with pytest.raises(ConfigError) as ei:
        load_config(_write(tmp_path, data))
    problems = dict(ei.value.problems)
    assert "did you mean 'pynq-z2'" in problems["board"]
    assert "did you mean 'search'" in problems["serach"]
    assert "did you mean 'act_bits'" in problems["search.act_bit"]
    assert "40" in problems["search.weight_bits[2]"]
    assert "mqe.samples" in problems and "mqe.metric" in problems
    assert "percentage" in problems["budgets.lut"]
    assert "board total" in problems["budgets.latency_cycles"]
    assert len(ei.value.problems) >= 8
    assert ei.value.exit_code == 2


def test_model_needs_exactly_one_source(tmp_path):
    data = _good(tmp_path)
    data["model"] = {}
    with pytest.raises(ConfigError) as ei:
        parse_config(data, base_dir=tmp_path)
    assert any("exactly one" in m for _, m in ei.value.problems)


def test_missing_files_are_named(tmp_path):
    data = {"model": {"brevitas": {"factory": "a.b:c", "checkpoint": "nope.pt", "input_shape": [1, 4]}},
            "board": "pynq-z2", "mqe": {"inputs": "npz"}}
    with pytest.raises(ConfigError) as ei:
        parse_config(data, base_dir=tmp_path)
    problems = dict(ei.value.problems)
    assert "nope.pt" in problems["model.brevitas.checkpoint"]
    assert "npz" in problems["mqe"]


def test_bad_factory_form_and_duplicate_bits(tmp_path):
    data = _good(tmp_path)
    data["model"] = {"brevitas": {"factory": "not a factory", "input_shape": [1]}}
    data["search"] = {"weight_bits": [4, 4]}
    with pytest.raises(ConfigError) as ei:
        parse_config(data, base_dir=tmp_path)
    problems = dict(ei.value.problems)
    assert "package.module:function" in problems["model.brevitas.factory"]
    assert "batch dimension" in problems["model.brevitas.input_shape"]
    assert "twice" in problems["search.weight_bits"]


def test_board_file_path_accepted(tmp_path, root):
    board = tmp_path / "myboard.yaml"
    board.write_text((root / "ohq_flow" / "boards" / "arty-a7-100t.yaml").read_text().replace("Arty A7-100T", "My Board"))
    data = _good(tmp_path)
    data["board"] = "myboard.yaml"
    cfg = parse_config(data, base_dir=tmp_path)
    assert cfg.board_obj().name == "My Board"


def test_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(ConfigError):
        load_config(_write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")


def test_starter_config_parses_after_filling_in(tmp_path):
    data = yaml.safe_load(STARTER_CONFIG)
    (tmp_path / "ck.pt").write_bytes(b"")
    data["model"]["brevitas"]["checkpoint"] = "ck.pt"
    cfg = parse_config(data, base_dir=tmp_path)
    assert isinstance(cfg, FlowConfig)
    assert cfg.budgets.as_dict() == {"lut": "50%"}


def test_json_schema_lists_sections():
    from ohq_flow.config import json_schema
    props = json_schema()["properties"]
    for key in ("model", "board", "search", "mqe", "hardware", "budgets", "solver", "output_dir"):
        assert key in props


def test_budget_and_sweep_spelling_agree_with_the_solver():
    """One definition (ohq_flow.metrics): what the config accepts, the solver resolves, and vice versa."""
    from ohq_flow.config import BudgetsSection, SolverSection
    from ohq_flow.solve.pareto import parse_sweep
    from ohq_flow.solve.problem import resolve_budget
    assert BudgetsSection(lut=".5%").lut == ".5%" and resolve_budget(".5%", 1000, "lut") == 5.0
    assert SolverSection(sweep=["lut=.5%:2.5%:3"]).sweep and parse_sweep("lut=.5%:2.5%:3", 1000) == ("lut", [5.0, 15.0, 25.0])
    with pytest.raises(Exception, match="unknown metric 'lutt'"):
        SolverSection(sweep=["lutt=10%:20%:2"])


def test_removed_build_fold_fields_say_where_folds_come_from(tmp_path):
    data = _good(tmp_path)
    data["build"] = {"fold_above_weights": 4096}
    with pytest.raises(ConfigError) as ei:
        parse_config(data, base_dir=tmp_path)
    assert "search.unroll_max_weights" in str(ei.value) and ei.value.exit_code == 2
    data["build"] = {}
    data["search"] = {"unroll_max_weights": 0}
    with pytest.raises(ConfigError):
        parse_config(data, base_dir=tmp_path)
    data["search"] = {"folds": ["px2"]}                  # parallel-pixel folds are not built, so never a candidate
    with pytest.raises(ConfigError, match="parallel-pixel"):
        parse_config(data, base_dir=tmp_path)
    data.pop("search")
    assert parse_config(data, base_dir=tmp_path).search.unroll_max_weights == 4096