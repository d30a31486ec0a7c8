"""Front end: build the Brevitas module, export it to QONNX, clean the graph.

The exported model keeps Quant/BipolarQuant/Trunc nodes (the quantizers the flow searches
over); cleaning infers shapes, folds constants other than quantizers, gives unique readable
names and caps the IR version so onnxruntime (used by the QONNX executor) accepts it.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ohq_flow.errors import ModelError

log = logging.getLogger(__name__)
MAX_IR_VERSION = 10  # onnxruntime 1.31 (QONNX executor) accepts up to this


@contextlib.contextmanager
def import_path(dirs: list[Path]):
    """Temporarily prepend ``dirs`` to sys.path (restored afterwards)."""
    added = [str(d) for d in dirs if str(d) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for d in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(d)


def load_factory(spec: str, python_path: list[Path] | None = None) -> Callable[..., Any]:
    """Import ``"package.module:function"`` and return the function."""
    module_name, _, func_name = spec.partition(":")
    with import_path(python_path or []):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ModelError(f"model.brevitas.factory: cannot import module '{module_name}' ({exc})",
                             "check the module path, or add its directory to model.brevitas.python_path") from None
        except Exception as exc:  # a module that fails while importing
            raise ModelError(f"model.brevitas.factory: importing '{module_name}' failed: {type(exc).__name__}: {exc}",
                             "run `python -c 'import " + module_name + "'` to see the full error") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        import difflib
        guess = difflib.get_close_matches(func_name, names, n=1)
        raise ModelError(f"model.brevitas.factory: module '{module_name}' has no function '{func_name}'",
                         f"did you mean '{guess[0]}'?" if guess else f"callables there: {', '.join(names[:12])}")
    return func


def _state_dict_from(obj: Any, path: Path) -> dict:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
        if all(hasattr(v, "shape") for v in obj.values()):
            return obj
    raise ModelError(f"checkpoint {path} does not hold a state dict",
                     "save it with torch.save(model.state_dict(), path)")


def build_brevitas_model(factory: str, kwargs: dict | None = None, checkpoint: Path | None = None,
                         python_path: list[Path] | None = None):
    """Call the factory, load the checkpoint (if any) and return the module in eval mode."""
    import torch
    fn = load_factory(factory, python_path)
    with import_path(python_path or []):
        try:
            module = fn(**(kwargs or {}))
        except TypeError as exc:
            raise ModelError(f"model.brevitas.factory: {factory}(**kwargs) failed: {exc}",
                             "check model.brevitas.kwargs against the factory's signature") from None
    if isinstance(module, tuple):  # some factories return (model, cfg)
        module = module[0]
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"model.brevitas.factory: {factory} returned {type(module).__name__}, not a torch.nn.Module")
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise ModelError(f"checkpoint {checkpoint} does not exist", "train the model first or fix model.brevitas.checkpoint")
        try:
            obj = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelError(f"checkpoint {checkpoint} cannot be read: {exc}", "save it with torch.save(model.state_dict(), path)") from None
        state = _state_dict_from(obj, checkpoint)
        result = module.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if "zero_point" not in k]
        if missing or result.unexpected_keys:
            raise ModelError(
                f"checkpoint {checkpoint} does not fit {factory}: missing keys {missing[:5]}, unexpected keys {result.unexpected_keys[:5]}",
                "the checkpoint must come from the same model definition and kwargs")
    return module.eval()


@contextlib.contextmanager
def _quiet():
    """Silence torch.onnx/brevitas chatter on stdout/stderr and warnings during export."""
    buf_out, buf_err = io.StringIO(), io.StringIO()
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
        warnings.simplefilter("ignore")
        try:
            yield buf_out, buf_err
        finally:
            for lg, lv in zip(loggers, levels):
                lg.setLevel(lv)


def export_brevitas(module, input_shape: list[int] | tuple[int, ...], out_path: str | Path):
    """Export a Brevitas module to a cleaned QONNX ModelWrapper saved at ``out_path``.

    Uses the TorchScript exporter (faster, handles residual QuantTensor adds) and falls back to
    torch.export (dynamo) when it fails. The module is exported in eval mode (its mode is restored):
    in training mode the shape probe would update BatchNorm running statistics and Brevitas' runtime
    activation statistics (a zero input collapses a scale to its 1e-10 floor).
    """
    import torch
    from brevitas.export import export_qonnx

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".raw.onnx")
    was_training = module.training   # a training-mode probe would feed zeros to BatchNorm / Brevitas statistics
    module.eval()
    try:
        x = torch.zeros(*input_shape)
        try:
            with torch.no_grad():
                module(x)
        except Exception as exc:
            raise ModelError(f"model.brevitas.input_shape {list(input_shape)} does not fit the model: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                             "set input_shape to what the model's forward() expects, batch dimension first") from None
        errors = []
        for dynamo in (False, True):
            try:
                with _quiet():
                    export_qonnx(module, input_t=x, export_path=str(tmp), dynamo=dynamo)
                break
            except Exception as exc:
                errors.append(f"{'dynamo' if dynamo else 'torchscript'}: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else ''}")
        else:
            raise ModelError("Brevitas QONNX export failed: " + " | ".join(errors),
                             "the model must be exportable with brevitas.export.export_qonnx; run with --debug for details")
    finally:
        module.train(was_training)
    model = clean_qonnx(tmp)
    model.save(str(out_path))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    return model


def clean_qonnx(model_or_path):
    """Load (if a path) and clean a QONNX model: shapes, constant folding, names, IR version."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    if isinstance(model_or_path, (str, Path)):
        path = Path(model_or_path)
        if not path.is_file():
            raise ModelError(f"QONNX file {path} does not exist")
        try:
            model = ModelWrapper(str(path))
        except Exception as exc:
            raise ModelError(f"{path} is not a readable ONNX model: {exc}") from None
    else:
        model = model_or_path
    if model.model.ir_version > MAX_IR_VERSION:
        model.model.ir_version = MAX_IR_VERSION
    try:
        with _quiet():
            model = cleanup_model(model)
    except Exception as exc:
        raise ModelError(f"cleaning the QONNX graph failed: {type(exc).__name__}: {exc}",
                         "check the model opens in netron and runs in qonnx.core.onnx_exec") from None
    if model.model.ir_version > MAX_IR_VERSION:
        model.model.ir_version = MAX_IR_VERSION
    return model


