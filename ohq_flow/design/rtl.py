"""The complete design: kernels (da4ml), building blocks (templates/rtl) and one generated top.

``generate_design`` writes ``<out>/rtl/`` (the top ``ohq_top.v`` from ``templates/rtl/ohq_top.v.j2``,
the parameterised blocks, each layer's da4ml kernel), ``<out>/design.json`` (the interface the
implementation reads) and ``<out>/design_report.md`` (stages, requantisation method per layer,
predicted latency/II).

Timing model (what the RTL does, cycle by cycle, when nothing stalls): a beat transferred in
cycle t leaves a kernel stage at t + LAT + 1 (pipeline + output FIFO), a requant or max-pool
stage at t + 1 (output register), a collect stage at t + 1 after its last beat; a window is sent
2 cycles after the last pixel it needs arrived (write, then register), at most one per cycle.
A folded layer (``mvau``, ``templates/rtl/ohq_mvau.v``) takes a beat at
a = max(arrival, previous take + C) with C = (MH/PE)·(MW/SIMD) and gives it at a + C + 1.
Latency = last output beat - first input beat of one frame; II = the most cycles any stage
spends on a frame (beats, or beats x C for a folded layer).

Folds: ``generate_design(..., folds={node: "pe4_simd8"})`` builds that layer as a folded MVAU
(PE | MH and SIMD | MW, else an InputError naming the layer and the allowed values); a layer
without a fold, or with a streamed ``px{K}`` fold (not generated yet: built with one pixel per
cycle, listed in ``design.json``'s ``folds_not_built``), keeps the fully parallel da4ml kernel.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ohq_flow.errors import FlowError
from ohq_flow.design.graph import NetworkIR, Stage, build_ir, pack_bipolar, skip_depth
from ohq_flow.fileio import atomic_write_json, atomic_write_text
from ohq_flow.resources import TEMPLATES

RTL_BLOCKS = TEMPLATES / "rtl"
BLOCKS = ["ohq_fifo.v", "ohq_kernel_ctrl.v", "ohq_window.v", "ohq_requant.v", "ohq_maxreduce.v", "ohq_collect.v",
          "ohq_fork.v", "ohq_add.v", "ohq_argmax.v", "ohq_mvau.v", "ohq_unpack_bipolar.v"]
MODULES = {"window": "ohq_window", "requant": "ohq_requant", "maxpool": "ohq_maxreduce", "sumpool": "ohq_maxreduce", "collect": "ohq_collect",
           "fork": "ohq_fork", "fifo": "ohq_fifo", "add": "ohq_add", "argmax": "ohq_argmax", "mvau": "ohq_mvau"}


@dataclass
class Design:
    """A generated complete design."""

    out_dir: Path
    top: str
    ir: NetworkIR
    sources: list[Path]
    meta: dict
    kernels: dict = field(default_factory=dict)   # stage index -> RtlDesign
    gen_seconds: float = 0.0

    @property
    def json_path(self) -> Path:
        return self.out_dir / "design.json"


def _vlit(values, width: int) -> str:
    """Packed Verilog literal of signed integers (element 0 in the LSBs)."""
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << width) - 1)) << (i * width)
    n = max(1, len(values)) * width
    if n <= 4096:
        return f"{n}'h{word:x}"
    # long parameters as a concatenation over lines (Icarus' scanner refuses very long lines)
    chunks = [(min(1024, n - lo), (word >> lo) & ((1 << min(1024, n - lo)) - 1)) for lo in range(0, n, 1024)]
    return "{" + ",\n      ".join(f"{w}'h{v:x}" for w, v in reversed(chunks)) + "}"


def _requant_params(st: Stage, acc_width: int) -> list[tuple[str, str]]:
    rq = st.info["requant"]
    tw = rq.internal_width(acc_width)
    c = st.inp.channels
    ow, lo, hi, step = rq.out_bits, rq.lo, rq.hi, rq.step
    if st.info.get("packed"):          # +-1 as one bit: -1 -> 0, +1 -> 1, one threshold
        ow, lo, hi, step = 1, (rq.lo + 1) // 2, (rq.hi + 1) // 2, 1
    p = [("C", c), ("AW", acc_width), ("ASIGNED", int(bool(st.inp.signed))), ("OW", ow), ("TW", tw), ("LO", _vlit(lo, tw)), ("HI", _vlit(hi, tw))]
    if rq.method == "multiply_shift":
        p += [("MODE", 0), ("S", rq.shift), ("RND", rq.rounding), ("MULT", _vlit(rq.mult, tw)), ("BIAS", _vlit(rq.bias, tw))]
    else:
        nt = max(1, rq.thresholds.shape[1])
        thr = rq.thresholds if rq.thresholds.shape[1] else np.full((c, 1), int(rq.acc_max.max()) + 1)
        p += [("MODE", 1), ("NT", nt), ("STEP", step), ("THR", _vlit(np.asarray(thr).reshape(-1), tw))]
    return [(k, str(v)) for k, v in p]


def _signed_bits(lo, hi) -> int:
    """Two's complement width holding every integer in [min(lo), max(hi)]."""
    lo, hi = int(np.min(lo)), int(np.max(hi))
    return max(2, max(hi, 0).bit_length() + 1, max(-lo - 1, 0).bit_length() + 1)


