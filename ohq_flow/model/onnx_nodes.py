"""Small helpers over ONNX nodes, shared by the model, MQE, hardware and design stages."""

from __future__ import annotations

from onnx import helper


def attr(node, name: str, default=None):
    """The value of attribute ``name`` of ``node`` (``default`` when absent)."""
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def attrs(node) -> dict:
    """All attributes of ``node`` as name -> value."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def upstream(model, tensor: str, through) -> tuple[object | None, list]:
    """Walk from ``tensor`` to its producers while they are ``through`` ops (first input each).

    Returns (the first producer that is not a ``through`` op, or None for a graph input or a
    cycle; the ``through`` nodes walked, in execution order).
    """
    path, seen = [], set()
    while tensor not in seen:
        seen.add(tensor)
        node = model.find_producer(tensor)
        if node is None or node.op_type not in through:
            return node, path
        path.insert(0, node)
        tensor = node.input[0]
    return None, path
