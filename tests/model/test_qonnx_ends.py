"""Bring your own QONNX: a final Softmax left to the host, and a declared input datatype (no input Quant node).

The models are built with onnx.helper (tests/fixtures/models/qonnx_mlp.py), saved, loaded and cleaned as the
export step does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import ROOT, ohq

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "models"))
from qonnx_mlp import mlp  # noqa: E402


def _prepared(tmp_path, cfg_input=None, **kw):
    from ohq_flow.model.boundary import prepare_ends
    from ohq_flow.model.export import clean_qonnx
    path = tmp_path / "m.onnx"
    mlp(**kw).save(str(path))
    model = clean_qonnx(path)
    done = prepare_ends(model, cfg_input)
    return model, done, path


def _run(model, x):
    from ohq_flow.model.export import execute
    return np.concatenate([execute(model, x[i:i + 1]) for i in range(len(x))])


def _int_inputs(n=6, lo=-8, hi=8, seed=1):
    return np.random.default_rng(seed).integers(lo, hi, (n, 16)).astype(np.float32)


@pytest.mark.parametrize("tail", ["Softmax", "LogSoftmax"])
def test_final_softmax_is_left_to_the_host(tmp_path, tail):
    from ohq_flow.design.graph import check_supported
    from ohq_flow.model.boundary import host_output
    from ohq_flow.model.export import clean_qonnx
    model, done, path = _prepared(tmp_path, tail=tail)
    assert done["host_output"]["op_type"] == tail and host_output(model)["node"] == f"{tail}_0"
    assert all(n.op_type != tail for n in model.graph.node)
    assert check_supported(model) == []                          # the design accepts the model now
    x = _int_inputs() / 16
    logits, probs = _run(model, x), _run(clean_qonnx(path), x)
    z = logits - logits.max(1, keepdims=True)
    host = z - np.log(np.exp(z).sum(1, keepdims=True))             # the host's (log-)softmax of the design's output
    np.testing.assert_allclose(np.exp(host) if tail == "Softmax" else host, probs, rtol=1e-5, atol=1e-6)
    assert (logits.argmax(1) == probs.argmax(1)).all()


def test_softmax_in_the_middle_is_refused_by_name(tmp_path):
    _, _, path = _prepared(tmp_path, softmax_in_middle=True, tail=None)
    cfg = tmp_path / "flow.yaml"
    cfg.write_text(f"model: {{qonnx: {path.name}}}\nboard: pynq-z2\noutput_dir: {tmp_path / 'run'}\n")
    r = ohq("layers", cfg)
    assert r.returncode == 2, r.stderr
    assert "node Softmax_0 (Softmax" in r.stderr and "op not supported" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("annotation, op, bits", [("INT8", "Quant", 8), ("UINT8", "Quant", 8), ("BIPOLAR", "BipolarQuant", 1),
                                                  ("INT4", "Quant", 4), ("FIXED<6,2>", "Quant", 6)])
def test_annotated_input_becomes_the_fixed_input_quantiser(tmp_path, annotation, op, bits):
    from qonnx.core.datatype import DataType
    from ohq_flow.config import SearchSection
    from ohq_flow.design.graph import check_supported
    from ohq_flow.model.export import clean_qonnx
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.search_space import candidates_for
    model, done, path = _prepared(tmp_path, input_quant=False, annotation=annotation, tail=None)
    assert done["input"]["source"].startswith(f"the QONNX datatype annotation {annotation}")
    first = discover_layers(model)[0]
    assert first.input_quant.node == done["input"]["node"] and first.input_quant.op_type == op
    assert first.input_quant.fixed and first.a_bits == bits
    if annotation.startswith("FIXED"):                             # FIXED<6,2>: 6-bit signed integers x 2^-4
        qn = model.get_node_from_name(first.input_quant.node)
        assert float(model.get_initializer(qn.input[1])) == 2.0 ** -4
    cands = candidates_for(first, SearchSection(weight_bits=[2, 4], act_bits=[3, 4, 6]))
    assert cands == [(2, bits), (4, bits)]                         # not searched: the declared type
    assert check_supported(model) == []
    # the inserted quantiser is an identity on inputs of the declared type
    dt = DataType[annotation]
    step = dt.scale_factor() if dt.is_fixed_point() else 1.0
    x = (np.random.default_rng(0).integers(round(dt.min() / step), round(dt.max() / step) + 1, (5, 16))
         * step).astype(np.float32)
    if annotation == "BIPOLAR":
        x = np.where(x > 0, 1.0, -1.0).astype(np.float32)
    np.testing.assert_array_equal(_run(model, x), _run(clean_qonnx(path), x))


def test_config_input_wins_and_maps_offsets(tmp_path):
    from ohq_flow.config import InputType
    from ohq_flow.model.layers import discover_layers
    # config over annotation; unsigned 8-bit with zero point 128 is signed 8-bit with none
    model, done, _ = _prepared(tmp_path, InputType(bits=8, signed=False, zero_point=128, scale=0.5),
                               input_quant=False, annotation="INT4", tail=None)
    q = discover_layers(model)[0].input_quant
    assert done["input"]["source"] == "model.input" and q.bits == 8 and q.signed and q.fixed
    node = model.get_node_from_name(q.node)
    assert float(model.get_initializer(node.input[1])) == 0.5 and float(model.get_initializer(node.input[2])) == 0.0


@pytest.mark.parametrize("given, piece", [
    ({"bits": 8, "signed": True, "bipolar": True}, "bipolar: true (+-1) needs bits: 1"),
    ({"bits": 1, "signed": True}, "set bipolar: true"),
    ({"bits": 8, "signed": True, "scale": 0}, "scale 0"),
    ({"bits": 4, "signed": False, "zero_point": 16}, "zero_point 16 is outside"),
    ({"bits": 4}, "required field is missing"),
    ({"bits": 4, "signed": False, "sign": 1}, "unknown key 'sign'"),
])
def test_model_input_is_validated_up_front(tmp_path, given, piece):
    from ohq_flow.config import parse_config
    from ohq_flow.errors import ConfigError
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(ConfigError) as exc:
        parse_config({"model": {"qonnx": "m.onnx", "input": given}, "board": "pynq-z2"}, base_dir=tmp_path)
    assert exc.value.exit_code == 2
    assert any(path.startswith("model.input") and piece in msg for path, msg in exc.value.problems), exc.value.problems


def test_undeclared_input_warns_at_layers(tmp_path):
    _, _, path = _prepared(tmp_path, input_quant=False, tail=None)
    cfg = tmp_path / "flow.yaml"
    cfg.write_text(f"model: {{qonnx: {path.name}}}\nboard: pynq-z2\noutput_dir: {tmp_path / 'run'}\n")
    r = ohq("layers", cfg)
    assert r.returncode == 0, r.stderr
    assert "no Quant node and no declared datatype" in r.stderr and "set model.input:" in r.stderr
    assert "the build step will refuse" in r.stderr
    assert "float" in (tmp_path / "run" / "layers.txt").read_text()


def test_integer_weights_keep_the_nodes_scale_at_its_bits(tmp_path):
    """A QONNX file's weight scale need not be absmax-derived: at the node's own bits it is kept (as apply_bits does)."""
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.model.quantizers import apply_bits, integer_weights
    model, _, _ = _prepared(tmp_path)
    layer = discover_layers(model)[0]
    w_int, scale = integer_weights(model, layer, 4)
    assert float(scale) == 0.125 and np.abs(w_int).max() <= 7
    final, changed = apply_bits(model, [layer], {layer.name: (4, 8)})
    assert changed == []
    node = final.get_node_from_name(layer.weight_quant.node)
    assert float(final.get_initializer(node.input[1])) == float(scale)


def test_float_annotation_is_refused_naming_model_input(tmp_path):
    from ohq_flow.errors import ModelError
    from ohq_flow.model.boundary import prepare_ends
    from ohq_flow.model.export import clean_qonnx
    path = tmp_path / "m.onnx"
    mlp(input_quant=False, annotation="FLOAT16", tail=None).save(str(path))
    with pytest.raises(ModelError) as exc:
        prepare_ends(clean_qonnx(path), None)
    assert exc.value.exit_code == 2 and "FLOAT16" in str(exc.value) and "model.input" in str(exc.value)