def mvau_params(st: Stage, pe: int, simd: int) -> tuple[list[tuple[str, str]], int]:
    """Parameters of ``ohq_mvau`` for a kernel stage at PE x SIMD, and its cycles per beat."""
    from ohq_flow.errors import InputError
    from ohq_flow.hw.measurers.analytic.folds import divisors
    mat = np.asarray(st.info["matrix"], dtype=np.int64)        # [MW, MH]
    mw, mh = mat.shape
    bad = [f"PE must divide MH={mh}: one of {divisors(mh)}"] if mh % pe else []
    bad += [f"SIMD must divide MW={mw}: one of {divisors(mw)}"] if mw % simd else []
    if bad:
        raise InputError(f"fold pe{pe}_simd{simd} of layer {st.node}: " + "; ".join(bad),
                         "choose PE and SIMD from the allowed values (solution.json's fold)")
    nf, sf = mh // pe, mw // simd
    wb = max(int(st.info["w_bits"]), _signed_bits(mat.min(), mat.max()))
    rom = mat.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(-1)   # word nf*SF+sf, lane p*SIMD+s
    aw = _signed_bits(st.out.lo, st.out.hi)
    cw = max(2, (nf * sf).bit_length() + 1)
    p = [("MW", mw), ("MH", mh), ("PE", pe), ("SIMD", simd), ("IW", st.inp.bits), ("ISIGNED", int(bool(st.inp.signed))),
         ("WB", wb), ("AW", aw), ("CW", cw), ("WROM", _vlit(rom, wb))]
    return [(k, str(v)) for k, v in p], nf * sf


