"""The ILP model (PuLP) behind :func:`ohq_flow.solve.ilp.solve` and :func:`ohq_flow.solve.diagnose.diagnose`:
totals of an assignment, the budget check, dominated-candidate pruning, the model and its solver
loop over clock levels (see :mod:`ohq_flow.solve.ilp` for the formulation)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import pulp

from ohq_flow.errors import InputError
from ohq_flow.solve.problem import METRICS, Candidate, Problem

TOL = 1e-6


# ----------------------------------------------------------------------------- totals
def totals_of(problem: Problem, assignment: Mapping) -> dict[str, float]:
    """Totals of an assignment for every metric all chosen candidates have, plus ``damage``.

    ``assignment``: layer -> (w, a), (w, a, fold) or Candidate. Sums, except ``ii_cycles`` in
    dataflow mode: the largest layer II (the pipeline's II; not reported in sequential mode).
    With a clock model: ``clock_mhz`` (the design clock) and ``latency_ns`` = cycles·1000/clock.
    With the complete design (``problem.design``): its resources (budget units; ``synth_*`` the synthesised
    counts) and the streamed pipeline's exact ``latency_cycles`` / ``ii_cycles``.
    """
    chosen = [problem.candidate(layer, v) for layer, v in assignment.items()]
    if problem.design is not None:
        return _design_totals(problem, dict(zip(assignment, chosen)))
    out: dict[str, float] = {}
    for metric in METRICS:
        if metric == "ii_cycles" and problem.latency_mode != "dataflow":
            continue
        if metric == "latency_ns" and problem.clock_model:
            clock = problem.design_clock(chosen)
            if clock is not None and "latency_cycles" in out:
                out["clock_mhz"] = clock
                out["latency_ns"] = out["latency_cycles"] * 1000.0 / clock
            continue
        vals = [c.cost.get(metric) for c in chosen]
        if vals and all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in vals):
            out[metric] = float(max(vals) if metric == "ii_cycles" else sum(vals))
    out["damage"] = float(sum(c.damage for c in chosen))
    return out


def _design_totals(problem: Problem, chosen: dict) -> dict[str, float]:
    view = problem.design
    out = {m: round(v, 3) for m, v in view.resources(chosen).items()}
    for m in ("uram",):
        vals = [c.cost.get(m) for c in chosen.values()]
        if all(v is not None for v in vals):
            out[m] = float(sum(vals))
    lat, ii = view.timing(chosen)
    out["latency_cycles"], out["ii_cycles"] = float(lat), float(ii)
    if problem.clock_mhz is not None:
        out["clock_mhz"] = problem.clock_mhz
        out["latency_ns"] = lat * 1000.0 / problem.clock_mhz
    for m in ("weight_bits", "bops"):
        vals = [c.cost.get(m) for c in chosen.values()]
        if vals and all(v is not None for v in vals):
            out[m] = float(sum(vals))
    if view.calibrated:
        out.update({f"synth_{m}": round(v, 1) for m, v in view.synth(chosen).items()})
    out["damage"] = float(sum(c.damage for c in chosen.values()))
    return out


def within_budgets(problem: Problem, totals: Mapping[str, float], budgets: Mapping[str, float] | None = None) -> list[str]:
    """The budgeted metrics an assignment's totals exceed (tolerance 1e-6 relative); [] if none."""
    budgets = problem.budgets if budgets is None else budgets
    return [m for m, v in budgets.items() if m not in totals or totals[m] > v + TOL * max(1.0, abs(v))]


# ----------------------------------------------------------------------------- model
LATENCY = ("latency_cycles", "latency_ns")


def _coef(c: Candidate, key: str) -> float:
    return float(c.damage) if key == "damage" else float(c.cost[key])


def _pair_keys(problem: Problem, layer: str, c: Candidate) -> tuple:
    """The keys of the pairwise terms a candidate takes part in (candidates differing there are not comparable)."""
    view = problem.design
    return tuple(view.part_key(p.p1 if p.l1 == layer else p.p2, c) for p in view.pairs if layer in (p.l1, p.l2))


def _with_timing(problem: Problem, layer: str, c: Candidate) -> Candidate:
    """``c`` with its timing keys for dominance: the delay it adds (a kernel's latency, a fold's cycles) and its
    cycles per beat (1 unrolled) — both no worse means no worse in every timing bound."""
    from ohq_flow.design.terms import label
    k = problem.design.terms.timing["kernel"][layer][label(c.w_bits, c.a_bits, c.fold)]
    t = (k["cycles"] + k.get("drain", 1), k["cycles"]) if "cycles" in k else (k["lat"], 1)
    return replace(c, cost={**c.cost, "_t_delay": float(t[0]), "_t_spread": float(t[1])})


def _tie_class(problem: Problem, layer: str):
    """Which bits a layer must share with its tie partners: None, 'a' or 'wa'."""
    kinds = [t.same_w_bits for t in problem.ties if layer in t.layers]
    return None if not kinds else ("wa" if any(kinds) else "a")


def _class_of(c: Candidate, kind) -> object:
    return None if kind is None else (c.bits if kind == "wa" else c.a_bits)


def _non_dominated(k: np.ndarray) -> list[int]:
    """Rows of ``k`` not dominated by another row (no worse everywhere; equal rows: the first wins)."""
    n = k.shape[0]
    if n <= 1:
        return list(range(n))
    le = np.all(k[:, None, :] <= k[None, :, :], axis=2)      # le[j, i]: row j no worse than row i
    lt = np.any(k[:, None, :] < k[None, :, :], axis=2)
    earlier = np.tri(n, k=-1, dtype=bool).T                    # earlier[j, i]: j < i
    dominated = np.any(le & (lt | earlier), axis=0)
    return [i for i in range(n) if not dominated[i]]


def _needs_clock_loop(problem: Problem, budgets: Mapping[str, float], objective: str | None) -> bool:
    return problem.design is None and problem.clock_model and ("latency_ns" in budgets or objective == "latency_ns")


def clock_levels(problem: Problem, budgets: Mapping[str, float], objective: str | None) -> list[float | None]:
    """The design clocks to try, fastest first: [None] when the clock does not enter the model."""
    if not _needs_clock_loop(problem, budgets, objective):
        return [None]
    levels = {problem.capped_fmax(c) for cs in problem.candidates.values() for c in cs}
    return sorted((f for f in levels if math.isfinite(f)), reverse=True)


def _active(problem: Problem, budgets: Mapping[str, float], objective: str | None,
            clock: float | None = None) -> dict[str, list[Candidate]]:
    """Per layer, the candidates the model needs: pins applied, dataflow II cut, clock level applied
    (fmax >= clock, latency_ns priced at that clock), dominated ones left out."""
    keys = ([objective] if objective is not None else []) + [m for m in budgets if m != "ii_cycles" and m != objective]
    ii_limit = budgets.get("ii_cycles") if problem.latency_mode == "dataflow" and problem.design is None else None
    if problem.design is not None:       # timing: a candidate's kernel latency / fold cycles; pairs: group by their keys
        timed = any(m in LATENCY for m in keys) or "ii_cycles" in budgets or objective == "ii_cycles"
        keys = [k for k in keys if k not in LATENCY and k != "ii_cycles"] + (["_t_delay", "_t_spread"] if timed else [])
    out = {}
    for layer, cands in problem.candidates.items():
        if layer in problem.pins:
            cands = [c for c in cands if c.bits == problem.pins[layer]]
        if ii_limit is not None:
            cands = [c for c in cands if c.cost["ii_cycles"] <= ii_limit + TOL * max(1.0, ii_limit)]
        if clock is not None:
            cands = [replace(c, cost={**c.cost, "latency_ns": float(c.cost["latency_cycles"]) * 1000.0 / clock})
                     for c in cands if problem.capped_fmax(c) >= clock * (1 - 1e-12)]
        cands = sorted(cands, key=lambda c: -problem.capped_fmax(c))   # equal rows: the faster clock wins
        kind = _tie_class(problem, layer)
        group_of = (lambda c: (_class_of(c, kind), _pair_keys(problem, layer, c))) if problem.design is not None \
            else (lambda c: _class_of(c, kind))
        if problem.design is not None:
            cands = [_with_timing(problem, layer, c) for c in cands]
        kept = []
        for cls in dict.fromkeys(group_of(c) for c in cands):
            group = [c for c in cands if group_of(c) == cls]
            table = np.array([[_coef(c, k) for k in keys] for c in group], dtype=float).reshape(len(group), len(keys))
            kept += [group[i] for i in (_non_dominated(table) if problem.prune_dominated else range(len(group)))]
        out[layer] = sorted(kept, key=lambda c: c.key)
    return out


@dataclass
class _Model:
    lp: pulp.LpProblem
    x: dict[tuple[str, int], pulp.LpVariable]
    active: dict[str, list[Candidate]]


def build_model(problem: Problem, budgets: Mapping[str, float] | None = None,
                objective: str | None = "damage", clock: float | None = None) -> _Model:
    """The PuLP model at one clock level. ``objective``: "damage", a metric to minimise, or None (feasibility)."""
    budgets = problem.budgets if budgets is None else budgets
    active = _active(problem, budgets, objective, clock)
    lp = pulp.LpProblem("ohq_bits", pulp.LpMinimize)
    x = {}
    for layer, cands in active.items():
        for i in range(len(cands)):
            x[layer, i] = pulp.LpVariable(f"x{len(x)}", cat="Binary")
        if cands:                                     # a layer left empty makes run_model report infeasible
            lp += pulp.lpSum(x[layer, i] for i in range(len(cands))) == 1
    for tie in problem.ties:
        kind = "wa" if tie.same_w_bits else "a"
        classes = sorted({_class_of(c, kind) for l in tie.layers for c in active[l]})
        first = tie.layers[0]
        for other in tie.layers[1:]:
            for cls in classes:
                lp += (pulp.lpSum(x[first, i] for i, c in enumerate(active[first]) if _class_of(c, kind) == cls)
                       == pulp.lpSum(x[other, i] for i, c in enumerate(active[other]) if _class_of(c, kind) == cls))
    for asg in problem.exclude:                       # no-good cuts: assignments already tried (and rejected)
        # a (w, a, fold) value cuts that candidate; a (w, a) value cuts every fold of those bits
        idx = {l: [i for i, c in enumerate(active.get(l, [])) if (c.key if len(v) == 3 else c.bits) == tuple(v)]
               for l, v in asg.items()}
        if asg and all(idx.values()):
            lp += pulp.lpSum(x[l, i] for l, ii in idx.items() for i in ii) <= len(asg) - 1
    if problem.design is not None:
        target = _design_model(lp, problem, active, x, budgets, objective)
        if target is not None:
            lp += target
            return _Model(lp, x, active)
        if objective == "damage":
            lp += pulp.lpSum(_coef(c, "damage") * x[l, i] for l, cands in active.items() for i, c in enumerate(cands))
        return _Model(lp, x, active)
    for metric, limit in budgets.items():
        if metric == "ii_cycles":
            continue                                  # dataflow: handled by _active
        lp += pulp.lpSum(_coef(c, metric) * x[l, i] for l, cands in active.items()
                         for i, c in enumerate(cands)) <= limit, f"budget_{metric}"
    if objective == "ii_cycles":                      # min over assignments of the largest layer II
        z = pulp.LpVariable("z_ii", lowBound=0)
        for l, cands in active.items():
            lp += z >= pulp.lpSum(_coef(c, "ii_cycles") * x[l, i] for i, c in enumerate(cands))
        lp += z
    elif objective is not None:
        lp += pulp.lpSum(_coef(c, objective) * x[l, i] for l, cands in active.items() for i, c in enumerate(cands))
    return _Model(lp, x, active)


def _design_model(lp, problem: Problem, active: dict, x: dict, budgets: Mapping[str, float], objective: str | None):
    """The complete design's constraints (resources with pairwise terms and the constant; the pipeline's latency as
    a longest path over the stage skeleton; II as the largest stage occupancy); returns the objective expression of a
    design metric or a summed metric, None for the damage (set by the caller) or no objective."""
    view = problem.design
    exprs: dict[str, object] = {}

    def resource(metric: str):
        if metric not in exprs:
            e = pulp.lpSum(_coef(c, metric) * x[l, i] for l, cands in active.items() for i, c in enumerate(cands))
            exprs[metric] = e + view.constant.get(metric, 0.0) + pulp.lpSum(
                v.get(metric, 0.0) * y for y, v in pair_vars if v.get(metric, 0.0))
        return exprs[metric]

    pair_vars: list = []
    wanted = set(budgets) | ({objective} if objective else set())
    if wanted & {"lut", "ff", "dsp", "bram18"}:
        for j, p in enumerate(view.pairs):
            u = {}
            for side, layer, part in ((0, p.l1, p.p1), (1, p.l2, p.p2)):
                for i, c in enumerate(active[layer]):
                    u.setdefault((side, view.part_key(part, c)), []).append(x[layer, i])
            for (k1, k2), cost in p.cost.items():
                if (0, k1) not in u or (1, k2) not in u or not any(cost.values()):
                    continue
                y = pulp.LpVariable(f"y{j}_{len(pair_vars)}", lowBound=0, upBound=1)
                lp += y >= pulp.lpSum(u[0, k1]) + pulp.lpSum(u[1, k2]) - 1
                pair_vars.append((y, cost))
    lat = None
    if wanted & {"latency_cycles", "latency_ns", "ii_cycles"}:
        lat, ii = _pipeline(lp, view, active, x)
        exprs["latency_cycles"], exprs["ii_cycles"] = lat, ii
        if problem.clock_mhz is not None:
            exprs["latency_ns"] = (1000.0 / problem.clock_mhz) * lat
    for metric, limit in budgets.items():
        if metric in ("lut", "ff", "dsp", "bram18"):
            lp += resource(metric) <= limit, f"budget_{metric}"
        elif metric in exprs:
            lp += exprs[metric] <= limit, f"budget_{metric}"
        else:
            lp += pulp.lpSum(_coef(c, metric) * x[l, i] for l, cands in active.items()
                             for i, c in enumerate(cands)) <= limit, f"budget_{metric}"
    if objective in ("lut", "ff", "dsp", "bram18"):
        return resource(objective)
    if objective in exprs:
        return exprs[objective]
    if objective is not None and objective != "damage":
        return pulp.lpSum(_coef(c, objective) * x[l, i] for l, cands in active.items() for i, c in enumerate(cands))
    return None


def _pipeline(lp, view, active: dict, x: dict):
    """(latency bound, II) expressions: first/last beat times of every stream (the longest-path bound of
    :func:`ohq_flow.design.timing.bound_terms`) and the largest stage occupancy."""
    stages = view.stage_bounds(active)
    t = view.terms.timing
    first = {0: 0.0}
    last = {0: float(t["in_beats"] - 1)}
    ii = pulp.LpVariable("z_ii", lowBound=float(t["in_beats"]))
    n = [0]

    def term(st, key):
        if "const" in st:
            v = st["const"][key]
            return None if v is None else float(v)
        vals = [(st["by_cand"][c.key][key], x[st["layer"], i]) for i, c in enumerate(active[st["layer"]])]
        if any(v is None for v, _ in vals):
            return None
        return pulp.lpSum(float(v) * xv for v, xv in vals)

    def var(prefix):
        n[0] += 1
        return pulp.LpVariable(f"{prefix}{n[0]}", lowBound=0)

    for st in stages:
        f, g, lff, sp = (term(st, k) for k in ("first", "last", "last_from_first", "spread"))
        occ = st["occ"] if "const" in st else pulp.lpSum(float(st["by_cand"][c.key]["occ"]) * x[st["layer"], i]
                                                          for i, c in enumerate(active[st["layer"]]))
        lp += ii >= occ
        a_out, e_out = var("A"), var("E")
        for src in st["src"]:
            lp += a_out >= first[src] + f
            if g is not None:
                lp += e_out >= last[src] + g
            if lff is not None:
                lp += e_out >= first[src] + lff
        lp += e_out >= a_out + sp
        for d in st["dst"]:
            first[d], last[d] = a_out, e_out
    return last[t["out_sid"]], ii


def make_solver(name: str, time_limit_s: float, preprocess: bool = False):
    """PuLP solver: "cbc" (bundled) or "highs" (needs highspy); both asked for a proven optimum.

    CBC 2.10.3's Cgl preprocessing wrongly fixed a variable and reported a worse design as
    optimal (tests/solve/test_latency.py::test_cbc_preprocessing_regression), so it is off; that
    build then crashes on problems its presolve finds infeasible, and :func:`run_model` retries
    those with preprocessing on (which reports them infeasible).
    """
    if name == "cbc":
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=0.0, gapAbs=1e-9,
                                 options=[] if preprocess else ["preprocess off"])
    if name == "highs":
        solver = pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=0.0, gapAbs=1e-9)
        if not solver.available():
            raise InputError("solver 'highs' is not available: the highspy package is not installed",
                             "pip install highspy, or use solver cbc")
        return solver
    raise InputError(f"solver '{name}' unknown", "one of: cbc, highs")


