"""OQA on the digits example: per-layer Yosys synthesis time and LUT vs bits; da4ml estimate error;
additivity (the whole network at uniform precisions, measured, vs the sum of per-layer costs).

Every number is a real Yosys 0.23 `synth_xilinx -family xc7` run (cached runs excluded: a
private cache directory per benchmark run).

    python -m bench.bench_oqa_digits
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from ohq_flow.final.final import design_sources, generate_layers, write_top
    from ohq_flow.config import MeasurerRule, SearchSection, load_config
    from ohq_flow.fileio import atomic_write_json
    from ohq_flow.hw.profile import run_profile
    from ohq_flow.hw.rtl.yosys import measure_yosys
    from ohq_flow.model.export import export_model
    from ohq_flow.model.layers import discover_layers
    from ohq_flow.search_space import search_space

    cfg = load_config(ROOT / "examples/digits/flow_pynq_z2.yaml")
    tmp = Path(tempfile.mkdtemp(prefix="ohq_bench_oqa_"))
    cfg.hardware.cache_dir = tmp / "cache"
    model, _ = export_model(cfg, tmp / "model.onnx")
    layers = discover_layers(model)
    bits = [2, 4, 6, 8]
    space = search_space(layers, SearchSection(weight_bits=bits, act_bits=[8]))
    rows_by = {}
    for measurer in ("yosys", "da4ml_estimate"):
        cfg.hardware.rules = [MeasurerRule(measurer=measurer)]
        rows, _ = run_profile(model, layers, space, cfg, tmp / measurer, progress=False)
        rows_by[measurer] = {(r.layer, r.w_bits): r for r in rows}
    print("### Per-layer cost vs weight bits (activations 8 bit), Yosys vs da4ml estimate\n")
    print("| layer | w bits | Yosys LUT | Yosys FF | CARRY4 | synth s | da4ml LUT est. | est. error |\n|---|---|---|---|---|---|---|---|")
    records = []
    for l in layers:
        for w in bits:
            y, d = rows_by["yosys"][(l.name, w)], rows_by["da4ml_estimate"][(l.name, w)]
            err = (d.lut - y.lut) / y.lut * 100
            records.append({"layer": l.name, "w_bits": w, "yosys_lut": y.lut, "yosys_ff": y.ff, "carry": y.carry,
                            "synth_s": y.elapsed_s, "da4ml_lut": d.lut, "error_pct": err})
            print(f"| {l.name} | {w} | {y.lut:,.0f} | {y.ff:,.0f} | {y.carry:,.0f} | {y.elapsed_s:.1f} | {d.lut:,.0f} | {err:+.1f}% |")
    errs = [abs(r["error_pct"]) for r in records]
    print(f"\nda4ml estimate vs Yosys LUT: mean |error| {sum(errs) / len(errs):.1f}%, max {max(errs):.1f}%.\n")
    print("### Additivity: whole network (all layer kernels in one top, flattened) vs sum of per-layer rows\n")
    print("| precision | sum of per-layer LUT | whole-network LUT | ratio | sum FF | whole FF |\n|---|---|---|---|---|---|")
    add = []
    for w in (2, 4, 8):
        designs = generate_layers(model, layers, {l.name: (w, 8) for l in layers}, cfg, tmp / f"net{w}")
        top = write_top(designs, tmp / f"net{w}" / "network_top.v")
        t0 = time.perf_counter()
        res = measure_yosys(design_sources(designs, top), "network_top", family="xc7", work_dir=tmp / f"net{w}" / "synth",
                            timeout_s=3600)
        s_lut = sum(rows_by["yosys"][(l.name, w)].lut for l in layers)
        s_ff = sum(rows_by["yosys"][(l.name, w)].ff for l in layers)
        add.append({"w_bits": w, "sum_lut": s_lut, "whole_lut": res.lut, "sum_ff": s_ff, "whole_ff": res.ff,
                    "synth_s": time.perf_counter() - t0})
        print(f"| W{w}A8 | {s_lut:,.0f} | {res.lut:,} | {res.lut / s_lut:.3f} | {s_ff:,.0f} | {res.ff:,} |")
    atomic_write_json(ROOT / "docs" / "bench_oqa_digits.json",
                      {"benchmark": "bench/bench_oqa_digits.py", "date": dt.date.today().isoformat(),
                       "nproc": os.cpu_count(), "per_layer": records, "additivity": add})


if __name__ == "__main__":
    main()
