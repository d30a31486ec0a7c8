"""Every design fits the board: unset resource budgets default to 100% of the board; over-board budgets warn."""

from __future__ import annotations

import subprocess
import sys

import yaml

from ohq_flow.boards import resolve_board
from ohq_flow.solve.step import board_budgets, budgets_over_board

ROOT_CFG = "examples/digits/flow_pynq_z2.yaml"


def test_unset_resources_default_to_the_board():
    board = resolve_board("pynq-z2")
    budgets = board_budgets({"lut": "25%", "latency_cycles": 100}, board)
    assert budgets["lut"] == "25%" and budgets["latency_cycles"] == 100
    assert budgets["ff"] == budgets["dsp"] == budgets["bram18"] == "100%"
    assert "uram" not in budgets          # the board has none: no budget invented for it


def test_budget_above_board_warns():
    board = resolve_board("pynq-z2")
    assert budgets_over_board({"lut": 60000}, board)[0].startswith("budgets.lut = 60,000 is above PYNQ-Z2")
    assert budgets_over_board({"lut": 1000, "ff": "50%"}, board) == []


def _validate(root, tmp_path, change) -> subprocess.CompletedProcess:
    data = yaml.safe_load((root / ROOT_CFG).read_text())
    data["model"]["brevitas"].update(checkpoint=str(root / "examples/digits/digits_w8a8.pt"), python_path=[str(root)])
    data.pop("data", None)
    data["build"]["eval_npz"] = str(root / "examples/digits/digits_test.npz")
    change(data)
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(data))
    return subprocess.run([sys.executable, "-m", "ohq_flow", "validate", str(path)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)


def test_validate_warns_and_imports_the_factory(root, tmp_path):
    r = _validate(root, tmp_path, lambda d: d["budgets"].update(lut=90000))
    assert r.returncode == 0 and "warning: budgets.lut = 90,000 is above PYNQ-Z2" in r.stderr
    r = _validate(root, tmp_path, lambda d: d["model"]["brevitas"].update(factory="examples.digits.model:no_such"))
    assert r.returncode == 2 and "has no function 'no_such'" in r.stderr
    r = _validate(root, tmp_path, lambda d: d["model"]["brevitas"].update(factory="examples.nowhere:build_model"))
    assert r.returncode == 2 and "cannot import module 'examples.nowhere'" in r.stderr
