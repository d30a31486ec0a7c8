"""A digits run directory up to `solve` (export, layers, a hand-written solution) for the training tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits"
FIXTURES = ROOT / "tests" / "fixtures"
# the digits demo's chosen design at 25% LUT
ASSIGNMENT = {"Conv_0": (6, 8), "Conv_1": (4, 6), "MatMul_0": (4, 6), "MatMul_1": (6, 6)}


def make_cfg(out: Path, **sections):
    """The digits config (paths absolute) with the given sections replaced; output_dir ``out``."""
    from ohq_flow.config import parse_config
    data = yaml.safe_load((DIGITS / "flow_pynq_z2.yaml").read_text())
    data["output_dir"] = str(out)
    data.update(sections)
    return parse_config(data, base_dir=DIGITS)


def data_factory(fn: str, **kwargs) -> dict:
    return {"factory": f"train_data:{fn}", "kwargs": kwargs, "python_path": [str(FIXTURES), str(ROOT)]}


@pytest.fixture(scope="session")
def solved_run(tmp_path_factory) -> Path:
    """export + layers of the digits model and solution.json with the demo's assignment."""
    from ohq_flow.pipeline import RunContext, run_steps
    from ohq_flow.steps import STEPS
    out = tmp_path_factory.mktemp("solved")
    ctx = RunContext(make_cfg(out), out)
    run_steps([s for s in STEPS if s.name in ("export", "layers")], ctx, echo=lambda s: None)
    (out / "solution.json").write_text(json.dumps(
        {"status": "Optimal", "assignment": {k: {"w_bits": w, "a_bits": a} for k, (w, a) in ASSIGNMENT.items()}}))
    return out


@pytest.fixture
def run_ctx(solved_run, tmp_path):
    """make(**sections) -> a RunContext on a fresh copy of the solved run."""
    from ohq_flow.pipeline import RunContext

    def make(**sections):
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        shutil.copytree(solved_run, out)
        return RunContext(make_cfg(out, **sections), out)
    return make
