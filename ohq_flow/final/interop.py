"""Outputs that hls4ml, FINN and Brevitas users load as they are.

* **hls4ml** — ``final/model_hls4ml.onnx`` (the final QONNX model in the form hls4ml's QONNX
  front end accepts: cleaned, channels-last input, Gemm as MatMul) and ``final/hls4ml_config.yml``
  in hls4ml's own configuration-file format (``Backend``, ``Part``, ``ClockPeriod``, ``IOType``,
  ``HLSConfig: {Model, LayerName.<node>.Precision.{weight,bias,result,accum}}``). Every precision
  is written out explicitly: the exact accumulator/result widths hls4ml infers for this model (a
  layer without bias does not widen its accumulator), so the file alone reproduces the design.
  The flow's own project ``final/hls4ml/`` is converted from exactly those two files, the way a
  user does it, with the verification inputs and QONNX-executor outputs as its ``tb_data/``.
* **FINN** — ``final/finn/``: the QONNX model for ``build_dataflow`` and ``folding_config.json``.
* **Brevitas** — :func:`load_brevitas` (the state dict carries the bit-widths; see
  :func:`ohq_flow.final.writeback.save_brevitas`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
from pathlib import Path

import numpy as np

from ohq_flow.errors import FlowError, InputError
from ohq_flow.fileio import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

HLS4ML_ONNX = "model_hls4ml.onnx"
HLS4ML_CONFIG = "hls4ml_config.yml"
TB_INPUT, TB_OUTPUT = "hls4ml_tb_input.npy", "hls4ml_tb_output.npy"
PROJECT_NAME = "myproject"
_PRECISION_KEYS = {"weight_t": "weight", "bias_t": "bias", "accum_t": "accum", "result_t": "result"}


# ---------------------------------------------------------------------------------------- hls4ml
def _hls4ml():
    from ohq_flow.hw.generators.hls4ml_gen.project import require_hls4ml
    return require_hls4ml()


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """NC[spatial] -> N[spatial]C, flattened per sample: what hls4ml's ``predict`` takes."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim > 2:
        x = np.moveaxis(x, 1, -1)
    return np.ascontiguousarray(x.reshape(x.shape[0], -1))


def _resolved_config(prepared, settings: dict, no_bias: bool) -> dict:
    """hls4ml's per-node config for ``prepared`` with every precision hls4ml infers written out."""
    from ohq_flow.hw.generators.hls4ml_gen.project import no_bias_option
    hls4ml = _hls4ml()
    with contextlib.redirect_stdout(io.StringIO()), no_bias_option(no_bias):
        cfg = hls4ml.utils.config.config_from_onnx_model(
            prepared, granularity="name", backend=settings["Backend"], default_precision=settings["default_precision"],
            default_reuse_factor=settings["ReuseFactor"])
        cfg["Model"]["Strategy"] = settings["Strategy"]
        graph = hls4ml.converters.convert_from_onnx_model(   # hls4ml adds entries to the config it is given
            prepared, output_dir=settings["scratch"], project_name=PROJECT_NAME, backend=settings["Backend"],
            io_type=settings["IOType"], hls_config=copy.deepcopy(cfg), part=settings["Part"],
            clock_period=settings["ClockPeriod"])
    # hls4ml renames layers (Conv_0 -> Conv2D_Conv_0, Quant_4 -> Quant_4_act) but keeps tensor names:
    # find each ONNX node's layer through its output tensor
    by_output = {}
    for lay in graph.get_layers():
        for out in lay.outputs:
            by_output[out] = lay
    named = [(i.name, i.name) for i in prepared.graph.input] + [(n.name, n.output[0]) for n in prepared.graph.node if n.output]
    for name, tensor in named:
        entry, lay = cfg["LayerName"].get(name), by_output.get(tensor)
        if entry is None or lay is None:
            continue
        prec = entry.setdefault("Precision", {})
        for tname, key in _PRECISION_KEYS.items():
            t = lay.types.get(tname)
            if t is not None:
                prec[key] = str(t.precision)
        prec["result"] = str(lay.get_output_variable().type.precision)
    return cfg


