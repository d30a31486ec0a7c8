"""Write the chosen bit-widths back: QONNX Quant nodes, the Brevitas module, an hls4ml config.

QONNX: :func:`ohq_flow.model.quantizers.apply_bits` (the same rule as MQE and extraction).
Brevitas: each quantizer's constant bit-width buffer is set; Brevitas then derives scales by the
same rule, so the re-exported model equals the written QONNX (checked by :func:`check_agreement`).
Quantizer modules are matched to graph nodes by one "tagging" export: every quantizer gets a
distinct bit-width, the model is exported, and each Quant node's bit-width names its module.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from ohq_flow.errors import ModelError
from ohq_flow.fileio import atomic_write_json

_TAG_BASE = 9  # tags 9, 10, ... are distinct from usual bit-widths; batches keep them <= 24
_TAG_MAX = 24


def bit_width_buffers(module) -> dict[str, object]:
    """Quantizer path -> its constant bit-width module (has a ``value`` buffer)."""
    out = {}
    for name, sub in module.named_modules():
        if name.endswith("bit_width_impl.bit_width") and hasattr(sub, "value"):
            owner = name.split(".tensor_quant")[0].split(".fused_activation_quant_proxy")[0]
            out[owner] = sub
    return out


def map_quantizers(module, input_shape, work_dir: Path) -> dict[str, str]:
    """Graph Quant node name -> Brevitas quantizer path (e.g. ``fc0.weight_quant``)."""
    from ohq_flow.model.export import export_brevitas

    tagged = copy.deepcopy(module).eval()
    buffers = bit_width_buffers(tagged)
    if not buffers:
        raise ModelError("the Brevitas model has no quantizer with a constant bit-width",
                         "write-back supports quantizers with a fixed bit_width (the usual Brevitas quantizers)")
    paths = list(buffers)
    originals = {p: float(buffers[p].value) for p in paths}
    mapping: dict[str, str] = {}
    per_batch = _TAG_MAX - _TAG_BASE + 1
    for start in range(0, len(paths), per_batch):
        batch = paths[start:start + per_batch]
        for p in paths:
            buffers[p].value.fill_(originals[p])
        tags = {}
        for i, p in enumerate(batch):
            buffers[p].value.fill_(_TAG_BASE + i)
            tags[float(_TAG_BASE + i)] = p
        graph = export_brevitas(tagged, input_shape, work_dir / f"tagged_{start}.onnx")
        for node in graph.graph.node:
            if node.op_type == "Quant":
                bw = graph.get_initializer(node.input[3])
                if bw is not None and float(np.asarray(bw).item()) in tags:
                    mapping[node.name] = tags[float(np.asarray(bw).item())]
    return mapping


def writeback_brevitas(module, layers, assignment: dict[str, tuple[int, int]], quant_map: dict[str, str]):
    """A copy of ``module`` with the chosen bit-widths; returns (module, {quantizer path: bits})."""
    out = copy.deepcopy(module).eval()
    buffers = bit_width_buffers(out)
    by_name = {l.name: l for l in layers}
    bits_set: dict[str, int] = {}
    for name, (w_bits, a_bits) in assignment.items():
        layer = by_name[name]
        for q, bits in ((layer.weight_quant, w_bits), (layer.input_quant, a_bits)):
            if q is None or q.op_type != "Quant":
                continue
            path = quant_map.get(q.node)
            if path is None:
                raise ModelError(f"no Brevitas quantizer found for graph node {q.node} (layer {name})",
                                 "the model's export changed between runs; re-run from the export step")
            buffers[path].value.fill_(float(bits))
            bits_set[path] = int(bits)
    return out, bits_set


def state_dict_with_bits(module) -> dict:
    """``module.state_dict()`` plus every constant quantizer bit-width (``<quantizer>...bit_width.value``).

    Brevitas leaves constant bit-widths out of the state dict, so a checkpoint loaded into a model
    built at other bits silently keeps those. With the keys present, a plain strict
    ``load_state_dict`` restores the bit-widths too (Brevitas loads a present ``value`` buffer).
    """
    sd = module.state_dict()
    for name, sub in module.named_modules():
        if name.endswith("bit_width_impl.bit_width") and hasattr(sub, "value"):
            sd[f"{name}.value"] = sub.value.detach().clone()
    return sd


def save_brevitas(module, bits: dict[str, int], out_dir: Path) -> tuple[Path, Path]:
    """Save the state dict (bit-widths included) and ``brevitas_bit_widths.json`` (quantizer path -> bits)."""
    import torch
    out_dir.mkdir(parents=True, exist_ok=True)
    sd_path = out_dir / "brevitas_state_dict.pt"
    tmp = sd_path.with_suffix(".tmp")
    torch.save(state_dict_with_bits(module), tmp)
    tmp.replace(sd_path)
    bits_path = atomic_write_json(out_dir / "brevitas_bit_widths.json", bits)
    return sd_path, bits_path


def apply_saved_bits(module, bits_json: Path):
    """Set a Brevitas module's quantizer bit-widths from ``brevitas_bit_widths.json``."""
    bits = json.loads(Path(bits_json).read_text())
    buffers = bit_width_buffers(module)
    for path, b in bits.items():
        if path not in buffers:
            raise ModelError(f"{bits_json}: quantizer '{path}' is not in this model", "build the same model definition")
        buffers[path].value.fill_(float(b))
    return module


def saved_bits_differ(module, bits_json: Path) -> dict[str, tuple[float, int]]:
    """Quantizers whose bit-width in ``module`` is not the one in ``brevitas_bit_widths.json``."""
    bits = json.loads(Path(bits_json).read_text())
    buffers = bit_width_buffers(module)
    return {p: (float(buffers[p].value) if p in buffers else float("nan"), int(b)) for p, b in bits.items()
            if p not in buffers or float(buffers[p].value) != float(b)}


def check_agreement(model_a, model_b, x: np.ndarray) -> dict:
    """Compare two QONNX models: outputs on ``x`` and every Quant node's scale and bit-width."""
    from ohq_flow.model.export import execute
    max_diff = 0.0
    for i in range(len(x)):
        max_diff = max(max_diff, float(np.abs(execute(model_a, x[i:i + 1]) - execute(model_b, x[i:i + 1])).max()))
    differing = []
    for node in model_a.graph.node:
        if node.op_type != "Quant":
            continue
        other = model_b.get_node_from_name(node.name)
        if other is None:
            differing.append(node.name)
            continue
        for idx in (1, 3):
            va, vb = model_a.get_initializer(node.input[idx]), model_b.get_initializer(other.input[idx])
            if va is None or vb is None or np.shape(va) != np.shape(vb) or not np.allclose(va, vb, rtol=0, atol=0):
                differing.append(node.name)
                break
    return {"max_output_diff": max_diff, "differing_quant_nodes": sorted(set(differing)), "samples": int(len(x))}
