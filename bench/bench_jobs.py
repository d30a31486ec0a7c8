"""Benchmark of the cost-job runner on real Yosys syntheses.

Synthesises N (default 40) small distinct designs (``assign y = x * K;`` for different K and
input widths) with ``yosys -p "synth_xilinx -family xc7 -flatten -noiopad; stat"`` on:
1 local worker, all cores local, a Dask LocalCluster with all cores, and a fully cached re-run.
Prints a markdown table and writes ``docs/bench_jobs.json``.

    (from the repository root) .venv/bin/python -m bench.bench_jobs [--jobs 40] [--out docs/bench_jobs.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run_all import cpu_model
from ohq_flow.fileio import atomic_write_json
from ohq_flow.hw.cache import CostCache, make_key
from ohq_flow.hw.costs import CostRow
from ohq_flow.hw.jobs import Job, run_jobs
from ohq_flow.hw.tools import find_tool, run_tool

YOSYS_SCRIPT = "synth_xilinx -family xc7 -flatten -noiopad; stat"
_CELL = re.compile(r"^\s+([A-Z][A-Z0-9_]*)\s+(\d+)\s*$")


def design(width: int, k: int) -> str:
    """Verilog of an unsigned constant multiplier y = x * K."""
    out_w = width + k.bit_length()
    return (f"module top(input [{width - 1}:0] x, output [{out_w - 1}:0] y);\n"
            f"  assign y = x * {k.bit_length()}'d{k};\nendmodule\n")


def designs(n: int) -> list[tuple[int, int]]:
    """``n`` distinct (width, K) pairs."""
    widths = (4, 6, 8, 10)
    ks = [k for k in range(3, 400, 7) if k & (k - 1)]      # no powers of two (those are wires)
    return [(widths[i % len(widths)], ks[i // len(widths)]) for i in range(n)]


def cell_counts(stat_text: str) -> dict[str, int]:
    """Cell-type counts from the last ``stat`` block of a Yosys log."""
    block = stat_text[stat_text.rfind("Number of cells"):]
    counts = {}
    for line in block.splitlines()[1:]:
        m = _CELL.match(line)
        if not m:
            if counts:
                break
            continue
        counts[m.group(1)] = int(m.group(2))
    return counts


def yosys_job(ctx) -> CostRow:
    """Synthesise the payload's Verilog with Yosys; LUT/FF/CARRY/DSP counts from ``stat``."""
    src = ctx.workdir / "design.v"
    src.write_text(ctx.payload["verilog"])
    res = run_tool([find_tool("yosys"), "-p", YOSYS_SCRIPT, str(src)], log_path=ctx.workdir / "yosys.log",
                   timeout_s=max(ctx.remaining_s(), 1.0), cwd=ctx.workdir)
    cells = cell_counts(res.stdout)
    if not cells:
        raise RuntimeError(f"no cell statistics in {res.log_path}")
    lut = sum(v for c, v in cells.items() if re.fullmatch(r"LUT\d", c))
    ff = sum(v for c, v in cells.items() if re.fullmatch(r"FD[A-Z]*", c))
    return CostRow(ctx.layer, ctx.w_bits, ctx.a_bits, lut=float(lut), ff=float(ff),
                   carry=float(cells.get("CARRY4", 0)), dsp=float(cells.get("DSP48E1", 0)),
                   source="yosys", fidelity="post_synth", tool="yosys",
                   tool_version=ctx.payload["tool_version"], part="xc7", log_path=str(res.log_path))


def _this_module():
    """This module under an importable name (job processes cannot import ``__main__``)."""
    if __name__ != "__main__":
        return sys.modules[__name__]
    name = __spec__.name if __spec__ is not None else Path(__file__).stem
    return importlib.import_module(name)


def make_jobs(n: int, workdir: Path, tool_version: str) -> list[Job]:
    fn = _this_module().yosys_job
    jobs = []
    for width, k in designs(n):
        verilog = design(width, k)
        key = make_key(verilog=verilog, script=YOSYS_SCRIPT, tool="yosys", tool_version=tool_version)
        jobs.append(Job(key, f"mul_k{k}", width, 8, fn, {"verilog": verilog, "tool_version": tool_version},
                        120.0, workdir / f"w{width}_k{k}"))
    return jobs


def _measure(label, executor, workers, n, tmp, tool_version, cache=None):
    jobs = make_jobs(n, tmp / label.replace(" ", "_"), tool_version)
    t0 = time.perf_counter()
    s = run_jobs(jobs, cache=cache, executor=executor, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    if s.ok != n:
        bad = next(r for r in s.rows if not r.ok)
        raise SystemExit(f"{label}: {n - s.ok} job(s) failed, e.g. {bad.layer}: {bad.error} (log {bad.log_path})")
    print(f"  {label}: {wall:.1f} s ({s.line()})", file=sys.stderr, flush=True)
    return {"executor": label, "workers": workers, "jobs": n, "wall_s": round(wall, 3),
            "cached": s.cached, "ran": s.ran}, [(r.lut, r.ff, r.carry, r.dsp) for r in s.rows]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("docs/bench_jobs.json"))
    args = ap.parse_args(argv)
    yosys = find_tool("yosys", "apt-get install yosys")
    tool_version = subprocess.run([yosys, "-V"], capture_output=True, text=True, check=True).stdout.strip()
    ncpu = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="ohq_bench_jobs_"))
    try:
        cache = CostCache(tmp / "cache")
        runs = [_measure("local", "local", 1, args.jobs, tmp, tool_version),
                _measure("local all cores", "local", ncpu, args.jobs, tmp, tool_version, cache),
                _measure("dask LocalCluster", "dask", ncpu, args.jobs, tmp, tool_version),
                _measure("cached re-run", "local", ncpu, args.jobs, tmp, tool_version, cache)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    same = all(r[1] == runs[0][1] for r in runs)
    base = runs[0][0]["wall_s"]
    results = [dict(r[0], speedup=round(base / max(r[0]["wall_s"], 1e-3), 1)) for r in runs]
    print("| jobs | executor | workers | wall s | speed-up vs 1 worker |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['jobs']} | {r['executor']} | {r['workers']} | {r['wall_s']:.2f} | {r['speedup']:g}x |")
    print(f"\nidentical costs across executors: {same}")
    meta = {"date": dt.date.today().isoformat(), "nproc": ncpu, "cpu": cpu_model(), "tool": tool_version,
            "yosys_script": YOSYS_SCRIPT, "python": platform.python_version(), "identical_results": same,
            "costs_lut_ff_carry_dsp": [list(r) for r in runs[0][1]]}
    atomic_write_json(args.out, {"benchmark": "bench/bench_jobs.py", **meta, "results": results})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