def hls4ml_layer_of(exc: BaseException) -> str | None:
    """The hls4ml layer (name, type, inputs) whose method raised ``exc`` — innermost first — or None."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        lay = tb.tb_frame.f_locals.get("self", tb.tb_frame.f_locals.get("node"))
        if type(lay).__module__.startswith("hls4ml.") and isinstance(getattr(lay, "name", None), str) \
                and hasattr(lay, "inputs"):
            found = f"{lay.name} ({type(lay).__name__}, inputs {list(lay.inputs)})"
        tb = tb.tb_next
    return found


def write_hls4ml_bundle(cfg, final, x: np.ndarray, out: Path) -> dict:
    """``model_hls4ml.onnx`` + ``hls4ml_config.yml`` + the project ``hls4ml/`` converted from them.

    ``x`` (the final model's input layout, batch first) becomes the project's testbench input; the
    QONNX executor's outputs on it the expected outputs, and the C-simulation is compared to them.
    """
    import shutil
    import yaml
    from ohq_flow.hw.generators.hls4ml_gen.project import has_bias, prepare_for_hls4ml
    from ohq_flow.mqe.run import QonnxExecutor

    # nothing of an earlier build survives (hls4ml_config.json: earlier versions, not hls4ml's format)
    for name in (HLS4ML_CONFIG, HLS4ML_ONNX, TB_INPUT, TB_OUTPUT, "hls4ml_config.json"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "hls4ml", ignore_errors=True)
    board = cfg.board_obj()
    settings = {"Backend": "Vitis", "Part": board.part, "ClockPeriod": float(cfg.clock_ns()),
                "IOType": cfg.hardware.io_type, "ReuseFactor": int(cfg.hardware.reuse_factor), "Strategy": "Latency",
                "default_precision": "fixed<32,16>", "scratch": str(out / "hls4ml_scratch")}
    try:
        prepared = prepare_for_hls4ml(final)
        hls_cfg = _resolved_config(prepared, settings, no_bias=not has_bias(final))
    except Exception as exc:  # an op hls4ml's QONNX front end cannot convert: the RTL design still stands
        where = hls4ml_layer_of(exc)
        msg = (f"hls4ml could not convert the final model{f' (at hls4ml layer {where})' if where else ''}: "
               f"{type(exc).__name__}: {str(exc).strip()[:400]}")
        log.warning("whole-network hls4ml project not generated: %s", msg)
        return {"status": "not_generated", "error": msg}
    finally:
        shutil.rmtree(out / "hls4ml_scratch", ignore_errors=True)
    prepared.save(str(out / HLS4ML_ONNX))
    y_ref = QonnxExecutor(final).reference(x)
    np.save(out / TB_INPUT, to_channels_last(x))
    np.save(out / TB_OUTPUT, y_ref.reshape(len(x), -1))
    doc = {"OnnxModel": HLS4ML_ONNX, "OutputDir": "hls4ml", "ProjectName": PROJECT_NAME,
           "Backend": settings["Backend"], "Part": settings["Part"], "ClockPeriod": settings["ClockPeriod"],
           "IOType": settings["IOType"], "InputData": TB_INPUT, "OutputPredictions": TB_OUTPUT, "HLSConfig": hls_cfg}
    header = ("# hls4ml configuration of the design ohq_flow chose (hls4ml's own config-file format).\n"
              "# Paths are relative to this file. Use with model_hls4ml.onnx (channels-last input):\n"
              "#   cfg = yaml.safe_load(open('hls4ml_config.yml'))\n"
              "#   hm = hls4ml.converters.convert_from_onnx_model(ModelWrapper('model_hls4ml.onnx'), output_dir='prj',\n"
              "#       backend=cfg['Backend'], part=cfg['Part'], clock_period=cfg['ClockPeriod'],\n"
              "#       io_type=cfg['IOType'], hls_config=cfg['HLSConfig'])\n")
    atomic_write_text(out / HLS4ML_CONFIG, header + yaml.safe_dump(doc, sort_keys=False))

    prj = out / "hls4ml"
    try:
        y_hls = _convert_compile_predict(out, prj, x)
    except Exception as exc:
        raise FlowError(f"hls4ml project from {out / HLS4ML_CONFIG} failed: {type(exc).__name__}: {str(exc)[:400]}",
                        "run with --debug; the project is in " + str(prj)) from None
    y_hls = y_hls.reshape(y_ref.shape)
    return {"status": "ok", "project": str(prj), "config": str(out / HLS4ML_CONFIG), "onnx": str(out / HLS4ML_ONNX),
            "samples": int(len(x)), "mismatches": int(np.sum(np.any(y_hls != y_ref, axis=1))),
            "max_abs_diff": float(np.abs(y_hls - y_ref).max()),
            "tb_data": [str(prj / "tb_data" / "tb_input_features.dat"), str(prj / "tb_data" / "tb_output_predictions.dat")],
            "synthesis_command": f'cd {prj} && vitis_hls -f build_prj.tcl "reset=1 csim=1 synth=1 cosim=0 export=1 vsynth=1"'}


def load_hls4ml(final_dir: Path, output_dir: Path, *, with_tb_data: bool = True):
    """The hls4ml ModelGraph of a run's ``final/`` (what the README's lines do), written to ``output_dir``."""
    import yaml
    from qonnx.core.modelwrapper import ModelWrapper
    final_dir = Path(final_dir)
    path = final_dir / HLS4ML_CONFIG
    if not path.is_file():
        raise InputError(f"{path} does not exist", "run the build step (ohq-flow run CONFIG) first")
    c = yaml.safe_load(path.read_text())
    tb = {}
    if with_tb_data:
        tb = {"input_data_tb": str(final_dir / c["InputData"]), "output_data_tb": str(final_dir / c["OutputPredictions"])}
    hls4ml = _hls4ml()
    with contextlib.redirect_stdout(io.StringIO()):
        return hls4ml.converters.convert_from_onnx_model(
            ModelWrapper(str(final_dir / c["OnnxModel"])), output_dir=str(output_dir), project_name=c["ProjectName"],
            backend=c["Backend"], part=c["Part"], clock_period=c["ClockPeriod"], io_type=c["IOType"],
            hls_config=c["HLSConfig"], **tb)


def _convert_compile_predict(final_dir: Path, prj: Path, x: np.ndarray) -> np.ndarray:
    graph = load_hls4ml(final_dir, prj)
    with contextlib.redirect_stdout(io.StringIO()):
        graph.write()
        graph.compile()
        return np.asarray(graph.predict(to_channels_last(x)), dtype=np.float64)


# -------------------------------------------------------------------------------------- Brevitas
def _brevitas_source(run_dir: Path) -> dict:
    """factory, kwargs, python_path of the run's Brevitas model (build.json, else the run's config.yaml)."""
    import yaml
    build = run_dir / "final" / "build.json"
    if not build.is_file():
        raise InputError(f"{build} does not exist", "run the build step first: ohq-flow run CONFIG")
    rec = json.loads(build.read_text()).get("brevitas")
    if rec is None:
        raise InputError(f"{build}: the run has no Brevitas write-back (the model came from a QONNX file)",
                         "load final/model.onnx with qonnx instead")
    if "factory" in rec:
        return rec
    cfg_yaml = run_dir / "config.yaml"
    if not cfg_yaml.is_file():
        raise InputError(f"{build} does not name the model factory and {cfg_yaml} is missing", "re-run the build step")
    b = yaml.safe_load(cfg_yaml.read_text())["model"]["brevitas"]
    return {**rec, "factory": b["factory"], "kwargs": b.get("kwargs") or {}, "python_path": b.get("python_path") or []}


def load_brevitas(run_dir):
    """The run's final Brevitas module at its chosen bit-widths (eval mode).

    Built by the recorded factory and kwargs, then the saved state dict (weights, scales and
    bit-widths) is loaded strictly; every quantizer's bit-width is checked against
    ``final/brevitas_bit_widths.json`` and a difference raises instead of running at other bits.
    """
    import torch
    from ohq_flow.final.writeback import apply_saved_bits, saved_bits_differ
    from ohq_flow.errors import ModelError
    from ohq_flow.model.export import build_brevitas_model

    run_dir = Path(run_dir)
    src = _brevitas_source(run_dir)
    sd_path, bits_path = run_dir / "final" / "brevitas_state_dict.pt", run_dir / "final" / "brevitas_bit_widths.json"
    for p in (sd_path, bits_path):
        if not p.is_file():
            raise InputError(f"{p} does not exist", "re-run the build step")
    module = build_brevitas_model(src["factory"], src["kwargs"], None, [Path(p) for p in src["python_path"]])
    state = torch.load(sd_path, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{sd_path} does not fit {src['factory']}(**{src['kwargs']}): {str(exc).splitlines()[0]}",
                         "the model definition changed since the run; build it from the same code") from None
    if not any(k.endswith("bit_width_impl.bit_width.value") for k in state):
        apply_saved_bits(module, bits_path)   # a state dict saved before the bit-widths were part of it
    wrong = saved_bits_differ(module, bits_path)
    if wrong:
        raise ModelError(f"{sd_path}: quantizer bit-widths differ from {bits_path.name} after loading: "
                         + ", ".join(f"{p}: {a:g} instead of {b}" for p, (a, b) in list(wrong.items())[:5]),
                         "the model definition changed since the run")
    return module.eval()


# ------------------------------------------------------------------------------------------ FINN
# our board names -> FINN's board names (finn.util.basic pynq_part_map / alveo_part_map)
_FINN_BOARDS = {"PYNQ-Z1": "Pynq-Z1", "PYNQ-Z2": "Pynq-Z2", "Ultra96-V2": "Ultra96-V2", "ZCU102": "ZCU102",
                "ZCU104": "ZCU104", "ZCU111": "ZCU111", "Kria KV260": "KV260_SOM", "Alveo U50": "U50",
                "Alveo U250": "U250"}
_MVAU, _VVAU = ("MVAU_hls", "MVAU_rtl"), ("VVAU_hls", "VVAU_rtl")
_SWG = ("ConvolutionInputGenerator_hls", "ConvolutionInputGenerator_rtl")
# FINN's specialize_layers_config: MVAU/VVAU as HLS (FINN would pick RTL for some), so the node names are known
FINN_SPECIALIZE = {"Defaults": {"preferred_impl_style": ["hls", ["MVAU", "VVAU"]]}}


def _fold_of(entry: dict, default: tuple[int, int]) -> tuple[int, int]:
    """(PE, SIMD) of a solution entry's ``fold`` ({pe, simd} or [pe, simd]), else ``default``."""
    fold = entry.get("fold")
    if isinstance(fold, dict):
        low = {str(k).lower(): v for k, v in fold.items()}
        return int(low.get("pe", default[0])), int(low.get("simd", default[1]))
    if isinstance(fold, (list, tuple)) and len(fold) == 2:
        return int(fold[0]), int(fold[1])
    return default


