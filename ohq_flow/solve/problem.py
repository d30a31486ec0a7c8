"""The bit-width selection problem: candidates per layer, budgets, ties and pins.

A *candidate* of a layer is a (w_bits, a_bits) pair present in both the sensitivity table and
the cost table (with cost status ``ok``). Budget metrics:

- ``lut, ff, dsp, bram18, uram``: summed over layers;
- ``latency_cycles``, ``latency_ns``: summed over layers (sequential execution, and the
  end-to-end latency of a dataflow pipeline alike);
- ``ii_cycles`` (``latency_mode="dataflow"`` only): every layer's II must be within the budget;
- ``weight_bits``: params × w_bits summed; ``bops``: MACs × w_bits × a_bits summed (both need
  per-layer ``params``/``macs`` in ``layer_meta``).

A budget on a metric that some candidate lacks is an error — a missing cost is never taken as 0.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from ohq_flow.errors import InputError
from ohq_flow.hw.costs import CostRow

RESOURCES = ("lut", "ff", "dsp", "bram18", "uram")
COST_METRICS = RESOURCES + ("latency_cycles", "ii_cycles", "latency_ns")
METRICS = COST_METRICS + ("weight_bits", "bops")
LATENCY_MODES = ("sequential", "dataflow")
SOLVERS = ("cbc", "highs")
OBJECTIVES = ("kl", "mse")
_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%\s*$")
_PIN = re.compile(r"^\s*w(\d+)\s*a(\d+)\s*$", re.IGNORECASE)


@dataclass
class Candidate:
    """One (w_bits, a_bits) choice of a layer: its damage (objective) and costs (None = unknown)."""

    w_bits: int
    a_bits: int
    damage: float
    cost: dict[str, float | None]

    @property
    def label(self) -> str:
        return f"w{self.w_bits}a{self.a_bits}"

    @property
    def bits(self) -> tuple[int, int]:
        return (self.w_bits, self.a_bits)


@dataclass(frozen=True)
class Tie:
    """Layers that must take equal a_bits (and equal w_bits too when ``same_w_bits``)."""

    layers: tuple[str, ...]
    same_w_bits: bool = False


@dataclass(frozen=True)
class DroppedCandidate:
    """A (layer, w, a) seen in one table but not usable, and why."""

    layer: str
    w_bits: int
    a_bits: int
    reason: str

    def __str__(self) -> str:
        return f"{self.layer} w{self.w_bits}a{self.a_bits}: {self.reason}"


@dataclass
class Problem:
    """Candidates per layer (network order), absolute budgets, ties, pins and solver settings."""

    candidates: dict[str, list[Candidate]]
    budgets: dict[str, float] = field(default_factory=dict)
    latency_mode: str = "sequential"
    ties: list = field(default_factory=list)         # Tie, or a plain list of layer names (a_bits only)
    pins: dict = field(default_factory=dict)         # layer -> (w_bits, a_bits) or "w4a8"
    solver: str = "cbc"
    time_limit_s: float = 60.0
    dropped: list = field(default_factory=list)      # DroppedCandidate (or message strings)
    objective: str = "kl"

    def __post_init__(self) -> None:
        self.ties = [normalize_tie(t) for t in self.ties]
        self.pins = {layer: parse_pin(v, layer) for layer, v in self.pins.items()}
        self.budgets = {m: float(v) for m, v in self.budgets.items()}
        self.validate()

    def validate(self) -> None:
        """Raise InputError on the first problem found (unknown names, missing costs, bad pins)."""
        if not self.candidates:
            raise InputError("the problem has no layers", "check the sensitivity and cost tables are not empty")
        if self.latency_mode not in LATENCY_MODES:
            raise InputError(f"latency_mode '{self.latency_mode}' unknown", f"one of: {', '.join(LATENCY_MODES)}")
        if self.solver not in SOLVERS:
            raise InputError(f"solver '{self.solver}' unknown", f"one of: {', '.join(SOLVERS)}")
        for layer, cands in self.candidates.items():
            if not cands:
                raise InputError(f"layer {layer} has no candidate")
            seen = set()
            for c in cands:
                if c.bits in seen:
                    raise InputError(f"layer {layer} lists candidate {c.label} twice")
                seen.add(c.bits)
                if c.damage is None or not math.isfinite(c.damage):
                    raise InputError(f"layer {layer} candidate {c.label}: objective value {c.damage!r} is not a finite number")
        for metric, limit in self.budgets.items():
            if metric not in METRICS:
                raise InputError(f"unknown budget metric '{metric}'" + _did_you_mean(metric, METRICS),
                                 f"budgets can be: {', '.join(METRICS)}")
            if not math.isfinite(limit) or limit < 0:
                raise InputError(f"budget {metric}={limit} must be a finite number >= 0")
            if metric == "ii_cycles" and self.latency_mode != "dataflow":
                raise InputError("an ii_cycles budget needs latency_mode 'dataflow'",
                                 "in sequential mode the network's II is its latency: budget latency_cycles instead")
            for layer, cands in self.candidates.items():
                for c in cands:
                    v = c.cost.get(metric)
                    if v is None or (isinstance(v, float) and math.isnan(v)):
                        hint = ("give layer_meta with 'params' and 'macs' per layer" if metric in ("weight_bits", "bops")
                                else "measure it (profile) or drop that budget")
                        raise InputError(f"budget on '{metric}' but layer {layer} candidate {c.label} has no {metric} value",
                                         hint + "; a missing cost is never taken as 0")
        for layer, wa in self.pins.items():
            self._check_layer(layer, "pinned")
            if not any(c.bits == wa for c in self.candidates[layer]):
                have = ", ".join(c.label for c in self.candidates[layer])
                raise InputError(f"pinned layer '{layer}': candidate w{wa[0]}a{wa[1]} is not in both tables",
                                 f"its candidates are: {have}")
        for tie in self.ties:
            for layer in tie.layers:
                self._check_layer(layer, "tied")

    def _check_layer(self, layer: str, what: str) -> None:
        if layer not in self.candidates:
            raise InputError(f"{what} layer '{layer}' is not in the tables" + _did_you_mean(layer, self.candidates))

    def candidate(self, layer: str, bits: tuple[int, int]) -> Candidate:
        """The candidate of ``layer`` with (w_bits, a_bits) ``bits``."""
        for c in self.candidates[layer]:
            if c.bits == tuple(bits):
                return c
        raise KeyError(f"{layer} w{bits[0]}a{bits[1]}")

    def with_budgets(self, budgets: Mapping[str, float]) -> "Problem":
        """A copy with other budgets (same candidates, ties, pins, settings)."""
        return Problem(self.candidates, dict(budgets), self.latency_mode, list(self.ties), dict(self.pins),
                       self.solver, self.time_limit_s, list(self.dropped), self.objective)


def _did_you_mean(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def normalize_tie(tie) -> Tie:
    """A :class:`Tie`, or a sequence of layer names (equal a_bits only)."""
    if isinstance(tie, Tie):
        return tie
    if isinstance(tie, str) or not isinstance(tie, (list, tuple)):
        raise InputError(f"tie {tie!r} must be a list of layer names")
    return Tie(tuple(tie))


def parse_pin(value, layer: str = "?") -> tuple[int, int]:
    """(w_bits, a_bits) from a pair or a string like "w4a8"."""
    if isinstance(value, str):
        m = _PIN.match(value)
        if not m:
            raise InputError(f"pin for layer '{layer}': {value!r} is not like 'w4a8'")
        return int(m.group(1)), int(m.group(2))
    try:
        w, a = value
        return int(w), int(a)
    except (TypeError, ValueError):
        raise InputError(f"pin for layer '{layer}': {value!r} is not a (w_bits, a_bits) pair") from None


def resolve_budget(value: str | float, total: float | None, metric: str) -> float:
    """A number (or numeric string), or "NN%" of the board total ``total`` for ``metric``."""
    if isinstance(value, bool):
        raise InputError(f"budget {metric}={value!r} is not a number or a percentage")
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        m = _PERCENT.match(str(value))
        if m:
            if total is None:
                raise InputError(f"budget {metric}={value} is a percentage but {metric} has no board total",
                                 "give an absolute number, or a board that lists this resource")
            out = float(m.group(1)) / 100.0 * float(total)
        else:
            try:
                out = float(str(value).strip())
            except ValueError:
                raise InputError(f"budget {metric}={value!r} is not a number or a percentage like '40%'") from None
    if not math.isfinite(out) or out < 0:
        raise InputError(f"budget {metric}={value!r} must be a finite number >= 0")
    return out


def resolve_budgets(budgets: Mapping[str, str | float], board_totals: Mapping[str, float] | None) -> dict[str, float]:
    """Every budget resolved to an absolute value (percentages against ``board_totals``)."""
    totals = board_totals or {}
    return {m: resolve_budget(v, totals.get(m), m) for m, v in budgets.items()}


def _meta_cost(layer_meta: Mapping | None, layer: str, w: int, a: int) -> dict[str, float | None]:
    meta = (layer_meta or {}).get(layer) or {}
    params, macs = meta.get("params"), meta.get("macs")
    return {"weight_bits": float(params) * w if params is not None else None,
            "bops": float(macs) * w * a if macs is not None else None}


def _ok_cost_rows(costs: Sequence[CostRow]) -> tuple[dict, dict]:
    """(layer, w, a) -> the one ok row; and -> the reason of rows that are not ok."""
    ok, bad = {}, {}
    for r in costs:
        key = (r.layer, r.w_bits, r.a_bits)
        if r.ok:
            if key in ok:
                raise InputError(f"cost table has two ok rows for {r.layer} w{r.w_bits}a{r.a_bits}",
                                 "keep one measurement per (layer, w_bits, a_bits)")
            ok[key] = r
        else:
            bad[key] = f"cost status {r.status}" + (f" ({r.error.strip()[:80]})" if r.error else "")
    return ok, bad


def build_problem(sensitivity: Mapping[tuple[str, int, int], float], costs: Sequence[CostRow], *,
                  budgets: Mapping[str, float] | None = None, layer_order: Sequence[str] | None = None,
                  layer_meta: Mapping | None = None, latency_mode: str = "sequential", ties: Sequence | None = None,
                  pins: Mapping | None = None, objective: str = "kl", solver: str = "cbc",
                  time_limit_s: float = 60.0) -> Problem:
    """Candidates = (layer, w, a) in ``sensitivity`` with an ok cost row; the rest goes to ``dropped``.

    Layers are ``layer_order`` when given, else every layer of either table (sensitivity order
    first). A layer left without any candidate raises InputError naming it and why.
    """
    ok, bad = _ok_cost_rows(costs)
    sens_layers = list(dict.fromkeys(k[0] for k in sensitivity))
    cost_layers = list(dict.fromkeys(r.layer for r in costs))
    layers = list(layer_order) if layer_order is not None else list(dict.fromkeys(sens_layers + cost_layers))
    wanted = set(layers)
    dropped: list[DroppedCandidate] = []
    for key in sorted(set(sensitivity) | set(ok) | set(bad)):
        if key[0] not in wanted:
            dropped.append(DroppedCandidate(*key, "layer not in the layer list"))
        elif key in sensitivity and key not in ok:
            dropped.append(DroppedCandidate(*key, bad.get(key, "no row in the cost table")))
        elif key not in sensitivity and key in ok:
            dropped.append(DroppedCandidate(*key, "no row in the sensitivity table"))
    candidates: dict[str, list[Candidate]] = {}
    for layer in layers:
        cands = []
        for (l, w, a), damage in sensitivity.items():
            if l != layer or (l, w, a) not in ok:
                continue
            row = ok[(l, w, a)]
            cost = {m: getattr(row, m) for m in COST_METRICS}
            cost.update(_meta_cost(layer_meta, l, w, a))
            cands.append(Candidate(w, a, float(damage), cost))
        if not cands:
            why = [str(d) for d in dropped if d.layer == layer][:6]
            where = ("in neither table" if layer not in sens_layers and layer not in cost_layers
                     else "not in the sensitivity table" if layer not in sens_layers
                     else "not in the cost table" if layer not in cost_layers else "in both tables")
            raise InputError(f"layer {layer} has no candidate left (it is {where})",
                             "each layer needs a (w_bits, a_bits) pair in both tables with cost status ok"
                             + (f"; dropped: {'; '.join(why)}" if why else ""))
        candidates[layer] = sorted(cands, key=lambda c: c.bits)
    return Problem(candidates, dict(budgets or {}), latency_mode, list(ties or []), dict(pins or {}),
                   solver, time_limit_s, dropped, objective)
