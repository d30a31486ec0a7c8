"""Shared test fixtures: the repository root, the digits example, exported models (session-cached)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS_CONFIG = ROOT / "examples" / "digits" / "flow_pynq_z2.yaml"   # the digits example on PYNQ-Z2 (xc7 costs)


def pytest_collection_modifyitems(config, items):
    """Skip vendor-tool tests when the tool is absent."""
    tools = {"vivado": ("vivado",), "vitis_hls": ("vitis_hls", "vivado_hls")}
    for item in items:
        for mark, exes in tools.items():
            if mark in item.keywords and not any(shutil.which(e) for e in exes):
                item.add_marker(pytest.mark.skip(reason=f"{'/'.join(exes)} not on PATH"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def digits_cfg():
    from ohq_flow.config import load_config
    return load_config(DIGITS_CONFIG)


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exports")


def _export(factory: str, kwargs: dict, shape, out: Path):
    from ohq_flow.model.export import build_brevitas_model, export_brevitas
    if out.is_file():
        from qonnx.core.modelwrapper import ModelWrapper
        return ModelWrapper(str(out))
    module = build_brevitas_model(factory, kwargs, None, [ROOT])
    return export_brevitas(module, shape, out)


@pytest.fixture(scope="session")
def digits_model(digits_cfg, export_dir):
    """(cleaned QONNX ModelWrapper, brevitas module) of the trained digits example."""
    from ohq_flow.model.export import export_model
    model, module = export_model(digits_cfg, export_dir / "digits.onnx")
    return model, module


@pytest.fixture(scope="session")
def exported(export_dir):
    """Callable name -> cleaned QONNX model of a brevitas_examples model (pretrained=None), cached."""
    specs = {
        "tfc": ("brevitas_examples.bnn_pynq.models:tfc_2w2a", {"pretrained": False}, (1, 1, 28, 28)),
        "sfc": ("brevitas_examples.bnn_pynq.models:sfc_1w1a", {"pretrained": False}, (1, 1, 28, 28)),
        "cnv": ("brevitas_examples.bnn_pynq.models:cnv_2w2a", {"pretrained": False}, (1, 3, 32, 32)),
        "resnet18": ("brevitas_examples.bnn_pynq.models:resnet18_4w4a", {"pretrained": False}, (1, 3, 32, 32)),
        "mobilenet_v1_4b": ("brevitas_examples.imagenet_classification.models:quant_mobilenet_v1_4b",
                            {"pretrained": False}, (1, 3, 224, 224)),
    }

    def get(name: str):
        factory, kwargs, shape = specs[name]
        import torch
        torch.manual_seed(0)
        return _export(factory, kwargs, shape, export_dir / f"{name}.onnx")
    return get
