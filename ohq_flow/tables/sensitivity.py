"""The sensitivity table (CSV): one row per (layer, w_bits, a_bits) with its predicted damage.

Required columns ``layer,w_bits,a_bits,kl``; optional ``mse,n_samples,seed,mode,monotonic_violation``
(other columns are kept in ``extra``). The one reader and the one writer of ``sensitivity.csv`` and
of MQE's per-layer part files. When a ``mode`` column exists (joint / weight_only / act_only,
as the sensitivity step writes), only the rows of one mode are read (``joint`` by default).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ohq_flow.errors import InputError
from ohq_flow.tables.csv_table import read_csv_table
from ohq_flow.fileio import atomic_write_text

REQUIRED = ("layer", "w_bits", "a_bits", "kl")
OPTIONAL = ("mse", "n_samples", "seed", "mode", "monotonic_violation")


@dataclass
class SensitivityRow:
    """Damage of one layer at one candidate; ``mse`` etc. are None when the file lacks them."""

    layer: str
    w_bits: int
    a_bits: int
    kl: float
    mse: float | None = None
    n_samples: int | None = None
    seed: int | None = None
    mode: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    monotonic_violation: bool | None = None  # set by the sensitivity step (fewer bits scored less damage)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.layer, self.w_bits, self.a_bits)


def _num(raw: str | None, kind, where: str, col: str, required: bool):
    text = (raw or "").strip()
    if text == "" or text.lower() in ("nan", "none", "null"):
        if required:
            raise InputError(f"{where}: column '{col}' is empty", "re-run the sensitivity step")
        return None
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{where}: column '{col}' has non-numeric value {text!r}") from None
    if kind is int:
        if not v.is_integer():
            raise InputError(f"{where}: column '{col}' must be an integer, got {text!r}")
        return int(v)
    if not math.isfinite(v):
        raise InputError(f"{where}: column '{col}' is {text}", "re-run the sensitivity step")
    return v


def _flag(raw: str | None, where: str) -> bool | None:
    v = _num(raw, int, where, "monotonic_violation", False)
    if v not in (None, 0, 1):
        raise InputError(f"{where}: column 'monotonic_violation' must be 0 or 1, got {raw!r}")
    return None if v is None else bool(v)


def read_sensitivity_rows(path: str | Path, *, mode: str | None = "joint") -> list[SensitivityRow]:
    """All rows of ``path`` (of ``mode`` when the file has a mode column; ``mode=None`` keeps all)."""
    cols, table = read_csv_table(path, "sensitivity table", REQUIRED, absent_hint="run the sensitivity step first",
                                 header_hint=f"the header needs {','.join(REQUIRED)} (optional: {','.join(OPTIONAL)})")
    rows, seen = [], {}
    for where, raw in table:
        row_mode = (raw.get("mode") or "").strip() or None
        if mode is not None and "mode" in cols and row_mode is not None and row_mode != mode:
            continue
        layer = (raw.get("layer") or "").strip()
        if not layer:
            raise InputError(f"{where}: column 'layer' is empty")
        row = SensitivityRow(layer, _num(raw["w_bits"], int, where, "w_bits", True),
                             _num(raw["a_bits"], int, where, "a_bits", True),
                             _num(raw["kl"], float, where, "kl", True),
                             _num(raw.get("mse"), float, where, "mse", False),
                             _num(raw.get("n_samples"), int, where, "n_samples", False),
                             _num(raw.get("seed"), int, where, "seed", False), row_mode,
                             {k: v for k, v in raw.items() if k not in REQUIRED + OPTIONAL and k is not None},
                             _flag(raw.get("monotonic_violation"), where))
        for col in ("kl", "mse"):
            if getattr(row, col) is not None and getattr(row, col) < 0:
                raise InputError(f"{where}: column '{col}' is negative ({getattr(row, col)!r}); a damage is >= 0",
                                 "re-run the sensitivity step")
        dup_key = (row.key, row.mode)
        if dup_key in seen:
            raise InputError(f"{where}: duplicate row for {layer} w{row.w_bits}a{row.a_bits} "
                             f"(first at line {seen[dup_key]})")
        seen[dup_key] = where.rsplit(":", 1)[1]
        rows.append(row)
    if "mode" in cols and mode is not None and not rows:
        raise InputError(f"{path}: no rows of mode '{mode}'", "choose a mode present in the file's 'mode' column")
    return rows


def read_sensitivity(path: str | Path, objective: str = "kl", *, mode: str | None = "joint"
                     ) -> dict[tuple[str, int, int], float]:
    """(layer, w_bits, a_bits) -> the ``objective`` column (``kl`` or ``mse``) of ``path``."""
    if objective not in ("kl", "mse"):
        raise InputError(f"objective '{objective}' unknown", "one of: kl, mse")
    rows = read_sensitivity_rows(path, mode=mode)
    out: dict[tuple[str, int, int], float] = {}
    for r in rows:
        value = getattr(r, objective)
        if value is None:
            raise InputError(f"{path}: objective '{objective}' but column '{objective}' is missing or empty "
                             f"for {r.layer} w{r.w_bits}a{r.a_bits}", "use objective kl, or a table with that column")
        if r.key in out:
            raise InputError(f"{path}: several rows for {r.layer} w{r.w_bits}a{r.a_bits} (several modes?)",
                             "pass mode= to select one")
        out[r.key] = float(value)
    return out


def write_sensitivity(rows: Iterable[SensitivityRow], path: str | Path, *, significant: int | None = None) -> Path:
    """Write rows as CSV atomically (optional columns only when some row has them); floats exactly
    (``repr``), or rounded to ``significant`` digits (the sensitivity step writes 10)."""
    rows = list(rows)
    extra = list(dict.fromkeys(k for r in rows for k in r.extra))
    opt = [c for c in OPTIONAL if any(getattr(r, c) is not None for r in rows)]
    cols = list(REQUIRED) + opt + extra
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        d = {c: getattr(r, c) for c in REQUIRED + tuple(opt)}
        d.update(r.extra)
        w.writerow({k: _cell(v, significant) for k, v in d.items()})
    return atomic_write_text(path, buf.getvalue())


def _cell(v, significant: int | None):
    if v is None:
        return ""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return repr(v) if significant is None else f"{v:.{significant}g}"
    return v
