"""The bit-width selection problem: candidates per layer, budgets, ties and pins.

A *candidate* of a layer is a (w_bits, a_bits, fold) choice present in the cost table (with cost
status ``ok``) whose (w_bits, a_bits) is in the sensitivity table: the fold (parallelism label,
``""`` when the table has none) changes cost and speed, never the arithmetic. Budget metrics:

- ``lut, ff, dsp, bram18, uram``: summed over layers;
- ``latency_cycles``: summed over layers (sequential execution, and the end-to-end latency of a
  dataflow pipeline alike);
- ``latency_ns``: with a clock model (candidates carry ``fmax_mhz``, or ``clock_mhz`` is given)
  the summed cycles × 1000 / the design clock, the design clock being the smallest ``fmax_mhz``
  of the chosen candidates capped by ``clock_mhz``; without one, the rows' own ``latency_ns`` summed;
- ``ii_cycles`` (``latency_mode="dataflow"`` only): every layer's II must be within the budget;
- ``weight_bits``: params × w_bits summed; ``bops``: MACs × w_bits × a_bits summed (both need
  per-layer ``params``/``macs`` in ``layer_meta``);
- ``damage``: the summed objective (a bound for the reverse problem, ``minimize`` = a metric).

With the complete design (``design``, a :class:`~ohq_flow.solve.design_view.DesignView`), the candidates
are priced in the design the build makes: resources are the design's (kernel or folded unit, the glue
each candidate brings, pairwise terms between neighbours, a constant for the rest and the board shell)
in the budgets' units (post-route where the family is calibrated); ``latency_cycles`` and
``ii_cycles`` are the streamed pipeline's exact latency (fill + bottleneck) and II, in either
latency mode; ``latency_ns`` is cycles at ``clock_mhz`` (the design's target clock).

A budget on a metric that some candidate lacks is an error — a missing cost is never taken as 0.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from ohq_flow.errors import InputError
from ohq_flow.metrics import BUDGETABLE, COST_METRICS, LATENCY_METRICS, METRICS, PERCENT, RESOURCES  # noqa: F401
from ohq_flow.tables.costs import CostRow

MINIMIZABLE = METRICS                                    # besides the damage (the default)
LATENCY_MODES = ("sequential", "dataflow")
SOLVERS = ("cbc", "highs")
OBJECTIVES = ("kl", "mse")
_PIN = re.compile(r"^\s*w(\d+)\s*a(\d+)\s*$", re.IGNORECASE)


@dataclass
class Candidate:
    """One (w_bits, a_bits, fold) choice of a layer: its damage (objective) and costs (None = unknown).

    ``cost`` may hold ``fmax_mhz`` (the clock this candidate closes timing at) beside the metrics.
    """

    w_bits: int
    a_bits: int
    damage: float
    cost: dict[str, float | None]
    fold: str = ""

    @property
    def label(self) -> str:
        return f"w{self.w_bits}a{self.a_bits}" + (f"@{self.fold}" if self.fold else "")

    @property
    def bits(self) -> tuple[int, int]:
        return (self.w_bits, self.a_bits)

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.w_bits, self.a_bits, self.fold)

    @property
    def fmax(self) -> float | None:
        return self.cost.get("fmax_mhz")


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
    clock_mhz: float | None = None                   # cap on the design clock (MHz)
    minimize: str | None = None                      # None: the damage; else a metric (reverse problem)
    prune_dominated: bool = True                     # off only to measure what pruning saves (bench/bench_ilp.py)
    design: object | None = None                     # DesignView: the complete design's terms
    exclude: list = field(default_factory=list)      # assignments the ILP may not choose: layer -> (w, a, fold),
                                                     # or layer -> (w, a) for every fold of those bits

    def __post_init__(self) -> None:
        self.ties = [normalize_tie(t) for t in self.ties]
        self.pins = {layer: parse_pin(v, layer) for layer, v in self.pins.items()}
        self.budgets = {m: float(v) for m, v in self.budgets.items()}
        if self.clock_mhz is not None:
            self.clock_mhz = float(self.clock_mhz)
        self.validate()

    @property
    def has_folds(self) -> bool:
        return any(c.fold for cands in self.candidates.values() for c in cands)

    @property
    def clock_model(self) -> bool:
        """True when latency_ns comes from cycles and a design clock (fmax_mhz and/or clock_mhz)."""
        return self.clock_mhz is not None or self._any_fmax()

    def design_metric(self, metric: str) -> bool:
        """Whether the complete design (not the candidates' own rows) gives ``metric``."""
        return self.design is not None and metric in ("lut", "ff", "dsp", "bram18", "latency_cycles", "ii_cycles",
                                                      "latency_ns")

    def capped_fmax(self, c: Candidate) -> float:
        """The candidate's clock limit: its fmax_mhz capped by clock_mhz (inf when neither is known)."""
        f = c.fmax if c.fmax is not None else math.inf
        return min(f, self.clock_mhz) if self.clock_mhz is not None else f

    def design_clock(self, chosen: Sequence[Candidate]) -> float | None:
        """The design clock (MHz) of chosen candidates: min fmax capped by clock_mhz; None if unknown."""
        if not self.clock_model:
            return None
        if any(c.fmax is None for c in chosen) and self._any_fmax():
            return None                                # some fmax unknown: the clock could be lower
        clock = min((self.capped_fmax(c) for c in chosen), default=math.inf)
        if self.clock_mhz is not None:
            clock = min(clock, self.clock_mhz)
        return clock if math.isfinite(clock) else None

    def _any_fmax(self) -> bool:
        return any(c.fmax is not None for cs in self.candidates.values() for c in cs)

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
                if c.key in seen:
                    raise InputError(f"layer {layer} lists candidate {c.label} twice")
                seen.add(c.key)
                if c.damage is None or not math.isfinite(c.damage):
                    raise InputError(f"layer {layer} candidate {c.label}: objective value {c.damage!r} is not a finite number")
                f = c.fmax
                if f is not None and not (math.isfinite(f) and f > 0):
                    raise InputError(f"layer {layer} candidate {c.label}: fmax_mhz {f!r} is not a number > 0")
        if self.clock_mhz is not None and not (math.isfinite(self.clock_mhz) and self.clock_mhz > 0):
            raise InputError(f"clock_mhz {self.clock_mhz!r} must be a number > 0")
        if self.minimize is not None and self.minimize not in MINIMIZABLE:
            raise InputError(f"cannot minimise '{self.minimize}'" + did_you_mean(self.minimize, MINIMIZABLE),
                             f"minimise one of: {', '.join(MINIMIZABLE)} (or leave it unset for the damage)")
        for metric, limit in self.budgets.items():
            if metric not in BUDGETABLE:
                raise InputError(f"unknown budget metric '{metric}'" + did_you_mean(metric, BUDGETABLE),
                                 f"budgets can be: {', '.join(BUDGETABLE)}")
            if not math.isfinite(limit) or limit < 0:
                raise InputError(f"budget {metric}={limit} must be a finite number >= 0")
        if self.design is not None and ("latency_ns" in self.budgets or self.minimize == "latency_ns") \
                and self.clock_mhz is None:
            raise InputError("latency_ns of the complete design needs its clock (clock_mhz)",
                             "give implement.target_mhz or a board clock")
        for metric in list(self.budgets) + ([self.minimize] if self.minimize else []):
            if self.design_metric(metric):
                continue
            if metric == "ii_cycles" and self.latency_mode != "dataflow":
                raise InputError("an ii_cycles budget or objective needs latency_mode 'dataflow'",
                                 "in sequential mode the network's II is its latency: budget latency_cycles instead")
            if metric != "damage":
                self._check_metric_known(metric)
        for layer, wa in self.pins.items():
            self._check_layer(layer, "pinned")
            if not any(c.bits == wa for c in self.candidates[layer]):
                have = ", ".join(dict.fromkeys(f"w{c.w_bits}a{c.a_bits}" for c in self.candidates[layer]))
                raise InputError(f"pinned layer '{layer}': candidate w{wa[0]}a{wa[1]} is not in both tables",
                                 f"its candidates are: {have}")
        for tie in self.ties:
            for layer in tie.layers:
                self._check_layer(layer, "tied")

    def _check_metric_known(self, metric: str) -> None:
        """Every candidate has the values ``metric`` needs (a missing cost is never taken as 0)."""
        needs = [metric]
        if metric == "latency_ns" and self.clock_model:
            needs = ["latency_cycles"]
            with_f = [(l, c) for l, cs in self.candidates.items() for c in cs if c.fmax is not None]
            without = [(l, c) for l, cs in self.candidates.items() for c in cs if c.fmax is None]
            if with_f and without:
                l, c = without[0]
                raise InputError(f"latency_ns: layer {l} candidate {c.label} has no fmax_mhz while other candidates have one",
                                 "give fmax_mhz for every row of the cost table (or for none, with --clock-mhz)")
        for name in needs:
            for layer, cands in self.candidates.items():
                for c in cands:
                    v = c.cost.get(name)
                    if v is None or (isinstance(v, float) and math.isnan(v)):
                        hint = ("give layer_meta with 'params' and 'macs' per layer" if name in ("weight_bits", "bops")
                                else "measure it (profile) or drop that budget")
                        if metric == "latency_ns" and not self.clock_model:
                            hint = "give fmax_mhz per row or a design clock (--clock-mhz), or measured latency_ns"
                        use = "budget on" if metric in self.budgets else "minimising"
                        raise InputError(f"{use} '{metric}' but layer {layer} candidate {c.label} has no {name} value",
                                         hint + "; a missing cost is never taken as 0")

    def _check_layer(self, layer: str, what: str) -> None:
        if layer not in self.candidates:
            raise InputError(f"{what} layer '{layer}' is not in the tables" + did_you_mean(layer, self.candidates))

    def candidate(self, layer: str, choice) -> Candidate:
        """The candidate of ``layer``: ``choice`` is a Candidate, (w_bits, a_bits, fold) or (w_bits, a_bits).

        A (w_bits, a_bits) pair names the candidate only when that layer has one fold of those bits.
        """
        if isinstance(choice, Candidate):
            return choice
        choice = tuple(choice)
        if len(choice) == 3:
            for c in self.candidates[layer]:
                if c.key == choice:
                    return c
        else:
            found = [c for c in self.candidates[layer] if c.bits == choice]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise KeyError(f"{layer} w{choice[0]}a{choice[1]} has {len(found)} folds: give (w_bits, a_bits, fold)")
        raise KeyError(f"{layer} " + "/".join(str(v) for v in choice))

    def with_budgets(self, budgets: Mapping[str, float], **changes) -> "Problem":
        """A copy with other budgets (same candidates, ties, pins, settings unless given in ``changes``)."""
        kw = dict(latency_mode=self.latency_mode, ties=list(self.ties), pins=dict(self.pins), solver=self.solver,
                  time_limit_s=self.time_limit_s, dropped=list(self.dropped), objective=self.objective,
                  clock_mhz=self.clock_mhz, minimize=self.minimize, design=self.design, exclude=list(self.exclude),
                  prune_dominated=self.prune_dominated)
        kw.update(changes)
        return Problem(self.candidates, dict(budgets), **kw)


def did_you_mean(name: str, options: Iterable[str]) -> str:
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
        m = PERCENT.match(str(value))
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


def meta_cost(layer_meta: Mapping | None, layer: str, w: int, a: int) -> dict[str, float | None]:
    """The model-level costs of a candidate: weight bits (params·w) and BOPs (MACs·w·a); None when unknown."""
    meta = (layer_meta or {}).get(layer) or {}
    params, macs = meta.get("params"), meta.get("macs")
    return {"weight_bits": float(params) * w if params is not None else None,
            "bops": float(macs) * w * a if macs is not None else None}


def _ok_cost_rows(costs: Sequence[CostRow]) -> tuple[dict, dict]:
    """(layer, w, a, fold) -> the one ok row; and (layer, w, a) -> the reason of rows that are not ok."""
    ok, bad = {}, {}
    for r in costs:
        key = (r.layer, r.w_bits, r.a_bits, r.fold or "")
        if r.ok:
            if key in ok:
                raise InputError(f"cost table has two ok rows for {r.layer} w{r.w_bits}a{r.a_bits}"
                                 + (f" fold {r.fold}" if r.fold else ""),
                                 "keep one measurement per (layer, w_bits, a_bits, fold)")
            ok[key] = r
        else:
            bad[key[:3]] = f"cost status {r.status}" + (f" ({r.error.strip()[:80]})" if r.error else "")
    return ok, bad


def build_problem(sensitivity: Mapping[tuple[str, int, int], float], costs: Sequence[CostRow], *,
                  budgets: Mapping[str, float] | None = None, layer_order: Sequence[str] | None = None,
                  layer_meta: Mapping | None = None, latency_mode: str = "sequential", ties: Sequence | None = None,
                  pins: Mapping | None = None, objective: str = "kl", solver: str = "cbc",
                  time_limit_s: float = 60.0, clock_mhz: float | None = None, minimize: str | None = None,
                  design=None) -> Problem:
    """Candidates = (layer, w, a, fold) with an ok cost row and (layer, w, a) in ``sensitivity``.

    The rest goes to ``dropped``. Layers are ``layer_order`` when given, else every layer of
    either table (sensitivity order first). A layer left without any candidate raises InputError
    naming it and why. ``design``: the complete design's terms (:class:`~ohq_flow.design.terms.DesignTerms`):
    candidates are then priced in the design (module docstring), and only those the design can build remain.
    """
    view = None
    if design is not None:
        from ohq_flow.solve.design_view import DesignView
        view = DesignView.of(design)
    ok, bad = _ok_cost_rows(costs)
    ok_bits: dict[tuple, list[CostRow]] = {}
    for key, row in ok.items():
        ok_bits.setdefault(key[:3], []).append(row)
    sens_layers = list(dict.fromkeys(k[0] for k in sensitivity))
    cost_layers = list(dict.fromkeys(r.layer for r in costs))
    layers = list(layer_order) if layer_order is not None else list(dict.fromkeys(sens_layers + cost_layers))
    wanted = set(layers)
    dropped: list[DroppedCandidate] = []
    for key in sorted(set(sensitivity) | set(ok_bits) | set(bad)):
        if key[0] not in wanted:
            dropped.append(DroppedCandidate(*key, "layer not in the layer list"))
        elif key in sensitivity and key not in ok_bits:
            dropped.append(DroppedCandidate(*key, bad.get(key, "no row in the cost table")))
        elif key not in sensitivity and key in ok_bits:
            dropped.append(DroppedCandidate(*key, "no row in the sensitivity table"))
    candidates: dict[str, list[Candidate]] = {}
    for layer in layers:
        cands = []
        for (l, w, a), damage in sensitivity.items():
            if l != layer:
                continue
            for row in ok_bits.get((l, w, a), []):
                fold = "" if row.fold == "px1" and view is not None else (row.fold or "")
                cost = {m: getattr(row, m) for m in COST_METRICS}
                cost["fmax_mhz"] = row.fmax_mhz
                if view is not None:
                    from ohq_flow.design.terms import label
                    unary = view.terms.unary.get(l, {}).get(label(w, a, fold))
                    if unary is None:
                        dropped.append(DroppedCandidate(l, w, a, f"fold {fold or 'unrolled'}: not a candidate of the "
                                                                 "complete design"))
                        continue
                    cost = {**dict.fromkeys(COST_METRICS), **view.budget_units(unary), "fmax_mhz": None}
                cost.update(meta_cost(layer_meta, l, w, a))
                cands.append(Candidate(w, a, float(damage), cost, fold))
        if not cands:
            why = [str(d) for d in dropped if d.layer == layer][:6]
            where = ("in neither table" if layer not in sens_layers and layer not in cost_layers
                     else "not in the sensitivity table" if layer not in sens_layers
                     else "not in the cost table" if layer not in cost_layers else "in both tables")
            raise InputError(f"layer {layer} has no candidate left (it is {where})",
                             "each layer needs a (w_bits, a_bits) pair in both tables with cost status ok"
                             + (f"; dropped: {'; '.join(why)}" if why else ""))
        candidates[layer] = sorted(cands, key=lambda c: c.key)
    return Problem(candidates, dict(budgets or {}), latency_mode, list(ties or []), dict(pins or {}),
                   solver, time_limit_s, dropped, objective, clock_mhz, minimize, design=view)
