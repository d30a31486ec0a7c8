"""The whole flow on the digits example through the CLI: run, resume, verified final design, report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.test_cli import ROOT, ohq

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("yosys") is None or shutil.which("iverilog") is None,
                                                   reason="yosys and iverilog are installed by make test")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    data = yaml.safe_load((ROOT / "examples/digits/flow_pynq_z2.yaml").read_text())
    data["model"]["brevitas"].update(checkpoint=str(ROOT / "examples/digits/digits_w8a8.pt"), python_path=[str(ROOT)])
    data["build"]["eval_npz"] = str(ROOT / "examples/digits/digits_test.npz")
    data["data"]["python_path"] = [str(ROOT)]
    data["build"]["verify_samples"] = 32
    data["search"] = {"weight_bits": [2, 4, 8], "act_bits": [4, 8]}
    data["hardware"]["cache_dir"] = str(tmp / "cache")
    data["hardware"]["rules"] = [{"measurer": "yosys", "max_weights": 200}, {"measurer": "da4ml_estimate"}]
    data["budgets"] = {"lut": "15%"}
    data["solver"]["sweep"] = ["lut=3%:30%:4"]
    data["solver"]["refine"] = 4                # the ILP's 4 best assignments scored jointly
    data["output_dir"] = str(tmp / "run")
    cfg = tmp / "flow.yaml"
    cfg.write_text(yaml.safe_dump(data))
    first = ohq("run", cfg, timeout=1500)
    return cfg, tmp / "run", first


def test_full_run_verifies_bit_exactly(run):
    cfg, run_dir, first = run
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    solution = json.loads((run_dir / "solution.json").read_text())
    assert solution["status"] == "optimal"
    assert solution["totals"]["lut"] <= 0.15 * 53200 + 1e-6
    joint = solution["damage_joint"]           # the chosen design evaluated jointly, next to the ILP's sum
    assert joint["predicted"] == pytest.approx(solution["totals"]["damage"]) and joint["joint"] > 0
    assert joint["error"] == pytest.approx((joint["predicted"] - joint["joint"]) / joint["joint"])
    assert "measured jointly" in first.stdout
    ref = solution["strategy_info"]["refine"]  # the ILP's best assignments scored jointly, the least damaged kept
    assert ref["evaluated"] >= 2 and len({str(c["assignment"]) for c in ref["candidates"]}) == ref["evaluated"]
    kept = ref["candidates"][ref["kept"]]
    assert kept["joint"] == min(c["joint"] for c in ref["candidates"]) == pytest.approx(joint["joint"])
    assert kept["assignment"] == {l: f"w{v['w_bits']}a{v['a_bits']}" for l, v in solution["assignment"].items()}
    assert "designs (top) scored jointly" in first.stdout
    build = json.loads((run_dir / "final" / "build.json").read_text())
    assert build["verify"]["mismatches"] == 0 and build["verify"]["vectors"] > 1000
    assert build["hls4ml"]["mismatches"] == 0 and build["hls4ml"]["samples"] == 32  # whole network, C-simulation
    assert (Path(build["hls4ml"]["project"]) / "build_prj.tcl").is_file()
    assert build["brevitas"]["max_output_diff"] == 0.0 and build["brevitas"]["differing_quant_nodes"] == []
    assert build["accuracy"]["reference"] >= 0.95
    design = build["design"]                       # the complete streaming design, simulated whole
    assert design["network_sim"]["mismatches"] == 0 and design["network_sim"]["inputs"] == 32
    assert design["network_sim"]["latency_cycles"] == design["network_sim"]["predicted_latency_cycles"]
    # the ILP's latency and II are the streamed design's, as simulated
    assert solution["totals"]["latency_cycles"] == design["network_sim"]["latency_cycles"]
    assert solution["totals"]["ii_cycles"] == design["network_sim"]["ii_cycles"]
    sim = json.loads((run_dir / "final" / "verify" / "network_sim.json").read_text())
    assert sim["ii_cycles"] == sim["predicted_ii_cycles"]
    meta = json.loads((run_dir / "final" / "design" / "design.json").read_text())
    assert meta["top"] == "ohq_top" and all((run_dir / "final" / "design" / s).is_file() for s in meta["sources"])
    assert design["measured"]["lut"] > build["measured"]["lut"]        # the glue costs something
    assert design["glue"]["lut"] == design["measured"]["lut"] - build["measured"]["lut"]
    lut = design["resources"]["lut"]               # the ILP priced the whole design: kernels and glue
    assert abs(lut["ilp"] - lut["measured_whole"]) <= 0.15 * lut["measured_whole"], lut
    assert lut["priced_built"] == pytest.approx(lut["ilp"], rel=0.02)    # the plan is the design built
    assert not build["verdict"]["over"] and (run_dir / "design_costs.json").is_file()
    assert "step profile done" in (run_dir / "ohq_flow.log").read_text()
    assert "report:" in first.stdout and (run_dir / "report.html").stat().st_size > 10000
    pareto = (run_dir / "pareto.csv").read_text()
    assert "uniform,W8A8" in pareto and "sweep," in pareto


def test_second_run_skips_every_step(run):
    cfg, run_dir, first = run
    again = ohq("run", cfg)
    assert again.returncode == 0
    from ohq_flow.steps import STEPS
    assert again.stdout.count("up to date, skipped") == len(STEPS)


def test_budget_change_reruns_only_solve_and_later(run, tmp_path):
    cfg, run_dir, _ = run
    data = yaml.safe_load(cfg.read_text())
    data["budgets"] = {"lut": "10%"}
    cfg2 = cfg.with_name("flow2.yaml")
    cfg2.write_text(yaml.safe_dump(data))
    r = ohq("run", cfg2, "--to", "solve")
    assert r.returncode == 0, r.stderr
    for step in ("export", "layers", "sensitivity", "profile"):
        assert f"[{step}] up to date, skipped" in r.stdout
    assert "[solve] done" in r.stdout


def test_infeasible_budget_is_diagnosed(run):
    cfg, run_dir, _ = run
    r = ohq("solve", "--sensitivity", run_dir / "sensitivity.csv", "--costs", run_dir / "costs.csv",
            "--budget", "lut=10", "--out", run_dir / "infeasible")
    assert r.returncode == 1
    assert "lut budget 10 < minimum achievable" in r.stderr and "raise lut to at least" in r.stderr


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is installed by make test")
def test_report_renders_in_headless_chromium(run, tmp_path):
    """A real browser loads report.html offline: the screenshot is not blank and no image is broken."""
    import base64
    import io
    import re
    import subprocess

    from PIL import Image

    _, run_dir, _ = run
    page = (run_dir / "report.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", "--window-size=1200,3000", page],
                   capture_output=True, timeout=120, check=True)
    img = Image.open(shot).convert("L")
    hist = img.histogram()
    assert sum(1 for h in hist if h > 50) > 20, "screenshot looks blank"
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=True).stdout
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', dom)
    assert len(srcs) >= 5
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), "report must not reference external files"
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
