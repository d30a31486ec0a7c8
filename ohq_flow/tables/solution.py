"""``solution.json``: the chosen bit-widths and what they cost (:class:`Solution`), its one writer
(:func:`write_solution`, the solve step) and its one reader (:func:`read_solution`, every later step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_json


@dataclass
class Solution:
    """The chosen bit-widths and what they cost."""

    status: str
    objective: float | None
    assignment: dict[str, tuple[int, int]]
    totals: dict[str, float]
    solve_time_s: float
    solver: str
    budgets: dict[str, float] = field(default_factory=dict)
    diagnosis: object | None = None          # ohq_flow.solve.diagnose.Diagnosis when infeasible
    objective_name: str = "kl"
    latency_mode: str = "sequential"
    dropped: list = field(default_factory=list)
    folds: dict[str, str] = field(default_factory=dict)     # layer -> fold label of the chosen candidate
    minimize: str | None = None                              # None: objective is the damage; else that metric
    clock_mhz: float | None = None                           # the cap given (the design clock is in totals)

    @property
    def feasible(self) -> bool:
        return bool(self.assignment)

    def choices(self) -> dict[str, tuple[int, int, str]]:
        """layer -> (w_bits, a_bits, fold)."""
        return {l: (w, a, self.folds.get(l, "")) for l, (w, a) in self.assignment.items()}

    def to_json_dict(self) -> dict:
        d = {"status": self.status, "objective": self.objective,
             "assignment": {k: {"w_bits": w, "a_bits": a, "fold": f} for k, (w, a, f) in self.choices().items()},
             "totals": dict(self.totals), "budgets": dict(self.budgets), "objective_name": self.objective_name,
             "minimize": self.minimize or "damage", "clock_mhz_cap": self.clock_mhz,
             "latency_mode": self.latency_mode, "solver": self.solver, "solve_time_s": round(self.solve_time_s, 4),
             "dropped": [str(x) for x in self.dropped]}
        if self.diagnosis is not None:
            d["diagnosis"] = self.diagnosis.to_dict()
        return d


def write_solution(path: str | Path, solution: Solution, **fields) -> Path:
    """``solution.json``: the solution's record plus ``fields`` (strategy, seed, strategy_info ...)."""
    return atomic_write_json(path, {**solution.to_json_dict(), **fields})


def read_solution(path: str | Path) -> dict:
    """The record of ``solution.json``; InputError naming the field when it is missing or impossible."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist", "run the solve step first")
    try:
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}", "run the solve step again") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("status"), str) or not isinstance(doc.get("assignment"), dict):
        raise InputError(f"{path}: needs 'status' (text) and 'assignment' (an object)", "run the solve step again")
    for layer, v in doc["assignment"].items():
        bits = [v.get(k) if isinstance(v, dict) else None for k in ("w_bits", "a_bits")]
        if not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in bits):
            raise InputError(f"{path}: assignment of {layer} needs integer w_bits and a_bits >= 1, got {v!r}",
                             "run the solve step again")
    return doc
