"""The candidate bit-widths of every layer: the search space shared by MQE, OQA and the ILP.

Candidates are ``search.weight_bits × search.act_bits``, replaced per layer by matching
``overrides`` (names or glob patterns, last match wins), reduced to the pin for ``pinned``
layers. A layer whose input has no activation quantizer has one activation "candidate":
``search.unquantized_input_bits`` (used for hardware cost; MQE does not mask it). A layer fed by the
model input's declared type (``model.input``, or the QONNX datatype annotation) has that type's bits.
"""

from __future__ import annotations

import difflib
from fnmatch import fnmatchcase

from ohq_flow.errors import InputError


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def check_layer_names(layers, search) -> None:
    """Every name in overrides/pinned/tied must match a layer; one error listing all that do not."""
    names = [l.name for l in layers]
    problems = []

    def check(where: str, pattern: str) -> None:
        if not any(fnmatchcase(n, pattern) for n in names):
            guess = difflib.get_close_matches(pattern, names, n=1)
            problems.append(f"{where}: '{pattern}' matches no layer" + (f" (did you mean '{guess[0]}'?)" if guess else ""))

    for i, ov in enumerate(search.overrides):
        for j, pat in enumerate(ov.layers):
            check(f"search.overrides[{i}].layers[{j}]", pat)
    for name in search.pinned:
        check(f"search.pinned.{name}", name)
    for i, group in enumerate(search.tied):
        for j, name in enumerate(group):
            check(f"search.tied[{i}][{j}]", name)
    if problems:
        raise InputError("; ".join(problems), f"layer names are: {', '.join(names)} (see layers.txt)")


def candidates_for(layer, search) -> list[tuple[int, int]]:
    """(w_bits, a_bits) candidates of one layer, sorted."""
    w_bits, a_bits = list(search.weight_bits), list(search.act_bits)
    for ov in search.overrides:
        if _matches(layer.name, ov.layers):
            w_bits = ov.weight_bits or w_bits
            a_bits = ov.act_bits or a_bits
    fixed = layer.input_quant is not None and layer.input_quant.bits is not None and (
        layer.input_quant.fixed or not takes_bits(layer.input_quant))
    if layer.input_quant is None:
        a_bits = [search.unquantized_input_bits]
    elif fixed:                        # the declared input type (model.input), or a BipolarQuant/Trunc: not searched
        a_bits = [int(layer.input_quant.bits)]
    w_fixed = layer.weight_quant is not None and layer.weight_quant.bits is not None and not takes_bits(layer.weight_quant)
    if w_fixed:                        # BipolarQuant (FINN's w1 layers) keeps its precision
        w_bits = [int(layer.weight_quant.bits)]
    pin = search.pinned.get(layer.name)
    if pin is not None:
        a = pin.a_bits if layer.input_quant is not None else search.unquantized_input_bits
        a = int(layer.input_quant.bits) if fixed else a
        return [(int(layer.weight_quant.bits) if w_fixed else pin.w_bits, a)]
    return sorted((w, a) for w in w_bits for a in a_bits)


def takes_bits(quant) -> bool:
    """Whether the flow can set this quantiser's bit-width (a Quant node; BipolarQuant and Trunc keep theirs)."""
    return getattr(quant, "op_type", "Quant") == "Quant"


def search_space(layers, search) -> dict[str, list[tuple[int, int]]]:
    """Layer name -> candidates, after checking that every named layer exists."""
    check_layer_names(layers, search)
    return {l.name: candidates_for(l, search) for l in layers}


def tie_groups(layers, search) -> list[list[str]]:
    """Groups of layers that must take equal activation bits: shared quantizers plus config ties."""
    from ohq_flow.model.layers import tied_groups
    return [g for g in tied_groups(layers).values() if len(g) > 1] + [list(g) for g in search.tied]