def finn_folding(layers, assignment: dict, pe: int = 1, simd: int = 1, model=None) -> tuple[dict, list[dict]]:
    """FINN ``folding_config.json`` and the per-layer table behind it.

    Each searched layer becomes one FINN compute node, numbered in graph order as FINN's build
    names them after ``SpecializeLayers`` (``MVAU_hls_<i>``; a depthwise conv ``VVAU_hls_<j>``; the
    HLS style is pinned by :data:`FINN_SPECIALIZE`). Every convolution and pooling layer gets a
    sliding-window unit (``ConvolutionInputGenerator_rtl_<k>``, numbered over both in graph order,
    so ``model`` is needed to count the pooling ones); a convolution's streams the layer's SIMD (or
    the largest divisor of its input channels below it). PE
    divides MH (output channels), SIMD divides MW (C_in/g·k_h·k_w), as FINN requires. ``Defaults``
    keeps every other node fully folded (PE = SIMD = 1).
    """
    from ohq_flow.design.finn_estimate import MVAU, mvau_estimate
    from ohq_flow.design.mvau import largest_divisor
    from ohq_flow.model.geometry import mvau_dims
    table, cfg = [], {"Defaults": {"PE": [1, list(_MVAU + _VVAU)], "SIMD": [1, list(_MVAU + _VVAU + _SWG)]}}
    swg_of: dict[str, int] = {}
    if model is not None:   # FINN lowers Conv and MaxPool/AveragePool to a sliding-window unit each
        for node in model.graph.node:
            if node.op_type in ("Conv", "MaxPool", "AveragePool"):
                swg_of[node.name] = len(swg_of)
    counts = {"MVAU": 0, "VVAU": 0}
    for layer in layers:
        mh, mw, _ = mvau_dims(layer)
        kind = "VVAU" if getattr(layer, "depthwise", False) else "MVAU"
        want_pe, want_simd = _fold_of(assignment.get(layer.name, {}), (pe, simd))
        if kind == "VVAU":   # PE over channels, SIMD over the kernel window
            mw = int(np.prod(layer.kernel_shape)) if layer.kernel_shape else 1
        p, s = largest_divisor(mh, want_pe), largest_divisor(mw, want_simd)
        node = f"{kind}_hls_{counts[kind]}"
        counts[kind] += 1
        cfg[node] = {"PE": p, "SIMD": s}
        a = assignment.get(layer.name, {})
        if kind == "MVAU" and a.get("w_bits") and a.get("a_bits"):   # multipliers as the analytic model costs them
            est = mvau_estimate(MVAU(mh=mh, mw=mw, pe=p, simd=s, w_bits=int(a["w_bits"]), a_bits=int(a["a_bits"])))
            cfg[node]["resType"] = "dsp" if est["dsp"] > 0 else "lut"
        row = {"layer": layer.name, "finn_node": node, "MH": int(mh), "MW": int(mw), "PE": p, "SIMD": s}
        if layer.op_type == "Conv" and layer.node in swg_of:
            swg = f"ConvolutionInputGenerator_rtl_{swg_of[layer.node]}"
            channels = int(layer.input_shape[1])   # its SIMD divides the input channels (FINN adds width converters)
            cfg[swg] = {"SIMD": largest_divisor(channels, p if kind == "VVAU" else s)}
            row["finn_swg_node"] = swg
        row.update(w_bits=a.get("w_bits"), a_bits=a.get("a_bits"))
        table.append(row)
    return cfg, table


