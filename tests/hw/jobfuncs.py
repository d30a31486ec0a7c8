"""Picklable job functions for the job-runner tests (imported by the job processes)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from ohq_flow.hw.costs import CostRow


def _row(ctx, **kw) -> CostRow:
    return CostRow(ctx.layer, ctx.w_bits, ctx.a_bits, source="test", fidelity="estimate", tool="jobfuncs",
                   **kw)


def ok_job(ctx) -> CostRow:
    """LUT = w_bits * a_bits * payload (an int); prints a line to the job log."""
    print(f"computing {ctx.layer}", flush=True)
    return _row(ctx, lut=float(ctx.w_bits * ctx.a_bits * ctx.payload), ff=float(ctx.w_bits),
                latency_cycles=2.0, clock_ns=5.0)


def raising_job(ctx) -> CostRow:
    raise ValueError(f"synthetic failure in {ctx.layer}")


def exiting_job(ctx) -> CostRow:
    print("about to exit hard", flush=True)
    os._exit(3)


def segfault_job(ctx) -> CostRow:
    import ctypes
    ctypes.string_at(0)          # reads address 0: SIGSEGV
    return _row(ctx)


def hanging_job(ctx) -> CostRow:
    """Starts ``sleep 100`` (pid written to payload path), then sleeps past the timeout."""
    proc = subprocess.Popen(["sleep", "100"])
    Path(ctx.payload).write_text(str(proc.pid))
    time.sleep(100)
    return _row(ctx)


def marker_job(ctx) -> CostRow:
    """Records an execution marker ``<dir>/<key>.<pid>`` at start, then works ``sleep_s``."""
    marker_dir, sleep_s = ctx.payload
    Path(marker_dir, f"{ctx.key}.{os.getpid()}").write_text(ctx.layer)
    time.sleep(sleep_s)
    return _row(ctx, lut=float(ctx.w_bits * 10 + ctx.a_bits))
