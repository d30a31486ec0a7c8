"""The report renderer: title from the config, chosen bits, fidelity labels, untrusted-sensitivity warning."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from ohq_flow.errors import InputError
from ohq_flow.report.build_report import write_report


def _layer(name: str) -> dict:
    return {"name": name, "op_type": "MatMul", "weight_shape": [4, 4], "macs": 16, "params": 16, "w_bits": 8.0,
            "a_bits": 8.0, "tied_group": None}


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "runs" / "dirname"
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"name": "my-design"}))
    (d / "manifest.json").write_text(json.dumps({"steps": {}}))
    (d / "layers.json").write_text(json.dumps({"layers": [_layer("fc0"), _layer("fc1")]}))
    (d / "solution.json").write_text(json.dumps({"status": "optimal", "objective": 0.1, "budgets": {"lut": 100},
                                                 "assignment": {"fc0": {"w_bits": 3, "a_bits": 5},
                                                                "fc1": {"w_bits": 6, "a_bits": 7}}}))
    header = "layer,w_bits,a_bits,lut,status,fidelity\n"
    (d / "costs.csv").write_text(header + "fc0,3,5,10,ok,post_synth\nfc1,6,7,20,ok,estimate\nfc1,3,5,9,ok,estimate\n")
    return d


def test_title_chosen_bits_and_fidelity(run_dir):
    html_path, md_path = write_report(run_dir)
    md = md_path.read_text()
    assert md.startswith("# ohq_flow report — my-design")
    assert "| fc0 | MatMul | 4x4 | 16 | 16 | 8 | 8 | 3 | 5 |" in md
    assert "| fc1 | MatMul | 4x4 | 16 | 16 | 8 | 8 | 6 | 7 |" in md
    assert "WARNING" not in md


def test_untrusted_sensitivity_is_prominent(run_dir):
    (run_dir / "sensitivity_checks.json").write_text(json.dumps(
        {"trusted": False, "problems": ["every candidate's kl is ~0"], "hints": ["give real calibration inputs"]}))
    html_path, md_path = write_report(run_dir)
    page = html_path.read_text()
    assert "class='warn'" in page and "every candidate&#x27;s kl is ~0" in page
    assert "WARNING: the sensitivity cannot be trusted" in md_path.read_text()


def test_fidelity_label_counts_rows():
    from ohq_flow.report.build_report import fidelity_label
    rows = [{"fidelity": "estimate"}, {"fidelity": "estimate"}, {"fidelity": "post_synth"}]
    assert fidelity_label(rows) == "estimate 2, post_synth 1"


def test_not_a_run_directory(tmp_path):
    with pytest.raises(InputError, match="not a run directory"):
        write_report(tmp_path)
    r = subprocess.run([sys.executable, "-m", "ohq_flow", "report", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "not a run directory" in r.stderr
    assert not (tmp_path / "report.html").exists()


def test_implementation_section_flags_failed_timing(run_dir):
    (run_dir / "final" / "impl").mkdir(parents=True)
    (run_dir / "final" / "impl" / "impl.json").write_text(json.dumps(
        {"status": "timing_not_met", "fmax_mhz": 41.2, "target_mhz": 50.0, "timing_met": False, "lut4": 5000,
         "bitstream": "final/impl/ohq_top.bit"}))
    html_path, md_path = write_report(run_dir)
    assert "TIMING NOT MET" in html_path.read_text()
    assert "| lut4 | 5000 |" in md_path.read_text()