def run_model(problem: Problem, budgets: Mapping[str, float] | None = None, objective: str | None = "damage"
              ) -> tuple[str, dict[str, tuple[int, int, str]], float]:
    """Solve (over every clock level when the clock matters); returns (status, layer -> (w, a, fold) or {},
    seconds). Any assignment is re-checked against the budgets with its real design clock."""
    budgets = problem.budgets if budgets is None else budgets
    t0 = time.perf_counter()
    best, best_value, statuses = {}, math.inf, []
    for clock in clock_levels(problem, budgets, objective):
        left = problem.time_limit_s - (time.perf_counter() - t0)
        status, asg = _run_level(problem, budgets, objective, clock, max(1.0, left))
        statuses.append(status)
        if not asg:
            continue
        value = 0.0 if objective is None else totals_of(problem, asg)[objective]
        if value < best_value - TOL * max(1.0, abs(best_value) if math.isfinite(best_value) else 1.0):
            best, best_value = asg, value
        if objective is None:
            break                                     # feasibility: any assignment will do
    elapsed = time.perf_counter() - t0
    if best:
        exact = all(s in ("optimal", "infeasible") for s in statuses)
        return ("optimal" if exact else "time_limit_feasible"), best, elapsed
    if all(s == "infeasible" for s in statuses):      # also: no clock level at all
        return "infeasible", {}, elapsed
    if "time_limit_no_solution" in statuses:
        return "time_limit_no_solution", {}, elapsed
    return "not_solved", {}, elapsed


