"""The design's cost terms for the selection: what every layer candidate adds to the complete design.

The complete design of an assignment is planned (:func:`ohq_flow.design.rtl.plan_ir`, the
generator's own stage list, no RTL) and every stage priced (:mod:`ohq_flow.design.price`): the ILP
decides on the design the build makes. A stage's record depends on the bits of at most a few
layers (a window on the a-bits of the layer it feeds, a requantiser on the accumulator of the layer
before it — its w- and a-bits — and on the a-bits of the next one). :func:`design_terms` finds each
stage's dependencies by planning the design once per candidate of each layer (the others held), then
once per combination of the two layers a stage depends on, and writes:

* ``constant``: stages no choice changes (the input window, the top, an argmax), and the board shell
  of the implementation when ``shell`` is given;
* ``unary``: per layer candidate (w, a, fold), its kernel (the cost table's measured row) or folded
  unit (:mod:`ohq_flow.design.mvau`) and every stage that depends on this layer alone;
* ``pairs``: stages that depend on two layers (a requantiser between them): an exact table over the
  two layers' relevant bits, a pairwise term of the ILP;
* ``bounded``: stages depending on more than two layers, priced at the most any planned design gave
  them (a stated conservative bound, added to ``constant``);
* ``timing``: the stage skeleton with every candidate's kernel latency or fold cycles, from which
  :mod:`ohq_flow.design.timing` computes the pipeline's exact latency and II of any assignment
  (:meth:`DesignTerms.timing`) and its linear bound.

Every number is in the family's synthesised units (Yosys LUT/FF/DSP/BRAM18; LUT4-equivalents on ECP5);
``post_route`` holds the family's measured synthesis -> place-and-route factors when there are any.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Mapping

from ohq_flow.errors import InputError

log = logging.getLogger(__name__)
METRICS = ("lut", "ff", "dsp", "bram18")


def label(w: int, a: int, fold: str = "") -> str:
    """A candidate's key: ``w4a8`` or ``w4a8@pe2_simd4``."""
    return f"w{w}a{a}" + (f"@{fold}" if fold else "")


def part_key(part: str, w: int, a: int, fold: str = "") -> str:
    """The part of a candidate a stage depends on (``part`` holds some of w, a, f): e.g. ``a4`` (its a-bits),
    ``w3a4`` (both bits), ``w3a4@pe2_simd4`` (and its fold)."""
    return (f"w{w}" if "w" in part else "") + (f"a{a}" if "a" in part else "") + (f"@{fold or 'unrolled'}" if "f" in part else "")


def _add(acc: dict, price: Mapping[str, float], k: float = 1.0) -> dict:
    for m in METRICS:
        acc[m] = acc.get(m, 0.0) + k * float(price.get(m, 0.0))
    return acc


