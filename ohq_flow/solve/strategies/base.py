"""What every selection strategy shares: the allowed candidates, budget loads, the fit check and
the :class:`~ohq_flow.solve.ilp.Solution` a strategy returns.

A strategy never returns an assignment that breaks a budget, a tie or a pin: :func:`finish`
re-checks the chosen candidates and turns a violation into an error (a strategy bug, not a
result). An empty search result becomes an ``infeasible`` Solution with the strategy's reason.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Mapping

from ohq_flow.errors import InputError
from ohq_flow.solve.ilp import Solution, totals_of, within_budgets
from ohq_flow.solve.problem import Candidate, Problem

Choice = dict[str, tuple[int, int, str]]          # layer -> candidate key (w_bits, a_bits, fold)
_TOL = 1e-6


@dataclass
class Reason:
    """Why a heuristic strategy found nothing (stands where the ILP puts a Diagnosis)."""

    strategy: str
    text: str

    def format(self) -> str:
        return f"strategy {self.strategy}: {self.text}"

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "reason": self.text}


def unsupported(strategy: str, problem: Problem, budgets: Mapping[str, float], *, ties: bool = True) -> None:
    """Raise InputError for problem features a heuristic does not handle (the ILP handles them all)."""
    if problem.minimize is not None or "damage" in budgets:
        raise InputError(f"strategy {strategy} minimises the damage only; the reverse problem "
                         f"(minimize={problem.minimize or 'damage'} / a damage bound) needs strategy ilp")
    if not ties and problem.ties:
        raise InputError(f"strategy {strategy} does not support tied layers "
                         f"({', '.join('+'.join(t.layers) for t in problem.ties)})", "use strategy ilp, evolutionary or haq")


def allowed(problem: Problem, budgets: Mapping[str, float]) -> dict[str, list[Candidate]]:
    """Per layer, the candidates a strategy may pick: pins applied and, in dataflow mode, the II cut."""
    ii = budgets.get("ii_cycles") if problem.latency_mode == "dataflow" else None
    out = {}
    for layer, cands in problem.candidates.items():
        if layer in problem.pins:
            cands = [c for c in cands if c.bits == problem.pins[layer]]
        if ii is not None:
            cands = [c for c in cands if c.cost.get("ii_cycles") is not None
                     and c.cost["ii_cycles"] <= ii + _TOL * max(1.0, ii)]
        out[layer] = list(cands)
    return out


def metric_value(problem: Problem, c: Candidate, metric: str) -> float | None:
    """A candidate's own share of a summed metric (latency_ns: cycles at its own capped clock)."""
    if metric == "latency_ns" and problem.clock_model:
        cyc, f = c.cost.get("latency_cycles"), problem.capped_fmax(c)
        return None if cyc is None or not math.isfinite(f) else float(cyc) * 1000.0 / f
    v = c.cost.get(metric)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def load(problem: Problem, budgets: Mapping[str, float], c: Candidate, metrics=None) -> float:
    """Sum over the summed budget metrics of the candidate's cost / budget (its share of the budgets)."""
    total = 0.0
    for m in metrics if metrics is not None else summed_metrics(budgets):
        v = metric_value(problem, c, m)
        total += (v if v is not None else math.inf) / max(budgets[m], 1e-9)
    return total


def summed_metrics(budgets: Mapping[str, float]) -> list[str]:
    return [m for m in budgets if m not in ("ii_cycles", "damage")]


def ties_hold(problem: Problem, choice: Mapping) -> bool:
    """Tied layers share a_bits (and w_bits when the tie says so). ``choice``: layer -> key or (w, a)."""
    for tie in problem.ties:
        vals = {tuple(choice[l][:2]) if tie.same_w_bits else choice[l][1] for l in tie.layers}
        if len(vals) > 1:
            return False
    return True


def violations(problem: Problem, choice: Mapping, budgets: Mapping[str, float]) -> list[str]:
    """What a complete assignment breaks: budget metrics, 'ties', 'pin:<layer>'; [] when it fits."""
    out = [] if ties_hold(problem, choice) else ["ties"]
    out += [f"pin:{l}" for l, wa in problem.pins.items() if tuple(choice[l][:2]) != tuple(wa)]
    return out + within_budgets(problem, totals_of(problem, choice), budgets)


def fits(problem: Problem, choice: Mapping, budgets: Mapping[str, float]) -> bool:
    return not violations(problem, choice, budgets)


def finish(problem: Problem, budgets: Mapping[str, float], choice: Choice | None, *, strategy: str, started: float,
           reason: str = "", status: str = "feasible", info: dict | None = None) -> Solution:
    """The Solution of a strategy's choice (re-checked: never over budget), or infeasible with ``reason``."""
    common = dict(solve_time_s=time.perf_counter() - started, solver=strategy, budgets=dict(budgets),
                  objective_name=problem.objective, latency_mode=problem.latency_mode, dropped=list(problem.dropped),
                  minimize=problem.minimize, clock_mhz=problem.clock_mhz)
    if choice:
        bad = violations(problem, choice, budgets)
        if bad:
            raise AssertionError(f"strategy {strategy} returned an assignment that breaks {', '.join(bad)}")
        totals = totals_of(problem, choice)
        sol = Solution(status, totals[problem.minimize or "damage"], {l: (k[0], k[1]) for l, k in choice.items()},
                       totals, folds={l: k[2] for l, k in choice.items()}, **common)
    else:
        sol = Solution("infeasible", None, {}, {}, diagnosis=Reason(strategy, reason or "no assignment found within the budgets"),
                       **common)
    sol.strategy_info = dict(info or {})
    return sol


def tie_compatible(problem: Problem, layer: str, cands: list[Candidate], partial: Mapping) -> list[Candidate]:
    """The candidates of ``layer`` that keep its ties with the layers already in ``partial``."""
    out = cands
    for tie in problem.ties:
        if layer not in tie.layers:
            continue
        for other in tie.layers:
            if other != layer and other in partial:
                k = partial[other]
                out = [c for c in out if (c.bits == tuple(k[:2]) if tie.same_w_bits else c.a_bits == k[1])]
    return out


def score_of(problem: Problem, score, choice: Mapping) -> float:
    """``score({layer: (w, a)})`` (to maximise), or minus the summed damage when ``score`` is None."""
    if score is None:
        return -sum(problem.candidate(l, k).damage for l, k in choice.items())
    return float(score({l: tuple(k[:2]) for l, k in choice.items()}))


def impossible(problem: Problem, cands: Mapping[str, list[Candidate]], budgets: Mapping[str, float]) -> str:
    """Why no assignment can fit, from per-layer minima ('' when that bound does not rule it out)."""
    if any(not cs for cs in cands.values()):
        return "a layer has no candidate within the ii_cycles budget or its pin"
    for m in summed_metrics(budgets):
        if m == "latency_ns" and problem.clock_model:
            continue                                   # the design clock is not a per-layer sum
        vals = [[metric_value(problem, c, m) for c in cs] for cs in cands.values()]
        if all(v is not None for vs in vals for v in vs):
            floor = sum(min(vs) for vs in vals)
            if floor > budgets[m] * (1 + _TOL) + _TOL:
                return f"even the cheapest candidate of every layer needs {m} {floor:,.6g} > budget {budgets[m]:,.6g}"
    return ""
