"""`make bench`: run every benchmark and regenerate docs/benchmarks.md (machine and date included).

Each bench/bench_*.py prints a markdown section on stdout and writes docs/bench_<name>.json; this
script runs them one after another (so they do not compete for the 2 cores), keeps what each
printed in docs/bench_logs/<name>.md, and assembles docs/benchmarks.md from the latest section
of every benchmark (so `--only` refreshes some sections and keeps the others), and
docs/benchmarks.json from every docs/bench_<name>.json. A benchmark that fails is reported as failed in the
document, with its log, instead of silently disappearing.

    python bench/run_all.py [--only jobs,ilp] [--skip mqe]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ohq_flow.fileio import atomic_write_json, atomic_write_text  # noqa: E402

# (name, module, extra args, timeout s) — in the order they appear in the document
BENCHES = [
    ("eval", "bench.bench_eval", [], 10800),
    ("select", "bench.bench_select", ["--reuse"], 7200),
    ("mqe", "bench.bench_mqe", [], 3600),
    ("jobs", "bench.bench_jobs", [], 1800),
    ("oqa_digits", "bench.bench_oqa_digits", [], 3600),
    ("ilp", "bench.bench_ilp", [], 1800),
    ("impl", "bench.bench_impl", [], 10800),
    ("scale", "bench.bench_scale", [], 14400),
    ("strategies", "bench.bench_strategies", [], 10800),
    ("hgq", "bench.bench_hgq", [], 10800),
    ("design", "bench.bench_design", [], 14400),
    ("pack", "bench.bench_pack", [], 3600),
    ("latency", "bench.bench_latency", ["--suite", "digits_mlp,mnist1d_mlp,mnist1d_cnn,digits_cnn", "--reuse"], 14400),
    ("fidelity", "bench.bench_fidelity", [], 14400),
    ("peers", "bench.bench_peers", [], 21600),           # needs OHQ_ZOO (a QONNX model zoo checkout); else prints how
]


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line: cores, CPU, RAM, OS, Python."""
    cpu = cpu_model()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    ap.add_argument("--skip", default="", help="comma-separated benchmark names")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    skip = set(filter(None, args.skip.split(",")))
    logs = ROOT / "docs" / "bench_logs"
    logs.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name, module, extra, timeout in BENCHES:
        if (only and name not in only) or name in skip:
            continue
        if not (ROOT / (module.replace(".", "/") + ".py")).is_file():
            continue
        print(f"== {name} ({module})", flush=True)
        t0 = time.time()
        log = logs / f"{name}.log"
        try:
            proc = subprocess.run([sys.executable, "-m", module, *extra], cwd=ROOT, capture_output=True,
                                  text=True, timeout=timeout)
            log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
            ok = proc.returncode == 0
            body = proc.stdout.strip() if ok else f"_failed (exit {proc.returncode}); log: docs/bench_logs/{name}.log_"
        except subprocess.TimeoutExpired:
            ok, body = False, f"_timed out after {timeout} s_"
        failed += not ok
        atomic_write_text(logs / f"{name}.md", f"{body}\n\n_(run {dt.date.today().isoformat()}, {time.time() - t0:.0f} s)_\n")
        print(f"   {'ok' if ok else 'FAILED'} in {time.time() - t0:.0f} s", flush=True)
    sections = []
    for name, module, _, _ in BENCHES:  # every benchmark's latest section, also those not run now
        md = logs / f"{name}.md"
        body = md.read_text().strip() if md.is_file() else f"_not run yet ({module})._"
        sections.append(f"## {name}\n\n{body}\n")
    # hand-written sections of the current document (no benchmark of that name) are kept, after the others
    doc = ROOT / "docs" / "benchmarks.md"
    names = {name for name, *_ in BENCHES}
    if doc.is_file():
        for part in ("\n" + doc.read_text()).split("\n## ")[1:]:
            if part.split("\n", 1)[0].strip() not in names:
                sections.append(f"## {part.strip()}\n")
    head = (f"# Benchmarks\n\nRegenerated by `make bench` on {dt.date.today().isoformat()}.\n\n"
            f"Machine: {machine()}.\n\nRaw numbers: `docs/bench_*.json`; logs: `docs/bench_logs/`.\n\n")
    atomic_write_text(ROOT / "docs" / "benchmarks.md", head + "\n".join(sections))
    raw = {}
    for name, _, _, _ in BENCHES:  # every benchmark's raw numbers in one file
        path = ROOT / "docs" / f"bench_{name}.json"
        raw[name] = json.loads(path.read_text()) if path.is_file() else None
    atomic_write_json(ROOT / "docs" / "benchmarks.json",
                      {"regenerated": dt.date.today().isoformat(), "machine": machine(), "benchmarks": raw})
    print(f"wrote {ROOT / 'docs' / 'benchmarks.md'} and benchmarks.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
