"""Calibrate the price list of ``ohq_flow.design.price``: Yosys on one glue block (or one MVAU) at a time.

Each point is a one-stage design rendered from the design's own top template (``ohq_top.v.j2``):
the block with its parameters between the top's input and output streams, synthesised like the
whole design (``synth_xilinx -flatten``). The kernel controller (``ohq_kernel_ctrl``, the output
FIFO of every kernel) is measured around a black-box kernel (``bench/rtl/k_stub_wrapper.v``).
Parameters are realistic (random thresholds in the accumulator's range, random multipliers and
biases, real line-buffer geometries). Per block, the LUT and FF counts are fitted by non-negative
least squares on ``ohq_flow.design.price.features`` of its stage record, after subtracting the
top around it (a design without stages: the frame's tlast counter, counted once per design); points, fit and per-point error go to
``ohq_flow/design/glue_fit_<family>.json``, which the price list reads. Folded layers (``mvau``, the
template ``ohq_mvau.v`` at several shapes, weight memories and product styles) are calibrated the same way;
their DSP and block-RAM counts are not fitted (the rule counts them) but checked against Yosys.

    python -m bench.calibrate_glue [--family xc7|ecp5] [--only requant_thr,window,mvau] [--refit]

A point whose one-stage top, building blocks and Yosys scripts are unchanged and whose Yosys statistics exist in
bench/runs/calibrate_glue is read back instead of synthesised again (a killed run resumes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / "runs" / "calibrate_glue"
# (MW, MH, PE, SIMD, input bits, weight bits): LUT and block-RAM weight memories, LUT and DSP products
MVAU_POINTS = [(32, 16, 2, 4, 4, 3), (64, 32, 4, 8, 4, 4), (64, 32, 1, 4, 2, 2), (128, 64, 2, 8, 3, 3),
               (256, 64, 4, 16, 3, 3), (144, 32, 8, 9, 4, 4), (72, 16, 16, 8, 4, 2), (64, 10, 2, 8, 8, 8),
               (256, 128, 8, 8, 2, 3), (32, 32, 32, 2, 6, 6), (784, 64, 16, 16, 2, 2), (128, 128, 1, 1, 8, 8),
               (256, 64, 1, 4, 4, 4), (64, 32, 1, 16, 4, 4), (128, 32, 1, 8, 2, 2), (784, 16, 1, 784, 2, 2),
               (600, 64, 4, 150, 2, 2)]
# (MW, MH, PE, SIMD, input bits, weight bits, output bits[, multiply-shift factor bits: 1 = one power of two]):
# a folded layer with its requantiser fused in, 1 to 4 lanes, 2- to 4-bit outputs
FUSED_THR_POINTS = [(64, 32, 4, 8, 4, 3, 2), (128, 64, 8, 16, 3, 3, 3), (256, 64, 16, 16, 2, 2, 2), (72, 16, 16, 8, 4, 2, 3),
                    (32, 32, 32, 2, 6, 6, 4), (64, 32, 4, 64, 4, 4, 2), (144, 32, 8, 9, 4, 4, 4), (256, 128, 8, 8, 2, 3, 2),
                    (256, 64, 1, 4, 4, 4, 3), (64, 32, 1, 16, 4, 4, 2), (128, 32, 2, 8, 3, 3, 4), (784, 64, 1, 784, 2, 2, 2)]
FUSED_MS_POINTS = [(64, 32, 4, 8, 4, 3, 4, 1), (128, 64, 8, 16, 3, 3, 3, 10), (64, 32, 4, 64, 4, 4, 4, 8),
                   (72, 16, 16, 8, 4, 2, 3, 12), (256, 64, 16, 16, 2, 2, 2, 1), (32, 32, 32, 2, 6, 6, 6, 14),
                   (256, 64, 1, 4, 4, 4, 4, 10), (64, 32, 1, 16, 4, 4, 4, 12), (128, 32, 2, 8, 3, 3, 3, 1),
                   (64, 32, 2, 16, 4, 4, 4, 24), (256, 64, 8, 32, 3, 3, 3, 10)]
FUSED = ("requant_fused_thr", "requant_fused_ms")
METRICS = ("lut", "ff", "dsp", "bram18")
RESOURCE_FEATURE = {"dsp": "multipliers", "bram18": "bram_buffers"}
ADD_FIFO = lambda w: dict(W=w, DEPTH=2, CW=3)      # the FIFO in front of a calibrated add (its model is subtracted)
STUB = ROOT / "bench" / "rtl" / "k_stub_wrapper.v"


def _vlit(values, width):
    from ohq_flow.design.rtl import _vlit as v
    return v(values, width)


def requant_thr(c, aw, ow, step=1, seed=0):
    """Thresholds to OW-bit (unsigned, or +-1 for step 2) outputs from AW-bit signed accumulators."""
    rng = np.random.default_rng(seed)
    nt = 1 if step == 2 else 2 ** ow - 1
    tw = aw + 2
    lim = 2 ** (aw - 1)
    thr = np.sort(rng.integers(-lim // 2, lim // 2, size=(c, nt)), axis=1)
    lo = np.full(c, -1 if step == 2 else 0)
    hi = np.full(c, 1 if step == 2 else 2 ** ow - 1)
    params = dict(C=c, AW=aw, ASIGNED=1, OW=ow, TW=tw, LO=_vlit(lo, tw), HI=_vlit(hi, tw), MODE=1, NT=nt, STEP=step,
                  THR=_vlit(thr.reshape(-1), tw))
    rec = dict(kind="requant", method="thresholds", in_width=c * aw, out_width=c * ow, out_bits=ow, nt=nt, tw=tw,
               levels=int(hi.max() - lo.min()), acc_range=[-lim, lim - 1])
    return params, rec


def requant_ms(c, aw, ow, mbits, shift, seed=0):
    """Multiply-shift (round half even) to OW-bit unsigned outputs; mbits = 1: a plain shift (M = 1)."""
    rng = np.random.default_rng(seed)
    mult = np.ones(c, dtype=np.int64) if mbits == 1 else rng.integers(2 ** (mbits - 1) + 1, 2 ** mbits, size=c)
    bias = rng.integers(-(2 ** (aw + mbits - 3)), 2 ** (aw + mbits - 3), size=c)
    tw = aw + mbits + 2
    lo, hi = np.zeros(c, dtype=np.int64), np.full(c, 2 ** ow - 1)
    params = dict(C=c, AW=aw, ASIGNED=1, OW=ow, TW=tw, LO=_vlit(lo, tw), HI=_vlit(hi, tw), MODE=0, S=shift, RND=1,
                  MULT=_vlit(mult, tw), BIAS=_vlit(bias, tw))
    rec = dict(kind="requant", method="multiply_shift", in_width=c * aw, out_width=c * ow, out_bits=ow, tw=tw,
               mult=[int(v) for v in mult], shift=shift, acc_range=[-(2 ** (aw - 1)), 2 ** (aw - 1) - 1])
    return params, rec


def window(c, ew, h, w, k, s=1, pad=1):
    oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    kh = k if h > 1 else 1
    if h == 1:
        oh = 1
    r = 1
    while r < kh + (s if h > 1 else 1):
        r *= 2
    p = dict(C=c, EW=ew, H=h, W=w, KH=kh, KW=k, SH=s if h > 1 else 1, SW=s, PT=pad if h > 1 else 0, PL=pad, OH=oh, OW=ow,
             R=r, RB=max(1, r.bit_length() - 1))
    return p, dict(kind="window", in_width=c * ew, out_width=c * kh * k * ew, **p)


def maxpool(c, k, ew, op=0):
    ow = ew if op == 0 else ew + (k - 1).bit_length()
    p = dict(C=c, K=k, EW=ew, SIGNED=0, OP=op, OW=ow)
    return p, dict(kind="maxpool" if op == 0 else "sumpool", in_width=c * k * ew, out_width=c * ow, **p)


def mvau(mw, mh, pe, simd, iw, wb, seed=0):
    """A folded layer with random weights of ``wb`` bits; its accumulator sized from the input range."""
    from ohq_flow.design.mvau import MvauShape, rtl_params, signed_bits
    from ohq_flow.design.rtl import _vlit as v
    rng = np.random.default_rng(seed)
    mat = rng.integers(-(2 ** (wb - 1)), 2 ** (wb - 1), size=(mw, mh))
    amax = int(np.abs(mat).sum(0).max()) * (2 ** iw - 1)
    u = MvauShape(mw, mh, pe, simd, iw, wb, signed_bits(-amax, amax))
    params = dict(rtl_params(u, mat, False, v))
    rec = dict(kind="mvau", in_width=mw * iw, out_width=mh * u.aw, inputs=mw, outputs=mh, PE=pe, SIMD=simd, a_bits=iw,
               wb=wb, acc_width=u.aw, mem=u.mem, mul=u.mul, fused=0, lanes=pe, drain=1)
    return params, rec


def fused(mw, mh, pe, simd, iw, wb, ow, mbits=0, seed=0):
    """A folded layer with its requantiser fused in (thresholds, or multiply-shift with ``mbits``-bit factors): the
    requant stage's record, with the MVAU's (``mvau``: its fitted price is subtracted) inside."""
    from ohq_flow.design.rtl import requant_lanes
    params, mrec = mvau(mw, mh, pe, simd, iw, wb, seed)
    aw = mrec["acc_width"]
    rp, rrec = requant_thr(mh, aw, ow, seed=seed) if not mbits else requant_ms(mh, aw, ow, mbits, aw // 2, seed=seed)
    lanes = requant_lanes(pe, simd, mw)
    mb = 2 if not mbits else max(2, mbits + 1)
    params.update(RQ=1, P=lanes, GW=max(1, (mh // lanes - 1).bit_length()), MB=mb, MC=int(mbits == 1),
                  **{k: v for k, v in rp.items() if k not in ("C", "AW", "ASIGNED")})
    mrec.update(fused=1, lanes=lanes, drain=pe // lanes, out_width=mh * ow)
    return params, {**rrec, "fused": 1, "lanes": lanes, "steps": mh // lanes, "acc_width": aw, "in_width": mw * iw,
                    "mvau": mrec}


def simple(kind, **p):
    widths = {"collect": (p.get("BW", 0), p.get("N", 0) * p.get("BW", 0)), "fifo": (p.get("W", 0), p.get("W", 0)),
              "add": (p.get("C", 0) * p.get("AW", 0), p.get("C", 0) * p.get("OW", 0)),
              "argmax": (p.get("C", 0) * p.get("EW", 0), p.get("IW", 0))}
    i, o = widths[kind]
    return p, dict(kind=kind, in_width=i, out_width=o, **p)


def points(only: set[str]) -> list[tuple[str, dict, dict]]:
    """(block, parameters, stage record) for every calibration point."""
    pts = []
    add = lambda name, pr: pts.append((name, *pr)) if not only or name in only else None
    for c, aw, ow in [(8, 10, 2), (4, 12, 3), (4, 14, 4), (2, 16, 5), (16, 8, 2), (2, 18, 6), (16, 10, 1)]:
        add("requant_thr", requant_thr(c, aw, ow))
    for c, aw in [(32, 8), (8, 12)]:
        add("requant_thr", requant_thr(c, aw, 2, step=2))
    for c, aw, ow, mb, s in [(8, 12, 4, 1, 4), (8, 16, 8, 1, 6), (4, 12, 6, 8, 10), (4, 14, 8, 10, 12), (8, 10, 4, 6, 8),
                             (2, 20, 8, 12, 16)]:
        add("requant_ms", requant_ms(c, aw, ow, mb, s))
    for c, ew, h, w, k, s, pad in [(1, 8, 8, 8, 3, 1, 1), (8, 4, 8, 8, 3, 1, 1), (16, 4, 16, 16, 3, 1, 1), (8, 6, 8, 8, 2, 2, 0),
                                   (16, 2, 16, 16, 3, 1, 1), (4, 8, 32, 32, 3, 1, 0), (8, 4, 1, 40, 5, 1, 2), (16, 4, 1, 20, 2, 2, 0),
                                   (3, 8, 16, 16, 3, 2, 1), (8, 4, 8, 8, 2, 2, 0), (1, 4, 6, 6, 3, 2, 1),
                                   (1, 6, 8, 8, 3, 1, 1), (8, 4, 4, 4, 3, 1, 1), (16, 4, 4, 4, 2, 2, 0)]:
        add("window", window(c, ew, h, w, k, s, pad))
    for c, ew, w, k, s, pad in [(1, 8, 40, 5, 1, 0), (8, 4, 36, 2, 2, 0), (8, 4, 18, 5, 1, 0), (16, 4, 14, 2, 2, 0),
                                (8, 4, 40, 5, 1, 2), (16, 4, 20, 2, 2, 0), (4, 8, 64, 3, 1, 1), (32, 4, 32, 3, 1, 1)]:
        add("window1d", window(c, ew, 1, w, k, s, pad))
    for c, k, ew, op in [(8, 4, 4, 0), (8, 4, 6, 0), (8, 9, 2, 0), (8, 2, 8, 0), (8, 4, 8, 1), (4, 16, 4, 1)]:
        add("maxpool" if op == 0 else "sumpool", maxpool(c, k, ew, op))
    for n, bw in [(4, 32), (16, 64), (64, 16), (49, 32)]:
        add("collect", simple("collect", N=n, BW=bw, CW=max(2, n.bit_length() + 1)))
    for w, d in [(32, 4), (64, 16), (128, 40), (256, 8), (16, 100)]:
        add("fifo", simple("fifo", W=w, DEPTH=d, CW=max(2, d.bit_length() + 1)))
    for c, aw, bw in [(8, 4, 4), (8, 6, 6), (32, 4, 4)]:
        ow = max(aw, bw) + 2
        add("add", simple("add", C=c, AW=aw, BW=bw, OW=ow, SA=0, SB=1))
    for c, ew in [(10, 12), (10, 20), (32, 8)]:
        add("argmax", simple("argmax", C=c, EW=ew, SIGNED=1, IW=max(1, (c - 1).bit_length())))
    for pt in MVAU_POINTS:
        add("mvau", mvau(*pt))
    for pt in FUSED_THR_POINTS:
        add("requant_fused_thr", fused(*pt))
    for pt in FUSED_MS_POINTS:
        add("requant_fused_ms", fused(*pt))
    for ow, lat in [(80, 3), (512, 3), (256, 6), (1024, 2), (160, 12)]:
        if not only or "kernel" in only:
            pts.append(("kernel", dict(kout_width=ow, lat=lat), dict(kind="kernel", out_width=ow, latency=lat, da4ml_cost=0.0)))
    for w in (8, 256):              # the top alone (input wired to output, the frame's tlast counter): subtracted
        if not only or "top" in only:
            pts.append(("top", {}, dict(kind="top", in_width=w, out_width=w)))
    add("requant_thr", requant_thr(2, 16, 8))       # 255 thresholds (an 8-bit output): the count's growth
    return pts


def render(block: str, params: dict, rec: dict, path: Path) -> None:
    """A one-stage top from ohq_top.v.j2."""
    import jinja2

    from ohq_flow.design.rtl import MODULES, RTL_BLOCKS
    if block == "kernel":
        st = dict(kind="kernel", node="k", module="k_stub", src=[0], dst=[1], unpack=0, **params)
        win, wout = 16, params["kout_width"]
    elif block == "add":      # a residual block: fork, one branch through a 2-deep FIFO (else Yosys sees a + a), add
        w = rec["in_width"]
        fork = dict(kind="fork", node="fork", module=MODULES["fork"], params=[("W", str(w))], src=[0], dst=[1, 2])
        fifo = dict(kind="fifo", node="fifo", module=MODULES["fifo"], params=[(k, str(v)) for k, v in ADD_FIFO(w).items()],
                    src=[2], dst=[3])
        st = dict(kind="add", node="add", module=MODULES["add"], params=[(k, str(v)) for k, v in params.items()], src=[1, 3],
                  dst=[4])
        stages, widths = [fork, fifo, st], [w, w, w, w, rec["out_width"]]
    elif block != "top":
        kind = "mvau" if block.startswith("requant_fused") else rec["kind"]
        st = dict(kind=kind, node=block, module=MODULES[kind], params=[(k, str(v)) for k, v in params.items()], src=[0],
                  dst=[1], unpack=0)
        win, wout = rec["in_width"], rec["out_width"]
    if block == "top":
        stages, widths = [], [rec["in_width"]]
    if block not in ("add", "top"):
        stages, widths = [st], [win, wout]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(RTL_BLOCKS)), trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text = env.get_template("ohq_top.v.j2").render(top="ohq_top", model_name="calibration", stages=stages, widths=widths,
                                                     in_width=widths[0], out_width=widths[-1], out_beats=1,
                                                     out_sid=len(widths) - 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _fit_folded(rows: list[dict], top: dict) -> dict:
    """The MVAU and the requantisers fused into it, in one non-negative least squares per metric (a fused point is
    its MVAU plus its requantiser: fitted apart, the requantiser would be what is left of the MVAU's error). DSP and
    block RAM of the MVAU are the rule's (not fitted); a fused multiply-shift's DSPs are fitted on its multipliers.
    A fused block's error is relative to the whole folded unit it was measured in."""
    from scipy.optimize import nnls

    from ohq_flow.design.mvau import rule_counts
    from ohq_flow.design.price import features, mvau_shape
    family = FAMILY[0]
    blocks = [b for b in ("mvau", *FUSED) if any(r["block"] == b for r in rows)]
    if not blocks:
        return {}
    rs = [r for r in rows if r["block"] in blocks]
    mrec = lambda r: r["record"].get("mvau", r["record"])
    names = {b: list(features(next(mrec(r) if b == "mvau" else r["record"] for r in rs if r["block"] == b), family))
             for b in blocks}
    cols = [(b, n) for b in blocks for n in names[b]]

    def x_of(r: dict) -> np.ndarray:
        x = {("mvau", n): v for n, v in features(mrec(r), family).items()}
        if r["block"] != "mvau":
            x.update({(r["block"], n): v for n, v in features(r["record"], family).items()})
        return np.array([float(x.get(c, 0.0)) for c in cols])

    def rule(r: dict, m: str) -> float:
        return rule_counts(mvau_shape(mrec(r))).get(m, 0.0)

    a = np.array([x_of(r) for r in rs])
    out = {b: {"features": names[b]} for b in blocks}
    for m in METRICS:
        y = np.array([max(0.0, r[m] - top[m] - rule(r, m)) for r in rs])
        w = 1.0 / np.maximum(y, 8.0)
        use = np.array([m in ("lut", "ff") or (b != "mvau" and n == RESOURCE_FEATURE[m]) for b, n in cols])
        coef = np.zeros(len(cols))
        if use.any():
            coef[use], _ = nnls((a * w[:, None])[:, use], y * w)
        pred = a @ coef
        for b in blocks:
            out[b][m] = [round(float(coef[cols.index((b, n))]), 5) for n in names[b]]
            idx = [i for i, r in enumerate(rs) if r["block"] == b]
            out[b][f"{m}_max_rel_err"] = round(float(max(abs(pred[i] - y[i]) / max(y[i], 8.0) for i in idx)), 3)
        for i, r in enumerate(rs):            # the block alone: a fused point less its MVAU's share of the fit
            mv = sum(coef[j] * a[i, j] for j, c in enumerate(cols) if c[0] == "mvau") + rule(r, m)
            r.setdefault("block_only", {})[m] = round(float(y[i] + rule(r, m) - (mv if r["block"] != "mvau" else 0.0)), 2)
    for b in FUSED:
        if b in out:
            out[b]["error_of"] = "the whole folded unit (MVAU and requantiser)"
    return out


def _add_fifo(fitted: dict, row: dict, metric: str) -> float:
    """The fitted FIFO model's count for the FIFO in front of a calibrated add (0 for other blocks)."""
    from ohq_flow.design.price import features
    if row["block"] != "add":
        return 0.0
    f = fitted["fifo"]
    x = features({"kind": "fifo", **ADD_FIFO(row["record"]["in_width"])}, FAMILY[0])
    return sum(c * x[n] for c, n in zip(f[metric], f["features"]))


def fit(rows: list[dict]) -> dict:
    """Per block: non-negative least squares of LUT and FF on the estimate's features."""
    from scipy.optimize import nnls

    from ohq_flow.design.price import features
    family = FAMILY[0]
    top = {m: float(np.mean([r[m] for r in rows if r["block"] == "top"] or [0])) for m in METRICS}
    out = {"top": {"features": ["one"], **{m: [round(top[m], 2)] for m in METRICS},
                   **{f"{m}_max_rel_err": 0.0 for m in METRICS}}}
    out.update(_fit_folded(rows, top))
    for block in sorted({r["block"] for r in rows} - {"top", "mvau", *FUSED}, key=lambda b: (b == "add", b)):  # add after fifo
        rs = [r for r in rows if r["block"] == block]
        names = list(features(rs[0]["record"], family))
        a = np.array([[features(r["record"], family)[n] for n in names] for r in rs], dtype=float)
        out[block] = {"features": names}
        for m in METRICS:       # the block alone: its one-stage design less the top around it (and an add's FIFO)
            y = np.array([max(0.0, r[m] - top[m] - _add_fifo(out, r, m)) for r in rs], dtype=float)
            for r, v in zip(rs, y):
                r.setdefault("block_only", {})[m] = round(float(v), 2)    # what the fit is fitted to
            # relative least squares: every point weighs the same whatever its size
            w = 1.0 / np.maximum(y, 8.0)
            # DSP and block RAM come from one feature each (a constant multiplication, a line buffer in BRAM)
            use = np.array([m in ("lut", "ff") or (block != "mvau" and n == RESOURCE_FEATURE[m]) for n in names])
            coef = np.zeros(len(names))
            if use.any():
                coef[use], _ = nnls((a * w[:, None])[:, use], y * w)
            pred = a @ coef
            out[block][m] = [round(float(v), 5) for v in coef]
            out[block][f"{m}_max_rel_err"] = round(float(np.max(np.abs(pred - y) / np.maximum(y, 8.0))), 3)
    return out


def _counts(stat: Path) -> dict:
    """LUT/FF/CARRY/DSP/BRAM18 of an earlier point's Yosys statistics (counted as ``measure_yosys`` counts them)."""
    from ohq_flow.hw.rtl.yosys import _cells, resource_counts
    return resource_counts(_cells(json.loads(stat.read_text())), FAMILY[0])


def check_mvau_rule(rows: list[dict]) -> list[str]:
    """Points whose DSP or block-RAM count differs from what the rule (``design/mvau.rule_counts``, and a fused
    multiply-shift's multipliers) counts."""
    from ohq_flow.design.mvau import rule_counts
    from ohq_flow.design.price import features, mvau_shape
    bad = []
    for r in rows:
        if r["block"] != "mvau" and r["block"] not in FUSED:
            continue
        rec = r["record"].get("mvau", r["record"])
        u = mvau_shape(rec)
        want = rule_counts(u)
        if r["block"] in FUSED:                   # the fused lanes' multipliers
            want["dsp"] += features(r["record"], FAMILY[0]).get("multipliers", 0)
        for m, v in want.items():
            if float(r[m]) != float(v):
                bad.append(f"{r['block']} {rec['inputs']}x{rec['outputs']} PE{u.pe} SIMD{u.simd}: {m} Yosys {r[m]} vs rule {v}")
    return bad


FAMILY = ["xc7"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default="", help="comma-separated blocks")
    ap.add_argument("--refit", action="store_true", help="fit the stored points again, synthesise nothing")
    ap.add_argument("--family", default="xc7", choices=("xc7", "ecp5"), help="synth_xilinx -family xc7, or synth_ecp5")
    args = ap.parse_args()
    FAMILY[0] = args.family
    from ohq_flow.design.price import fit_path
    FIT_PATH = fit_path(args.family)
    work = WORK if args.family == "xc7" else WORK.with_name(f"calibrate_glue_{args.family}")
    from ohq_flow.fileio import atomic_write_json
    from ohq_flow.hw.rtl.yosys import measure_yosys, yosys_version
    old = json.loads(FIT_PATH.read_text()) if FIT_PATH.is_file() else {"points": []}
    only = set(filter(None, args.only.split(",")))
    rows = [] if not args.refit else old["points"]
    if not args.refit:
        from ohq_flow.design.rtl import BLOCKS, RTL_BLOCKS
        import hashlib
        keep = [r for r in old["points"] if only and r["block"] not in only]
        from ohq_flow.resources import TEMPLATES
        scripts = [TEMPLATES / "yosys" / n for n in ("synth_xilinx.ys", "synth_ecp5_ooc.ys")]   # and the scripts
        blocks_sha = hashlib.sha256(b"".join(p.read_bytes() for p in [RTL_BLOCKS / b for b in BLOCKS] + scripts)).hexdigest()
        for n, (block, params, rec) in enumerate(points(only)):
            d = work / f"{n:02d}_{block}"
            top, sha = d / "ohq_top.v", d / "blocks.sha256"
            before = top.read_text() if top.is_file() else None
            render(block, params, rec, top)
            stat = d / "yosys" / "yosys_stat.json"
            same_rtl = sha.is_file() and sha.read_text() == blocks_sha      # the building blocks unchanged too
            if before == top.read_text() and same_rtl and stat.is_file() and (d / "yosys" / "yosys.full.log").is_file():
                rows.append({"block": block, "record": rec, **_counts(stat), "seconds": None})   # measured before
                continue
            srcs = [top] + [RTL_BLOCKS / b for b in BLOCKS]
            t0 = time.perf_counter()
            r = measure_yosys(srcs, "ohq_top", family=args.family, work_dir=d / "yosys", timeout_s=1800,
                              blackboxes=[STUB] if block == "kernel" else [])
            sha.write_text(blocks_sha)
            rows.append({"block": block, "record": rec, "lut": r.lut, "lutram": r.lutram, "ff": r.ff, "carry": r.carry,
                         "dsp": r.dsp, "bram18": r.bram18,
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(f"{block} {rec}: lut {r.lut} ff {r.ff} ({rows[-1]['seconds']} s)", file=sys.stderr, flush=True)
        rows = keep + rows
    script = "synth_ecp5" if args.family == "ecp5" else "synth_xilinx -family xc7 -flatten"
    data = {"made_by": f"python -m bench.calibrate_glue --family {args.family} (Yosys {script}, one block per run)",
            "yosys": yosys_version(), "family": args.family, "date": dt.date.today().isoformat(),
            "fit": fit(rows), "rule_mismatches": check_mvau_rule(rows), "points": rows}
    atomic_write_json(FIT_PATH, data)
    for line in data["rule_mismatches"]:
        print("RULE MISMATCH", line)
    for b, f in data["fit"].items():
        print(f"{b}: LUT = {' + '.join(f'{c:g}*{n}' for c, n in zip(f['lut'], f['features']))} "
              f"(max error {100 * f['lut_max_rel_err']:.0f}%); FF max error {100 * f['ff_max_rel_err']:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
