"""hls4ml project of one extracted layer (QONNX front end) and its g++ C-simulation.

Conversion (the sequence hls4ml's QONNX front end needs): ``cleanup_model`` → ``ConvertToChannelsLastAndClean(
make_input_channels_last=True)`` → ``GemmToMatMul`` → ``cleanup_model`` → hls4ml
``config_from_onnx_model(granularity="name")`` → ``convert_from_onnx_model``. hls4ml derives
every activation/weight precision from the Quant nodes (``ap_[u]fixed`` from bit-width and
power-of-two scale) and infers exact accumulator/result widths (``auto``); a layer without a bias
is converted with hls4ml's ``infer_no_bias`` option so the zero bias does not widen the
accumulator. Bit-exact C-simulation needs power-of-two scales (recorded as ``bit_exact`` in
``ohq_project.json``; hls4ml maps other scales to float-constant multiplications).

The project directory holds hls4ml's files plus ``ohq_project.json`` (the graph input layout —
NCHW in the QONNX model, channels-last in hls4ml —, shapes, settings, per-layer precisions),
``ohq_hls4ml_config.json`` and ``ohq_layer_prepared.onnx``. hls4ml cannot re-open its own
project for an ONNX model (``link_existing_project`` fails to load the pickled model in
``hls4ml_config.yml``), so :func:`compile_and_predict` reuses the ModelGraph of this process or
re-converts from those two files (deterministic, same files).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from ohq_flow.errors import FlowError, InputError
from ohq_flow.fileio import atomic_write_json

META_FILE = "ohq_project.json"
CONFIG_FILE = "ohq_hls4ml_config.json"
PREPARED_FILE = "ohq_layer_prepared.onnx"
PROJECT_NAME = "myproject"


def require_hls4ml():
    try:
        import hls4ml  # noqa: F401
    except ImportError:
        raise InputError("the hls4ml generator needs the 'hls4ml' package",
                         "pip install 'ohq_flow[hls4ml]' (hls4ml>=1.1; it does not need TensorFlow for QONNX input)") from None
    return hls4ml


def prepare_for_hls4ml(layer_model):
    """The cleanup sequence for hls4ml's QONNX front end (a new ModelWrapper)."""
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(layer_model)
    model = model.transform(ConvertToChannelsLastAndClean(make_input_channels_last=True))
    model = model.transform(GemmToMatMul())
    model = cleanup_model(model)
    if move_channel_scales(model):
        model = cleanup_model(model)
    return model


def move_channel_scales(model) -> int:
    """Move the per-output-channel scale of a MatMul's constant Quant weights after the MatMul (in place).

    ``x @ (s * q) == (x @ q) * s`` for a scale ``s`` per output column: the weight Quant gets scale 1 on ``W / s``
    (the same integers ``q``) and a ``Mul`` by ``s`` follows the MatMul. hls4ml's QONNX front end folds a per-tensor
    weight scale itself but not a per-channel one (its scale propagation stops at the MatMul and the conversion
    fails with ``IndexError``; Brevitas per-channel weight quantisers, e.g. FINN's keyword-spotting MLP, write
    these). Returns how many MatMuls changed.
    """
    from onnx import helper
    changed = 0
    for mm in [n for n in model.graph.node if n.op_type == "MatMul"]:
        q = model.find_producer(mm.input[1])
        if q is None or q.op_type != "Quant" or model.get_initializer(q.input[0]) is None:
            continue
        w, s, zp = (model.get_initializer(q.input[i]) for i in range(3))
        if s is None or zp is None or np.any(np.asarray(zp) != 0) or np.asarray(w).ndim != 2:
            continue
        s = np.asarray(s, dtype=np.float32)
        n_out = np.asarray(w).shape[1]
        if s.size == 1 or s.size != n_out or s.shape[-1] != n_out or np.any(s <= 0):
            continue                                   # per tensor (hls4ml folds it) or not per output column
        model.set_initializer(q.input[0], (np.asarray(w, dtype=np.float32) / s.reshape(1, n_out)).astype(np.float32))
        one = f"{q.name}_unit_scale"
        model.set_initializer(one, np.asarray(1.0, dtype=np.float32))
        q.input[1] = one
        scale = f"{mm.name}_channel_scale"
        model.set_initializer(scale, s.reshape(n_out))
        out = mm.output[0]
        raw = f"{out}_unscaled"
        mm.output[0] = raw
        mul = helper.make_node("Mul", [raw, scale], [out], name=f"{mm.name}_scale")
        nodes = list(model.graph.node)
        model.graph.node.insert(nodes.index(mm) + 1, mul)
        changed += 1
    return changed


def _pow2_scales(model) -> bool:
    from ohq_flow.model.quantizers import is_power_of_two
    for node in model.graph.node:
        if node.op_type in ("Quant", "BipolarQuant"):
            scale = model.get_initializer(node.input[1])
            if scale is None or not is_power_of_two(scale):
                return False
    return True


def has_bias(model) -> bool:
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm") and len(node.input) > 2 and node.input[2]:
            b = model.get_initializer(node.input[2])
            if b is None or np.any(np.asarray(b) != 0):
                return True
        if node.op_type == "Add":
            return True  # MatMul + Add bias
    return False


@contextlib.contextmanager
def no_bias_option(enabled: bool):
    """Temporarily set hls4ml's ``infer_no_bias`` option (restored afterwards)."""
    from hls4ml.model.optimizer import get_optimizer
    opt = get_optimizer("infer_precision_types")
    old = getattr(opt, "infer_no_bias", False)
    opt.infer_no_bias = enabled
    try:
        yield
    finally:
        opt.infer_no_bias = old