@dataclass
class DesignTerms:
    """The design's cost terms (module docstring); plain data, written as ``design_costs.json``."""

    family: str
    constant: dict[str, float]
    unary: dict[str, dict[str, dict[str, float]]]            # layer -> candidate label -> metric -> value
    pairs: list[dict]                                         # {layers: [l1, l2], parts: [p1, p2], cost: {"k1|k2": {...}}}
    timing: dict                                              # in_beats, out_sid, stages (skeleton), kernel: layer -> label -> {lat|cycles}
    stages: list[dict] = field(default_factory=list)          # per stage: index, kind, node, owner, deps {layer: part}
    bounded: list[int] = field(default_factory=list)
    post_route: dict = field(default_factory=dict)            # metric -> {coef, const, max_rel_err, points, describe}
    shell: dict[str, float] = field(default_factory=dict)     # the board shell's cost (in constant)
    calibration: dict = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)       # layer -> compute node
    kernel: dict = field(default_factory=dict)                # layer -> label -> the kernel / folded unit alone

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "DesignTerms":
        return cls(**d)

    def candidates(self, layer: str) -> list[str]:
        return list(self.unary.get(layer, {}))

    def resources(self, choice: Mapping[str, tuple[int, int, str]]) -> dict[str, float]:
        """Synthesised lut/ff/dsp/bram18 of an assignment (layer -> (w, a, fold)): constant + unary + pairs."""
        out = dict(self.constant)
        for layer, (w, a, f) in choice.items():
            _add(out, self.unary[layer][label(w, a, f)])
        for p in self.pairs:
            (l1, l2), (p1, p2) = p["layers"], p["parts"]
            c1, c2 = choice[l1], choice[l2]
            _add(out, p["cost"][f"{part_key(p1, *c1)}|{part_key(p2, *c2)}"])
        return {m: out.get(m, 0.0) for m in METRICS}

    def timing_stages(self, choice: Mapping[str, tuple[int, int, str]]) -> list[dict]:
        """The stage skeleton with the chosen candidates' kernel latencies and fold cycles (for predict_timing)."""
        out = []
        for s in self.timing["stages"]:
            s = dict(s)
            layer = s.get("layer")
            if layer is not None:
                w, a, f = choice[layer]
                k = self.timing["kernel"][layer][label(w, a, f)]
                if "cycles" in k:
                    s.update(kind="mvau", cycles=k["cycles"], drain=k.get("drain", 1))
                else:
                    s.update(kind="kernel", lat=k["lat"])
            after = s.get("after")
            if after is not None:                  # a requantiser: fused into a folded candidate
                s["fused"] = self.timing["kernel"][after][label(*choice[after])].get("fused", 0)
            out.append(s)
        return out

    def timing_of(self, choice: Mapping[str, tuple[int, int, str]]) -> tuple[int, int]:
        """(latency, II) in cycles of the streamed design of an assignment: the generator's exact cycle model."""
        from ohq_flow.design.timing import predict_timing
        return predict_timing(self.timing_stages(choice), self.timing["in_beats"], self.timing["out_sid"])


def write_terms(path, terms: DesignTerms) -> None:
    from ohq_flow.fileio import atomic_write_json
    atomic_write_json(path, terms.to_json())


def read_terms(path) -> DesignTerms:
    """``design_costs.json`` (InputError naming the file when unreadable or inconsistent)."""
    from pathlib import Path
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        terms = DesignTerms.from_json(doc)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a design cost table ({exc})", "run the profile step again") from None
    for layer, cands in terms.unary.items():
        for lab, cost in cands.items():
            for m, v in cost.items():
                if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                    raise InputError(f"{path}: {layer} {lab} {m}={v!r} is not a finite number >= 0",
                                     "run the profile step again")
    return terms


# ----------------------------------------------------------------------------- planning
class _Planner:
    """Plans the complete design of assignments (layer -> (w, a, fold); memoised) and returns its stage records."""

    def __init__(self, model, layers, *, prefer: str, output: str, kernel_latency: Mapping[str, int]):
        self.model, self.layers, self.prefer, self.output = model, layers, prefer, output
        self.node = {l.name: l.node for l in layers}
        self.kernel_latency = dict(kernel_latency)     # node -> the largest latency of its candidates (skip FIFOs)
        self.memo: dict[tuple, list[dict]] = {}
        self.ir = None

    def records(self, asg: Mapping[str, tuple[int, int, str]]) -> list[dict]:
        key = tuple(sorted(asg.items()))
        if key not in self.memo:
            from ohq_flow.design.graph import skip_depth
            from ohq_flow.design.rtl import plan_ir, stage_record
            from ohq_flow.model.quantizers import apply_bits
            final, _ = apply_bits(self.model, self.layers, {n: v[:2] for n, v in asg.items()})
            ir = plan_ir(final, prefer=self.prefer, output=self.output,
                         folds={self.node[n]: v[2] for n, v in asg.items() if v[2]})
            for st in ir.stages:
                if st.kind == "kernel":
                    st.info["latency"] = self.kernel_latency.get(st.node, 6)
            for st in ir.stages:
                if st.kind == "fifo":        # the skip FIFO: the other branch's slowest candidates (a bound)
                    depth = skip_depth(st.info["other_branch"])
                    st.params.update(DEPTH=depth, CW=max(2, depth.bit_length() + 1))
                if st.kind == "argmax":
                    st.params.update(EW=st.inp.bits, SIGNED=int(st.inp.signed))
            self.memo[key] = [stage_record(i, st, latency=st.info.get("latency")) for i, st in enumerate(ir.stages)]
            if self.ir is None:
                self.ir = ir
            if len(self.memo[key]) != len(next(iter(self.memo.values()))):
                raise AssertionError("the planned design's stage list changed with the bits")
        return self.memo[key]


