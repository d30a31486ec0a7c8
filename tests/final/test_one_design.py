"""One design: the ILP chooses the design that is built, and the built design meets the budget.

An MLP with layers too large to unroll (256x64, 64x32 past ``search.unroll_max_weights``: folded candidates only,
weights in block RAM)
through ``ohq-flow run`` at a tight LUT budget on the ULX3S 85F: the solution folds them, the build builds
exactly those folds, the whole design synthesised (Yosys, per part) is within 10% of the ILP's figure and
within the budget and the board, and the ILP's latency and II are the simulated ones.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.test_cli import ROOT, ohq

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys is installed by make test")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onedesign")
    cfg = {
        "name": "big_mlp",
        "model": {"brevitas": {"factory": "scale_models:big_mlp", "kwargs": {"sizes": [256, 64, 32, 10]},
                               "input_shape": [1, 256],
                               "python_path": [str(ROOT / "tests" / "fixtures" / "models")]}},
        "board": "ulx3s-85f",
        "search": {"weight_bits": [2, 3, 4], "act_bits": [3, 4], "unroll_max_weights": 1024},
        "mqe": {"samples": 16},
        "hardware": {"rules": [{"measurer": "da4ml_estimate"}], "cache_dir": str(tmp / "cache")},
        "budgets": {"lut": "30%"},
        "solver": {"time_limit_s": 60},
        "build": {"verify_samples": 16},
        "implement": {"enabled": False},
        "output_dir": str(tmp / "run"),
    }
    path = tmp / "flow.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return tmp / "run", ohq("run", path, "--to", "build", timeout=1500)


def test_big_layers_are_folded_by_the_solution_and_built_so(run):
    run_dir, res = run
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    sol = json.loads((run_dir / "solution.json").read_text())
    folds = {l: v["fold"] for l, v in sol["assignment"].items()}
    big = [l for l in folds if l != list(folds)[-1]]
    assert all(folds[l].startswith("pe") for l in big), folds            # too large to unroll: folded candidates only
    build = json.loads((run_dir / "final" / "build.json").read_text())
    d = build["design"]
    assert {build_layer: f for build_layer, f in d["folds"].items()} and sorted(d["folds"].values()) == \
        sorted(folds[l] for l in big)                                     # built exactly as solved
    meta = json.loads((run_dir / "final" / "design" / "design.json").read_text())
    units = [s for s in meta["stages"] if s["kind"] == "mvau"]
    assert units and any(s["mem"] == 1 for s in units) and all(s["mul"] == 0 for s in units)
    assert d["measured"]["bram18"] > 0                                    # weights in block RAM, LUT products:
    assert abs(d["measured"]["dsp"] - d["resources"]["dsp"]["ilp"]) <= 1  # DSPs only where priced (requantisers)


def test_whole_design_within_ten_percent_of_the_ilp_and_within_budget(run):
    run_dir, res = run
    sol = json.loads((run_dir / "solution.json").read_text())
    build = json.loads((run_dir / "final" / "build.json").read_text())
    for m in ("lut", "ff", "bram18"):
        r = build["design"]["resources"][m]
        assert abs(r["ilp"] - r["measured_whole"]) <= 0.10 * max(r["ilp"], 1), (m, r)   # within 10% of the ILP's
    v = build["verdict"]
    assert v["over"] == []
    rows = {r["metric"]: r for r in v["rows"]}
    assert rows["lut"]["final"] <= rows["lut"]["budget"] * (1 + v["tolerance"])
    assert all(r["final"] <= r["budget"] for r in v["rows"] if r["metric"] in ("dsp", "bram18", "ff"))
    sim = build["design"]["network_sim"]
    assert sim["mismatches"] == 0
    assert (sol["totals"]["latency_cycles"], sol["totals"]["ii_cycles"]) == (sim["latency_cycles"], sim["ii_cycles"])
