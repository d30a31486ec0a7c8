"""`build` says what it will do and refuses up front what cannot finish (ImageNet-size kernels)."""

from __future__ import annotations

import json

import pytest

from ohq_flow.final.plan import build_plan, kernel_seconds
from ohq_flow.errors import InputError
from ohq_flow.model.export import build_brevitas_model, export_brevitas
from ohq_flow.model.layers import discover_layers


def test_build_refuses_a_wide_model_before_any_work(root, tmp_path, digits_cfg):
    from ohq_flow.final.step import build
    from ohq_flow.pipeline import RunContext
    module = build_brevitas_model("scale_models:wide_mlp", {"n_layers": 1, "width": 256}, None,
                                  [root / "tests" / "fixtures" / "models"])
    model = export_brevitas(module, (1, 256), tmp_path / "wide.onnx")
    layers = discover_layers(model)
    run = tmp_path / "run"
    run.mkdir()
    (run / "solution.json").write_text(json.dumps({"status": "optimal", "assignment": {l.name: {"w_bits": 4, "a_bits": 4} for l in layers},
                                                   "totals": {}}))
    cfg = digits_cfg.model_copy(deep=True)
    # a PE/SIMD fold in the solution folds a layer of any size (no da4ml kernel, nothing refused)
    plan = build_plan(layers, cfg, {layers[0].name: "pe4_simd8"})
    assert plan.folded == [layers[0].name] and not plan.too_large and "1 folded (MVAU" in plan.text()
    # without a fold the layer's unrolled kernel is refused: the build never overrides the solution
    with pytest.raises(InputError) as err:
        build(RunContext(cfg, run), model, layers)
    assert err.value.exit_code == 2
    assert "1 layer(s) past build.max_kernel_weights=16,384" in err.value.message and "65,536" in err.value.message
    assert "build.max_kernel_weights" in err.value.hint and "search.unroll_max_weights" in err.value.hint
    assert not (run / "final").exists()                       # nothing was started
    cfg.build.max_kernel_weights = 100_000                    # allowed per kernel, but far over the time limit
    with pytest.raises(InputError, match="over build.max_minutes=60"):
        build_plan(layers, cfg)


def test_build_plan_of_a_small_model_says_what_it_will_do(digits_model, digits_cfg):
    layers = discover_layers(digits_model[0])
    plan = build_plan(layers, digits_cfg)
    assert plan.layers == len(layers) and plan.total_s < 600
    assert plan.text().startswith(f"build plan: {len(layers)} layer kernel(s) fully unrolled")
    # the estimate follows the measured curve: steeper than linear; depthwise is linear in groups
    assert kernel_seconds(8192) > 4 * kernel_seconds(4096) - 1
    assert kernel_seconds(512 * 9, groups=512) < kernel_seconds(512 * 9 * 512) / 100   # not the block-diagonal
