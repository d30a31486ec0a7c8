"""The ``data`` section: load the user's labelled train/validation data and check it before training.

Sources: a factory ``"module:function"`` returning ``(train, val)`` — each a DataLoader / iterable
of ``(x, y)`` batches or an ``(x, y)`` pair of arrays — or ``(x_train, y_train, x_val, y_val)``;
one ``.npz`` with ``x_train, y_train, x_val, y_val``; or ``train_npz`` + ``val_npz`` with ``x, y``.
Everything is materialised as float32 / int64 arrays (digits- to MNIST-sized data), so the
fine-tune's batch order is ours, seeded and resumable. Every batch is checked (shape against
``model.input_shape``, finite inputs, integer labels in range); the first bad one is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ohq_flow.errors import InputError


@dataclass
class Dataset:
    """Materialised train and validation splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    source: str

    def fingerprint(self) -> str:
        """Content hash of the data (keys the fine-tune's checkpoints)."""
        import hashlib
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_val, self.y_val):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def _to_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v)


def _is_array(v: Any) -> bool:
    return isinstance(v, np.ndarray) or hasattr(v, "detach")


def _batches(split: Any, where: str) -> Iterable[tuple[Any, Any]]:
    """(x, y) batches of one split: an (x, y) pair of arrays is one batch list, else iterate it."""
    if isinstance(split, (tuple, list)) and len(split) == 2 and all(_is_array(v) for v in split):
        return [tuple(split)]
    if isinstance(split, dict) and {"x", "y"} <= set(split):
        return [(split["x"], split["y"])]
    if not hasattr(split, "__iter__"):
        raise InputError(f"{where}: is a {type(split).__name__}, not a DataLoader, an iterable of (x, y) batches or an (x, y) pair",
                         "return (train, val) where each is a torch DataLoader or a pair of arrays (x, y)")
    return split


def check_batch(x: Any, y: Any, where: str, input_shape: list[int], n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Check one (x, y) batch; raise InputError naming ``where`` (source and batch) on the first problem."""
    x, y = _to_numpy(x), _to_numpy(y)
    want = tuple(input_shape[1:])
    if x.ndim != len(input_shape) or tuple(x.shape[1:]) != want:
        raise InputError(f"{where}: inputs have shape {list(x.shape)}, the model expects [N, {', '.join(map(str, want))}] "
                         f"(model.brevitas.input_shape {input_shape})",
                         "reshape the data in the factory (or fix model.brevitas.input_shape)")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise InputError(f"{where}: inputs are not all finite numbers", "remove or fix NaN/inf samples")
    if y.ndim != 1 or len(y) != len(x):
        raise InputError(f"{where}: labels have shape {list(y.shape)}, expected [{len(x)}] (one class index per input)",
                         "give integer class indices, not one-hot vectors")
    if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
        raise InputError(f"{where}: labels are {y.dtype}, not integer class indices", "give integer class indices")
    if len(y) and (y.min() < 0 or (n_classes is not None and y.max() >= n_classes)):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        first = int(np.flatnonzero((y < 0) | (y >= (n_classes if n_classes is not None else np.inf)))[0])
        raise InputError(f"{where}, sample {first}: label {int(y[first])} is out of range 0..{(n_classes or 1) - 1} (the model has {n_classes} outputs; worst label {bad})",
                         "labels must be class indices 0..n_classes-1 matching the model's output")
    return x.astype(np.float32), y.astype(np.int64)


def _collect(split: Any, where: str, input_shape: list[int], n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    try:
        for i, batch in enumerate(_batches(split, where)):
            if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
                raise InputError(f"{where}, batch {i}: is a {type(batch).__name__}, not an (x, y) pair",
                                 "each batch must be (inputs, labels)")
            x, y = check_batch(batch[0], batch[1], f"{where}, batch {i}", input_shape, n_classes)
            xs.append(x)
            ys.append(y)
    except InputError:
        raise
    except Exception as exc:  # the user's loader failed while iterating
        raise InputError(f"{where}: iterating failed after {len(xs)} batches: {type(exc).__name__}: {exc}",
                         "run the factory by hand to see the full error") from None
    if not xs or sum(len(y) for y in ys) == 0:
        raise InputError(f"{where}: no samples", "the split must hold at least one labelled sample")
    return np.concatenate(xs), np.concatenate(ys)


def _npz(path: Path, keys: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.load(path)
    except Exception as exc:
        raise InputError(f"data file {path} cannot be read as .npz: {exc}") from None
    missing = [k for k in keys if k not in data.files]
    if missing:
        raise InputError(f"{path}: keys {missing} missing (it has {data.files})", f"save it with np.savez(path, {keys[0]}=..., {keys[1]}=...)")
    return data[keys[0]], data[keys[1]]


def load_data(section, input_shape: list[int], n_classes: int | None) -> Dataset:
    """Load and check the data named by the config's ``data`` section."""
    if section.factory is not None:
        from ohq_flow.model.export import import_path, load_factory
        from ohq_flow.errors import ModelError
        where = f"data.factory {section.factory}"
        try:
            fn = load_factory(section.factory, section.python_path)
        except ModelError as exc:
            raise InputError(exc.message.replace("model.brevitas.factory", "data.factory"), exc.hint) from None
        try:
            with import_path(section.python_path):
                out = fn(**section.kwargs)
        except Exception as exc:
            raise InputError(f"{where} failed: {type(exc).__name__}: {exc}",
                             "check data.kwargs and run the factory by hand") from None
        if isinstance(out, (tuple, list)) and len(out) == 4 and all(_is_array(v) for v in out):
            out = ((out[0], out[1]), (out[2], out[3]))
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise InputError(f"{where} returned a {type(out).__name__}, not (train, validation)",
                             "return (train_loader, val_loader), ((x_tr, y_tr), (x_val, y_val)) or (x_tr, y_tr, x_val, y_val)")
        train, val = out
        src = where
    elif section.npz is not None:
        data_tr = _npz(section.npz, ("x_train", "y_train"))
        val = _npz(section.npz, ("x_val", "y_val"))
        train, src = data_tr, f"data.npz {section.npz}"
    else:
        train, val = _npz(section.train_npz, ("x", "y")), _npz(section.val_npz, ("x", "y"))
        src = f"data.train_npz {section.train_npz} / data.val_npz {section.val_npz}"
    x_tr, y_tr = _collect(train, f"{src} (training split)", input_shape, n_classes)
    x_va, y_va = _collect(val, f"{src} (validation split)", input_shape, n_classes)
    return Dataset(x_tr, y_tr, x_va, y_va, src)
