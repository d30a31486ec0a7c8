"""FINN folding from the chosen candidates, and the Python API's input checks (no flow run)."""

from __future__ import annotations

import pytest

from ohq_flow.final.interop import finn_folding
from ohq_flow.model.layers import discover_layers


def test_finn_folding_uses_the_candidates_fold_and_valid_divisors(digits_model):
    model, _ = digits_model
    layers = discover_layers(model)          # Conv_0 (MH 8, MW 9), Conv_1, MatMul_0, MatMul_1
    assign = {"Conv_0": {"w_bits": 4, "a_bits": 8, "fold": {"PE": 4, "SIMD": 3}},
              "Conv_1": {"w_bits": 4, "a_bits": 4, "fold": [5, 7]},     # not divisors: clamped down
              "MatMul_0": {"w_bits": 2, "a_bits": 4}, "MatMul_1": {"w_bits": 8, "a_bits": 8}}
    cfg, table = finn_folding(layers, assign, pe=2, simd=2, model=model)
    rows = {r["layer"]: r for r in table}
    assert (rows["Conv_0"]["PE"], rows["Conv_0"]["SIMD"]) == (4, 3)
    for r in table:
        assert r["MH"] % r["PE"] == 0 and r["MW"] % r["SIMD"] == 0 and 1 <= r["PE"] <= r["MH"]
        assert {k: cfg[r["finn_node"]][k] for k in ("PE", "SIMD")} == {"PE": r["PE"], "SIMD": r["SIMD"]}
    # multipliers as the analytic model costs them: LUTs up to 4 bits, DSPs above
    assert cfg["MVAU_hls_0"]["resType"] == "lut" and cfg["MVAU_hls_3"]["resType"] == "dsp"
    assert rows["Conv_1"]["PE"] <= 5 and rows["Conv_1"]["SIMD"] <= 7
    assert (rows["MatMul_0"]["PE"], rows["MatMul_0"]["SIMD"]) == (2, 2)    # the config's pe/simd
    # a convolution's sliding-window unit streams the MVAU's SIMD
    assert rows["Conv_0"]["finn_swg_node"] == "ConvolutionInputGenerator_rtl_0"
    assert cfg["ConvolutionInputGenerator_rtl_0"] == {"SIMD": 1}          # 1 input channel
    assert rows["Conv_1"]["finn_swg_node"] == "ConvolutionInputGenerator_rtl_2"   # MaxPool_0's is _1
    assert cfg["Defaults"]["PE"][0] == 1 and "MVAU_hls" in cfg["Defaults"]["PE"][1]


def test_flow_rejects_bad_config_input(tmp_path):
    from ohq_flow import Flow
    from ohq_flow.errors import ConfigError, InputError
    with pytest.raises(InputError, match="expected a YAML path"):
        Flow(42)
    with pytest.raises(ConfigError):
        Flow({"model": {"qonnx": "missing.onnx"}, "board": "no-such-board", "output_dir": str(tmp_path)})
    with pytest.raises(InputError, match="does not exist"):
        Flow(tmp_path / "nope.yaml")
