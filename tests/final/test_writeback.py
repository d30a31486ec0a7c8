"""Write-back: the QONNX Quant nodes change exactly as chosen, and Brevitas agrees with QONNX."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from ohq_flow.final.writeback import (apply_saved_bits, check_agreement, map_quantizers, save_brevitas,
                                      saved_bits_differ, writeback_brevitas)
from ohq_flow.model.export import export_brevitas
from ohq_flow.model.layers import discover_layers
from ohq_flow.model.quantizers import apply_bits, set_quant_bits

ASSIGN = {"Conv_0": (4, 6), "Conv_1": (3, 4), "MatMul_0": (2, 5), "MatMul_1": (6, 8)}


def _quant_state(model):
    """Quant node name -> (scale values, bit-width, attributes)."""
    out = {}
    for n in model.graph.node:
        if n.op_type == "Quant":
            out[n.name] = (np.asarray(model.get_initializer(n.input[1])).copy(),
                           float(np.asarray(model.get_initializer(n.input[3])).item()),
                           {a.name: helper.get_attribute_value(a) for a in n.attribute})
    return out


def test_qonnx_writeback_changes_exactly_the_chosen_quant_nodes(digits_model):
    model, _ = digits_model
    layers = discover_layers(model)
    before = _quant_state(model)
    assign = {"Conv_1": (3, 8), "MatMul_0": (8, 5)}  # Conv_1 weights only, MatMul_0 input only
    final, changed = apply_bits(model, layers, assign)
    after = _quant_state(final)
    assert sorted(changed) == sorted([layers[1].weight_quant.node, layers[2].input_quant.node])
    for name in before:
        same = np.array_equal(before[name][0], after[name][0]) and before[name][1] == after[name][1]
        assert same == (name not in changed), name
        assert before[name][2] == after[name][2]  # attributes untouched
    assert after[layers[1].weight_quant.node][1] == 3 and after[layers[2].input_quant.node][1] == 5
    untouched = _quant_state(model)  # the input model is not modified
    assert all(np.array_equal(before[k][0], untouched[k][0]) and before[k][1] == untouched[k][1] for k in before)


def test_weight_rescale_rule_power_of_two(digits_model):
    model, _ = digits_model
    layers = discover_layers(model)
    q = layers[2].weight_quant
    final, _ = apply_bits(model, layers, {"MatMul_0": (4, 8)})
    node = final.get_node_from_name(q.node)
    w = final.get_initializer(node.input[0])
    scale = float(final.get_initializer(node.input[1]))
    # fixed-point rule: 2**ceil(log2(max|w|)) / 2**(bits-1)
    assert scale == pytest.approx(2.0 ** np.ceil(np.log2(np.abs(w).max())) / 8)


def test_activation_rescale_keeps_range(digits_model):
    model, _ = digits_model
    layers = discover_layers(model)
    q = layers[3].input_quant
    node = model.get_node_from_name(q.node)
    old = float(model.get_initializer(node.input[1]))
    final, _ = apply_bits(model, layers, {"MatMul_1": (8, 4)})
    new = float(final.get_initializer(final.get_node_from_name(q.node).input[1]))
    assert new == pytest.approx(old * 2 ** (8 - 4))


def test_bipolar_quant_refused(exported):
    model = exported("sfc")
    node = next(n for n in model.graph.node if n.op_type == "BipolarQuant")
    with pytest.raises(Exception, match="BipolarQuant"):
        set_quant_bits(model, node.name, 4)


def test_brevitas_writeback_reexport_equals_written_qonnx(digits_model, tmp_path):
    model, module = digits_model
    layers = discover_layers(model)
    final, _ = apply_bits(model, layers, ASSIGN)
    qmap = map_quantizers(module, (1, 1, 8, 8), tmp_path)
    assert set(qmap) == {n.name for n in model.graph.node if n.op_type == "Quant"}
    module2, bits = writeback_brevitas(module, layers, ASSIGN, qmap)
    reexported = export_brevitas(module2, (1, 1, 8, 8), tmp_path / "re.onnx")
    x = np.random.RandomState(0).randn(6, 1, 8, 8).astype(np.float32) * 0.6
    agree = check_agreement(final, reexported, x)
    assert agree["max_output_diff"] == 0.0 and agree["differing_quant_nodes"] == []
    # and the original model is untouched
    assert check_agreement(model, export_brevitas(module, (1, 1, 8, 8), tmp_path / "orig.onnx"), x[:2])["max_output_diff"] == 0.0
    # saved bit-widths restore onto a freshly built module
    sd_path, bits_path = save_brevitas(module2, bits, tmp_path / "final")
    import copy
    fresh = apply_saved_bits(copy.deepcopy(module), bits_path)
    again = export_brevitas(fresh, (1, 1, 8, 8), tmp_path / "again.onnx")
    assert check_agreement(final, again, x[:2])["max_output_diff"] == 0.0
    # the state dict carries the bit-widths: a plain strict load into a W8A8 module gives the chosen design
    import torch
    plain = copy.deepcopy(module)
    assert saved_bits_differ(plain, bits_path)            # built at 8 bits: differs before loading
    plain.load_state_dict(torch.load(sd_path, weights_only=True))
    assert saved_bits_differ(plain, bits_path) == {}
    assert check_agreement(final, export_brevitas(plain, (1, 1, 8, 8), tmp_path / "plain.onnx"), x[:2])["max_output_diff"] == 0.0
