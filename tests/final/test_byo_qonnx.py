"""Bring your own QONNX through ``ohq-flow run``: hand-built QONNX MLPs to a bit-exact whole-network simulation.

* a 2-layer MLP with Quant nodes ending in Softmax: the softmax is left to the host, the design emits the
  logits and matches the QONNX model without the softmax;
* MLPs whose input has no Quant node: an INT8 or BIPOLAR QONNX datatype annotation, or ``model.input`` in the
  config, becomes the input quantiser (activation bits fixed);
* neither: layers..solve run with a warning naming ``model.input``; build refuses with exit 2;
* QONNX as other converters write it (bias Add, Quant on the bias, Gemm transB, BatchNorm after MatMul, Sub/Div
  input preprocessing, int64 zero points): built and bit-exact.
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import yaml

from tests.test_cli import ROOT, ohq

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "models"))
import numpy as np  # noqa: E402
from qonnx_mlp import CONVERTER_FORMS, converter_mlp, mlp  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("yosys") is None or shutil.which("verilator") is None,
                                                   reason="yosys and verilator are installed by make test")]

CASES = {
    "softmax": (dict(), None),
    "int8": (dict(input_quant=False, annotation="INT8", tail=None), None),
    "bipolar": (dict(input_quant=False, annotation="BIPOLAR"), None),
    "config": (dict(input_quant=False, tail=None), {"bits": 4, "signed": False, "scale": 0.25}),
    "undeclared": (dict(input_quant=False, tail=None), None),
    "int64_zp": (dict(tail=None, zp_dtype=np.int64), None),
    **{form: (form, None) for form in CONVERTER_FORMS},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("byo")
    out = {}
    for name, (kw, declared) in CASES.items():
        (converter_mlp(kw) if isinstance(kw, str) else mlp(**kw)).save(str(tmp / f"{name}.onnx"))
        cfg = {"name": name, "model": {"qonnx": f"{name}.onnx", **({"input": declared} if declared else {})},
               "board": "ulx3s-85f", "search": {"weight_bits": [2, 4], "act_bits": [3, 4]}, "mqe": {"samples": 8},
               "hardware": {"rules": [{"measurer": "da4ml_estimate"}], "cache_dir": str(tmp / "cache")},
               "budgets": {"lut": "50%"}, "solver": {"time_limit_s": 30, "sweep": []},
               "build": {"verify_samples": 8}, "implement": {"enabled": False}, "output_dir": f"run_{name}"}
        (tmp / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        res = ohq("run", tmp / f"{name}.yaml", "--to", "build", timeout=600)
        out[name] = (tmp / f"run_{name}", res)
    return out


def _built(run_dir, res):
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    build = json.loads((run_dir / "final" / "build.json").read_text())
    assert build["design"]["network_sim"]["mismatches"] == 0 and build["design"]["network_sim"]["inputs"] == 8
    assert build["verify"]["mismatches"] == 0 and build["verify"]["vectors"] == 16
    return build


def test_final_softmax_left_to_the_host_and_logits_bit_exact(runs):
    run_dir, res = runs["softmax"]
    _built(run_dir, res)
    assert "Softmax_0 (Softmax) left to the host" in res.stdout and "is left to the host" in res.stderr
    from qonnx.core.modelwrapper import ModelWrapper
    final = ModelWrapper(str(run_dir / "final" / "model.onnx"))
    assert all(n.op_type != "Softmax" for n in final.graph.node)      # what is verified: the logits


@pytest.mark.parametrize("name, quantiser, a_bits", [("int8", "Quant_input", 8), ("bipolar", "BipolarQuant_input", 1),
                                                     ("config", "Quant_input", 4)])
def test_declared_input_type_built_bit_exact(runs, name, quantiser, a_bits):
    run_dir, res = runs[name]
    _built(run_dir, res)
    assert f"quantiser {quantiser}" in res.stdout
    sol = json.loads((run_dir / "solution.json").read_text())
    assert sol["assignment"]["MatMul_0"]["a_bits"] == a_bits           # fixed to the declared type, not searched
    meta = json.loads((run_dir / "final" / "design" / "design.json").read_text())
    assert meta["input_quant"] == quantiser


def test_undeclared_input_runs_to_solve_and_build_refuses(runs):
    run_dir, res = runs["undeclared"]
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    for step in ("layers", "sensitivity", "profile", "solve"):
        assert f"{step}: the model input global_in goes into MatMul MatMul_0 with no Quant node" in res.stderr, step
    assert (run_dir / "solution.json").is_file()
    err = res.stderr[res.stderr.index("error:"):]
    assert err.startswith("error: build:") and "set model.input:" in err and "Traceback" not in res.stderr


@pytest.mark.parametrize("name", ["int64_zp", *CONVERTER_FORMS])
def test_converter_forms_built_bit_exact(runs, name):
    run_dir, res = runs[name]
    _built(run_dir, res)
    layers = [l["name"] for l in json.loads((run_dir / "layers.json").read_text())["layers"]]
    assert layers == (["Gemm_0", "MatMul_0"] if name == "gemm_transB" else ["MatMul_0", "MatMul_1"])
    if name == "int64_zp":                       # MQE's fast path ran it (no fallback to the QONNX executor)
        assert "fast path cannot run" not in res.stderr
