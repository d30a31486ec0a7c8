"""Run the user's board command for one (layer, w_bits, a_bits) and read its JSON -> CostRow (measured).

The command is an argument list (``hardware.board_command``); ``{layer}``, ``{w_bits}``,
``{a_bits}`` and ``{project}`` are replaced inside each argument (no shell, no other braces
interpreted). The command prints one JSON object — the last line of stdout that parses as one —
with ``latency_ns`` or ``latency_cycles`` (both allowed) and optionally ``clock_ns``,
``ii_cycles``, ``lut``, ``ff``, ``dsp``, ``bram18``, ``uram``, ``tool``, ``tool_version``, ``part``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ohq_flow.errors import FlowError, InputError
from ohq_flow.tables.costs import CostRow
from ohq_flow.hw.measurers.base import Measurer
from ohq_flow.hw.tools import run_tool

PLACEHOLDERS = ("layer", "w_bits", "a_bits", "project")
NUMERIC_KEYS = ("latency_ns", "latency_cycles", "clock_ns", "ii_cycles", "lut", "ff", "dsp", "bram18", "uram")
TEXT_KEYS = ("tool", "tool_version", "part")


def substitute_argv(argv: list[str], values: dict[str, object]) -> list[str]:
    """Replace ``{name}`` placeholders in each argument (plain text replacement, one argument at a time)."""
    out = []
    for arg in argv:
        arg = str(arg)
        for name in PLACEHOLDERS:
            arg = arg.replace("{" + name + "}", str(values.get(name, "")))
        out.append(arg)
    return out


def _last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else None
    except json.JSONDecodeError:
        return None


def measure_board(argv: list[str], *, layer: str, w_bits: int, a_bits: int, log_path: str | os.PathLike,
                  timeout_s: float, project: str | os.PathLike = "", cwd: str | os.PathLike | None = None) -> CostRow:
    """Run the board command and return its measurement as a ``measured`` CostRow.

    Raises FlowError naming the log on a non-zero exit, a timeout, output without a JSON object,
    a JSON object without ``latency_ns``/``latency_cycles``, or non-numeric values.
    """
    if not argv:
        raise InputError("hardware.board_command is empty", "give an argument list, e.g. [python, measure.py, '{layer}']")
    cmd = substitute_argv(list(argv), {"layer": layer, "w_bits": w_bits, "a_bits": a_bits, "project": project})
    res = run_tool(cmd, log_path=log_path, timeout_s=timeout_s, cwd=cwd)
    data = _last_json(res.stdout)
    if data is None:
        raise FlowError(f"board command printed no JSON object for {layer} w{w_bits}a{a_bits}; log: {res.log_path}",
                        'print one line like {"latency_ns": 1234.5}')
    if "latency_ns" not in data and "latency_cycles" not in data:
        raise FlowError(f"board command JSON for {layer} w{w_bits}a{a_bits} has neither 'latency_ns' nor "
                        f"'latency_cycles' (keys: {sorted(data)}); log: {res.log_path}")
    values = {}
    for key in NUMERIC_KEYS:
        if key in data and data[key] is not None:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise FlowError(f"board command JSON: '{key}' must be a finite number, got {v!r}; log: {res.log_path}")
            values[key] = float(v)
    text = {k: str(data[k]) for k in TEXT_KEYS if data.get(k) is not None}
    row = CostRow(layer=layer, w_bits=int(w_bits), a_bits=int(a_bits), source="board", fidelity="measured",
                  tool=text.get("tool", Path(cmd[0]).name), tool_version=text.get("tool_version", ""),
                  part=text.get("part", ""), log_path=str(res.log_path), elapsed_s=res.elapsed_s, **values)
    return row


# ------------------------------------------------------------------------------ the board measurer
def run(ctx) -> CostRow:
    """Measured latency from the user's board command (argument list, placeholders substituted)."""
    from ohq_flow.hw.profile import LayerHW
    p = LayerHW.from_json(ctx.payload)
    return measure_board(p.extra["board_command"], layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits,
                         log_path=ctx.workdir / "board.log", timeout_s=ctx.remaining_s(), project=str(ctx.workdir))


MEASURER = Measurer(name="board", fidelity="measured", run=run, key_settings=("board_command", "latency_cutoff"))