def write_finn_bundle(cfg, final, layers, assignment: dict, out: Path) -> dict:
    """``final/finn/``: model.onnx (QONNX), folding_config.json and dataflow_build_config.json.

    The directory is what ``python -m finn.builder.build_dataflow final/finn`` (FINN's
    ``build_dataflow_directory``) reads; by default it generates FINN's estimate reports.
    """
    finn_dir = out / "finn"
    finn_dir.mkdir(parents=True, exist_ok=True)
    final.save(str(finn_dir / "model.onnx"))
    folding, table = finn_folding(layers, assignment, cfg.hardware.pe, cfg.hardware.simd, model=final)
    atomic_write_json(finn_dir / "folding_config.json", folding)
    atomic_write_json(finn_dir / "specialize_layers_config.json", FINN_SPECIALIZE)
    atomic_write_json(finn_dir / "layers.json", table)
    board = cfg.board_obj()
    build_cfg = {"output_dir": "output", "synth_clk_period_ns": float(cfg.clock_ns()), "fpga_part": board.part,
                 "folding_config_file": "folding_config.json",
                 "specialize_layers_config_file": "specialize_layers_config.json", "generate_outputs": ["estimate_reports"],
                 "auto_fifo_depths": False, "verbose": False}
    finn_board = _FINN_BOARDS.get(board.name)
    if finn_board:
        build_cfg["board"] = finn_board
        build_cfg["shell_flow_type"] = "vitis_alveo" if finn_board.startswith("U") else "vivado_zynq"
    atomic_write_json(finn_dir / "dataflow_build_config.json", build_cfg)
    return {"dir": str(finn_dir), "nodes": {r["layer"]: r["finn_node"] for r in table},
            "command": f"python -m finn.builder.build_dataflow {finn_dir}"}