MAX_CUTS = 200          # exactness cuts per clock level (complete design: assignments the timing bound let through)


def _run_level(problem: Problem, budgets: Mapping[str, float], objective: str | None, clock: float | None,
               time_limit_s: float) -> tuple[str, dict[str, tuple[int, int, str]]]:
    """Solve one clock level. With the complete design, the pipeline's latency in the model is a bound; every
    solution is checked with the exact cycle model, and one that breaks a budget (or whose exact objective is above
    the bound) is cut off and the model solved again — the answer is exact."""
    t0 = time.perf_counter()
    model = build_model(problem, budgets, objective, clock)
    if any(not cands for cands in model.active.values()):    # e.g. a pinned layer over the II budget
        return "infeasible", {}
    best, best_value, proven = {}, math.inf, True
    for _ in range(MAX_CUTS + 1):
        left = max(1.0, time_limit_s - (time.perf_counter() - t0))
        try:
            model.lp.solve(make_solver(problem.solver, left))
        except pulp.PulpSolverError:
            if problem.solver != "cbc":
                raise
            model.lp.solve(make_solver("cbc", left, preprocess=True))
        st, sst = model.lp.status, model.lp.sol_status
        chosen = _read(model) if sst in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible) else {}
        proven = proven and sst == pulp.LpSolutionOptimal
        if not chosen:
            break
        totals = totals_of(problem, {l: c.key for l, c in chosen.items()})
        bad = within_budgets(problem, totals, budgets)
        exact = 0.0 if objective is None else totals.get(objective)
        if not bad:
            if exact < best_value:
                best, best_value = {l: c.key for l, c in chosen.items()}, exact
            bound = pulp.value(model.lp.objective) if objective is not None else exact
            if problem.design is None or objective is None or exact <= (bound or 0.0) + TOL * max(1.0, abs(exact)):
                return ("optimal" if proven else "time_limit_feasible"), best
        if problem.design is None:
            break
        picked = pulp.lpSum(model.x[l, model.active[l].index(c)] for l, c in chosen.items())
        if bad:                                              # the exact design breaks a budget: cut it off
            model.lp += picked <= len(chosen) - 1
        else:                                                # its exact objective is above the bound: say so
            model.lp += model.lp.objective >= exact - exact * (len(chosen) - picked)
        if time.perf_counter() - t0 >= 0.95 * time_limit_s:
            proven = False
            break
    else:
        proven = False
    if best:
        return ("optimal" if proven else "time_limit_feasible"), best
    st, sst = model.lp.status, model.lp.sol_status
    if st == pulp.LpStatusInfeasible or sst == pulp.LpSolutionInfeasible:
        return "infeasible", {}
    if time.perf_counter() - t0 >= 0.95 * time_limit_s or not proven:
        return "time_limit_no_solution", {}
    return "not_solved", {}


def _read(model: _Model) -> dict[str, Candidate]:
    """The candidates the solver chose ({} when a layer has none or several)."""
    out = {}
    for layer, cands in model.active.items():
        on = [c for i, c in enumerate(cands) if (model.x[layer, i].value() or 0.0) > 0.5]
        if len(on) != 1:
            return {}
        out[layer] = on[0]
    return out
