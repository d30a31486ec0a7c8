"""MQE: data-free per-layer sensitivity by masked quantization.

For each layer and candidate (w, a) only that layer's weight and input-activation quantizers are
moved to the candidate (:func:`ohq_flow.model.quantizers.apply_bits`, the same rule as
extraction and write-back); the synthetic batch runs through the masked model and the damage is
KL(softmax(reference) ‖ softmax(masked)) averaged over samples (and logit MSE).

Executors: ``qonnx`` runs ``qonnx.core.onnx_exec`` per sample on the whole masked model (the
reference semantics, and the naive method of the benchmark); ``fast`` lowers the masked model
to standard ONNX and runs only the graph suffix downstream of the mask in onnxruntime, all
samples in one batch, all cores, with upstream tensors taken from one cached reference run.
Tests check ``fast`` equals ``qonnx``.

Results are written per layer (``sensitivity_parts/<layer>.<key>.csv``, the key hashing the model,
the inputs, the candidates and the modes) as each layer finishes, so an interrupted run resumes
without recomputing finished layers, and a run with another model, seed, sample count or
candidate list never reuses them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np

from ohq_flow.errors import InputError, ModelError
from ohq_flow.fileio import atomic_write_text
from ohq_flow.model.quantizers import apply_bits
from ohq_flow.tables.sensitivity import SensitivityRow, read_sensitivity_rows, write_sensitivity

log = logging.getLogger(__name__)
DIGITS = 10          # significant digits of the damage values in sensitivity.csv and the parts


# ------------------------------------------------------------------------- synthetic inputs
def synthetic_inputs(mqe, input_shape: list[int], input_quant=None) -> np.ndarray:
    """Seeded synthetic batch [samples, *input_shape[1:]] from the config's generator."""
    rng = np.random.default_rng(mqe.seed)
    shape = [n_samples(mqe), *input_shape[1:]]
    channels = shape[1] if len(shape) > 2 else 1
    kind = mqe.inputs if isinstance(mqe.inputs, str) else mqe.inputs.value
    if kind == "gaussian":
        mean, std = _per_channel(mqe.mean, channels, "mqe.mean"), _per_channel(mqe.std, channels, "mqe.std")
        bshape = [1, channels] + [1] * (len(shape) - 2) if len(shape) > 2 else [1, 1]
        return (rng.standard_normal(shape) * std.reshape(bshape) + mean.reshape(bshape)).astype(np.float32)
    if kind == "uniform":
        lo, hi = mqe.low, mqe.high
        if lo is None or hi is None:
            if input_quant is None:
                raise InputError("mqe.inputs: uniform needs mqe.low and mqe.high (the model input has no quantizer)")
            lo, hi = input_quant
        return rng.uniform(lo, hi, size=shape).astype(np.float32)
    if kind == "npz":
        return load_npz_inputs(mqe.npz, mqe.npz_key, input_shape, n_samples(mqe))
    raise InputError(f"mqe.inputs: {kind} needs the Brevitas module (ZeroQ distillation)",
                     "use the 'distilled' generator only with model.brevitas, or choose gaussian/uniform/npz")


def n_samples(mqe) -> int:
    """The batch size to generate: ``samples``, or ``max_samples`` with ``samples: auto``."""
    return mqe.samples if isinstance(mqe.samples, int) else mqe.max_samples


def _per_channel(values: list[float], channels: int, field: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    if v.size == 1:
        return np.full(channels, v.item(), dtype=np.float32)
    if v.size != channels:
        raise InputError(f"{field} has {v.size} values but the input has {channels} channels", "give one value or one per channel")
    return v


def load_npz_inputs(path: Path, key: str, input_shape: list[int], samples: int | None = None) -> np.ndarray:
    """Inputs from an .npz file, checked against the model's input shape."""
    try:
        data = np.load(path)
    except Exception as exc:
        raise InputError(f"mqe.npz: cannot read {path}: {exc}") from None
    if key not in data:
        raise InputError(f"mqe.npz: {path} has no array '{key}'", f"arrays there: {', '.join(data.files)}; set mqe.npz_key")
    x = np.asarray(data[key], dtype=np.float32)
    if list(x.shape[1:]) != list(input_shape[1:]):
        raise InputError(f"mqe.npz: {path}['{key}'] has sample shape {list(x.shape[1:])}, the model expects {list(input_shape[1:])}")
    return x[:samples] if samples else x


# ------------------------------------------------------------------------- divergence
def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.reshape(z.shape[0], -1).astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def kl_divergence(ref_logits: np.ndarray, logits: np.ndarray) -> float:
    """Mean over samples of KL(softmax(ref) ‖ softmax(logits))."""
    lp, lq = log_softmax(ref_logits), log_softmax(logits)
    kl = float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))
    return 0.0 if -1e-9 < kl < 0 else kl          # rounding below zero; KL is never negative


