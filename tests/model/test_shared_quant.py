"""Layers fed by one Brevitas quantizer used in several places are tied, and write-back round-trips."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import yaml

from ohq_flow.final.writeback import check_agreement, map_quantizers, writeback_brevitas
from ohq_flow.model.export import build_brevitas_model, export_brevitas
from ohq_flow.model.layers import discover_layers, tied_groups
from ohq_flow.model.quantizers import apply_bits

FACTORY = "shared_act:build_model"


def _module(root):
    return build_brevitas_model(FACTORY, {}, None, [root / "tests" / "fixtures" / "models"])


def test_shared_quantizer_ties_and_writeback(root, tmp_path):
    module = _module(root)
    model = export_brevitas(module, (1, 16), tmp_path / "m.onnx")
    owners = map_quantizers(module, (1, 16), tmp_path)
    assert not tied_groups(discover_layers(model)), "two distinct Quant nodes: no tie without the Brevitas owners"
    layers = discover_layers(model, owners)
    groups = tied_groups(layers)
    assert list(groups.values()) == [["MatMul_1", "MatMul_2"]]
    assert list(groups) == ["act.act_quant"]
    fc1, fc2 = layers[1], layers[2]
    assert fc1.input_quant.node != fc2.input_quant.node
    assert fc1.input_quant.siblings == [fc2.input_quant.node]

    assignment = {"MatMul_0": (8, 8), "MatMul_1": (6, 4), "MatMul_2": (8, 4)}
    final, changed = apply_bits(model, layers, assignment)
    assert {fc1.input_quant.node, fc2.input_quant.node} <= set(changed)
    module2, bits = writeback_brevitas(module, layers, assignment, owners)
    assert bits["act.act_quant"] == 4
    reexported = export_brevitas(module2, (1, 16), tmp_path / "re.onnx")
    x = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)
    agree = check_agreement(final, reexported, x)
    assert agree["max_output_diff"] == 0.0 and agree["differing_quant_nodes"] == []


def test_layers_step_reports_shared_quantizer_tie(root, tmp_path):
    cfg = {"name": "shared", "board": "pynq-z2", "output_dir": str(tmp_path / "run"),
           "model": {"brevitas": {"factory": FACTORY, "input_shape": [1, 16],
                                  "python_path": [str(root / "tests" / "fixtures" / "models")]}},
           "search": {"weight_bits": [4, 8], "act_bits": [4, 8]}, "budgets": {"lut": "50%"}}
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = subprocess.run([sys.executable, "-m", "ohq_flow", "layers", str(path)], capture_output=True, text=True,
                         cwd=root, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "1 tied group(s)" in out.stdout
    doc = json.loads((tmp_path / "run" / "layers.json").read_text())
    assert doc["tied_groups"] == {"act.act_quant": ["MatMul_1", "MatMul_2"]}
