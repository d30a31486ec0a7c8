"""Shared fixtures of the implementation tests: the contract-following test design in a run dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

FIX = Path(__file__).resolve().parents[1] / "fixtures"
DESIGN = FIX / "impl" / "design"
NEXTPNR_REPORTS = FIX / "reports" / "nextpnr"


def expected_outputs(x: np.ndarray) -> np.ndarray:
    """What the test design computes: output beat j = sum of both channels of pixels 2j and 2j+1."""
    s = x.sum(axis=2)
    return np.stack([s[:, 0] + s[:, 1], s[:, 2] + s[:, 3]], axis=1)[..., None]


def make_run(tmp_path: Path, board: str = "ulx3s-12f", implement: dict | None = None) -> Path:
    """A config + run dir holding final/design (the test design) and final/build.json; returns the config path."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "model.onnx").write_bytes(b"")     # the implement step never reads the model
    run = tmp_path / "run"
    shutil.copytree(DESIGN, run / "final" / "design")
    (run / "final" / "build.json").write_text("{}")
    cfg = {"name": "impltest", "model": {"qonnx": "model.onnx"}, "board": board, "output_dir": "run",
           "hardware": {"cache_dir": str(tmp_path / "cache")}, "implement": implement or {}}
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_implement(config: Path, force: bool = False):
    from ohq_flow.config import load_config
    from ohq_flow.pipeline import RunContext, run_steps
    from ohq_flow.steps import STEPS
    cfg = load_config(config)
    ctx = RunContext(cfg=cfg, run_dir=cfg.output_dir, force=force)
    return run_steps(STEPS, ctx, start="implement", stop="implement", echo=print), ctx   # step messages on stdout


@pytest.fixture
def vectors():
    rng = np.random.default_rng(7)
    x = rng.integers(-8, 8, size=(24, 4, 2))
    return x, expected_outputs(x)
