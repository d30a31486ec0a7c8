"""OQA orchestration: plan one cost job per (layer, candidate), run them cached and in parallel.

The measurer of each layer is chosen by ``hardware.rules`` (first match: layer-name globs and
a maximum weight count). Every job's cache key hashes the layer's subgraph (weights included),
the candidate, the generator and measurer settings, the part, the clock and the tool version,
so nothing is synthesised twice — across runs and across models sharing a layer.

Convolutions are costed as a streaming kernel: one kernel (the [C_in/g·kh·kw, C_out] matrix,
block-diagonal over groups) evaluates one output pixel per cycle, so latency = kernel latency
+ pixels − 1 and II = pixels cycles per inference; resources are one kernel's. A grouped or
depthwise kernel travels as its per-group blocks [groups, C_in/g·kh·kw, C_out/g], never as the
dense block-diagonal matrix.

Jobs are planned lazily: :func:`plan_jobs` computes each job's cache key, but a job's payload
(the kernel at the candidate bits) is built only when the job is submitted to a worker and is
dropped when it finishes, so the runner's memory does not grow with layers × candidates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np

from ohq_flow.errors import InputError
from ohq_flow.model.geometry import n_pixels
from ohq_flow.tables.costs import CostRow

log = logging.getLogger(__name__)

@dataclass
class LayerHW:
    """Everything a cost job needs about one layer at one candidate (picklable)."""

    layer: str
    op_type: str
    w_int: np.ndarray            # integer kernel [inputs, outputs], or per-group blocks [groups, in/g, out/g], at w_bits
    w_bits: int
    a_bits: int
    a_signed: bool
    pixels: int                  # output pixels per inference (1 for dense layers)
    family: str                  # yosys synth_xilinx family
    part: str
    clock_ns: float
    latency_cutoff: float | None
    pe: int = 1
    simd: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def weights(self) -> int:
        return int(np.count_nonzero(self.w_int)) if self.w_int.size else 0

    def to_json(self) -> dict:
        """Plain JSON data (the job spec carries no Python objects)."""
        import base64
        import dataclasses
        extra = dict(self.extra)
        if extra.get("layer") is not None:
            extra["layer"] = extra["layer"].to_dict()
        if extra.get("layer_onnx") is not None:
            extra["layer_onnx"] = base64.b64encode(extra["layer_onnx"]).decode("ascii")
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d.update(w_int=_encode_ints(self.w_int), w_shape=list(self.w_int.shape), extra=extra)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "LayerHW":
        """Inverse of :meth:`to_json`."""
        import base64
        from ohq_flow.model.layers import LayerInfo
        d = dict(d)
        shape = d.pop("w_shape")
        extra = dict(d.get("extra") or {})
        if extra.get("layer") is not None:
            extra["layer"] = LayerInfo.from_dict(extra["layer"])
        if extra.get("layer_onnx") is not None:
            extra["layer_onnx"] = base64.b64decode(extra["layer_onnx"])
        d.update(w_int=_decode_ints(d["w_int"], shape), extra=extra)
        return cls(**d)


def _encode_ints(a: np.ndarray) -> dict:
    """An integer array as base64 of its narrowest little-endian dtype (not a JSON list of ints)."""
    import base64
    a = np.asarray(a)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    dtype = next(t for t in ("<i1", "<i2", "<i4", "<i8") if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max)
    return {"dtype": dtype, "b64": base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")}


def _decode_ints(v, shape) -> np.ndarray:
    """Inverse of :func:`_encode_ints` (a plain list of ints is accepted too)."""
    import base64
    if isinstance(v, dict):
        if v.get("dtype") not in ("<i1", "<i2", "<i4", "<i8"):
            raise ValueError(f"kernel dtype {v.get('dtype')!r} is not an integer dtype")
        a = np.frombuffer(base64.b64decode(v["b64"]), dtype=v["dtype"]).astype(np.int64)
    else:
        a = np.asarray(v, dtype=np.int64)
    return a.reshape(shape)


def measurer_key_settings(measurer: str, hw) -> dict:
    """The settings (and template hashes) the cache key of ``measurer`` must hold."""
    from ohq_flow.hw.measurers import get
    return get(measurer).key_settings_of(hw)


def choose_measurer(layer, rules) -> str:
    """The first rule matching the layer (name globs, weight count) names its measurer."""
    n_weights = int(np.prod(layer.weight_shape))
    for rule in rules:
        if rule.layers is not None and not any(fnmatchcase(layer.name, p) for p in rule.layers):
            continue
        if rule.max_weights is not None and n_weights > rule.max_weights:
            continue
        return rule.measurer
    raise InputError(f"no hardware.rules entry matches layer {layer.name} ({n_weights} weights)",
                     "end hardware.rules with a catch-all rule, e.g. {measurer: analytic}")


def streaming(row: CostRow, pixels: int) -> CostRow:
    """Turn a one-pixel kernel's cost into the streaming layer's latency and II (in place)."""
    if pixels > 1:
        if row.latency_cycles is not None:
            row.latency_cycles = row.latency_cycles + pixels - 1
        row.ii_cycles = float(pixels) * (row.ii_cycles if row.ii_cycles is not None else 1.0)
        row.latency_ns = row.latency_cycles * row.clock_ns if row.latency_cycles is not None and row.clock_ns else None
    return row


def monotonic_violations(rows: list[CostRow], metric: str = "lut", rel_tol: float = 0.05, abs_tol: float = 2.0) -> list[str]:
    """Candidates whose cost drops by more than noise when weight or activation bits increase."""
    out = []
    by_layer: dict[str, dict[tuple[int, int], float]] = {}
    for r in rows:
        v = getattr(r, metric)
        if r.ok and v is not None:
            by_layer.setdefault(r.layer, {})[(r.w_bits, r.a_bits)] = v
    for layer, costs in by_layer.items():
        for (w, a), v in costs.items():
            for (w2, a2), v2 in costs.items():
                if (w2 >= w and a2 >= a) and (w2, a2) != (w, a) and v2 < v - max(abs_tol, rel_tol * v):
                    out.append(f"{layer}: {metric} w{w2}a{a2}={v2:g} < w{w}a{a}={v:g}")
    return out


def summarize_rows(rows: list[CostRow]) -> str:
    """One line per layer: measurer, LUT range, latency range, failures."""
    lines = []
    for layer in dict.fromkeys(r.layer for r in rows):
        rs = [r for r in rows if r.layer == layer]
        ok = [r for r in rs if r.ok]
        luts = [r.lut for r in ok if r.lut is not None]
        lat = [r.latency_cycles for r in ok if r.latency_cycles is not None]
        src = ",".join(sorted({f"{r.source}({r.fidelity})" + ("*" if r.error.startswith("fallback:") else "")
                               for r in rs if r.source}))
        lut_txt = f"LUT {min(luts):,.0f}..{max(luts):,.0f}" if luts else "LUT -"
        lat_txt = f"latency {min(lat):,.0f}..{max(lat):,.0f} cycles" if lat else "latency -"
        bad = len(rs) - len(ok)
        lines.append(f"  {layer:<12} {src:<16} {lut_txt:<22} {lat_txt}" + (f"  {bad} FAILED" if bad else ""))
    if any(r.error.startswith("fallback:") for r in rows):
        lines.append("  * da4ml_estimate past its time box: calibrated analytic fallback (see the error column of costs.csv)")
    return "\n".join(lines)


def tool_version(measurer: str) -> str:
    """Version of the tool behind a measurer (part of the cache key)."""
    from ohq_flow.hw.measurers import get
    return get(measurer).version()


# measurers that cost a layer from its description alone (their payload carries no kernel)
NO_KERNEL = ("analytic", "board", "vitis_hls", "vivado_hls")


def layer_hw(model, layer, w_bits: int, a_bits: int, cfg, measurer: str = "yosys", row_order=None) -> LayerHW:
    """The payload of one cost job (``row_order``: the kernel's rows as the complete design streams them)."""
    from ohq_flow.hw.generators import get as get_generator
    from ohq_flow.hw.extract import kernel_operand
    from ohq_flow.hw.measurers import get as get_measurer
    board = cfg.board_obj()
    a_signed = bool(layer.input_quant.signed) if layer.input_quant is not None and layer.input_quant.signed is not None else True
    extra = {"layer": layer, "io_type": cfg.hardware.io_type, "reuse_factor": cfg.hardware.reuse_factor,
             "board_command": cfg.hardware.board_command}
    m = get_measurer(measurer)
    if m.payload is not None:
        extra.update(m.payload(cfg))
    if m.generator is not None and get_generator(m.generator).needs_layer_onnx:
        from ohq_flow.hw.extract import extract_layer
        extra["layer_onnx"] = extract_layer(model, layer, w_bits, a_bits).model.SerializeToString()
    w_int = np.zeros((0, 0), dtype=np.int64) if measurer in NO_KERNEL else kernel_operand(model, layer, w_bits, row_order)
    return LayerHW(layer=layer.name, op_type=layer.op_type, w_int=w_int, w_bits=w_bits,
                   a_bits=a_bits, a_signed=a_signed, pixels=n_pixels(layer), family=board.yosys_family, part=board.part,
                   clock_ns=cfg.clock_ns(), latency_cutoff=cfg.hardware.latency_cutoff, pe=cfg.hardware.pe,
                   simd=cfg.hardware.simd, extra=extra)


@dataclass(frozen=True)
class LazyPayload:
    """A job's payload, built when the job is submitted (the runner calls it; see ``Job.payload``)."""

    model: object
    layer: object
    w_bits: int
    a_bits: int
    cfg: object
    measurer: str
    row_order: tuple | None = None

    def __call__(self) -> dict:
        return layer_hw(self.model, self.layer, self.w_bits, self.a_bits, self.cfg, self.measurer,
                        self.row_order).to_json()


def job_timeout(measurer: str, hw) -> float:
    """A job's time box: ``estimate_timeout_s`` for da4ml estimates (then the analytic model takes over)."""
    if measurer == "da4ml_estimate" and getattr(hw, "estimate_timeout_s", None):
        return min(float(hw.estimate_timeout_s), float(hw.timeout_s))
    return float(hw.timeout_s)


def plan_jobs(model, layers, space: dict[str, list[tuple[int, int]]], cfg, work_root: Path, cache_key_extra: dict | None = None):
    """One :class:`~ohq_flow.hw.jobs.Job` per (layer, candidate), with its content-addressed key."""
    from ohq_flow.hw.cache import make_key
    from ohq_flow.hw.jobs import Job
    from ohq_flow.hw.extract import layer_subgraph_hash
    from ohq_flow.hw.measurers import get as get_measurer
    from ohq_flow.hw.tools import find_tool

    hw = cfg.hardware
    board = cfg.board_obj()
    jobs = []
    versions: dict[str, str] = {}
    orders = {}
    if cfg.build.design:                  # kernels costed in the row order the complete design streams them
        from ohq_flow.design.graph import kernel_row_orders
        orders = {node: tuple(int(i) for i in o) for node, o in kernel_row_orders(model).items()}
    for layer in layers:
        measurer = choose_measurer(layer, hw.rules)
        m = get_measurer(measurer)
        if m.tool is not None and measurer not in versions:
            find_tool(m.tool, f"hardware.rules picks '{measurer}' for layer {layer.name}: {m.tool_hint}")
        if measurer not in versions:
            versions[measurer] = tool_version(measurer)
        lhash = layer_subgraph_hash(model, layer)
        order = orders.get(layer.node)
        extra = dict(cache_key_extra or {}, **({"row_order": list(order)} if order is not None else {}))
        for w, a in space[layer.name]:
            settings = measurer_key_settings(measurer, hw)
            key = make_key(layer=lhash, w_bits=w, a_bits=a, generator=m.generator, measurer=measurer, settings=settings,
                           part=board.part, family=board.yosys_family, clock_ns=cfg.clock_ns(),
                           tool_version=versions[measurer], **extra)
            jobs.append(Job(key=key, layer=layer.name, w_bits=w, a_bits=a, fn=m.run,
                            payload=LazyPayload(model, layer, w, a, cfg, measurer, order), timeout_s=job_timeout(measurer, hw),
                            workdir=work_root / layer.name / f"w{w}a{a}_{measurer}"))
    return jobs


def run_profile(model, layers, space, cfg, run_dir: Path, *, progress: bool = True):
    """Fill costs.csv/costs.json for every (layer, candidate): cached, parallel, incremental."""
    from ohq_flow.hw.cache import CostCache
    from ohq_flow.tables.costs import write_costs
    from ohq_flow.hw.jobs import run_jobs

    hw = cfg.hardware
    all_jobs = plan_jobs(model, layers, space, cfg, run_dir / "oqa")
    cache = CostCache(hw.cache_dir)
    done: dict[int, CostRow] = {}
    order = {(j.layer, j.w_bits, j.a_bits): i for i, j in enumerate(all_jobs)}
    jobs, reused = _reuse_fallbacks(all_jobs, cache)
    jobs, inline, n_inline_cached = _analytic_inline(jobs, cache)
    reused.update(inline)
    for row in reused.values():
        done[order[(row.layer, row.w_bits, row.a_bits)]] = row

    def on_result(row: CostRow) -> None:  # keep costs.csv current while jobs finish
        done[order[(row.layer, row.w_bits, row.a_bits)]] = row
        if len(done) % 8 == 0:
            write_costs([done[i] for i in sorted(done)], run_dir / "costs.partial.csv")

    summary = run_jobs(jobs, cache=cache, executor=hw.executor, workers=hw.workers, dask_address=hw.dask_address,
                       progress=progress, on_result=on_result)
    rows = _with_fallbacks(jobs, list(summary.rows), layers, cfg, cache)
    if reused:
        merged = {order[(r.layer, r.w_bits, r.a_bits)]: r for r in [*rows, *reused.values()]}
        rows = [merged[i] for i in sorted(merged)]
    summary.rows, summary.total = rows, len(rows)
    summary.cached += len(reused) - len(inline) + n_inline_cached
    summary.ran += len(inline) - n_inline_cached
    summary.ok = sum(r.ok for r in rows)
    summary.timed_out = sum(r.status == "timeout" for r in rows)
    summary.failed = len(rows) - summary.ok - summary.timed_out
    write_costs(rows, run_dir / "costs.csv", run_dir / "costs.json")
    (run_dir / "costs.partial.csv").unlink(missing_ok=True)
    return rows, summary


def _measurer_of(job) -> str | None:
    return getattr(job.payload, "measurer", None)


def _analytic_inline(jobs, cache):
    """Analytic rows computed here, not in a child process each (milliseconds of arithmetic vs a
    process start): (jobs left to run, {key: row}, how many came from the cache)."""
    import time
    from ohq_flow.hw.jobs import JobContext, format_exception_line
    todo, rows, n_cached = [], {}, 0
    for job in jobs:
        if _measurer_of(job) != "analytic":
            todo.append(job)
            continue
        row = cache.get(job.key)
        if row is not None:
            row.layer, row.cached = job.layer, True
            n_cached += 1
        else:
            t0 = time.monotonic()
            ctx = JobContext(job.key, job.layer, job.w_bits, job.a_bits, job.payload(), Path(job.workdir),
                             Path(job.workdir) / "job.log", job.timeout_s)
            try:
                row = job.fn(ctx)
                row.elapsed_s, row.cache_key = time.monotonic() - t0, job.key
            except Exception as exc:  # noqa: BLE001 - a failed row, as from a job process
                row = CostRow(job.layer, job.w_bits, job.a_bits, status="failed", error=format_exception_line(exc),
                              cache_key=job.key)
            try:
                cache.put(job.key, row)
            except OSError as exc:
                log.warning("cost cache: could not store %s w%d a%d (%s)", row.layer, row.w_bits, row.a_bits, exc)
        rows[job.key] = row
    return todo, rows, n_cached


def _reuse_fallbacks(jobs, cache):
    """Jobs still to run, and the cached fallback rows of estimates that timed out in an earlier run."""
    from ohq_flow.hw.fallback import fallback_key
    todo, reused = [], {}
    for job in jobs:
        hit = None
        if _measurer_of(job) == "da4ml_estimate" and cache.get(job.key) is None:
            hit = cache.get(fallback_key(job.key, job.timeout_s))
        if hit is not None:
            hit.layer, hit.cached = job.layer, True
            reused[job.key] = hit
        else:
            todo.append(job)
    return todo, reused


def _with_fallbacks(jobs, rows: list[CostRow], layers, cfg, cache) -> list[CostRow]:
    """Time-boxed da4ml estimates that did not finish replaced by labelled analytic rows (cached)."""
    from ohq_flow.hw.fallback import fallback_key, replace_timeouts
    by_name = {layer.name: layer for layer in layers}
    board = cfg.board_obj()
    rows, replaced = replace_timeouts(rows, [_measurer_of(j) for j in jobs], by_name, [j.timeout_s for j in jobs],
                                      clock_ns=cfg.clock_ns(), part=board.part)
    for i in replaced:
        try:
            cache.put(fallback_key(jobs[i].key, jobs[i].timeout_s), rows[i])
        except OSError as exc:
            log.warning("cost cache: could not store the fallback of %s (%s)", rows[i].layer, exc)
    return rows
