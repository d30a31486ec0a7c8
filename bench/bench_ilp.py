"""ILP solve time: 200 layers x 49 candidates with three budgets, and scaling 10..500 layers.

Random tables: w, a in {2..8}; LUT ~ size·w·a and FF ~ size·(w+a) with ±10 % noise, latency
rising slightly with bits, DSP used when w·a > 36; sensitivity decreasing with bits (2^-w + 2^-a,
±20 % noise). Budgets sit between each metric's minimum and maximum achievable total
— set A: LUT at 30 %, latency at 50 %, DSP at 30 % of the way (LUT binds); set B: LUT 60 %,
latency 30 %, DSP 3 % (latency and DSP bind). CBC (bundled with PuLP), 120 s time limit; the
time includes building the PuLP model. ``kept`` = binaries left after dominance pruning;
``binding`` = budgets the solution uses to >= 99.9 %. The last rows switch pruning off.

    python -m bench.bench_ilp
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from pathlib import Path

import numpy as np
import pulp

from bench.run_all import cpu_model
from ohq_flow.fileio import atomic_write_json
from ohq_flow.solve import ilp, milp
from ohq_flow.solve.problem import Candidate, Problem

BITS = range(2, 9)
BUDGET_SETS = {"A": {"lut": 0.3, "latency_cycles": 0.5, "dsp": 0.3},
               "B": {"lut": 0.6, "latency_cycles": 0.3, "dsp": 0.03}}
TIME_LIMIT_S = 120.0


def instance(n_layers: int, seed: int = 0) -> Problem:
    """Random problem without budgets (see module docstring)."""
    rng = np.random.default_rng(seed)
    cands = {}
    for layer in range(n_layers):
        size = int(rng.integers(64, 4096))
        sens = rng.uniform(0.1, 2.0)
        cs = []
        for w in BITS:
            for a in BITS:
                cost = {"lut": round(size * w * a / 16 * rng.uniform(0.9, 1.1)),
                        "ff": round(size * (w + a) / 8 * rng.uniform(0.9, 1.1)),
                        "latency_cycles": float(2 + np.ceil(np.log2(size)) + (w + a) // 4),
                        "dsp": float(size // 256) if w * a > 36 else 0.0}
                cs.append(Candidate(w, a, sens * (2.0 ** -w + 2.0 ** -a) * rng.uniform(0.8, 1.2),
                                    {k: float(v) for k, v in cost.items()}))
        cands[f"L{layer}"] = cs
    return Problem(cands, time_limit_s=TIME_LIMIT_S)


def budgets_for(p: Problem, metrics: list[str], fraction: dict[str, float]) -> dict[str, float]:
    out = {}
    for m in metrics:
        lo = sum(min(c.cost[m] for c in cs) for cs in p.candidates.values())
        hi = sum(max(c.cost[m] for c in cs) for cs in p.candidates.values())
        out[m] = lo + fraction[m] * (hi - lo)
    return out


def timed(n_layers: int, n_budgets: int, solver: str = "cbc", budget_set: str = "A", prune: bool = True) -> dict:
    base = instance(n_layers)
    metrics = ["lut", "latency_cycles", "dsp"][:n_budgets]
    p = Problem(base.candidates, budgets_for(base, metrics, BUDGET_SETS[budget_set]), solver=solver,
                time_limit_s=TIME_LIMIT_S, prune_dominated=prune)
    kept = sum(len(v) for v in milp._active(p, p.budgets, "damage").values())
    t0 = time.perf_counter()
    sol = ilp.solve(p, diagnose=False)
    seconds = time.perf_counter() - t0
    binding = [m for m in metrics if sol.totals and sol.totals[m] >= 0.999 * p.budgets[m]]
    return {"layers": n_layers, "candidates": 49, "budgets": "+".join(metrics), "set": budget_set, "solver": solver,
            "pruned": prune, "kept_binaries": kept, "status": sol.status, "binding": "+".join(binding) or "-",
            "objective": sol.objective, "seconds": round(seconds, 3)}


def main() -> None:
    rows = [timed(200, 3), timed(200, 3, budget_set="B")]
    if pulp.HiGHS(msg=False).available():
        rows += [timed(200, 3, "highs"), timed(200, 3, "highs", budget_set="B")]
    for n in (10, 50, 100, 200, 500):
        rows += [timed(n, 1), timed(n, 3), timed(n, 3, budget_set="B")]
    rows += [timed(n, 3, budget_set=s, prune=False) for n in (100, 500) for s in "AB"]
    print("| layers | cand./layer | budgets | set | solver | pruned | binaries | status | binding | time (s) |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['layers']} | {r['candidates']} | {r['budgets']} | {r['set']} | {r['solver']} | "
              f"{'yes' if r['pruned'] else 'no'} | {r['kept_binaries']} | {r['status']} | {r['binding']} | {r['seconds']} |")
    print(f"\nHeadline: 200 layers x 49 candidates, budgets on LUT, latency and DSP. Time = model build + solve, "
          f"{TIME_LIMIT_S:.0f} s limit; 'time_limit_feasible' means the limit cut the search (assignment feasible, "
          f"optimality not proven). Dominated candidates are pruned before the ILP unless 'pruned' says no.")
    atomic_write_json(Path(__file__).resolve().parents[1] / "docs" / "bench_ilp.json",
                      {"benchmark": "bench/bench_ilp.py", "date": dt.datetime.now().isoformat(timespec="seconds"),
                       "nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
                       "pulp": pulp.__version__, "time_limit_s": TIME_LIMIT_S,
                       "budget_sets_fraction_of_range": BUDGET_SETS, "rows": rows})


if __name__ == "__main__":
    main()