def mse(ref_logits: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean((ref_logits.astype(np.float64) - logits) ** 2))


# ------------------------------------------------------------------------- executors
class QonnxExecutor:
    """The reference semantics: ``qonnx.core.onnx_exec`` on the whole masked model, per sample."""

    name = "qonnx"
    fallback: str | None = None      # why the fast path was not used (open_executor)

    def __init__(self, model):
        self.model = model

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self._run(self.model, x)

    def masked(self, masked_model, changed: list[str], x: np.ndarray) -> np.ndarray:
        return self._run(masked_model, x)

    @staticmethod
    def _run(model, x: np.ndarray) -> np.ndarray:
        from ohq_flow.model.export import execute
        return np.concatenate([execute(model, x[i:i + 1]) for i in range(len(x))], axis=0)


def mask_groups(layers) -> list[set[str]]:
    """Every set of Quant nodes masking one layer can change: its weights, its input, or both."""
    groups: list[set[str]] = []
    for layer in layers:
        w = layer.weight_quant.node if layer.weight_quant is not None else None
        a = layer.input_quant.node if layer.input_quant is not None and layer.input_quant.op_type == "Quant" else None
        for g in ({w}, {a}, {w, a}):
            g = {n for n in g if n}
            if g and g not in groups:
                groups.append(g)
    return groups


class FastExecutor:
    """Lowered ONNX in onnxruntime, batched, recomputing only the suffix after the mask.

    With ``layers``, the reference pass keeps only the tensors that feed the suffix of some mask of
    those layers (the cut tensors), not every intermediate tensor: the memory of the reference
    cache drops to about one activation per layer.
    """

    name = "fast"
    fallback: str | None = None

    def __init__(self, model, threads: int | None = None, layers=None):
        from ohq_flow.mqe.lowering import OrtRunner, expose_all, lower_to_onnx, suffix_model
        self.model = model
        self.threads = threads
        self.iname = model.graph.input[0].name
        self.oname = model.graph.output[0].name
        lowered = lower_to_onnx(model)
        keep = None
        if layers is not None:
            keep = {self.oname}
            for group in mask_groups(layers):
                try:
                    keep.update(suffix_model(lowered, group)[1])
                except ModelError:
                    pass                     # such a mask fails the same way in masked(), with the message
        self.kept = keep
        self.lowered = lowered
        self._full = OrtRunner(expose_all(lowered, keep), threads)
        self._cache: dict[str, np.ndarray] = {}

    def reference(self, x: np.ndarray) -> np.ndarray:
        self._cache = self._full.run({self.iname: x})
        self._cache[self.iname] = x
        return self._cache[self.oname]

    def cached_bytes(self) -> int:
        """Bytes held by the reference cache."""
        return int(sum(v.nbytes for v in self._cache.values()))

    def masked(self, masked_model, changed: list[str], x: np.ndarray) -> np.ndarray:
        from ohq_flow.mqe.lowering import OrtRunner, lower_to_onnx, suffix_model
        if not changed:
            return self._cache[self.oname]
        sub, cut = suffix_model(lower_to_onnx(masked_model), set(changed))
        missing = [c for c in cut if c not in self._cache]
        if missing:
            raise ModelError(f"fast executor: masking {sorted(changed)} needs tensors {missing} the reference pass "
                             "did not keep", "create the FastExecutor with the layers that will be masked")
        runner = OrtRunner(sub, self.threads)
        return runner.run({c: self._cache[c] for c in cut})[self.oname]


    def candidate_runner(self, layer, mode: str):
        """``f(w_bits, a_bits) -> logits | None`` over one reused suffix session (None: not parametrisable)."""
        from ohq_flow.mqe.param import ParamSuffix
        if self.model is None:
            return None
        try:
            ps = ParamSuffix(self.model, self.lowered, layer, mode, self.threads)
        except Exception as exc:                      # the generic path handles (and reports) it
            log.debug("sensitivity: %s %s uses the generic path (%s)", layer.name, mode, exc)
            return None

        def run(w: int, a: int):
            feeds = ps.feeds(w, a)
            return None if feeds is None else ps.run(self._cache, feeds, self.oname)
        return run


