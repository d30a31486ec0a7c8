"""Job functions for the trust tests (imported by the job processes)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from ohq_flow.hw.costs import CostRow


def native_busy_job(ctx) -> CostRow:
    """Records its pids, then spends minutes inside one C call that holds the GIL (regex backtracking)."""
    Path(ctx.payload).write_text(f"{os.getpid()} {os.getppid()}")
    re.match(r"(a+)+$", "a" * 40 + "b")
    return CostRow(ctx.layer, ctx.w_bits, ctx.a_bits, lut=1.0)


def negative_job(ctx) -> CostRow:
    """A measurer bug: a negative LUT count."""
    return CostRow(ctx.layer, ctx.w_bits, ctx.a_bits, lut=-5.0, ff=1.0, source="test")


def counting_job(ctx) -> CostRow:
    """Marks each execution (``<dir>/<key>.<pid>``), works ``sleep_s`` seconds."""
    marker_dir, sleep_s = ctx.payload
    Path(marker_dir, f"{ctx.key}.{os.getpid()}").write_text(ctx.layer)
    time.sleep(sleep_s)
    return CostRow(ctx.layer, ctx.w_bits, ctx.a_bits, lut=float(ctx.w_bits * 10 + ctx.a_bits), ff=1.0, source="test")
