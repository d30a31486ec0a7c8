"""+-1 streams packed as 1 bit vs 2-bit: whole-design Yosys (xc7) LUT/FF of brevitas_examples' TFC / CNV w1a1.

The same model (TFC at an 8x8 input by default, as in the tests; ``--model cnv``: CNV w1a1 at 32x32x3 with
every channel count / 8) generated twice — ``generate_design(..., pack=True)``
(BipolarQuant activations travel as 1 bit per element, widened to 2-bit signed at each kernel's input) and
``pack=False`` (2-bit signed streams) — and each synthesised whole with Yosys. Both are simulated against the
QONNX executor first (Icarus, back to back) so only exact designs are compared.

    python -m bench.bench_pack [--model tfc|cnv] [--size 8] [--frames 32]

Prints a markdown section; writes docs/bench_pack.json (merged per model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "bench" / "runs" / "pack"
OUT_JSON = ROOT / "docs" / "bench_pack.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("tfc", "cnv"), default="tfc")
    ap.add_argument("--size", type=int, default=8, help="TFC: input is size x size (28 = the full TFC)")
    ap.add_argument("--frames", type=int, default=32)
    args = ap.parse_args()
    import json

    from examples.suite.models import bnn_cnv, bnn_tfc
    from ohq_flow.design.rtl import generate_design
    from ohq_flow.design.sim import simulate_network
    from ohq_flow.fileio import atomic_write_json
    from ohq_flow.hw.rtl.yosys import measure_yosys
    from ohq_flow.model.export import export_brevitas
    s = args.size
    if args.model == "tfc":
        label, shape = f"TFC w1a1, {s}x{s} input", [1, 1, s, s]
        model = export_brevitas(bnn_tfc(1, 1, in_features=(s, s)), shape, RUNS / "tfc_w1a1.onnx")
    else:
        label, shape = "CNV w1a1, 32x32x3, channels / 8", [1, 3, 32, 32]
        model = export_brevitas(bnn_cnv(1, 1, width=0.125), shape, RUNS / "cnv_w1a1.onnx")
    x = np.random.default_rng(0).uniform(0, 1, size=(args.frames, *shape[1:])).astype(np.float32)
    rows = {}
    for pack in (False, True):
        name = "packed" if pack else "two_bit"
        out = RUNS / args.model / name
        design = generate_design(model, out / "design", pack=pack)
        sim = simulate_network(model, design, x, out / "sim", simulator="iverilog", backpressure=False)
        syn = measure_yosys(design.sources, design.top, family="xc7", work_dir=out / "synth", timeout_s=4 * 3600)
        streams = sum(st["out_width"] * st["out_beats"] for st in design.meta["stages"] if st["kind"] == "requant")
        rows[name] = {"lut": syn.lut, "ff": syn.ff, "carry": syn.carry, "mismatches": sim["mismatches"],
                      "inputs": sim["inputs"], "requant_out_bits": streams}
        print(f"{name}: {rows[name]}", file=sys.stderr, flush=True)
    d = {k: rows["packed"][k] - rows["two_bit"][k] for k in ("lut", "ff")}
    done = json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() else {}
    done[label] = {"rows": rows, "saving": d}
    atomic_write_json(OUT_JSON, done)
    print(f"### +-1 streams packed as 1 bit ({label}, xc7 Yosys, whole design)\n")
    print("| streams | LUT | FF | bits leaving the requantisers per frame | whole-network sim |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name.replace('_', '-')} | {r['lut']} | {r['ff']} | {r['requant_out_bits']} | "
              f"{r['mismatches']} mismatches / {r['inputs']} |")
    print(f"\nPacking changes LUT by {d['lut']:+d} and FF by {d['ff']:+d}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