def make_executor(kind: str, model, threads: int | None = None, layers=None):
    """The MQE executor: ``fast`` (keeping the cut tensors of ``layers``' masks) or ``qonnx``."""
    return FastExecutor(model, threads, layers) if kind == "fast" else QonnxExecutor(model)


FAST_CHECK_SAMPLES = 4
FAST_CHECK_TOL = 0.05     # of the largest reference logit: catches a wrong lowering, not a rounding tie


def open_executor(kind: str, model, threads: int | None, layers, x: np.ndarray):
    """(executor, reference logits). The fast path is used only where it runs and its reference equals the QONNX
    executor's on the first samples; otherwise the QONNX executor, with the reason logged (``executor.fallback``)."""
    if kind != "fast":
        ex = QonnxExecutor(model)
        return ex, ex.reference(x)
    try:
        ex = FastExecutor(model, threads, layers)
        ref = ex.reference(x)
        k = min(len(x), FAST_CHECK_SAMPLES)
        want = QonnxExecutor(model).reference(x[:k])
        err = float(np.max(np.abs(ref[:k] - want))) if want.size else 0.0
        if not np.isfinite(err) or err > FAST_CHECK_TOL * max(float(np.max(np.abs(want))), 1e-12):
            raise ModelError(f"its outputs differ from the QONNX executor's by {err:.3g} on {k} samples")
        return ex, ref
    except Exception as exc:         # onnxruntime's own errors included: the QONNX executor is the reference
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        log.warning("sensitivity: the fast path cannot run this model (%s); using the QONNX executor (slower; set "
                    "mqe.executor: qonnx to skip the attempt)", reason)
        ex = QonnxExecutor(model)
        ex.fallback = reason
        return ex, ex.reference(x)


# ------------------------------------------------------------------------- the run
def read_part(path: Path) -> list[SensitivityRow]:
    """Rows of a part file; InputError when it is damaged or lacks a column the step writes."""
    rows = read_sensitivity_rows(path, mode=None)
    for r in rows:
        if r.mse is None or r.n_samples is None or r.seed is None or r.mode is None or r.monotonic_violation is None:
            raise InputError(f"{path}: {r.layer} w{r.w_bits}a{r.a_bits} lacks a column of the sensitivity step")
    return rows


def part_key(model, x: np.ndarray, layer, candidates, mqe) -> str:
    """What a layer's partial result depends on: the model, the inputs (generator, seed, samples),
    the layer, its candidates and the modes."""
    from ohq_flow.fileio import sha256_bytes, sha256_json
    return sha256_json({"model": sha256_bytes(model.model.SerializeToString()),
                        "x": [sha256_bytes(np.ascontiguousarray(x).tobytes()), list(x.shape), str(x.dtype)],
                        "layer": layer.name, "candidates": [list(c) for c in candidates],
                        "modes": list(mqe.modes), "seed": mqe.seed,
                        **({"joint_eval": mqe.joint_eval} if getattr(mqe, "joint_eval", "full") != "full" else {})})


def _mode_assignment(layer, mode: str, w: int, a: int) -> tuple[int, int]:
    ref_w = int(layer.w_bits) if layer.w_bits is not None else w
    ref_a = int(layer.a_bits) if layer.a_bits is not None else a
    if mode == "weight_only":
        return w, ref_a
    if mode == "act_only":
        return ref_w, a
    return w, a


def score_layer(executor, model, layer, candidates, x, ref_logits, *, modes, seed,
                joint_eval: str = "full") -> list[SensitivityRow]:
    """Rows for one layer: every candidate in every mode.

    An input that has no Quant node (float input, Trunc, BipolarQuant) is not masked: only the
    weights change for that layer.
    """
    maskable = layer if (layer.input_quant is not None and layer.input_quant.op_type == "Quant") \
        else dataclasses.replace(layer, input_quant=None)
    rows = []
    for mode in modes:
        if mode == "joint" and joint_eval == "separable" and len(candidates) > 2:
            rows += separable_joint(executor, model, layer, candidates, x, ref_logits, seed=seed)
            continue
        runner = executor.candidate_runner(maskable, mode) if hasattr(executor, "candidate_runner") else None
        for w, a in candidates:
            wa = _mode_assignment(layer, mode, w, a)
            logits = runner(*wa) if runner is not None else None
            if logits is None:
                masked, changed = apply_bits(model, [maskable], {layer.name: wa})
                logits = executor.masked(masked, changed, x)
            rows.append(SensitivityRow(layer.name, w, a, kl_divergence(ref_logits, logits), mse(ref_logits, logits),
                                       len(x), seed, mode, monotonic_violation=False))
    return rows