def _sig(rec: dict, family: str) -> str:
    """What a stage record's price depends on: its calibrated block and that block's features (a reachable range
    that moves without changing them — e.g. an accumulator range narrowed by an earlier layer — is no dependency)."""
    from ohq_flow.design.price import block, features
    if rec["kind"] == "kernel":
        return json.dumps([rec["in_width"], rec["inputs"], rec["outputs"], rec["w_bits"], rec["a_bits"]])
    return json.dumps([block(rec), features(rec, family)], sort_keys=True, default=str)


def _part(variants: dict[tuple[int, int, str], str]) -> str | None:
    """Which part of a layer's candidate (w, a, f) changes a record: None (nothing), else the smallest of 'a', 'w',
    'f', 'wa', 'af', 'wf', 'waf' whose values determine it."""
    if len(set(variants.values())) <= 1:
        return None
    index = {"w": 0, "a": 1, "f": 2}
    for part in ("a", "w", "f", "wa", "af", "wf", "waf"):
        groups: dict[tuple, set] = {}
        for cand, sig in variants.items():
            groups.setdefault(tuple(cand[index[c]] for c in part), set()).add(sig)
        if all(len(g) == 1 for g in groups.values()):
            return part
    return "waf"


def design_terms(model, layers, space: Mapping[str, list[tuple[int, int]]], kernel_rows: Mapping[tuple[str, int, int], Mapping],
                 *, family: str, fold_mode: Mapping[str, str] | None = None, fold_list="auto", max_folds: int = 6,
                 max_lanes: int = 256, prefer: str = "auto", output: str = "logits",
                 shell: Mapping[str, float] | None = None, post_route: Mapping | None = None) -> DesignTerms:
    """The cost terms of every candidate (module docstring).

    ``space``: layer -> its (w, a) candidates; ``kernel_rows``: (layer, w, a) -> {lut, ff, dsp, bram18, latency}
    of the measured unrolled kernel (latency: its pipeline cycles); ``fold_mode``: layer -> ``unrolled`` (the
    default: the unrolled kernel only), ``also`` (the kernel and PE x SIMD folds) or ``folded`` (folds only: a
    layer too large to unroll); ``fold_list``: ``auto`` (the Pareto front of the folded unit's price, at most
    ``max_folds``, at most ``max_lanes`` lanes) or labels; ``shell``: the board shell's cost (added to
    ``constant``); ``post_route``: metric -> calibration record."""
    from ohq_flow.design.price import stage_price, top_price
    from ohq_flow.design.rtl import timing_stage
    node_of = {l.name: l.node for l in layers}
    layer_of = {l.node: l.name for l in layers}
    lat_max = {}
    for (layer, _w, _a), row in kernel_rows.items():
        if row.get("latency") is not None:
            lat_max[node_of[layer]] = max(lat_max.get(node_of[layer], 0), int(row["latency"]))
    planner = _Planner(model, layers, prefer=prefer, output=output, kernel_latency=lat_max)
    names = [l.name for l in layers if l.name in space]
    mode = {n: (fold_mode or {}).get(n, "unrolled") for n in names}
    # the folds: planned from the unrolled design at each layer's largest bits
    unrolled = planner.records({n: (*space[n][-1], "") for n in names})
    kernel_stage = {layer_of[r["node"]]: i for i, r in enumerate(unrolled)
                    if r["kind"] == "kernel" and layer_of.get(r["node"]) in space}
    missing = [n for n in names if n not in kernel_stage]
    if missing:
        raise InputError(f"layer(s) {', '.join(missing)} are not kernel stages of the complete design")
    folds = {}
    for n in names:
        rec = unrolled[kernel_stage[n]]
        labels = [] if mode[n] == "unrolled" else fold_options(rec, family, fold_list, max_folds, max_lanes,
                                                              beats=rec["in_beats"])
        if mode[n] == "folded" and not labels:
            raise InputError(f"layer {n} is too large to unroll and no PE x SIMD fold fits within {max_lanes} lanes",
                             "raise search.max_lanes or search.unroll_max_weights")
        folds[n] = ([""] if mode[n] != "folded" else []) + labels
    # every candidate (w, a, fold): an unrolled one only where its kernel was measured
    cands = {n: [(*c, f) for c in space[n] for f in folds[n] if f or (n, *c) in kernel_rows] for n in names}
    empty = [n for n in names if not cands[n]]
    if empty:
        raise InputError(f"layer(s) {', '.join(empty)} have no candidate the design can build (no measured kernel)")
    base = {n: cands[n][-1] for n in names}
    base_recs = planner.records(base)
    n_st = len(base_recs)
    # one layer at a time: which layers (and which of their bits and fold) change each stage's price
    deps: list[dict[str, str]] = [{} for _ in range(n_st)]
    for n in names:
        per = {c: planner.records({**base, n: c}) for c in _probe_set(cands[n])}
        for s in range(n_st):
            if s == kernel_stage[n]:
                continue
            part = _part({c: _sig(r[s], family) for c, r in per.items()})
            if part is not None:
                deps[s][n] = part
    constant = _add({}, top_price(family))
    unary: dict[str, dict[str, dict[str, float]]] = {n: {} for n in names}
    timing_kernel: dict[str, dict[str, dict]] = {n: {} for n in names}
    kernel: dict[str, dict[str, dict[str, float]]] = {n: {} for n in names}
    pairs: dict[tuple, dict] = {}
    bounded: list[int] = []
    stage_info = []

    def rep(layer: str, part: str, key: str) -> tuple[int, int, str]:
        """A candidate of ``layer`` whose ``part`` is ``key``."""
        return next(c for c in cands[layer] if part_key(part, *c) == key)

    for s in range(n_st):
        rec = base_recs[s]
        d = deps[s]
        owner = next((n for n, k in kernel_stage.items() if k == s), None)
        stage_info.append({"index": s, "kind": rec["kind"], "node": rec["node"], "deps": dict(d),
                           **({"owner": owner} if owner else {})})
        if owner is not None:
            continue                                        # priced per candidate below
        if not d:
            _add(constant, stage_price(rec, family))
        elif len(d) == 1:
            (n, part), = d.items()
            for c in cands[n]:
                _add(unary[n].setdefault(label(*c), {}), stage_price(planner.records({**base, n: c})[s], family))
        elif len(d) == 2:
            (n1, p1), (n2, p2) = d.items()
            entry = pairs.setdefault((n1, n2, p1, p2), {"layers": [n1, n2], "parts": [p1, p2], "cost": {}, "stages": []})
            entry["stages"].append(s)
            for k1 in sorted({part_key(p1, *c) for c in cands[n1]}):
                for k2 in sorted({part_key(p2, *c) for c in cands[n2]}):
                    r = planner.records({**base, n1: rep(n1, p1, k1), n2: rep(n2, p2, k2)})[s]
                    _add(entry["cost"].setdefault(f"{k1}|{k2}", {}), stage_price(r, family))
        else:
            bounded.append(s)
            worst = {m: max(stage_price(r[s], family)[m] for r in planner.memo.values() if len(r) == n_st)
                     for m in METRICS}
            _add(constant, worst)
            log.warning("design cost: stage %d (%s %s) depends on %d layers (%s); priced at its largest planned cost",
                        s, rec["kind"], rec["node"], len(d), ", ".join(d))
    # every layer's own kernel or folded unit, per candidate; whether the requantiser after it is fused into it
    requant_after = {}
    for n, k in kernel_stage.items():
        nxt = next((i for i, r in enumerate(base_recs) if r["kind"] == "requant" and r["src"][0] == base_recs[k]["dst"][0]),
                   None)
        if nxt is not None:
            requant_after[nxt] = n
    for n in names:
        s = kernel_stage[n]
        for c in cands[n]:
            recs = planner.records({**base, n: c})
            rec, lab = recs[s], label(*c)
            if rec["kind"] == "mvau":
                own = stage_price(rec, family)
                t = {"cycles": rec["cycles"], "mem": rec["mem"], "mul": rec["mul"], "drain": rec["drain"]}
            else:
                row = kernel_rows[(n, c[0], c[1])]
                own = stage_price({**rec, "latency": int(row["latency"])}, family, kernel=row)
                t = {"lat": int(row["latency"])}
            rq = next((i for i, owner in requant_after.items() if owner == n), None)
            if rq is not None and recs[rq].get("fused"):
                t["fused"] = 1
            timing_kernel[n][lab] = t
            _add(unary[n].setdefault(lab, {}), own)
            kernel[n][lab] = {m: round(own[m], 3) for m in METRICS}
    for m, v in (shell or {}).items():
        constant[m] = constant.get(m, 0.0) + float(v)
    skeleton = []
    for s, rec in enumerate(unrolled):
        t = timing_stage(rec)
        t["params"] = {k: rec[k] for k in ("OH", "OW", "SH", "SW", "KH", "KW", "PT", "PL", "H", "W", "N") if k in rec}
        t["out_beats"], t["in_beats"] = rec["out_beats"], rec["in_beats"]
        owner = next((n for n, k in kernel_stage.items() if k == s), None)
        if owner is not None:
            t["layer"] = owner
        if s in requant_after:
            t["after"] = requant_after[s]
        skeleton.append(t)
    ir = planner.ir
    from ohq_flow.design.price import fit_doc
    cal = {k: fit_doc(family).get(k) for k in ("made_by", "yosys", "family", "date")}
    return DesignTerms(family=family, constant={m: round(constant.get(m, 0.0), 3) for m in METRICS},
                       unary={n: {k: {m: round(v.get(m, 0.0), 3) for m in METRICS} for k, v in cs.items()}
                              for n, cs in unary.items()},
                       pairs=[{**p, "cost": {k: {m: round(v.get(m, 0.0), 3) for m in METRICS} for k, v in p["cost"].items()}}
                              for p in pairs.values()],
                       timing={"in_beats": ir.inp.beats, "out_sid": ir.out_sid, "stages": skeleton, "kernel": timing_kernel},
                       stages=stage_info, bounded=bounded, post_route=dict(post_route or {}), shell=dict(shell or {}),
                       calibration=cal, nodes={n: node_of[n] for n in names}, kernel=kernel)


