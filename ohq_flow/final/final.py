"""The final design: per-layer RTL at the chosen bit-widths, synthesised together, verified.

* **Design** — every layer's kernel (da4ml CMVM at its chosen w/a bits) is generated under its
  own module name and instantiated in one top module (``network_top``): the compute units of the
  streaming design. Yosys synthesises the top (flattened, so cross-layer optimisation counts)
  and the measured totals are set against the ILP's predicted sums.
* **Verify** — the final QONNX model runs on N inputs in the QONNX executor; each layer's real
  input activations (divided by the input scale: integers) go through the layer's RTL in
  Icarus Verilog, and the outputs must equal the QONNX accumulators divided by
  (input scale × weight scale) exactly. Mismatches are counted per layer.

Not generated (documented limitation): the glue between layers (requantisation shifts, ReLU,
pooling, line buffers), so the top is the sum of the compute kernels, not a bitstream-ready
network.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ohq_flow.errors import FlowError
from ohq_flow.hw.extract import layer_integer_matrix
from ohq_flow.hw.rtl.cmvm import RtlDesign, generate_cmvm_rtl
from ohq_flow.model.onnx_nodes import attr as _attr

log = logging.getLogger(__name__)


def _module_name(layer_name: str) -> str:
    return "k_" + re.sub(r"\W", "_", layer_name).lower()


def generate_layers(model, layers, assignment, cfg, out_dir: Path, held: bool = False) -> dict[str, RtlDesign]:
    """One RTL design per layer at its chosen bits (module ``k_<layer>``); ``held``: the weights as
    the model's Quant nodes hold them (HGQ's per-channel grids), not re-quantized at the chosen bits."""
    designs = {}
    board = cfg.board_obj()
    for layer in layers:
        w, a = assignment[layer.name]
        signed = bool(layer.input_quant.signed) if layer.input_quant is not None and layer.input_quant.signed is not None else True
        if layer.input_quant is not None and layer.input_quant.op_type == "BipolarQuant":
            a, signed = max(int(a), 2), True     # +-1 inputs: 2-bit signed, as the design carries them to a kernel
        designs[layer.name] = generate_cmvm_rtl(layer_integer_matrix(model, layer, w, held)[0], w_bits=w, a_bits=a, a_signed=signed,
                                                out_dir=out_dir / layer.name, top=_module_name(layer.name),
                                                latency_cutoff=cfg.hardware.latency_cutoff, part=board.part,
                                                clock_ns=cfg.clock_ns())
    return designs


def write_top(designs: dict[str, RtlDesign], path: Path) -> Path:
    """``network_top``: every layer kernel instantiated, its ports on the top."""
    ports, insts = ["    input clk"], []
    for name, d in designs.items():
        m = d.top
        in_w = d.n_inputs * d.in_bits
        core = (d.out_dir / "src" / f"{m}.v").read_text()
        out_w = int(re.search(r"output\s*(?:reg\s*)?\[(\d+):0\]\s*model_out", core).group(1)) + 1
        ports += [f"    input [{in_w - 1}:0] {m}_in", f"    output [{out_w - 1}:0] {m}_out"]
        clk = ".clk(clk), " if d.stages else ""
        insts.append(f"    {m} u_{m} ({clk}.model_inp({m}_in), .model_out({m}_out));")
    text = "`timescale 1ns/1ps\nmodule network_top (\n" + ",\n".join(ports) + "\n);\n" + "\n".join(insts) + "\nendmodule\n"
    path.write_text(text)
    return path


def design_sources(designs: dict[str, RtlDesign], top: Path) -> list[Path]:
    """Each layer's own sources plus one copy of da4ml's shared static modules."""
    sources, static_seen = [top], set()
    for d in designs.values():
        for s in d.sources:
            if s.name.endswith("_wrapper.v"):
                continue
            if s.parent.name == "static":
                if s.name in static_seen:
                    continue
                static_seen.add(s.name)
            sources.append(s)
    return sources


@dataclass
class LayerCheck:
    layer: str
    vectors: int
    mismatches_rtl: int
    mismatches_interpreter: int


def im2col(x: np.ndarray, kernel: list[int], strides: list[int], pads: list[int], dilations: list[int]) -> np.ndarray:
    """[N, C, *spatial] -> [N·pixels, C·prod(kernel)] in (channel, kernel position) order."""
    n, c = x.shape[:2]
    nd = len(kernel)
    pad_width = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)]
    xp = np.pad(x, pad_width)
    out_sz = [(xp.shape[2 + i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(nd)]
    cols = []
    for pos in np.ndindex(*out_sz):
        sl = [slice(None), slice(None)]
        for i, p in enumerate(pos):
            start = p * strides[i]
            sl.append(slice(start, start + dilations[i] * (kernel[i] - 1) + 1, dilations[i]))
        cols.append(xp[tuple(sl)].reshape(n, -1))
    return np.stack(cols, axis=1).reshape(n * len(cols), -1)


def layer_vectors(model, layer, context: dict) -> tuple[np.ndarray, np.ndarray]:
    """(integer input vectors, expected integer outputs) of a layer from QONNX execution contexts."""
    node = model.get_node_from_name(layer.node)
    x = np.concatenate([c[node.input[0]] for c in context])
    y = np.concatenate([c[node.output[0]] for c in context]).astype(np.float64)
    if layer.op_type in ("Conv", "Gemm") and len(node.input) > 2 and node.input[2]:
        from ohq_flow.design.graph import const_value     # the kernel computes x·W; the design adds the bias after it
        bias = const_value(model, node.input[2])
        y = y - (bias.reshape(1, -1, *[1] * (y.ndim - 2)) if layer.op_type == "Conv" else bias)
    in_scale = 1.0
    if layer.input_quant is not None:
        qn = model.get_node_from_name(layer.input_quant.node)
        in_scale = float(np.max(model.get_initializer(qn.input[1])))
    wq = model.get_node_from_name(layer.weight_quant.node)
    w_scale = np.asarray(model.get_initializer(wq.input[1]), dtype=np.float64)
    if layer.op_type == "Conv":
        nd = len(layer.kernel_shape)
        cols = im2col(x, layer.kernel_shape, list(_attr(node, "strides", [1] * nd)), list(_attr(node, "pads", [0] * 2 * nd)),
                      list(_attr(node, "dilations", [1] * nd)))
        y_mat = np.moveaxis(y, 1, -1).reshape(-1, y.shape[1])  # [N·pixels, C_out], pixel order = np.ndindex order
    else:
        cols = x.reshape(-1, x.shape[-1])
        y_mat = y.reshape(-1, y.shape[-1])
    ws = w_scale.reshape(-1)  # one scale, or one per output channel
    x_int = cols / in_scale
    y_int = y_mat / (in_scale * ws)
    for name, arr in (("inputs", x_int), ("outputs", y_int)):
        if not np.allclose(arr, np.round(arr), atol=1e-3):
            raise FlowError(f"layer {layer.name}: {name} are not integers on the quantizer grid; "
                            "bit-exact RTL verification needs constant (per-tensor or per-channel) scales")
    return np.round(x_int).astype(np.int64), np.round(y_int)


def verify_layers(final_model, layers, designs: dict[str, RtlDesign], x: np.ndarray, work_dir: Path,
                  max_vectors: int = 4096) -> list[LayerCheck]:
    """RTL simulation (and da4ml's interpreter) of every layer on the network's real activations."""
    from qonnx.core.onnx_exec import execute_onnx
    from ohq_flow.hw.rtl.sim import simulate
    iname = final_model.graph.input[0].name
    contexts = [execute_onnx(final_model, {iname: x[i:i + 1]}, return_full_exec_context=True) for i in range(len(x))]
    checks = []
    for layer in layers:
        d = designs[layer.name]
        xi, yi = layer_vectors(final_model, layer, contexts)
        xi, yi = xi[:max_vectors], yi[:max_vectors]
        rtl = simulate(d, xi, work_dir / layer.name)
        interp = d.predict(xi)
        checks.append(LayerCheck(layer.name, int(len(xi)), int(np.sum(np.any(rtl != yi, axis=1))),
                                 int(np.sum(np.any(interp != yi, axis=1)))))
    return checks


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy with the fast executor (checked equal to the QONNX executor in tests)."""
    from ohq_flow.mqe.run import FastExecutor
    logits = FastExecutor(model).reference(x)
    return float(np.mean(logits.reshape(len(x), -1).argmax(1) == y))
