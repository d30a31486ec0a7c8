"""da4ml estimate time vs kernel size on this machine (the measurement behind the default rules).

Each size is a random integer kernel [inputs, outputs] at 4-bit weights and 4-bit activations,
estimated in its own process with a time box; a size that does not finish is reported as such.

    python -m bench.scale_curve [--timeout 240] [--sizes 32x32,64x64,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = ["16x16", "32x32", "64x64", "96x96", "128x128", "576x64", "192x192", "256x256"]


def one(n_in: int, n_out: int, w_bits: int = 4, a_bits: int = 4) -> dict:
    """Time one da4ml estimate (in this process)."""
    import numpy as np
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    rng = np.random.default_rng(0)
    lo, hi = -(2 ** (w_bits - 1)), 2 ** (w_bits - 1) - 1
    w = rng.integers(lo, hi + 1, size=(n_in, n_out))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        d = generate_cmvm_rtl(w, w_bits=w_bits, a_bits=a_bits, a_signed=False, out_dir=Path(tmp))
    return {"inputs": n_in, "outputs": n_out, "weights": n_in * n_out, "seconds": time.perf_counter() - t0,
            "da4ml_cost": d.da4ml_cost}


def curve(sizes: list[str], timeout_s: float) -> list[dict]:
    """Every size in its own time-boxed process; a size past the box is {'seconds': None}."""
    out = []
    for s in sizes:
        n_in, n_out = (int(v) for v in s.split("x"))
        try:
            proc = subprocess.run([sys.executable, "-m", "bench.scale_curve", "--one", s], cwd=ROOT,
                                  capture_output=True, text=True, timeout=timeout_s)
            row = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else \
                {"inputs": n_in, "outputs": n_out, "weights": n_in * n_out, "seconds": None, "error": proc.stderr[-300:]}
        except subprocess.TimeoutExpired:
            row = {"inputs": n_in, "outputs": n_out, "weights": n_in * n_out, "seconds": None,
                   "error": f"did not finish in {timeout_s:g} s"}
        print(json.dumps(row), file=sys.stderr, flush=True)
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--one", default=None)
    ap.add_argument("--timeout", type=float, default=240.0)
    ap.add_argument("--sizes", default=",".join(SIZES))
    args = ap.parse_args()
    if args.one:
        n_in, n_out = (int(v) for v in args.one.split("x"))
        print(json.dumps(one(n_in, n_out)))
        return
    print(json.dumps(curve(args.sizes.split(","), args.timeout)))


if __name__ == "__main__":
    main()
