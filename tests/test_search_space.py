"""The search space shared by MQE, OQA and the ILP."""

from __future__ import annotations

import pytest

from ohq_flow.config import SearchSection
from ohq_flow.errors import InputError
from ohq_flow.model.layers import LayerInfo, QuantizerInfo
from ohq_flow.search_space import candidates_for, search_space, tie_groups


def _layer(name, input_quant=True, tied=None):
    q = QuantizerInfo("q_" + name, "Quant", 8.0, True, False, False, "bw")
    return LayerInfo(name, "Gemm", name, q, q if input_quant else None, [1, 4], [1, 4], [4, 4], 16, 16, tied_group=tied)


def test_overrides_pins_and_unquantized_inputs():
    s = SearchSection(weight_bits=[2, 4, 8], act_bits=[4, 8],
                      overrides=[{"layers": ["fc*"], "weight_bits": [8]}],
                      pinned={"head": {"w_bits": 8, "a_bits": 8}}, unquantized_input_bits=6)
    assert candidates_for(_layer("conv0"), s) == [(2, 4), (2, 8), (4, 4), (4, 8), (8, 4), (8, 8)]
    assert candidates_for(_layer("fc1"), s) == [(8, 4), (8, 8)]
    assert candidates_for(_layer("head"), s) == [(8, 8)]
    assert candidates_for(_layer("first", input_quant=False), s) == [(2, 6), (4, 6), (8, 6)]


def test_unknown_names_listed_with_suggestions():
    s = SearchSection(pinned={"fc_1": {"w_bits": 8, "a_bits": 8}}, tied=[["fc1", "nope"]],
                      overrides=[{"layers": ["conv*"], "weight_bits": [4]}])
    with pytest.raises(InputError) as ei:
        search_space([_layer("fc1"), _layer("fc2")], s)
    msg = str(ei.value)
    assert "search.pinned.fc_1" in msg and "did you mean 'fc1'" in msg
    assert "search.tied[0][1]" in msg and "search.overrides[0].layers[0]" in msg


def test_tie_groups_from_shared_quantizers_and_config():
    layers = [_layer("a", tied="q"), _layer("b", tied="q"), _layer("c"), _layer("d")]
    assert tie_groups(layers, SearchSection(tied=[["c", "d"]])) == [["a", "b"], ["c", "d"]]


def test_bipolar_quantisers_keep_their_bits():
    """FINN's TFC-w1a1: BipolarQuant weights and inputs cannot take other bit-widths, so they are not searched
    (a pin may set the other one)."""
    bq = QuantizerInfo("bq", "BipolarQuant", 1.0, True, False, False, None)
    q = QuantizerInfo("q", "Quant", 2.0, False, False, False, "bw")
    s = SearchSection(weight_bits=[2, 4, 8], act_bits=[4, 8], pinned={"p": {"w_bits": 4, "a_bits": 4}})
    assert candidates_for(LayerInfo("w1a1", "MatMul", "w1a1", bq, bq, [1, 4], [1, 4], [4, 4], 16, 16), s) == [(1, 1)]
    assert candidates_for(LayerInfo("w1", "MatMul", "w1", bq, q, [1, 4], [1, 4], [4, 4], 16, 16), s) == [(1, 4), (1, 8)]
    assert candidates_for(LayerInfo("p", "MatMul", "p", bq, q, [1, 4], [1, 4], [4, 4], 16, 16), s) == [(1, 4)]