def _convert(prepared, out_dir: Path, settings: dict, what: str, cfg: dict | None = None):
    """Run hls4ml's QONNX converter and write the project; returns (ModelGraph, hls config)."""
    hls4ml = require_hls4ml()
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), no_bias_option(settings["no_bias"]):
            if cfg is None:
                cfg = hls4ml.utils.config.config_from_onnx_model(
                    prepared, granularity="name", backend=settings["backend"],
                    default_precision=settings["default_precision"], default_reuse_factor=settings["reuse_factor"])
                cfg["Model"]["Strategy"] = settings["strategy"]
            hm = hls4ml.converters.convert_from_onnx_model(
                prepared, output_dir=str(out_dir), project_name=PROJECT_NAME, backend=settings["backend"],
                io_type=settings["io_type"], hls_config=cfg, part=settings["part"], clock_period=settings["clock_ns"])
            hm.write()
    except Exception as exc:
        ops = sorted({n.op_type for n in prepared.graph.node})
        raise FlowError(f"hls4ml could not convert layer graph {what} (ops {ops}): "
                        f"{type(exc).__name__}: {str(exc).strip()[:400]}",
                        "cost this layer with a measurer of da4ml RTL instead (hardware.rules: yosys or "
                        "da4ml_estimate for it)") from None
    return hm, cfg


def _graph(project: Path):
    """The project's ModelGraph, converted again from the saved files (no state kept between calls)."""
    from qonnx.core.modelwrapper import ModelWrapper
    saved = json.loads((project / CONFIG_FILE).read_text())
    return _convert(ModelWrapper(str(project / PREPARED_FILE)), project, saved["settings"], project.name,
                    cfg=saved["hls_config"])[0]


def write_hls4ml_project(layer_model, out_dir, *, part: str, clock_ns: float, io_type: str = "io_parallel",
                         reuse_factor: int = 1, backend: str = "Vitis", default_precision: str = "fixed<32,16>",
                         strategy: str = "Latency") -> Path:
    """Write the hls4ml project of an extracted layer (see :func:`ohq_flow.hw.extract.extract_layer`) into ``out_dir``."""
    require_hls4ml()
    if io_type not in ("io_parallel", "io_stream"):
        raise InputError(f"io_type must be io_parallel or io_stream, got {io_type!r}")
    out_dir = Path(out_dir).resolve()
    in_name = layer_model.graph.input[0].name
    in_shape = [int(d) for d in layer_model.get_tensor_shape(in_name)]
    out_name = layer_model.graph.output[0].name
    out_shape = [int(d) for d in layer_model.get_tensor_shape(out_name)]
    settings = {"part": part, "clock_ns": float(clock_ns), "io_type": io_type, "reuse_factor": int(reuse_factor),
                "backend": backend, "default_precision": default_precision, "strategy": strategy,
                "no_bias": not has_bias(layer_model)}
    try:
        prepared = prepare_for_hls4ml(layer_model)
    except Exception as exc:
        raise FlowError(f"QONNX cleanup for hls4ml failed on layer graph {layer_model.graph.name}: "
                        f"{type(exc).__name__}: {str(exc).strip()[:400]}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    prepared.save(str(out_dir / PREPARED_FILE))
    hm, cfg = _convert(prepared, out_dir, settings, layer_model.graph.name)
    atomic_write_json(out_dir / CONFIG_FILE, {"settings": settings, "hls_config": cfg})
    precisions = {}
    for lay in hm.get_layers():
        precisions[lay.name] = {"class": lay.class_name,
                                **{k: str(v.type.precision) for k, v in lay.variables.items()},
                                **{f"{k}_t": str(v.type.precision) for k, v in lay.weights.items()}}
    meta = {"layer_graph": layer_model.graph.name, "input": in_name, "input_shape": in_shape,
            "output": out_name, "output_shape": out_shape,
            "channels_last_input": len(in_shape) > 2, "project_name": PROJECT_NAME, "top": PROJECT_NAME,
            **settings, "bit_exact": _pow2_scales(layer_model),
            "hls4ml_version": require_hls4ml().__version__, "precisions": precisions}
    atomic_write_json(out_dir / META_FILE, meta)
    return out_dir


def read_project_meta(project) -> dict:
    """The ``ohq_project.json`` of a project written by :func:`write_hls4ml_project`."""
    path = Path(project) / META_FILE
    if not path.is_file():
        raise InputError(f"{project} is not an hls4ml layer project written by ohq_flow ({META_FILE} missing)",
                         "create it with write_hls4ml_project")
    return json.loads(path.read_text())


def compile_and_predict(project, x: np.ndarray) -> np.ndarray:
    """g++-compile the project (hls4ml ``compile()``) and run its C-simulation on ``x``.

    ``x`` has the QONNX layer's input layout with a batch axis (e.g. NCHW); the result has the
    QONNX output shape with that batch axis. Computed in double precision (exact for results up
    to 53 bits).
    """
    project = Path(project).resolve()
    meta = read_project_meta(project)
    x = np.asarray(x, dtype=np.float64)
    in_shape = meta["input_shape"]
    if list(x.shape[1:]) != in_shape[1:]:
        raise InputError(f"input shape {list(x.shape)} does not fit the layer input {in_shape} (batch first)")
    if meta["channels_last_input"]:
        x = np.moveaxis(x, 1, -1)
    x = np.ascontiguousarray(x.reshape(x.shape[0], -1))
    graph = _graph(project)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            graph.compile()
            y = graph.predict(x)
    except Exception as exc:
        log = project / "ohq_compile.log"
        log.write_text(buf.getvalue())
        raise FlowError(f"hls4ml C-simulation build of {project} failed: {exc}; log: {log}") from None
    y = np.asarray(y, dtype=np.float64).reshape([x.shape[0]] + list(meta["output_shape"][1:]))
    return y
