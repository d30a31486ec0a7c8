"""ILP solve time: 200 layers x 49 candidates with three budgets, and scaling 10..500 layers.

Random but realistic tables: w, a in {2..8}; LUT ~ MACs·w·a with noise, latency decreasing
slightly with bits, DSP for w·a > 36; sensitivity decreasing with bits. CBC (bundled with PuLP).

    python -m bench.bench_ilp
"""

from __future__ import annotations

import datetime as dt
import os
import time

import numpy as np

from ohq_flow.solve.ilp import Candidate, Problem, solve


def instance(n_layers: int, seed: int = 0) -> tuple[Problem, dict]:
    rng = np.random.default_rng(seed)
    cands, full = {}, {"lut": 0.0, "latency_cycles": 0.0, "dsp": 0.0}
    for l in range(n_layers):
        size = rng.integers(64, 4096)
        sens = rng.uniform(0.1, 2.0)
        cs = []
        for w in range(2, 9):
            for a in range(2, 9):
                lut = size * w * a / 16 * rng.uniform(0.9, 1.1)
                lat = 2 + np.ceil(np.log2(size)) + (w + a) / 8
                dsp = float(size // 256) if w * a > 36 else 0.0
                cs.append(Candidate(w, a, sens * (2.0 ** -w + 2.0 ** -a) * rng.uniform(0.8, 1.2),
                                    {"lut": lut, "latency_cycles": lat, "dsp": dsp}))
        cands[f"L{l}"] = cs
        for m in full:
            full[m] += max(c.cost[m] for c in cs)
    return Problem(cands), full


def timed(n_layers: int, n_budgets: int, time_limit: float = 120.0) -> dict:
    p, full = instance(n_layers)
    metrics = ["lut", "latency_cycles", "dsp"][:n_budgets]
    budget = {"lut": 0.5, "latency_cycles": 0.95, "dsp": 0.5}  # fractions of the all-8-bit totals
    p = Problem(p.candidates, {m: budget[m] * full[m] for m in metrics},
                time_limit_s=time_limit)
    t0 = time.perf_counter()
    sol = solve(p)
    return {"layers": n_layers, "candidates": 49, "budgets": n_budgets, "status": sol.status,
            "seconds": round(time.perf_counter() - t0, 3)}


def main() -> None:
    rows = [timed(200, 3)]
    for n in (10, 50, 100, 200, 500):
        rows.append(timed(n, 1))
        rows.append(timed(n, 3))
    print("| layers | candidates/layer | budgets | status | solve time (s) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['layers']} | {r['candidates']} | {r['budgets']} | {r['status']} | {r['seconds']} |")
    print("\nFirst row: the headline case (200 layers x 49 candidates, budgets on LUT, latency and DSP), CBC, "
          "120 s time limit; 'feasible_time_limit' would mean the limit cut the search.")
    from ohq_flow.fileio import atomic_write_json
    from pathlib import Path
    atomic_write_json(Path(__file__).resolve().parents[1] / "docs" / "bench_ilp.json",
                      {"benchmark": "bench/bench_ilp.py", "date": dt.date.today().isoformat(), "nproc": os.cpu_count(), "rows": rows})


if __name__ == "__main__":
    main()