def predict_timing(stages: list[dict], in_beats: int, out_sid: int) -> tuple[int, int]:
    """(latency, II) of the stage model for one frame whose beats arrive one per cycle.

    ``stages``: kind, lat (kernels), cycles (folded layers), params, src/dst stream ids, in
    topological order. Back-pressure of a slow stage on the ones before it is not modelled (exact
    when every stage after the first folded one is at least as fast, e.g. an MLP's one beat per frame).
    """
    times = {0: list(range(in_beats))}
    ii = in_beats
    for s in stages:
        kind = s["kind"]
        t = times[s["src"][0]]
        if kind == "kernel":
            t = [x + s["lat"] + 1 for x in t]
        elif kind == "mvau":
            c, out, take = s["cycles"], [], None
            for x in t:
                take = x if take is None else max(x, take + c)
                out.append(take + c + 1)
            t = out
            ii = max(ii, len(t) * c)
        elif kind in ("requant", "maxpool", "sumpool", "fork", "fifo", "argmax"):
            t = [x + 1 for x in t]
        elif kind == "add":
            t = [max(a, b) + 1 for a, b in zip(t, times[s["src"][1]])]
        elif kind == "collect":
            n = s["params"]["N"]
            t = [t[(j + 1) * n - 1] + 1 for j in range(len(t) // n)]
        elif kind == "window":
            p = s["params"]
            out, prev = [], -1
            for oy in range(p["OH"]):
                for ox in range(p["OW"]):
                    ny = min(oy * p["SH"] + p["KH"] - 1 - p["PT"], p["H"] - 1)
                    nx = min(ox * p["SW"] + p["KW"] - 1 - p["PL"], p["W"] - 1)
                    prev = max(t[ny * p["W"] + nx] + 2, prev + 1)
                    out.append(prev)
            t = out
        for d in s["dst"]:
            times[d] = t
        ii = max(ii, len(t))
    return times[out_sid][-1], ii


def auto_fold(mw: int, mh: int, beats: int, target: int, max_lanes: int) -> str:
    """The fold of an automatically folded ``mw`` x ``mh`` layer with ``beats`` vectors per frame.

    The fewest PE x SIMD lanes (at most ``max_lanes``) whose cycles per frame, beats·(MH/PE)·(MW/SIMD),
    stay within ``target`` (the unfolded network's cycles per frame: it keeps its throughput); when no
    such fold exists, the fastest fold within ``max_lanes`` (fewest lanes among equals)."""
    from ohq_flow.hw.measurers.analytic.folds import divisors
    cands = [(beats * (mh // pe) * (mw // simd), pe * simd, pe, simd) for pe in divisors(mh) for simd in divisors(mw)
             if pe * simd <= max_lanes]
    keeps = [c for c in cands if c[0] <= target]
    _, _, pe, simd = min(keeps, key=lambda c: (c[1], c[0])) if keeps else min(cands, key=lambda c: (c[0], c[1]))
    return f"pe{pe}_simd{simd}"


def auto_folds(ir: NetworkIR, fold_above: int | None, max_lanes: int, folds: dict[str, str]) -> dict[str, str]:
    """Folds for the kernel stages past ``fold_above`` weights (per group) that ``folds`` leaves unfolded."""
    if fold_above is None:
        return {}
    target = max(max(st.inp.beats, st.out.beats) for st in ir.stages) if ir.stages else 1
    out = {}
    for st in ir.stages:
        mw, mh = np.shape(st.info["matrix"]) if st.kind == "kernel" else (0, 0)
        if st.kind == "kernel" and not str(folds.get(st.node) or "").startswith("pe") and \
                mw * mh // st.info.get("groups", 1) ** 2 > fold_above:      # block-diagonal: weights per group
            out[st.node] = auto_fold(mw, mh, st.inp.beats, target, max_lanes)
    return out


def generate_design(model, out_dir: Path, *, top: str = "ohq_top", latency_cutoff: float | None = 5.0,
                    part: str = "xc7z020clg400-1", clock_ns: float = 10.0, prefer: str = "auto",
                    model_name: str = "model.onnx", output: str = "logits", folds: dict[str, str] | None = None,
                    pack: bool = True, fold_above: int | None = None, fold_max_lanes: int = 256) -> Design:
    """Generate the complete streaming design of ``model`` into ``out_dir``.

    ``folds``: compute node name -> fold label (``pe{P}_simd{S}`` builds the layer folded); ``pack``: +-1 streams as
    1 bit per element (:func:`~ohq_flow.design.graph.pack_bipolar`; False keeps them 2-bit, for comparison).
    ``fold_above``: a layer without a PE/SIMD fold whose kernel has more weights (per group) is built
    folded too, at :func:`auto_fold`'s fold (at most ``fold_max_lanes`` lanes); recorded in
    ``design.json``'s ``auto_folds``."""
    import jinja2

    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    rtl = out_dir / "rtl"
    if rtl.exists():
        shutil.rmtree(rtl)
    rtl.mkdir(parents=True)
    ir = build_ir(model, prefer=prefer, output=output)
    folds = dict(folds or {})
    auto = auto_folds(ir, fold_above, fold_max_lanes, folds)
    not_built = _apply_folds(ir, {**folds, **auto})
    if pack:
        pack_bipolar(ir)
    kernels, rendered = {}, []
    static_seen: set[str] = set()
    kernel_sources: list[Path] = []
    for i, st in enumerate(ir.stages):
        if st.kind == "kernel":
            name = "k_" + re.sub(r"\W", "_", st.node).lower()
            d = generate_cmvm_rtl(st.info["matrix"], w_bits=st.info["w_bits"], a_bits=st.info["in_bits"],
                                  a_signed=st.info["in_signed"], out_dir=out_dir / "kernels" / name, top=name,
                                  latency_cutoff=latency_cutoff, part=part, clock_ns=clock_ns)
            if d.out_frac > 0:
                raise AssertionError(f"kernel {name}: fractional output bits from integer inputs")
            kernels[i] = d
            st.out.bits = d.out_width
            st.out.scale = st.out.scale * 2.0 ** (-d.out_frac)
            unit = 2 ** (-d.out_frac)
            if unit != 1 and i + 1 < len(ir.stages) and ir.stages[i + 1].kind == "requant":
                raise FlowError(f"kernel {name}: its output drops LSBs and feeds a requantiser, which the generator does not "
                                "support yet", "set build.design: false (per-layer kernels only) for this model")
            for s in d.sources:
                if s.parent.name == "static":
                    if s.name in static_seen:
                        continue
                    static_seen.add(s.name)
                dst = rtl / s.name
                # Verilator < 5.008 knows WIDTH, not its later split WIDTHTRUNC/WIDTHEXPAND
                dst.write_text(re.sub(r"lint_(off|on) WIDTH(TRUNC|EXPAND)", r"lint_\1 WIDTH", s.read_text()))
                kernel_sources.append(dst)
            st.info["latency"] = d.latency_cycles
            rendered.append(dict(kind="kernel", node=st.node, module=name, lat=d.latency_cycles,
                                 kout_width=d.n_outputs * d.out_width, unpack=st.info.get("unpack", 0)))
        elif st.kind == "mvau":
            params, cycles = mvau_params(st, st.params["PE"], st.params["SIMD"])
            st.out.bits = int(dict(params)["AW"])
            st.info.update(cycles=cycles, acc_width=st.out.bits)
            rendered.append(dict(kind="mvau", node=st.node, module=MODULES["mvau"], params=params, cycles=cycles))
        elif st.kind == "requant":
            rendered.append(dict(kind="requant", node=st.node, module=MODULES["requant"],
                                 params=_requant_params(st, st.inp.bits)))
        else:
            if st.kind == "argmax":    # a kernel's output width is known only now
                st.params.update(EW=st.inp.bits, SIGNED=int(st.inp.signed))
            if st.kind == "fifo":      # the skip FIFO: sized from the other branch's real kernel latencies
                depth = skip_depth(st.info["other_branch"])
                st.params.update(DEPTH=depth, CW=max(2, depth.bit_length() + 1))
            rendered.append(dict(kind=st.kind, node=st.node, module=MODULES[st.kind],
                                 params=[(k, str(v)) for k, v in st.params.items()]))
        rendered[-1].update(src=st.src, dst=st.dst)
    widths = [ir.inp.width] + [0] * (max(d for st in ir.stages for d in st.dst) if ir.stages else 0)
    for st in ir.stages:
        for d in st.dst:
            widths[d] = st.out.width
    for b in BLOCKS:
        shutil.copy(RTL_BLOCKS / b, rtl / b)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(RTL_BLOCKS)), trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text = env.get_template("ohq_top.v.j2").render(top=top, model_name=model_name, stages=rendered, widths=widths,
                                                     in_width=ir.inp.width, out_width=ir.out.width, out_beats=ir.out.beats,
                                                     out_sid=ir.out_sid)
    atomic_write_text(rtl / f"{top}.v", text)
    sources = [rtl / f"{top}.v"] + [rtl / b for b in BLOCKS] + kernel_sources
    timing_stages = [dict(kind=r["kind"], lat=r.get("lat", 0), cycles=r.get("cycles", 1), params=ir.stages[i].params,
                          src=r["src"], dst=r["dst"]) for i, r in enumerate(rendered)]
    lat, ii = predict_timing(timing_stages, ir.inp.beats, ir.out_sid)
    meta = {"top": top, "sources": [str(s.relative_to(out_dir)) for s in sources], "include_dirs": [],
            "in_width": ir.inp.width, "in_beats": ir.inp.beats, "in_elem_bits": ir.inp.bits, "in_signed": bool(ir.inp.signed),
            "in_channels": ir.inp.channels, "out_width": ir.out.width, "out_beats": ir.out.beats,
            "out_elem_bits": ir.out.bits, "out_signed": bool(ir.out.signed), "out_channels": ir.out.channels,
            "predicted_latency_cycles": int(lat), "predicted_ii_cycles": int(ii),
            "in_scale": [float(v) for v in ir.inp.scale], "out_scale": [float(v) for v in ir.out.scale],
            "out_offset": [float(v) for v in (ir.out_offset if ir.out_offset is not None else np.zeros(ir.out.channels))],
            "input_quant": ir.input_quant, "output": output,
            "folds": {st.node: f"pe{st.params['PE']}_simd{st.params['SIMD']}" for st in ir.stages if st.kind == "mvau"},
            "folds_not_built": not_built, "auto_folds": auto,
            "stages": [_stage_record(i, st, kernels.get(i)) for i, st in enumerate(ir.stages)]}
    design = Design(out_dir, top, ir, sources, meta, kernels, time.perf_counter() - t0)
    meta["generation_seconds"] = round(design.gen_seconds, 3)
    atomic_write_json(out_dir / "design.json", meta)
    atomic_write_text(out_dir / "design_report.md", design_report(meta))
    return design


def _apply_folds(ir: NetworkIR, folds: dict[str, str]) -> dict[str, str]:
    """Mark the kernel stages with a PE/SIMD fold as ``mvau``; returns the folds not built (node -> label)."""
    from ohq_flow.errors import InputError
    from ohq_flow.hw.measurers.analytic.folds import parse_fold
    kernels = {st.node: st for st in ir.stages if st.kind == "kernel"}
    unknown = sorted(set(n for n, f in folds.items() if f) - set(kernels))
    if unknown:
        raise InputError(f"folds name {', '.join(unknown)}, which are not compute layers of the design",
                         f"layers: {', '.join(kernels)}")
    not_built = {}
    for node, label in folds.items():
        if not label:
            continue
        f = parse_fold(label)
        if f.px:
            if f.px > 1:
                not_built[node] = f.label
            continue
        st = kernels[node]
        st.kind = "mvau"
        st.params.update(PE=f.pe, SIMD=f.simd)
        mvau_params(st, f.pe, f.simd)          # validates PE | MH, SIMD | MW (InputError naming the layer)
    return not_built


def _stage_record(i: int, st: Stage, kernel) -> dict:
    rec = {"index": i, "kind": st.kind, "node": st.node, "src": st.src, "dst": st.dst, "in_width": st.inp.width, "out_width": st.out.width,
           "in_beats": st.inp.beats, "out_beats": st.out.beats, **{k: v for k, v in st.params.items()}}
    if kernel is not None:
        rec.update(module=kernel.top, inputs=kernel.n_inputs, outputs=kernel.n_outputs, w_bits=st.info["w_bits"],
                   a_bits=kernel.in_bits, a_signed=kernel.in_signed, latency=kernel.latency_cycles,
                   da4ml_cost=kernel.da4ml_cost, acc_width=kernel.out_width)
    if st.kind == "mvau":
        mw, mh = st.info["matrix"].shape
        rec.update(inputs=int(mw), outputs=int(mh), w_bits=st.info["w_bits"], a_bits=st.inp.bits, a_signed=bool(st.inp.signed),
                   cycles=st.info["cycles"], acc_width=st.info["acc_width"])
    if st.kind == "requant":
        rq = st.info["requant"]
        rec.update(method=rq.method, out_bits=st.out.bits, out_signed=bool(st.out.signed), packed=bool(st.out.packed),
                   levels=int((rq.hi - rq.lo).max()), acc_range=[int(rq.acc_min.min()), int(rq.acc_max.max())],
                   tw=rq.internal_width(st.inp.bits), nt=int(max(1, rq.thresholds.shape[1])) if rq.method == "thresholds" else 0)
        if rq.method == "multiply_shift":
            rec.update(shift=rq.shift, mult=[int(v) for v in rq.mult], bias=[int(v) for v in rq.bias], rounding=rq.rounding)
    return rec


def design_report(meta: dict) -> str:
    """Markdown summary: stages, requantisation per layer, predicted timing."""
    lines = [f"# Complete design `{meta['top']}`", "",
             f"Input: {meta['in_beats']} beats x {meta['in_channels']} x {meta['in_elem_bits']}-bit "
             f"{'signed' if meta['in_signed'] else 'unsigned'}; output: {meta['out_beats']} beats x "
             f"{meta['out_channels']} x {meta['out_elem_bits']}-bit {'signed' if meta['out_signed'] else 'unsigned'}.",
             f"Predicted latency {meta['predicted_latency_cycles']} cycles (first input beat to last output beat of a "
             f"frame), II {meta['predicted_ii_cycles']} cycles per frame.", "",
             "| # | stage | node | in beats | out beats | out width | detail |", "|---|---|---|---|---|---|---|"]
    for s in meta["stages"]:
        if s["kind"] == "kernel":
            d = f"{s['inputs']}x{s['outputs']} da4ml, w{s['w_bits']} a{s['a_bits']}, latency {s['latency']}"
        elif s["kind"] == "mvau":
            d = (f"{s['inputs']}x{s['outputs']} folded MVAU PE={s['PE']} SIMD={s['SIMD']}, w{s['w_bits']} a{s['a_bits']}, "
                 f"{s['cycles']} cycles per beat")
            if s["node"] in meta.get("auto_folds", {}):
                d += " (folded automatically: more weights than build.fold_above_weights)"
        elif s["kind"] == "requant":
            d = (f"multiply-shift (x{'/'.join(map(str, sorted(set(s['mult']))[:4]))} >> {s['shift']})"
                 if s["method"] == "multiply_shift" else f"thresholds ({s['levels']} per channel)")
            d += (" -> +-1 packed as 1 bit" if s.get("packed") else
                  f" -> {s['out_bits']}-bit {'signed' if s['out_signed'] else 'unsigned'}") + f", acc range {s['acc_range']}"
        elif s["kind"] in ("window",):
            d = f"{s['KH']}x{s['KW']} stride {s['SH']}x{s['SW']} pad {s['PT']},{s['PL']} on {s['H']}x{s['W']}x{s['C']}, {s['R']} line buffers"
        elif s["kind"] in ("maxpool", "sumpool"):
            d = f"{'max' if s['kind'] == 'maxpool' else 'sum'} of {s['K']} per channel"
        elif s["kind"] == "fifo":
            d = f"skip FIFO, depth {s['DEPTH']}"
        elif s["kind"] == "add":
            d = f"sum of two {s['AW']}/{s['BW']}-bit streams -> {s['OW']} bits"
        elif s["kind"] == "argmax":
            d = f"index of the largest of {s['C']} ({s['IW']}-bit)"
        elif s["kind"] == "fork":
            d = "to both branches"
        else:
            d = f"{s.get('N', '')} beats -> 1"
        lines.append(f"| {s['index']} | {s['kind']} | {s['node']} | {s['in_beats']} | {s['out_beats']} | {s['out_width']} | {d} |")
    return "\n".join(lines) + "\n"


def read_design(path: Path) -> dict:
    return json.loads(Path(path).read_text())
