"""The hardware-cost table: one row per (layer, weight bits, activation bits, fold).

``fold`` is an opaque label of the parallelism of the candidate (e.g. ``pe4_simd8``); empty means
one option per (layer, bits). ``fmax_mhz`` is the clock the candidate's logic closes timing at
(the design runs at the slowest chosen candidate's).

Missing values stay missing (``None`` in Python, empty in CSV, ``null`` in JSON) — a cost is
never silently 0. ``fidelity`` says how far to trust a row: ``measured`` (board),
``post_route``/``post_synth`` (real synthesis), ``hls_estimate`` (HLS C-synthesis report),
``estimate`` (da4ml's own cost, analytic formulas).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable

from ohq_flow.errors import InputError
from ohq_flow.tables.csv_table import read_csv_table
from ohq_flow.fileio import atomic_write_json, atomic_write_text
from ohq_flow.metrics import LATENCY_METRICS, RESOURCES

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"

# Numeric cost columns the ILP can budget.
COST_METRICS = LATENCY_METRICS + RESOURCES


@dataclass
class CostRow:
    """Hardware cost of one layer at one candidate (w_bits, a_bits, fold)."""

    layer: str
    w_bits: int
    a_bits: int
    fold: str = ""              # parallelism label, e.g. pe4_simd8 ("" = the only option)
    latency_cycles: float | None = None
    ii_cycles: float | None = None
    clock_ns: float | None = None
    fmax_mhz: float | None = None
    latency_ns: float | None = None
    lut: float | None = None
    ff: float | None = None
    dsp: float | None = None
    bram18: float | None = None
    uram: float | None = None
    carry: float | None = None
    source: str = ""            # measurer plug-in name: yosys, da4ml_estimate, analytic, vitis_hls, vivado, board
    fidelity: str = ""          # measured | post_route | post_synth | hls_estimate | estimate
    tool: str = ""
    tool_version: str = ""
    part: str = ""
    status: str = STATUS_OK
    error: str = ""
    log_path: str = ""
    elapsed_s: float | None = None
    cache_key: str = ""
    cached: bool = False

    def __post_init__(self) -> None:
        if self.latency_ns is None and self.latency_cycles is not None and self.clock_ns is not None:
            self.latency_ns = self.latency_cycles * self.clock_ns

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_dict(self) -> dict:
        return asdict(self)


_FIELD_TYPES = {f.name: f.type for f in fields(CostRow)}
NUMERIC_FIELDS = COST_METRICS + ("clock_ns", "fmax_mhz", "carry", "elapsed_s")
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT)


def row_problems(row: CostRow) -> list[str]:
    """What makes ``row`` impossible: bad bit-widths, a cost that is negative, NaN or infinite, ..."""
    out = []
    for name in ("w_bits", "a_bits"):
        v = getattr(row, name)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
            out.append(f"{name}={v!r} is not a bit-width (an integer 1..64)")
    if not isinstance(row.layer, str) or not row.layer:
        out.append("layer is empty")
    for name in NUMERIC_FIELDS:
        v = getattr(row, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(f"{name}={v!r} is not a number")
        elif not math.isfinite(v):
            out.append(f"{name}={v!r} is not finite")
        elif v < 0 or (name in ("clock_ns", "fmax_mhz") and v == 0):
            out.append(f"{name}={v!r} is {'negative' if v < 0 else 'zero'}")
    if row.status not in STATUSES:
        out.append(f"status={row.status!r} is not one of {', '.join(STATUSES)}")
    for name in _FIELD_TYPES:
        if _FIELD_TYPES[name] == "str" and not isinstance(getattr(row, name), str):
            out.append(f"{name} is not text")
    if not isinstance(row.cached, bool):
        out.append("cached is not true/false")
    return out


def check_row(row: CostRow, where: str) -> CostRow:
    """``row`` if it is possible, else InputError naming ``where`` and every bad field."""
    problems = row_problems(row)
    if problems:
        raise InputError(f"{where}: impossible cost row for {row.layer} w{row.w_bits}a{row.a_bits}: "
                         + "; ".join(problems), "a cost is a finite number >= 0 or empty when unknown")
    return row


def row_from_dict(data, where: str) -> CostRow:
    """A CostRow from a JSON object with only known fields, each checked (ValueError otherwise)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: not a JSON object")
    unknown = set(data) - set(_FIELD_TYPES)
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    try:
        row = CostRow(**data)
    except TypeError as exc:
        raise ValueError(f"{where}: not a cost row ({exc})") from None
    problems = row_problems(row)
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))
    return row
_INT_FIELDS = {"w_bits", "a_bits"}
_BOOL_FIELDS = {"cached"}
_STR_FIELDS = {n for n, t in _FIELD_TYPES.items() if t == "str"}


def _parse_cell(name: str, value: str | None, where: str):
    if value is None:
        return None
    value = value.strip()
    if name in _STR_FIELDS:
        return value
    if name in _BOOL_FIELDS:
        return value.lower() in ("1", "true", "yes")
    if value == "" or value.lower() in ("none", "null"):
        if name in _INT_FIELDS:
            raise InputError(f"{where}: column '{name}' is empty", "every row needs integer w_bits and a_bits")
        return None
    try:
        return int(value) if name in _INT_FIELDS else float(value)
    except ValueError:
        raise InputError(f"{where}: column '{name}' has non-numeric value {value!r}",
                         "cost columns hold numbers; leave a cell empty when the value is unknown") from None


def write_costs(rows: Iterable[CostRow], csv_path: str | Path, json_path: str | Path | None = None) -> None:
    """Write the table as CSV (and JSON when ``json_path`` is given), atomically."""
    rows = list(rows)
    names = [f.name for f in fields(CostRow)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    w.writeheader()
    for r in rows:
        d = r.to_dict()
        w.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in d.items()})
    atomic_write_text(csv_path, buf.getvalue())
    if json_path is not None:
        atomic_write_json(json_path, [r.to_dict() for r in rows])


def read_costs(csv_path: str | Path) -> list[CostRow]:
    """Read a cost CSV. Needs ``layer,w_bits,a_bits``; unknown columns are ignored, missing ones are None."""
    _, rows = read_csv_table(csv_path, "cost table", ("layer", "w_bits", "a_bits"),
                             absent_hint="run `ohq-flow profile CONFIG` first",
                             header_hint="the header needs at least layer,w_bits,a_bits and one cost column")
    out = []
    for where, raw in rows:
        kw = {n: _parse_cell(n, raw.get(n), where) for n in _FIELD_TYPES if n in raw}
        kw = {k: v for k, v in kw.items() if v is not None or k not in _STR_FIELDS}
        out.append(check_row(CostRow(**kw), where))
    return out


def read_costs_json(json_path: str | Path) -> list[CostRow]:
    """Read a cost table written as JSON by :func:`write_costs`."""
    try:
        data = json.loads(Path(json_path).read_text())
        if not isinstance(data, list):
            raise ValueError("not a list of rows")
        return [row_from_dict({k: v for k, v in d.items() if k in _FIELD_TYPES} if isinstance(d, dict) else d,
                              f"row {i}") for i, d in enumerate(data)]
    except (OSError, ValueError) as exc:
        raise InputError(f"cost table {json_path}: {exc}", "run `ohq-flow profile CONFIG` again") from None