def separable_joint(executor, model, layer, candidates, x, ref_logits, *, seed: int) -> list[SensitivityRow]:
    """Joint rows from weight-only and activation-only masks and one measured interaction.

    Each distinct weight width is masked alone (activations at their reference bits) and each
    distinct activation width alone; the joint damage is modelled as
    ``D(w, a) = D_w + D_a + g·sqrt(D_w·D_a)``, with the layer's interaction ``g`` fitted on the
    one candidate measured jointly — the lowest (w, a), where the interaction is largest.
    |W| + |A| + 1 evaluations instead of |W|·|A|; its ranking is checked against the full
    joint evaluation in the scale benchmark.
    """
    ws = sorted({w for w, _ in candidates})
    as_ = sorted({a for _, a in candidates})
    w_rows = {r.w_bits: r for r in score_layer(executor, model, layer, [(w, as_[0]) for w in ws], x, ref_logits,
                                               modes=["weight_only"], seed=seed)}
    a_rows = {r.a_bits: r for r in score_layer(executor, model, layer, [(ws[0], a) for a in as_], x, ref_logits,
                                               modes=["act_only"], seed=seed)}
    corner = min(candidates)
    c_row = score_layer(executor, model, layer, [corner], x, ref_logits, modes=["joint"], seed=seed)[0]

    def gamma(metric: str) -> float:
        dw, da = getattr(w_rows[corner[0]], metric), getattr(a_rows[corner[1]], metric)
        return (getattr(c_row, metric) - dw - da) / math.sqrt(dw * da) if dw * da > 0 else 0.0

    g_kl, g_mse = gamma("kl"), gamma("mse")
    rows = []
    for w, a in candidates:
        if (w, a) == corner:
            rows.append(c_row)
            continue
        dw, da = w_rows[w], a_rows[a]
        kl = max(0.0, dw.kl + da.kl + g_kl * math.sqrt(dw.kl * da.kl))
        ms = max(0.0, dw.mse + da.mse + g_mse * math.sqrt(dw.mse * da.mse))
        rows.append(SensitivityRow(layer.name, w, a, kl, ms, len(x), seed, "joint"))
    return rows


class JointScorer:
    """Damage of whole assignments measured, not summed: every layer masked at its bits at once, on the MQE inputs.

    The executor (and the reference logits) are opened once; each call evaluates one assignment and returns
    {"kl", "mse", "flips", "samples", "executor"} — what the per-layer sum (the ILP's objective) predicts, evaluated
    jointly on the same synthetic inputs and executor as the sensitivity step; ``flips``: the fraction of inputs whose
    top-1 class changes. Results are kept per assignment.
    """

    def __init__(self, model, layers, mqe, x: np.ndarray):
        self.model, self.x = model, x
        self.layers = [layer if (layer.input_quant is not None and layer.input_quant.op_type == "Quant")
                       else dataclasses.replace(layer, input_quant=None) for layer in layers]
        self.executor, self.ref = open_executor(mqe.executor, model, mqe.workers, None, x)
        self.seen: dict[tuple, dict] = {}

    def __call__(self, assignment: dict[str, tuple[int, int]]) -> dict:
        bits = {k: (int(v[0]), int(v[1])) for k, v in assignment.items()}
        key = tuple(sorted(bits.items()))
        if key not in self.seen:
            masked, changed = apply_bits(self.model, self.layers, bits)
            logits = self.executor.masked(masked, changed, self.x) if changed else self.ref
            self.seen[key] = {"kl": kl_divergence(self.ref, logits), "mse": mse(self.ref, logits),
                              "flips": float(np.mean(self.ref.argmax(1) != np.asarray(logits).argmax(1))),
                              "samples": int(len(self.x)), "executor": self.executor.name}
        return self.seen[key]


def joint_damage(model, layers, assignment: dict[str, tuple[int, int]], mqe, x: np.ndarray) -> dict:
    """One assignment's joint damage (:class:`JointScorer`)."""
    return JointScorer(model, layers, mqe, x)(assignment)


