"""Layer discovery on our example and on models Brevitas ships (brevitas_examples, pretrained=None)."""

from __future__ import annotations

import pytest

from ohq_flow.model.layers import discover_layers, layers_table, tied_groups


def test_digits_layers(digits_model):
    model, _ = digits_model
    layers = discover_layers(model)
    assert [l.op_type for l in layers] == ["Conv", "Conv", "MatMul", "MatMul"]
    # MACs by hand: conv0 8x8x8 outputs x (1x3x3); conv1 16x4x4 x (8x3x3); fc 64x32; fc 32x10
    assert [l.macs for l in layers] == [512 * 9, 256 * 72, 64 * 32, 32 * 10]
    assert [l.params for l in layers] == [72, 1152, 2048, 320]
    assert all(l.w_bits == 8 and l.a_bits == 8 for l in layers)
    assert layers[0].input_quant.signed is True and layers[1].input_quant.signed is False
    assert "4 layers" in layers_table(layers)


def test_tfc(exported):
    layers = discover_layers(exported("tfc"))
    assert len(layers) == 4
    assert sum(l.macs for l in layers) == 784 * 64 + 64 * 64 * 2 + 64 * 10
    assert all(l.w_bits == 2 and l.a_bits == 2 for l in layers)
    assert not tied_groups(layers)


def test_sfc_bipolar(exported):
    layers = discover_layers(exported("sfc"))
    assert len(layers) == 4
    assert all(l.weight_quant.op_type == "BipolarQuant" and l.w_bits == 1 for l in layers)


def test_cnv(exported):
    layers = discover_layers(exported("cnv"))
    assert [l.op_type for l in layers].count("Conv") == 6 and len(layers) == 9
    # first conv: 3x32x32 input, 64 3x3 kernels, no padding -> 64x30x30 outputs x 27 MACs
    assert layers[0].macs == 64 * 30 * 30 * 27
    assert layers[0].input_quant is not None  # CNV quantizes its input (8 bit)


@pytest.mark.slow
def test_resnet18_cifar_ties(exported):
    layers = discover_layers(exported("resnet18"))
    assert len(layers) == 21  # 20 convolutions + 1 fully connected
    groups = tied_groups(layers)
    assert len(groups) == 3  # the three downsampling blocks: main conv and shortcut conv share one quantizer
    assert all(len(g) == 2 for g in groups.values())
    assert layers[0].input_quant is None  # the first conv takes the float image


@pytest.mark.slow
def test_mobilenet_v1_4b(exported):
    layers = discover_layers(exported("mobilenet_v1_4b"))
    assert len(layers) == 28
    assert sum(l.depthwise for l in layers) == 13
    assert layers[0].w_bits == 8 and layers[1].w_bits == 4
    assert layers[0].macs == 32 * 111 * 111 * 27
    assert layers[-1].op_type == "Gemm" and layers[-1].macs == 1024 * 1000
    assert layers[-1].input_quant.op_type == "Trunc" and layers[-1].a_bits == 4
