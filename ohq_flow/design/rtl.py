"""The complete design: kernels (da4ml), building blocks (templates/rtl) and one generated top.

``generate_design`` writes ``<out>/rtl/`` (the top ``ohq_top.v`` from ``templates/rtl/ohq_top.v.j2``,
the parameterised blocks, each layer's da4ml kernel), ``<out>/design.json`` (the interface the
implementation reads) and ``<out>/design_report.md`` (stages, requantisation method per layer,
predicted latency/II).

The cycle model (:mod:`ohq_flow.design.timing`) predicts latency and II from the stage records;
the records are what :mod:`ohq_flow.design.price` prices (the ILP plans the same records with
:func:`plan_ir` before any RTL exists).

Folds: ``generate_design(..., folds={node: "pe4_simd8"})`` builds that layer as a folded MVAU
(PE | MH and SIMD | MW, else an InputError naming the layer and the allowed values), exactly as the
solution chose it; a layer without a fold keeps the fully parallel da4ml kernel.
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
from ohq_flow.design.timing import predict_timing
from ohq_flow.fileio import atomic_write_json, atomic_write_text
from ohq_flow.resources import TEMPLATES

RTL_BLOCKS = TEMPLATES / "rtl"
BLOCKS = ["ohq_common.v", "ohq_fifo.v", "ohq_kernel_ctrl.v", "ohq_window.v", "ohq_requant.v", "ohq_maxreduce.v",
          "ohq_collect.v", "ohq_fork.v", "ohq_add.v", "ohq_argmax.v", "ohq_mvau.v", "ohq_unpack_bipolar.v"]
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
    const = np.asarray(rq.lo) == np.asarray(rq.hi)      # one code whatever the accumulator (a dead or clipped channel)
    if rq.method == "multiply_shift":
        mult, bias = np.asarray(rq.mult), np.asarray(rq.bias)
        if not st.info.get("fused"):   # its own multiplier: a zero factor makes it a constant (fused lanes share theirs)
            mult, bias = np.where(const, 0, mult), np.where(const, 0, bias)
        p += [("MODE", 0), ("S", rq.shift), ("RND", rq.rounding), ("MULT", _vlit(mult, tw)), ("BIAS", _vlit(bias, tw))]
    else:
        nt = max(1, rq.thresholds.shape[1])
        thr = rq.thresholds if rq.thresholds.shape[1] else np.where(rq.desc, rq.acc_min, rq.acc_max + 1)[:, None]
        # a falling channel's unused thresholds (never counted in range) at the smallest AW-bit value: a constant
        # comparator, so a zero-scale channel is the constant code LO_c
        floor = -(1 << (acc_width - 1)) if st.inp.signed else 0
        thr = np.where(rq.desc[:, None] & (np.asarray(thr) <= rq.acc_min[:, None]), floor, thr)
        # a channel of one code: every threshold at the floor, falling (never counted): constant comparators
        thr, desc = np.where(const[:, None], floor, thr), rq.desc | const
        p += [("MODE", 1), ("NT", nt), ("STEP", step), ("THR", _vlit(np.asarray(thr).reshape(-1), tw)),
              ("DIR", _vlit(desc.astype(int), 1))]
    return [(k, str(v)) for k, v in p]


def mvau_shape(st: Stage, pe: int, simd: int):
    """The :class:`~ohq_flow.design.mvau.MvauShape` of a kernel stage at PE x SIMD (InputError naming the layer
    when the fold does not divide it)."""
    from ohq_flow.design.mvau import shape_of
    u = shape_of(st.info["matrix"], pe, simd, st.info["in_bits"], st.info["w_bits"], st.out.lo, st.out.hi)
    u.check(st.node)
    return u


def mvau_params(st: Stage, pe: int, simd: int) -> tuple[list[tuple[str, str]], int]:
    """Parameters of ``ohq_mvau`` for a kernel stage at PE x SIMD, and its cycles per beat."""
    from ohq_flow.design.mvau import rtl_params
    u = mvau_shape(st, pe, simd)
    return rtl_params(u, st.info["matrix"], st.info["in_signed"], _vlit), u.cycles


def plan_ir(model, *, prefer: str = "auto", output: str = "logits", folds: dict[str, str] | None = None,
            pack: bool = True) -> NetworkIR:
    """The stages of the complete design as :func:`generate_design` builds them, before any RTL: the walker's IR
    with the PE/SIMD folds applied and +-1 streams packed; a kernel's accumulator width is the signed width of its
    reachable range (the generator replaces it by the da4ml kernel's output width). The design cost model
    (:mod:`ohq_flow.design.terms`) plans every candidate with this function."""
    ir = build_ir(model, prefer=prefer, output=output)
    _apply_folds(ir, dict(folds or {}))
    if pack:
        pack_bipolar(ir)
    fuse_requants(ir)
    from ohq_flow.design.mvau import signed_bits
    for st in ir.stages:
        if st.kind in ("kernel", "mvau") and not st.out.bits:
            st.out.bits = signed_bits(st.out.lo, st.out.hi)
    return ir


def generate_design(model, out_dir: Path, *, top: str = "ohq_top", latency_cutoff: float | None = 5.0,
                    part: str = "xc7z020clg400-1", clock_ns: float = 10.0, prefer: str = "auto",
                    model_name: str = "model.onnx", output: str = "logits", folds: dict[str, str] | None = None,
                    pack: bool = True) -> Design:
    """Generate the complete streaming design of ``model`` into ``out_dir``.

    ``folds``: compute node name -> fold label (``pe{P}_simd{S}`` builds the layer folded, exactly as given);
    ``pack``: +-1 streams as 1 bit per element (:func:`~ohq_flow.design.graph.pack_bipolar`; False keeps them
    2-bit, for comparison)."""
    import jinja2

    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    rtl = out_dir / "rtl"
    if rtl.exists():
        shutil.rmtree(rtl)
    rtl.mkdir(parents=True)
    ir = plan_ir(model, prefer=prefer, output=output, folds=folds, pack=pack)
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
            fused = st.info.get("fused")
            if fused is not None:             # the requantiser after it, inside: the unit emits its stream
                params += fused_requant_params(fused, st.out.bits)
            rendered.append(dict(kind="mvau", node=st.node, module=MODULES["mvau"], params=params, cycles=cycles,
                                 unpack=st.info.get("unpack", 0), **({"out": fused.dst[0]} if fused is not None else {})))
        elif st.kind == "requant" and st.info.get("fused"):
            rendered.append(dict(kind="tie", node=st.node))          # its input stream: unused (the MVAU emits its output)
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
    records = [stage_record(i, st, kernels.get(i)) for i, st in enumerate(ir.stages)]
    lat, ii = predict_timing([timing_stage(r) for r in records], ir.inp.beats, ir.out_sid)
    meta = {"top": top, "sources": [str(s.relative_to(out_dir)) for s in sources], "include_dirs": [],
            "in_width": ir.inp.width, "in_beats": ir.inp.beats, "in_elem_bits": ir.inp.bits, "in_signed": bool(ir.inp.signed),
            "in_channels": ir.inp.channels, "out_width": ir.out.width, "out_beats": ir.out.beats,
            "out_elem_bits": ir.out.bits, "out_signed": bool(ir.out.signed), "out_channels": ir.out.channels,
            "predicted_latency_cycles": int(lat), "predicted_ii_cycles": int(ii),
            "in_scale": [float(v) for v in ir.inp.scale], "out_scale": [float(v) for v in ir.out.scale],
            "out_offset": [float(v) for v in (ir.out_offset if ir.out_offset is not None else np.zeros(ir.out.channels))],
            "input_quant": ir.input_quant, "output": output,
            "folds": {st.node: f"pe{st.params['PE']}_simd{st.params['SIMD']}" for st in ir.stages if st.kind == "mvau"},
            "stages": records}
    design = Design(out_dir, top, ir, sources, meta, kernels, time.perf_counter() - t0)
    meta["generation_seconds"] = round(design.gen_seconds, 3)
    atomic_write_json(out_dir / "design.json", meta)
    atomic_write_text(out_dir / "design_report.md", design_report(meta))
    return design


def requant_lanes(pe: int, simd: int, mw: int) -> int:
    """The fused requantiser's lanes P of a folded layer: the fewest (a divisor of PE) that requantise a neuron
    fold's PE sums in K = PE / P <= SF cycles, before the next fold is done."""
    from ohq_flow.design.mvau import divisors
    sf = mw // simd
    return next(d for d in divisors(pe) if pe // d <= sf)


def fuse_requants(ir: NetworkIR) -> None:
    """A requantiser right after a folded layer is fused into it (``ohq_mvau`` with RQ = 1, FINN's MVAU with
    thresholds): the requant stage stays in the list (``info['fused']``; the stage list is the same whatever the
    folds), the MVAU stage points at it (``info['fused']``) and emits its output. Its lanes share their constants'
    ROM, so a threshold requantiser with an exact multiply-shift alternative (``Requant.shared``) takes that."""
    producer = {d: st for st in ir.stages for d in st.dst}
    for st in ir.stages:
        up = producer.get(st.src[0]) if st.src else None
        if st.kind != "requant" or up is None or up.kind != "mvau":
            continue
        mw, mh = up.info["matrix"].shape
        p = requant_lanes(up.params["PE"], up.params["SIMD"], mw)
        st.params.update(P=p, N=mh // p)
        st.info["fused"] = True
        up.info["fused"] = st
        rq = st.info.get("requant")
        if rq is not None and rq.shared is not None:
            st.info["requant"] = rq.shared


def fused_requant_params(st: Stage, acc_width: int) -> list[tuple[str, str]]:
    """The ``ohq_mvau`` parameters of the requant stage ``st`` fused into it (RQ, P lanes, GW, MB and ohq_requant's
    function parameters)."""
    from ohq_flow.design.mvau import signed_bits
    rq = st.info["requant"]
    mb = signed_bits(min(rq.mult), max(rq.mult)) if rq.method == "multiply_shift" else 2
    own = [(k, v) for k, v in _requant_params(st, acc_width) if k not in ("C", "AW", "ASIGNED")]
    mc = int(rq.method == "multiply_shift" and len(set(int(v) for v in rq.mult)) == 1)   # one constant factor
    return [("RQ", "1"), ("P", str(st.params["P"])), ("GW", str(max(1, (st.params["N"] - 1).bit_length()))),
            ("MB", str(mb)), ("MC", str(mc))] + own


def _apply_folds(ir: NetworkIR, folds: dict[str, str]) -> None:
    """Mark the kernel stages with a PE/SIMD fold as ``mvau`` (``px1`` or "" keep the unrolled kernel; a
    parallel-pixel fold ``px{K}``, K > 1, is not generated: InputError, such candidates are never costed)."""
    from ohq_flow.errors import InputError
    from ohq_flow.design.folds import parse_fold
    kernels = {st.node: st for st in ir.stages if st.kind == "kernel"}
    unknown = sorted(set(n for n, f in folds.items() if f) - set(kernels))
    if unknown:
        raise InputError(f"folds name {', '.join(unknown)}, which are not compute layers of the design",
                         f"layers: {', '.join(kernels)}")
    for node, label in folds.items():
        if not label:
            continue
        f = parse_fold(label)
        if f.px:
            if f.px > 1:
                raise InputError(f"fold {f.label} of layer {node}: parallel-pixel folds are not generated",
                                 "use a PE/SIMD fold or the unrolled kernel (px1)")
            continue
        st = kernels[node]
        st.kind = "mvau"
        st.params.update(PE=f.pe, SIMD=f.simd)
        mvau_params(st, f.pe, f.simd)          # validates PE | MH, SIMD | MW (InputError naming the layer)


def stage_record(i: int, st: Stage, kernel=None, latency: int | None = None) -> dict:
    """The ``design.json`` record of stage ``i``: everything the price list (:mod:`ohq_flow.design.price`) and the
    cycle model (:mod:`ohq_flow.design.timing`) read. ``kernel``: the generated da4ml kernel of a kernel stage
    (without it, a planned stage: its accumulator width from the reachable range, ``latency`` as given)."""
    from ohq_flow.design.mvau import signed_bits
    rec = {"index": i, "kind": st.kind, "node": st.node, "src": st.src, "dst": st.dst, "in_width": st.inp.width,
           "out_width": st.out.width, "in_beats": st.inp.beats, "out_beats": st.out.beats,
           **{k: v for k, v in st.params.items()}}
    if st.kind in ("kernel", "mvau"):
        mat = st.info["matrix"]
        rec.update(inputs=int(mat.shape[0]), outputs=int(mat.shape[1]), w_bits=st.info["w_bits"],
                   wb=max(int(st.info["w_bits"]), signed_bits(mat.min(), mat.max())) if mat.size else int(st.info["w_bits"]),
                   a_bits=st.info["in_bits"], a_signed=bool(st.info["in_signed"]), acc_width=st.out.bits,
                   groups=st.info.get("groups", 1))
    if st.kind == "kernel":
        rec["latency"] = latency
        if kernel is not None:
            rec.update(module=kernel.top, latency=kernel.latency_cycles, da4ml_cost=kernel.da4ml_cost,
                       acc_width=kernel.out_width)
    if st.kind == "mvau":
        u = mvau_shape(st, st.params["PE"], st.params["SIMD"])
        fused = st.info.get("fused")
        lanes = fused.params["P"] if fused is not None else u.pe
        rec.update(cycles=u.cycles, acc_width=u.aw, wb=u.wb, mem=u.mem, mul=u.mul, fused=int(fused is not None),
                   lanes=lanes, drain=u.pe // lanes, dead=u.dead)
        if fused is not None:
            rec["out_width"] = fused.out.width
    if st.kind == "requant":
        rq = st.info["requant"]
        rec.update(method=rq.method, out_bits=st.out.bits, out_signed=bool(st.out.signed), packed=bool(st.out.packed),
                   levels=int((rq.hi - rq.lo).max()), acc_range=[int(rq.acc_min.min()), int(rq.acc_max.max())],
                   tw=rq.internal_width(st.inp.bits), nt=int(max(1, rq.thresholds.shape[1])) if rq.method == "thresholds" else 0,
                   falling=int(np.sum(rq.desc)), const_channels=int(np.sum(np.asarray(rq.lo) == np.asarray(rq.hi))))
        if rq.method == "multiply_shift":
            rec.update(shift=rq.shift, mult=[int(v) for v in rq.mult], bias=[int(v) for v in rq.bias], rounding=rq.rounding)
        if st.info.get("fused"):         # inside the MVAU before it: P lanes over N steps, a pass-through stream here
            rec.update(fused=1, lanes=st.params["P"], steps=st.params["N"], acc_width=st.inp.bits)
    return rec


def timing_stage(rec: dict) -> dict:
    """A stage record as :func:`~ohq_flow.design.timing.predict_timing` reads it."""
    return dict(kind=rec["kind"], lat=rec.get("latency") or 0, cycles=rec.get("cycles", 1), drain=rec.get("drain", 1),
                fused=rec.get("fused", 0), params=rec, src=rec["src"], dst=rec["dst"])


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
            d += f", weights in {'block RAM' if s.get('mem') else 'LUT-ROM'}, products in {'DSP' if s.get('mul') else 'LUTs'}"
            if s.get("fused"):
                d += f", requantiser fused in ({s['lanes']} lane{'s' if s['lanes'] > 1 else ''})"
        elif s["kind"] == "requant":
            d = (f"multiply-shift (x{'/'.join(map(str, sorted(set(s['mult']))[:4]))} >> {s['shift']})"
                 if s["method"] == "multiply_shift" else f"thresholds ({s['levels']} per channel)")
            d += (" -> +-1 packed as 1 bit" if s.get("packed") else
                  f" -> {s['out_bits']}-bit {'signed' if s['out_signed'] else 'unsigned'}") + f", acc range {s['acc_range']}"
            if s.get("fused"):
                d += ", inside the MVAU before it"
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