def flag_monotonic(rows: list[SensitivityRow], rel: float = 0.10, eps: float = 1e-6) -> list[str]:
    """Mark rows where fewer weight bits (same a_bits and mode) score lower damage beyond noise.

    Noise: a lower-bit candidate may score up to ``rel`` (relative) + ``eps`` (absolute) below a
    higher-bit one before it is flagged.
    """
    msgs = []
    by = {}
    for r in rows:
        by.setdefault((r.layer, r.mode, r.a_bits), []).append(r)
    for group in by.values():
        group.sort(key=lambda r: r.w_bits)
        for i, low in enumerate(group):
            for high in group[i + 1:]:
                if low.kl < high.kl * (1 - rel) - eps:
                    low.monotonic_violation = True
                    msgs.append(f"{low.layer} ({low.mode}): w{low.w_bits}a{low.a_bits} KL {low.kl:.3g} < "
                                f"w{high.w_bits}a{high.a_bits} KL {high.kl:.3g}")
    return msgs


def compute_sensitivity(model, layers, space: dict[str, list[tuple[int, int]]], mqe, x: np.ndarray, out_dir: Path, *,
                        progress: bool = True, executor=None) -> list[SensitivityRow]:
    """Score every layer's candidates; resumable through ``out_dir/sensitivity_parts``."""
    from ohq_flow.hw.progress import JobProgress
    parts = out_dir / "sensitivity_parts"
    parts.mkdir(parents=True, exist_ok=True)
    rows: list[SensitivityRow] = []
    todo = []
    part_of = {}
    for layer in layers:
        part = part_of[layer.name] = parts / f"{layer.name}.{part_key(model, x, layer, space[layer.name], mqe)[:20]}.csv"
        if part.is_file():
            try:
                rows.extend(read_part(part))
                continue
            except InputError as exc:
                log.warning("sensitivity: recomputing %s (damaged part: %s)", layer.name, exc)
        todo.append(layer)
    if executor is None:
        executor, ref_logits = open_executor(mqe.executor, model, mqe.workers, todo, x)
    else:
        ref_logits = executor.reference(x)
    if len(todo) < len(layers):
        log.info("sensitivity: %d of %d layers already done, resuming", len(layers) - len(todo), len(layers))
    bar = JobProgress(len(todo), enabled=progress, desc="sensitivity layers", unit="layer")
    for layer in todo:   # plain progress lines (done/total, ETA, RSS) when stderr is not a terminal
        layer_rows = score_layer(executor, model, layer, space[layer.name], x, ref_logits,
                                 modes=list(mqe.modes), seed=mqe.seed, joint_eval=getattr(mqe, "joint_eval", "full"))
        write_sensitivity(layer_rows, part_of[layer.name], significant=DIGITS)
        rows.extend(layer_rows)
        bar.update(1)
    bar.close()
    order = {l.name: i for i, l in enumerate(layers)}
    rows.sort(key=lambda r: (order[r.layer], r.mode, r.w_bits, r.a_bits))
    for msg in flag_monotonic(rows):
        log.warning("sensitivity not monotonic in bits: %s", msg)
    return rows


def write_outputs(rows: list[SensitivityRow], out_dir: Path, metric: str = "kl") -> dict[str, Path]:
    """sensitivity.csv, sensitivity.png (heatmap) and sensitivity_ranking.txt."""
    paths = {"csv": write_sensitivity(rows, out_dir / "sensitivity.csv", significant=DIGITS)}
    joint = [r for r in rows if r.mode == rows[0].mode] if rows else []
    layers = list(dict.fromkeys(r.layer for r in joint))
    ranking = sorted(layers, key=lambda l: -max(getattr(r, metric) for r in joint if r.layer == l))
    lines = [f"Layers by damage at their lowest candidate ({metric}, most sensitive first):"]
    for i, l in enumerate(ranking, 1):
        worst = max((r for r in joint if r.layer == l), key=lambda r: getattr(r, metric))
        lines.append(f"{i:3d}. {l:<16} {metric}={getattr(worst, metric):.4g} at w{worst.w_bits}a{worst.a_bits}")
    paths["ranking"] = atomic_write_text(out_dir / "sensitivity_ranking.txt", "\n".join(lines) + "\n")
    paths["png"] = heatmap(joint, out_dir / "sensitivity.png", metric)
    return paths


def heatmap(rows: list[SensitivityRow], path: Path, metric: str = "kl") -> Path:
    """Layers × candidates heatmap of log10(damage)."""
    from ohq_flow.fileio import atomic_write_bytes
    from ohq_flow.report.plots import layer_candidate_heatmap
    values = {(r.layer, r.w_bits, r.a_bits): math.log10(max(getattr(r, metric), 1e-12)) for r in rows}
    layers = list(dict.fromkeys(r.layer for r in rows))
    return atomic_write_bytes(path, layer_candidate_heatmap(values, layers, f"MQE sensitivity: log10({metric})", "magma_r"))