def _probe_set(cands: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The candidates planned to find what a layer's choice changes: every (w, a) at its first fold, and every
    fold at the last (w, a) — enough to tell bits from folds, not every combination."""
    first_fold = {}
    for w, a, f in cands:
        first_fold.setdefault((w, a), f)
    last_bits = cands[-1][:2]
    return list(dict.fromkeys([(w, a, f) for (w, a), f in first_fold.items()] +
                              [c for c in cands if c[:2] == last_bits]))


def mvau_record(rec: dict, pe: int, simd: int) -> dict:
    """The stage record of a planned kernel stage built folded at PE x SIMD (InputError when the fold does not
    divide the layer)."""
    from ohq_flow.design.mvau import MvauShape
    u = MvauShape(mw=rec["inputs"], mh=rec["outputs"], pe=pe, simd=simd, iw=rec["a_bits"], wb=rec["wb"],
                  aw=rec["acc_width"])
    u.check(rec["node"])
    return {**rec, "kind": "mvau", "PE": pe, "SIMD": simd, "cycles": u.cycles, "wb": u.wb, "acc_width": u.aw,
            "mem": u.mem, "mul": u.mul}


def fold_options(rec: dict, family: str, fold_list="auto", max_folds: int = 6, max_lanes: int = 256,
                 beats: int = 1) -> list[str]:
    """PE x SIMD folds of a planned kernel stage: ``auto`` keeps the Pareto front of (cycles per frame, and the
    folded unit's LUT, DSP, block RAM) over every PE | MH, SIMD | MW with at most ``max_lanes`` lanes, spread over
    log cycles to at most ``max_folds``; a list is checked against the layer (PE/SIMD labels only)."""
    from ohq_flow.design.mvau import divisors
    from ohq_flow.design.price import mvau_price
    from ohq_flow.design.folds import Fold, pareto_front, parse_fold, spread_log
    if fold_list != "auto":
        out = []
        for lab in fold_list:
            f = parse_fold(lab)
            if f.px:
                continue
            if rec["outputs"] % f.pe == 0 and rec["inputs"] % f.simd == 0:
                out.append(f.label)
        return out
    cands = []
    for pe in divisors(rec["outputs"]):
        for simd in divisors(rec["inputs"]):
            if pe * simd > max_lanes:
                continue
            m = mvau_record(rec, pe, simd)
            cands.append((Fold(pe, simd), {"cycles": m["cycles"] * beats, **mvau_price(m, family)}))
    return [f.label for f, _ in spread_log(pareto_front(cands), lambda x: x[1]["cycles"], max_folds)]


def kernel_rows_of(rows, layers) -> dict[tuple[str, int, int], dict]:
    """(layer, w, a) -> the measured unrolled kernel's lut/ff/dsp/bram18 and pipeline latency (its streamed
    row's latency less the pixels after the first) from cost-table rows."""
    from ohq_flow.model.geometry import n_pixels
    by_name = {l.name: l for l in layers}
    out = {}
    for r in rows:
        if not r.ok or r.fold not in ("", "px1") or r.layer not in by_name:
            continue
        lat = None if r.latency_cycles is None else int(round(r.latency_cycles)) - (n_pixels(by_name[r.layer]) - 1)
        out[(r.layer, r.w_bits, r.a_bits)] = {"lut": r.lut, "ff": r.ff, "dsp": r.dsp, "bram18": r.bram18, "latency": lat,
                                              "source": r.source}
    return out


def folded_layer(layer, unroll_max_weights: int) -> bool:
    """Whether a layer is too large to unroll (more weights per group than ``unroll_max_weights``): its candidates
    are PE x SIMD folds only, and its unrolled kernel is neither measured nor built."""
    groups = layer.groups if layer.op_type == "Conv" else 1
    return int(math.prod(layer.weight_shape)) // max(groups, 1) > unroll_max_weights


def fold_rows(terms: DesignTerms, space, layers, clock_ns: float | None, part: str) -> list:
    """Cost-table rows of the folded candidates (the folded unit alone, priced by the design's model)."""
    from ohq_flow.tables.costs import CostRow
    out = []
    for layer in layers:
        for lab, cost in terms.kernel.get(layer.name, {}).items():
            if "@" not in lab:
                continue
            bits, fold = lab.split("@")
            w, a = (int(x) for x in bits[1:].split("a"))
            cyc = terms.timing["kernel"][layer.name][lab]["cycles"]
            beats = next(s["in_beats"] for s in terms.timing["stages"] if s.get("layer") == layer.name)
            out.append(CostRow(layer=layer.name, w_bits=w, a_bits=a, fold=fold, latency_cycles=float(cyc * beats + 1),
                               ii_cycles=float(cyc * beats), clock_ns=clock_ns, part=part, source="design",
                               fidelity="estimate", tool="ohq_flow.design.price", tool_version="1",
                               error=f"folded unit (ohq_mvau) priced by the design's calibrated model", **cost))
    return out
