"""Reading a CSV table: present, with its required columns, rows numbered as a text editor shows them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from ohq_flow.errors import InputError


def read_csv_table(path: str | Path, what: str, required: Sequence[str], *, absent_hint: str,
                   header_hint: str) -> tuple[list[str], list[tuple[str, dict]]]:
    """(columns, [(``path:line``, row)]) of a CSV file; InputError when it is absent or lacks a required column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist", absent_hint)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = list(reader.fieldnames or [])
        missing = [c for c in required if c not in cols]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}", header_hint)
        return cols, [(f"{path}:{i}", raw) for i, raw in enumerate(reader, start=2)]
