"""Building an ILP :class:`Problem` from the sensitivity and cost tables (CSV)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_text
from ohq_flow.hw.costs import CostRow
from ohq_flow.solve.ilp import METRICS, Candidate, ParetoPoint, Problem, assignment_text

SENSITIVITY_REQUIRED = ("layer", "w_bits", "a_bits", "kl")


def read_sensitivity(path: str | Path, objective: str = "kl", mode: str = "joint") -> dict[tuple[str, int, int], float]:
    """(layer, w_bits, a_bits) -> damage from sensitivity.csv (rows of ``mode`` when a mode column exists)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"sensitivity table {path} does not exist", "run `ohq-flow run CONFIG --to sensitivity` first")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        missing = [c for c in SENSITIVITY_REQUIRED if c not in cols] + ([objective] if objective not in cols else [])
        if missing:
            raise InputError(f"{path}: missing column(s) {sorted(set(missing))}",
                             "the header needs layer,w_bits,a_bits,kl (as written by the sensitivity step)")
        out = {}
        for i, row in enumerate(reader, start=2):
            if "mode" in cols and row.get("mode") and row["mode"] != mode:
                continue
            try:
                key = (row["layer"], int(float(row["w_bits"])), int(float(row["a_bits"])))
                value = float(row[objective])
            except (TypeError, ValueError):
                raise InputError(f"{path}:{i}: bad value in layer/w_bits/a_bits/{objective}: {row}") from None
            if math.isnan(value):
                raise InputError(f"{path}:{i}: {objective} is NaN for {key}", "re-run the sensitivity step")
            out[key] = value
    return out


def _meta_costs(layer_meta: dict | None, layer: str, w: int, a: int) -> dict[str, float | None]:
    meta = (layer_meta or {}).get(layer, {})
    params, macs = meta.get("params"), meta.get("macs")
    weights = meta.get("weights", params)
    return {"weight_bits": float(weights * w) if weights is not None else None,
            "bops": float(macs * w * a) if macs is not None else None}


def build_problem(sensitivity: dict[tuple[str, int, int], float], costs: list[CostRow], *, budgets: dict[str, float],
                  layer_order: list[str] | None = None, layer_meta: dict | None = None, latency_mode: str = "sequential",
                  ties: list[list[str]] | None = None, pins: dict[str, tuple[int, int]] | None = None,
                  solver: str = "cbc", time_limit_s: float = 60.0) -> Problem:
    """Candidates = (layer, w, a) present in both tables with an ok cost row."""
    by_key = {}
    failed = []
    for r in costs:
        if r.ok:
            by_key[(r.layer, r.w_bits, r.a_bits)] = r
        else:
            failed.append(f"{r.layer} w{r.w_bits}a{r.a_bits} ({r.status})")
    layers = layer_order or list(dict.fromkeys(k[0] for k in sensitivity))
    candidates, dropped = {}, []
    for layer in layers:
        cands = []
        for (l, w, a), damage in sensitivity.items():
            if l != layer:
                continue
            row = by_key.get((l, w, a))
            if row is None:
                dropped.append(f"{l} w{w}a{a}: no ok cost row")
                continue
            cost = {m: getattr(row, m) for m in METRICS if hasattr(row, m)}
            cost.update(_meta_costs(layer_meta, l, w, a))
            cands.append(Candidate(w, a, damage, cost))
        if not cands:
            raise InputError(f"layer {layer} has no candidate present in both the sensitivity and the cost table",
                             "check both tables name the layer and share (w_bits, a_bits) pairs; failed cost rows: "
                             + (", ".join(f for f in failed if f.startswith(layer + " ")) or "none"))
        candidates[layer] = sorted(cands, key=lambda c: (c.w_bits, c.a_bits))
    return Problem(candidates, budgets, latency_mode, ties or [], pins or {}, solver, time_limit_s, dropped)


def write_pareto_csv(points: list[ParetoPoint], path: str | Path) -> None:
    """pareto.csv: kind,label,budget_metric,budget,status,objective,<metrics>,assignment."""
    cols = ["kind", "label", "budget_metric", "budget", "status", "objective", *METRICS, "assignment"]
    lines = [",".join(cols)]
    for p in points:
        vals = [p.kind, p.label, p.budget_metric, "" if p.budget is None else f"{p.budget:.6g}", p.status,
                "" if p.objective is None else f"{p.objective:.8g}"]
        vals += ["" if p.totals.get(m) is None else f"{p.totals[m]:.8g}" for m in METRICS]
        vals.append(assignment_text(p.assignment))
        lines.append(",".join(f'"{v}"' if "," in v else v for v in vals))
    atomic_write_text(path, "\n".join(lines) + "\n")
