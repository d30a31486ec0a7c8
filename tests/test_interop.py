"""What hls4ml, Brevitas and FINN users load from final/, the Python API and the example notebook.

One digits run is built by executing examples/notebook/quickstart.ipynb (nbclient + ipykernel);
the README snippets (docs/notes/interop.md) then run on it exactly as written, with ``run``
pointing at it, and their outputs are compared with the QONNX executor on final/model.onnx.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "interop.md"
NOTEBOOK = ROOT / "examples" / "notebook" / "quickstart.ipynb"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("yosys") is None or shutil.which("iverilog") is None,
                                                   reason="yosys and iverilog are installed by make test")]


def _snippet(needle: str) -> str:
    """The fenced python block containing ``needle`` of README.md, else of the interop doc."""
    for doc in (ROOT / "README.md", DOC):
        blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S) if doc.is_file() else []
        found = [b for b in blocks if needle in b and re.search(r'^run = "', b, flags=re.M)]
        if found:
            assert len(found) == 1, f"one python snippet with {needle!r} in {doc}"
            return found[0]
    raise AssertionError(f"no python snippet with {needle!r} and `run = ...` in README.md or {DOC}")


def _with_run(code: str, run_dir: Path) -> str:
    code, n = re.subn(r'^run = "[^"]*"$', f"run = {str(run_dir)!r}", code, flags=re.M)
    assert n == 1, "the snippet sets `run = ...` once"
    return code


def _qonnx_reference(run_dir: Path, x_nchw: np.ndarray) -> np.ndarray:
    from qonnx.core.modelwrapper import ModelWrapper
    from ohq_flow.model.export import execute
    final = ModelWrapper(str(run_dir / "final" / "model.onnx"))
    return np.concatenate([execute(final, x_nchw[i:i + 1]) for i in range(len(x_nchw))])


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """Execute the example notebook; returns (executed notebook, run directory)."""
    import nbformat
    from nbclient import NotebookClient
    tmp = tmp_path_factory.mktemp("quickstart")
    run_dir = tmp / "run"
    env = {"OHQ_QUICKSTART_OUT": str(run_dir), "OHQ_CACHE_DIR": str(tmp / "cache"), "OHQ_FLOW_ROOT": str(ROOT),
           "PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(nb, timeout=1200, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, run_dir


def test_notebook_runs_the_flow(quickstart):
    nb, run_dir = quickstart
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "RTL mismatches: 0 | hls4ml C-simulation mismatches: 0" in text
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    build = json.loads((run_dir / "final" / "build.json").read_text())
    assert build["verify"]["mismatches"] == 0 and build["hls4ml"]["mismatches"] == 0
    assert (run_dir / "report.html").is_file()


def test_hls4ml_readme_lines_match_the_qonnx_executor(quickstart, tmp_path, monkeypatch):
    _, run_dir = quickstart
    final = run_dir / "final"
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(_with_run(_snippet("convert_from_onnx_model"), run_dir), scope)
    y = np.asarray(scope["y"], dtype=np.float64)
    x_nhwc = np.load(final / "hls4ml_tb_input.npy")
    x = np.moveaxis(x_nhwc.reshape(-1, 8, 8, 1), -1, 1).astype(np.float32)   # the digits input, back to NCHW
    y_ref = _qonnx_reference(run_dir, x)
    assert len(x) == 32 and np.sum(np.any(y.reshape(y_ref.shape) != y_ref, axis=1)) == 0
    assert (tmp_path / "my_hls4ml_prj" / "firmware").is_dir()
    # hls4ml's own format with explicit per-layer precisions at the chosen bits
    import yaml
    cfg = yaml.safe_load((final / "hls4ml_config.yml").read_text())
    assert {"Backend", "Part", "ClockPeriod", "IOType", "HLSConfig"} <= set(cfg)
    sol = json.loads((run_dir / "solution.json").read_text())["assignment"]
    for layer, bits in sol.items():
        prec = cfg["HLSConfig"]["LayerName"][layer]["Precision"]
        assert {"weight", "bias", "result", "accum"} <= set(prec)
        assert re.match(rf"fixed<{bits['w_bits']},", prec["weight"]), (layer, prec)
        assert "auto" not in prec.values()
    assert not (final / "hls4ml_config.json").exists()


def test_flow_project_tb_data_holds_real_vectors(quickstart):
    _, run_dir = quickstart
    tb = run_dir / "final" / "hls4ml" / "tb_data"
    x = np.loadtxt(tb / "tb_input_features.dat")
    y = np.loadtxt(tb / "tb_output_predictions.dat")
    assert x.shape == (32, 64) and y.shape == (32, 10) and np.abs(x).sum() > 0
    x_nchw = np.moveaxis(x.reshape(-1, 8, 8, 1), -1, 1).astype(np.float32)
    np.testing.assert_allclose(y, _qonnx_reference(run_dir, x_nchw).reshape(32, 10), rtol=1e-6, atol=1e-6)


def test_load_brevitas_equals_final_qonnx(quickstart):
    import torch
    _, run_dir = quickstart
    scope: dict = {}
    exec(_with_run(_snippet("load_brevitas"), run_dir), scope)
    model = scope["model"]
    x = np.load(ROOT / "examples" / "digits" / "digits_test.npz")["x"][:16].reshape(-1, 1, 8, 8).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x))
    y = np.asarray(getattr(y, "value", y).detach().numpy(), dtype=np.float64)
    assert np.array_equal(y, _qonnx_reference(run_dir, x))
    # and not the W8A8 model it was built as
    from ohq_flow.final.writeback import saved_bits_differ
    assert saved_bits_differ(model, run_dir / "final" / "brevitas_bit_widths.json") == {}
    bits = json.loads((run_dir / "final" / "brevitas_bit_widths.json").read_text())
    assert any(b != 8 for b in bits.values())


def test_load_brevitas_refuses_a_state_dict_of_other_bits(quickstart, tmp_path):
    import torch
    from ohq_flow.final.interop import load_brevitas
    from ohq_flow.errors import ModelError
    _, run_dir = quickstart
    copy = tmp_path / "run"
    (copy / "final").mkdir(parents=True)
    for f in ("build.json", "brevitas_bit_widths.json"):
        shutil.copy(run_dir / "final" / f, copy / "final" / f)
    sd = torch.load(run_dir / "final" / "brevitas_state_dict.pt", weights_only=True)
    key = next(k for k in sd if k.endswith("bit_width_impl.bit_width.value"))
    sd[key] = torch.tensor(7.0)
    torch.save(sd, copy / "final" / "brevitas_state_dict.pt")
    with pytest.raises(ModelError, match="bit-widths differ"):
        load_brevitas(copy)


def test_flow_api_shares_the_run_and_returns_tables(quickstart):
    import pandas as pd
    import ohq_flow
    from ohq_flow.errors import ConfigError
    _, run_dir = quickstart
    cfg_yaml = run_dir / "config.yaml"        # written by the report step: the notebook's config
    flow = ohq_flow.Flow(cfg_yaml, echo=None)
    assert flow.run_dir == run_dir
    from ohq_flow.steps import STEPS
    upto = [s.name for s in STEPS][:[s.name for s in STEPS].index("build") + 1]
    assert flow.run("build") == {s: "skipped" for s in upto}
    layers = flow.layers()
    assert isinstance(layers, pd.DataFrame) and list(layers["name"]) == ["Conv_0", "Conv_1", "MatMul_0", "MatMul_1"]
    sens, costs = flow.sensitivity(), flow.profile()
    assert {"layer", "w_bits", "a_bits", "kl"} <= set(sens.columns) and len(costs) == len(sens)
    sol = flow.solve()
    assert sol.status == "optimal" and set(sol.bits) == set(layers["name"]) and isinstance(sol.pareto, pd.DataFrame)
    res = flow.build()
    assert res.verify["mismatches"] == 0 and set(res.cost["metric"]) >= {"lut", "ff"}
    with pytest.raises(ConfigError, match="budgets.luts"):
        flow.solve({"luts": 100})
    before = json.loads((run_dir / "manifest.json").read_text())["steps"]
    tighter = flow.solve({"lut": "10%"})     # like `ohq-flow solve CONFIG --budget lut=10%`: only solve re-runs
    after = json.loads((run_dir / "manifest.json").read_text())["steps"]
    assert tighter.totals["lut"] <= 0.10 * 53200 + 1e-6 < sol.totals["lut"]
    assert after["profile"] == before["profile"] and after["solve"]["input_hash"] != before["solve"]["input_hash"]
    again = flow.solve({"lut": "15%"})       # back to the notebook's budget: the same design
    assert again.bits == sol.bits


def test_finn_bundle(quickstart):
    _, run_dir = quickstart
    finn = run_dir / "final" / "finn"
    fold = json.loads((finn / "folding_config.json").read_text())
    build_cfg = json.loads((finn / "dataflow_build_config.json").read_text())
    table = json.loads((finn / "layers.json").read_text())
    assert build_cfg["folding_config_file"] == "folding_config.json" and build_cfg["board"] == "Pynq-Z2"
    assert json.loads((finn / build_cfg["specialize_layers_config_file"]).read_text())["Defaults"]
    assert [r["finn_node"] for r in table] == ["MVAU_hls_0", "MVAU_hls_1", "MVAU_hls_2", "MVAU_hls_3"]
    for r in table:
        assert r["MH"] % r["PE"] == 0 and r["MW"] % r["SIMD"] == 0
        assert fold[r["finn_node"]]["PE"] == r["PE"] and fold[r["finn_node"]]["SIMD"] == r["SIMD"]
    assert table[0]["MW"] == 9 and table[0]["MH"] == 8       # Conv_0: 1 input channel, 3x3 kernel, 8 filters
    from qonnx.core.modelwrapper import ModelWrapper
    assert sum(n.op_type == "Quant" for n in ModelWrapper(str(finn / "model.onnx")).graph.node) > 0