def export_model(cfg, out_path: Path):
    """Export (or load and clean) the config's model, save it at ``out_path``; return (ModelWrapper, module|None).

    A final Softmax/LogSoftmax is removed (left to the host) and an input without a quantiser gets its declared
    type (``model.input`` or the QONNX datatype annotation) as one: see :mod:`ohq_flow.model.boundary`.
    """
    from ohq_flow.model.boundary import prepare_ends
    m = cfg.model
    if m.qonnx is not None:
        model = clean_qonnx(m.qonnx)
        prepare_ends(model, m.input)       # a final softmax left to the host; the declared input type
        out_path.parent.mkdir(parents=True, exist_ok=True)
        model.save(str(out_path))
        return model, None
    b = m.brevitas
    module = build_brevitas_model(b.factory, b.kwargs, b.checkpoint, b.python_path)
    model = export_brevitas(module, b.input_shape, out_path)
    if prepare_ends(model, m.input):
        model.save(str(out_path))
    return model, module


def execute(model, x: np.ndarray) -> np.ndarray:
    """Run the QONNX executor on one input batch and return the (first) graph output."""
    from qonnx.core.onnx_exec import execute_onnx
    iname = model.graph.input[0].name
    oname = model.graph.output[0].name
    return execute_onnx(model, {iname: x.astype(np.float32)})[oname]
