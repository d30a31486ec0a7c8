"""Calibrate synthesis -> place and route for ECP5: whole designs implemented, fitted, written with their error.

Each point is a complete design the flow builds and implements (`ohq-flow run` through `implement`, the
board UART shell included, close_loop off): the digits example on the ULX3S 85F at several LUT budgets
(different bit-widths, different designs), and the suite's digits MLP. For each, the whole design's
per-part Yosys counts (final/build.json) and nextpnr's post-route counts (final/impl/impl.json, TRELLIS_COMB
as LUT4, FF, MULT18X18D, DP16KD) are recorded; per metric a linear map post = sum(c_k * synth_k) + const
(non-negative least squares, relative; LUT4 from synthesised LUT4 and FF — nextpnr adds route-through
LUTs for flip-flops its packer cannot pair —, FF/DSP/BRAM from themselves) is fitted, its largest
relative error over the points and a leave-one-out error are written to ``ohq_flow/design/impl_fit_ecp5.json``,
which the profile step reads (``ohq_flow.design.price.post_route_fit``).

    python -m bench.calibrate_impl [--budgets 12 16 20 26] [--refit] [--add RUN_DIR ...]

``--add`` takes implemented runs of other designs (the peers benchmark's, folded units and FF-heavy designs the
digits points do not have) as points too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / "runs" / "calibrate_impl"
FIT = ROOT / "ohq_flow" / "design" / "impl_fit_ecp5.json"
MAPS = {"lut": ("lut", "ff"), "ff": ("ff",), "dsp": ("dsp",), "bram18": ("bram18",)}
IMPL = {"lut": "lut4", "ff": "ff", "dsp": "mult18", "bram18": "dp16kd"}


def digits_config(budget_pct: float, out: Path) -> dict:
    import yaml
    base = ROOT / "examples" / "digits"
    cfg = yaml.safe_load((base / "flow.yaml").read_text())
    cfg["model"]["brevitas"]["checkpoint"] = str(base / cfg["model"]["brevitas"]["checkpoint"])
    cfg["model"]["brevitas"]["python_path"] = [str(ROOT)]
    cfg["data"]["python_path"] = [str(ROOT)]
    cfg["build"]["eval_npz"] = str(base / cfg["build"]["eval_npz"])
    cfg["budgets"] = {"lut": f"{budget_pct:g}%"}
    cfg["solver"]["sweep"] = []
    cfg["implement"] = {**cfg.get("implement", {}), "enabled": True, "close_loop": False}
    cfg["output_dir"] = str(out)
    return cfg


def run_point(name: str, cfg: dict) -> dict | None:
    from ohq_flow.api import Flow
    from ohq_flow.errors import OhqError
    out = Path(cfg["output_dir"])
    try:
        Flow(cfg, base_dir=ROOT).run(to="implement")
    except OhqError as exc:        # an over-budget design is a point too: its numbers are what we fit
        print(f"{name}: {exc.message.splitlines()[0]}", file=sys.stderr)
    return read_point(name, out)


def read_point(name: str, out: Path) -> dict | None:
    """The point of a finished run directory (whole-design per-part Yosys counts and its post-route counts)."""
    build, impl = out / "final" / "build.json", out / "final" / "impl" / "impl.json"
    if not (build.is_file() and impl.is_file()):
        return None
    b, i = json.loads(build.read_text()), json.loads(impl.read_text())
    if i.get("status") not in ("ok", "timing_not_met"):
        return None
    synth = b["design"]["measured"]
    return {"name": name, "synth": {m: float(synth[m]) for m in MAPS}, "post": {m: float(i[IMPL[m]]) for m in MAPS},
            "assignment": b["assignment"], "fmax_mhz": i.get("fmax_mhz")}


def fit(points: list[dict]) -> dict:
    from scipy.optimize import nnls
    out = {}
    for m, keys in MAPS.items():
        a = np.array([[p["synth"][k] for k in keys] + [1.0] for p in points])
        y = np.array([p["post"][m] for p in points])
        if not np.any(y):                        # never used (e.g. no DSP in any point): identity
            out[m] = {"coef": {m: 1.0}, "const": 0.0, "max_rel_err": 0.0, "loo_max_rel_err": None, "points": len(points)}
            continue
        w = 1.0 / np.maximum(y, 8.0)
        c, _ = nnls(a * w[:, None], y * w)
        pred = a @ c
        loo = []
        for j in range(len(points)):             # leave-one-out: the error on a design the fit has not seen
            keep = [i for i in range(len(points)) if i != j]
            cj, _ = nnls(a[keep] * w[keep, None], y[keep] * w[keep])
            loo.append(abs(a[j] @ cj - y[j]) / max(y[j], 8.0))
        out[m] = {"coef": {k: round(float(v), 5) for k, v in zip(keys, c[:-1])}, "const": round(float(c[-1]), 2),
                  "max_rel_err": round(float(np.max(np.abs(pred - y) / np.maximum(y, 8.0))), 4),
                  "loo_max_rel_err": round(float(max(loo)), 4) if len(points) > 2 else None, "points": len(points)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budgets", type=float, nargs="*", default=[12, 16, 20, 26])
    ap.add_argument("--refit", action="store_true", help="fit the stored points again")
    ap.add_argument("--add", nargs="*", default=[], metavar="RUN_DIR",
                    help="implemented runs of other designs (e.g. bench_peers' run directories) added to the stored "
                         "points (a point of the same name replaced), then all fitted")
    args = ap.parse_args()
    from ohq_flow.fileio import atomic_write_json
    from ohq_flow.hw.rtl.yosys import yosys_version
    old = json.loads(FIT.read_text())["points"] if FIT.is_file() else []
    points = old if args.refit or args.add else []
    for d in map(Path, args.add):
        name = f"{d.parent.name}_{d.name}"
        p = read_point(name, d)
        if p is None:
            print(f"{d}: no implemented design (final/build.json and final/impl/impl.json)", file=sys.stderr)
            return 2
        points = [q for q in points if q["name"] != name] + [p]
    if not args.refit and not args.add:
        for pct in args.budgets:
            name = f"digits_cnn_{pct:g}pct"
            p = run_point(name, digits_config(pct, WORK / name))
            if p:
                points.append(p)
                print(f"{name}: synth {p['synth']} post-route {p['post']}", file=sys.stderr, flush=True)
    if len(points) < 2:
        print("fewer than 2 implemented designs: nothing fitted", file=sys.stderr)
        return 1
    doc = {"made_by": "python -m bench.calibrate_impl (whole designs: per-part Yosys synth_ecp5 vs nextpnr-ecp5 "
                      "post-route, the board UART shell included)",
           "yosys": yosys_version(), "family": "ecp5", "date": dt.date.today().isoformat(), "fit": fit(points),
           "points": points}
    atomic_write_json(FIT, doc)
    for m, f in doc["fit"].items():
        print(f"{m}: post-route = {' + '.join(f'{c:g}*{k}' for k, c in f['coef'].items())} + {f['const']:g} "
              f"(max error {100 * f['max_rel_err']:.1f}%, leave-one-out {f['loo_max_rel_err']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
