"""Opt-in check of a run's final/finn/ with FINN itself: FINN's estimate reports vs the analytic model.

FINN (finn-plus) lives in its own environment (it pins brevitas 0.13.0 and its own torch), e.g.

    python3 -m venv /tmp/finnvenv && /tmp/finnvenv/bin/pip install finn-plus psutil
    python bench/finn_check.py runs/digits --finn-python /tmp/finnvenv/bin/python [--pe 2 --simd 3]

FINN runs its estimate-only steps on final/finn/ (model.onnx, folding_config.json,
specialize_layers_config.json); its Vivado simulator import is stubbed (estimates need no Vivado).
Prints, per layer, FINN's MVAU / sliding-window estimates next to ohq_flow's copy of FINN's estimate
(:mod:`ohq_flow.design.finn_estimate`, the analytic measurer's model), and
fails if FINN left one of our folding entries unused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_FINN_SCRIPT = r'''
import sys, types
from pathlib import Path
xsi = types.ModuleType("finn.xsi"); xsi.SimEngine = type("SimEngine", (), {}); sys.modules["finn.xsi"] = xsi
from finn.builder.build_dataflow_config import DataflowBuildConfig, estimate_only_dataflow_steps
from finn.builder.build_dataflow import build_dataflow_cfg
d, out = Path(sys.argv[1]), sys.argv[2]
cfg = DataflowBuildConfig.construct_from(d / "dataflow_build_config.json")
cfg.steps, cfg.output_dir = estimate_only_dataflow_steps, out
cfg.folding_config_file = str(d / cfg.folding_config_file)
cfg.specialize_layers_config_file = str(d / cfg.specialize_layers_config_file)
sys.exit(build_dataflow_cfg(str(d / "model.onnx"), cfg))
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--finn-python", required=True, help="python of the environment FINN is installed in")
    ap.add_argument("--pe", type=int, help="rewrite final/finn with this hardware.pe first (into a temporary copy)")
    ap.add_argument("--simd", type=int, help="... and this hardware.simd")
    args = ap.parse_args(argv)

    from qonnx.core.modelwrapper import ModelWrapper
    from ohq_flow.final.interop import write_finn_bundle
    from ohq_flow.config import load_config
    from ohq_flow.design.finn_estimate import MVAU, layer_swg, mvau_estimate, swg_estimate
    from ohq_flow.model.geometry import mvau_dims
    from ohq_flow.model.layers import discover_layers

    run = args.run_dir
    layers = discover_layers(ModelWrapper(str(run / "model.onnx")))
    sol = json.loads((run / "solution.json").read_text())["assignment"]
    tmp = Path(tempfile.mkdtemp(prefix="ohq_finn_check_"))
    finn_dir = run / "final" / "finn"
    if args.pe or args.simd:
        cfg = load_config(run / "config.yaml")
        cfg.hardware.pe, cfg.hardware.simd = args.pe or cfg.hardware.pe, args.simd or cfg.hardware.simd
        finn_dir = Path(write_finn_bundle(cfg, ModelWrapper(str(run / "final" / "model.onnx")), layers, sol, tmp)["dir"])
    out = tmp / "finn_output"
    (tmp / "build").mkdir()
    env = {**os.environ, "FINN_BUILD_DIR": str(tmp / "build")}
    env.setdefault("XILINX_VIVADO", "/opt/Xilinx/Vivado/2024.2")   # read by FINN's settings, never run
    proc = subprocess.run([args.finn_python, "-c", _FINN_SCRIPT, str(finn_dir), str(out)], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        return 1
    log = (out / "build_dataflow.log").read_text()
    unused = [l for l in log.splitlines() if "Unused HW configurations" in l]
    res = json.loads((out / "report" / "estimate_layer_resources.json").read_text())
    cyc = json.loads((out / "report" / "estimate_layer_cycles.json").read_text())
    applied = json.loads((out / "report" / "applied_folding_config.json").read_text())
    table = json.loads((finn_dir / "layers.json").read_text())
    print("| layer | FINN node | PE×SIMD | w/a | LUT FINN / ours | BRAM18 FINN / ours | DSP FINN / ours | cycles FINN / ours |")
    print("|---|---|---|---|---|---|---|---|")
    for row, layer in zip(table, layers):
        mh, mw, pix = mvau_dims(layer)
        w, a = sol[layer.name]["w_bits"], sol[layer.name]["a_bits"]
        signed = bool(layer.input_quant.signed) if layer.input_quant and layer.input_quant.signed is not None else True
        e = mvau_estimate(MVAU(mh=mh, mw=mw, pe=row["PE"], simd=row["SIMD"], w_bits=w, a_bits=a, pixels=pix, a_signed=signed))
        n = row["finn_node"]
        print(f"| {layer.name} | {n} | {row['PE']}×{row['SIMD']} | w{w}a{a} | {res[n]['LUT']:.0f} / {e['lut']:.0f} | "
              f"{res[n]['BRAM_18K']} / {e['bram18']:.0f} | {res[n]['DSP']} / {e['dsp']:.0f} | {cyc[n]} / {e['cycles']:.0f} |")
        if "finn_swg_node" in row:
            s = row["finn_swg_node"]
            e = swg_estimate(layer_swg(layer, a, applied[s]["SIMD"]))
            print(f"| {layer.name} (window) | {s} | SIMD {applied[s]['SIMD']} | a{a} | {res[s]['LUT']:.0f} / {e['lut']:.0f} | "
                  f"{res[s]['BRAM_18K']} / {e['bram18']:.0f} | {res[s]['DSP']} / 0 | {cyc[s]} / {e['cycles']:.0f} |")
    if unused:
        print("FINN did not use some folding entries:", *unused, sep="\n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
