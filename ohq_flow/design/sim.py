"""Whole-network simulation of the complete design against the QONNX executor (bit-exact).

The testbench (``templates/rtl/ohq_tb.v``) streams the integer inputs (the final model's input
quantiser) frame after frame into the top and logs every transferred beat with its cycle;
Verilator (``--binary --timing``) builds it, Icarus Verilog is the fallback. One build serves
several runs: back to back, with random gaps on ``s_axis_tvalid`` and with random back-pressure
on ``m_axis_tready``. Latency = cycles from a frame's first accepted input beat to its last
output beat (first frame, nothing else in flight); II = cycles between the last output beats of
consecutive frames in steady state (the median over the back-to-back run).
"""

from __future__ import annotations

import io
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from ohq_flow.design.rtl import RTL_BLOCKS, Design
from ohq_flow.errors import FlowError, InputError
from ohq_flow.fileio import atomic_write_bytes, atomic_write_json
from ohq_flow.hw.tools import run_tool

log = logging.getLogger(__name__)


def _batched(model, n: int):
    """A copy of ``model`` for a batch of ``n`` (graph input/output and data-path Reshape targets), or None."""
    import copy

    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes
    mb = ModelWrapper(copy.deepcopy(model.model))
    g = mb.graph
    for io in (g.input[0], g.output[0]):
        dims = io.type.tensor_type.shape.dim
        if not dims or dims[0].dim_value != 1:
            return None
        dims[0].dim_value = n
    del g.value_info[:]
    for node in g.node:
        if node.op_type == "Reshape" and mb.get_initializer(node.input[0]) is None:   # not a weight's reshape
            s = mb.get_initializer(node.input[1])
            if s is None or len(s) == 0 or s[0] not in (1, -1):
                return None
            if s[0] == 1:
                s = s.copy()
                s[0] = n
                mb.set_initializer(node.input[1], s)
    return mb.transform(InferShapes())


def executor_outputs(model, x: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """The QONNX executor's values of tensors ``names`` for inputs ``x`` [N, ...], stacked over N.

    The executor runs once on the whole batch (a copy of the model with batch size N: the same
    per-node onnxruntime/QONNX kernels, one call instead of N) when its first and last samples' values
    equal one-sample runs bit for bit; else (or when the graph cannot take a batch) sample by sample."""
    from qonnx.core.onnx_exec import execute_onnx
    iname = model.graph.input[0].name

    def one(i):
        ctx = execute_onnx(model, {iname: x[i:i + 1]}, return_full_exec_context=True)
        return [ctx[t] for t in names]

    first = one(0)
    if len(x) > 1:
        last = one(len(x) - 1)
        try:
            mb = _batched(model, len(x))
            ctx = execute_onnx(mb, {iname: x}, return_full_exec_context=True) if mb is not None else None
        except Exception as exc:                       # noqa: BLE001 - any executor failure: sample by sample
            log.info("batched QONNX execution failed (%s); running sample by sample", exc)
            ctx = None
        if ctx is not None and all(ctx[t].shape[0] == len(x) and np.array_equal(ctx[t][:1], f) and
                                   np.array_equal(ctx[t][-1:], g) for t, f, g in zip(names, first, last)):
            return [np.asarray(ctx[t]) for t in names]
        if ctx is not None:
            log.info("batched QONNX execution differs from one-sample runs; running sample by sample")
    rows = [first] + [one(i) for i in range(1, len(x) - 1)] + ([last] if len(x) > 1 else [])
    return [np.concatenate([r[k] for r in rows]) for k in range(len(names))]


def integer_io(model, design_meta: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(integer inputs [N, in_beats, in_channels], expected integer outputs [N, out_beats, out_channels])."""
    qin = model.get_node_from_name(design_meta["input_quant"]).output[0]
    xs, ys = executor_outputs(model, np.asarray(x, dtype=np.float32), [qin, model.graph.output[0].name])
    if design_meta.get("output") == "argmax":       # the index of the largest logit (numpy: the first one)
        return _to_beats(xs, design_meta, "in"), np.argmax(ys.reshape(len(ys), -1), axis=1).reshape(-1, 1, 1)
    return _to_beats(xs, design_meta, "in"), _to_beats(ys, design_meta, "out")


def _to_beats(t: np.ndarray, meta: dict, side: str) -> np.ndarray:
    """Float tensors [N, C, *spatial] or [N, C] -> integers [N, beats, channels] in stream order."""
    n, beats, ch = len(t), meta[f"{side}_beats"], meta[f"{side}_channels"]
    scale = np.asarray(meta[f"{side}_scale"], dtype=np.float64)
    if t.ndim > 2:
        t = np.moveaxis(t.reshape(n, t.shape[1], -1), 1, 2)     # [N, pixels, C]
    else:
        t = t.reshape(n, 1, -1)
    offset = np.asarray(meta.get(f"{side}_offset", [0.0]), dtype=np.float64).reshape(1, 1, -1)
    v = (t - offset) / scale.reshape(1, 1, -1)
    r = np.round(v)
    # float scales: the executor computes in float32, so its values are integers up to float32 rounding
    if np.any(np.abs(v - r) > np.minimum(0.05 + 1e-6 * np.abs(v), 0.49)):
        raise FlowError(f"the model's {side}put values are not integers times the design's {side}_scale "
                        f"(max deviation {np.abs(v - r).max():.3g})")
    return r.astype(np.int64).reshape(n, beats, ch)


def _pack(beat: np.ndarray, bits: int) -> int:
    word = 0
    for i, v in enumerate(beat):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


def _unpack(word: int, channels: int, bits: int, signed: bool) -> list[int]:
    out = []
    for i in range(channels):
        v = (word >> (i * bits)) & ((1 << bits) - 1)
        if signed and v >> (bits - 1):
            v -= 1 << bits
        out.append(v)
    return out


def pick_simulator(prefer: str = "auto") -> str:
    if prefer in ("auto", "verilator") and shutil.which("verilator"):
        return "verilator"
    if prefer in ("auto", "iverilog") and shutil.which("iverilog"):
        return "iverilog"
    raise InputError("no Verilog simulator found (verilator or iverilog)",
                     "scripts/install_system_deps.sh installs both (apt-get install verilator iverilog)")


def _testbench(design: Design, beats: np.ndarray, n_frames: int, work: Path) -> tuple[dict, list[str]]:
    """Write in.hex and the testbench into ``work``; (testbench parameters, source files)."""
    m = design.meta
    hexw = (m["in_width"] + 3) // 4
    (work / "in.hex").write_text("\n".join(f"{_pack(b, m['in_elem_bits']):0{hexw}x}" for b in beats) + "\n")
    shutil.copy(RTL_BLOCKS / "ohq_tb.v", work / "ohq_tb.v")
    params = {"IN_W": m["in_width"], "OUT_W": m["out_width"], "N_IN": len(beats), "N_OUT": n_frames * m["out_beats"],
              "MAXCYC": 50 * (len(beats) + n_frames * (m["predicted_latency_cycles"] + m["predicted_ii_cycles"])) + 1000}
    return params, [str(work / "ohq_tb.v")] + [str(design.out_dir / s) for s in m["sources"]]


# C++ split into functions of <= 1000 statements (g++ -O1 on Verilator's huge functions is slow); the code run once
# (settle, constructors) and the runtime library at -O0; the per-cycle code at -O1 when the runs are long (at least
# O1_CYCLES frames x II): measured on CNV w2a2 / 8 (128 x 1024), the same compile time as -O0 and 5x faster runs; on
# the MobileNet head (128 x 256) -O0 took less in all (docs/design.md)
VERILATOR_FLAGS = ["--cc", "--exe", "--main", "--timing", "--output-split-cfuncs", "1000", "-Wno-fatal", "-Wno-lint",
                   "-Wno-style", "-Wno-TIMESCALEMOD"]
VERILATOR_MAKEFLAGS = ["OPT_SLOW=-O0", "OPT_GLOBAL=-O0"]
O1_CYCLES = 100_000
RUNTIME_OBJECTS = ("verilated.o", "verilated_timing.o", "verilated_threads.o")


def _cached_runtime(obj: Path) -> Path | None:
    """Verilator's runtime library objects (the same for every design) from the cache, copied into ``obj``.

    Keyed by the Verilator and C++ compiler versions and the make flags (``<cache>/verilator_runtime/<key>``,
    the cache of ``ohq_flow.hw.cache``). Returns the cache entry to fill after the build, None when it was used."""
    import hashlib
    import subprocess

    from ohq_flow.hw.cache import default_cache_dir
    try:
        versions = [subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=60).stdout
                    for tool in ("verilator", "g++")]
    except (OSError, subprocess.SubprocessError):
        return None
    what = "\n".join([*versions, *VERILATOR_FLAGS, *VERILATOR_MAKEFLAGS, *RUNTIME_OBJECTS])
    key = hashlib.sha256(what.encode()).hexdigest()[:24]
    entry = default_cache_dir() / "verilator_runtime" / key
    if all((entry / o).is_file() for o in RUNTIME_OBJECTS):
        for o in RUNTIME_OBJECTS:
            shutil.copy(entry / o, obj / o)           # a fresh mtime: make takes them as built
        return None
    return entry


def _store_runtime(obj: Path, entry: Path) -> None:
    """Keep the runtime objects just built for the next design (atomic writes; best effort)."""
    try:
        for o in RUNTIME_OBJECTS:
            if (obj / o).is_file():
                atomic_write_bytes(entry / o, (obj / o).read_bytes())
    except OSError as exc:
        log.info("verilator runtime objects not cached: %s", exc)


class NetworkSim:
    """A compiled testbench of one design for ``n_frames`` frames of given inputs."""

    def __init__(self, design: Design, x_int: np.ndarray, work_dir: Path, simulator: str = "auto",
                 timeout_s: float = 3600):
        self.d, self.meta = design, design.meta
        self.work = Path(work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self.sim = pick_simulator(simulator)
        self.n = len(x_int)
        params, srcs = _testbench(design, x_int.reshape(-1, self.meta["in_channels"]), self.n, self.work)
        t0 = time.perf_counter()
        if self.sim == "verilator":
            obj = self.work / "obj"
            run_tool(["verilator", *VERILATOR_FLAGS, "--top-module", "tb", "-Mdir", str(obj), "-o", "Vtb",
                      *[f"-G{k}={v}" for k, v in params.items()], *srcs],
                     log_path=self.work / "verilator_build.log", timeout_s=timeout_s, cwd=self.work)
            runtime = _cached_runtime(obj)
            fast = "-O1" if self.n * self.meta["predicted_ii_cycles"] >= O1_CYCLES else "-O0"
            run_tool(["make", "-C", str(obj), "-f", "Vtb.mk", "-j", "2", *VERILATOR_MAKEFLAGS, f"OPT_FAST={fast}"],
                     log_path=self.work / "verilator_make.log", timeout_s=timeout_s, cwd=self.work)
            if runtime is not None:
                _store_runtime(obj, runtime)
            self.exe = [str(obj / "Vtb")]
        else:
            run_tool(["iverilog", "-g2012", "-o", str(self.work / "sim.vvp"), "-s", "tb",
                      *[f"-Ptb.{k}={v}" for k, v in params.items()], *srcs],
                     log_path=self.work / "iverilog_build.log", timeout_s=timeout_s, cwd=self.work)
            self.exe = ["vvp", "-n", str(self.work / "sim.vvp")]
        self.build_seconds = time.perf_counter() - t0

    def run(self, gap: int = 0, bp: int = 0, seed: int = 1) -> dict:
        """One simulation; returns outputs [N, out_beats, out_channels], per-frame timing and the wall time."""
        m = self.meta
        t0 = time.perf_counter()
        res = run_tool([*self.exe, f"+GAP={gap}", f"+BP={bp}", f"+SEED={seed}"],
                       log_path=self.work / f"run_gap{gap}_bp{bp}.log", timeout_s=self.timeout_s, cwd=self.work)
        secs = time.perf_counter() - t0
        ins, outs = [], []
        for line in res.stdout.splitlines():
            p = line.split()
            if p and p[0] == "I":
                ins.append(int(p[1]))
            elif p and p[0] == "O":
                outs.append((int(p[1]), int(p[2], 16), int(p[3])))
            elif p and p[0] == "TIMEOUT":
                raise FlowError(f"whole-network simulation stalled: {line} with {len(outs)} of "
                                f"{self.n * m['out_beats']} output beats; log {self.work}")
        ob, ib = m["out_beats"], m["in_beats"]
        if len(outs) != self.n * ob:
            raise FlowError(f"whole-network simulation gave {len(outs)} output beats, expected {self.n * ob}; log {self.work}")
        y = np.array([_unpack(w, m["out_channels"], m["out_elem_bits"], m["out_signed"]) for _, w, _ in outs],
                     dtype=np.int64).reshape(self.n, ob, m["out_channels"])
        tlast_ok = all(bool(last) == ((k % ob) == ob - 1) for k, (_, _, last) in enumerate(outs))
        first_in = [ins[f * ib] for f in range(self.n)]
        last_out = [outs[f * ob + ob - 1][0] for f in range(self.n)]
        return {"y": y, "first_in": first_in, "last_out": last_out, "tlast_ok": tlast_ok, "seconds": secs}


def compare(y_rtl: np.ndarray, y_ref: np.ndarray, x_int: np.ndarray, label: str) -> int:
    """Count mismatching frames; raise FlowError naming the first mismatch."""
    bad = np.flatnonzero(np.any((y_rtl != y_ref).reshape(len(y_ref), -1), axis=1))
    if len(bad):
        f = int(bad[0])
        flat_r, flat_e = y_rtl[f].reshape(-1), y_ref[f].reshape(-1)
        k = int(np.flatnonzero(flat_r != flat_e)[0])
        raise FlowError(f"whole-network simulation ({label}): {len(bad)} of {len(y_ref)} frames mismatch; first: input "
                        f"sample {f}, output index {k} (beat {k // y_ref.shape[2]}, channel {k % y_ref.shape[2]}): "
                        f"expected {int(flat_e[k])}, RTL gave {int(flat_r[k])}; input integers "
                        f"{x_int[f].reshape(-1)[:16].tolist()}{' ...' if x_int[f].size > 16 else ''}",
                        "design.json lists the stages; final/verify/network/locate/ holds the traced simulation")
    return 0


def locate_mismatch(design: Design, frame: np.ndarray, work_dir: Path, timeout_s: float = 1800) -> str | None:
    """The first stage whose output beats differ from the stage-list integer model (golden.run_stages) on one
    frame: Icarus runs the top with ``OHQ_TRACE`` (every stream's beats logged). None if every stage agrees."""
    from ohq_flow.design.golden import run_stages
    m = design.meta
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    params, srcs = _testbench(design, np.asarray(frame).reshape(-1, m["in_channels"]), 1, work)
    run_tool(["iverilog", "-g2012", "-DOHQ_TRACE", "-o", str(work / "trace.vvp"), "-s", "tb",
              *[f"-Ptb.{k}={v}" for k, v in params.items()], *srcs], log_path=work / "trace_build.log", timeout_s=timeout_s, cwd=work)
    res = run_tool(["vvp", "-n", str(work / "trace.vvp")], log_path=work / "trace.log", timeout_s=timeout_s, cwd=work)
    seen: dict[int, list[int]] = {}
    for line in res.stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[0] == "S":
            seen.setdefault(int(p[1]), []).append(int(p[2], 16))
    ref = run_stages(design.ir, np.asarray(frame).reshape(-1, m["in_channels"]))
    for i, (st, exp) in enumerate(zip(design.ir.stages, ref)):
        if st.kind == "mvau" and st.info.get("fused") is not None:     # its sums stay inside: the requant stage's stream
            continue
        exp = np.asarray(exp, dtype=np.int64).reshape(len(exp), -1)
        c = exp.shape[1]
        got = seen.get(st.dst[0], [])
        bits = st.out.width // c
        vals = np.array([_unpack(w, c, bits, (bool(st.out.signed) or bool(np.any(exp < 0))) and not st.out.packed)
                         for w in got[:len(exp)]], dtype=np.int64).reshape(-1, c)
        if st.out.packed:                    # a +-1 stream as bits: b means 2b - 1
            vals = 2 * vals - 1
        if len(got) < len(exp) or not np.array_equal(vals, exp):
            if len(got) < len(exp):
                what = f"gave {len(got)} of {len(exp)} beats"
            else:
                b, k = np.argwhere(vals != exp)[0]
                what = f"beat {b}, element {k}: expected {exp[b, k]}, RTL gave {vals[b, k]}"
            return f"stage {i} ({st.kind}, node {st.node}): {what}"
    return None


def simulate_network(model, design: Design, x: np.ndarray, work_dir: Path, simulator: str = "auto",
                     out_json: Path | None = None, backpressure: bool = True, timeout_s: float = 3600) -> dict:
    """Run the complete design on inputs ``x`` (float, the model's input); exact compare; timing."""
    x_int, y_ref = integer_io(model, design.meta, x)
    sim = NetworkSim(design, x_int, work_dir, simulator, timeout_s=timeout_s)
    runs = {"back_to_back": sim.run()}
    if backpressure:
        runs["gaps_and_backpressure"] = sim.run(gap=30, bp=40, seed=7)
    for label, r in runs.items():
        try:
            compare(r["y"], y_ref, x_int, label)
        except FlowError as exc:
            bad = int(np.flatnonzero(np.any((r["y"] != y_ref).reshape(len(y_ref), -1), axis=1))[0])
            try:
                where = locate_mismatch(design, x_int[bad], Path(work_dir) / "locate", timeout_s=timeout_s)
            except FlowError as loc_exc:                 # the diagnosis is best effort; the mismatch stands
                where = f"not located ({loc_exc.message})"
            where = where or "every stage equals the integer model on this frame (the output packing or the model's I/O differs)"
            raise FlowError(f"{exc.message}; first differing stage: {where}", exc.hint) from None
        if not r["tlast_ok"]:
            raise FlowError(f"whole-network simulation ({label}): m_axis_tlast is not on the last beat of every frame")
    r = runs["back_to_back"]
    lat = r["last_out"][0] - r["first_in"][0]
    diffs = np.diff(r["last_out"])
    ii = int(np.median(diffs)) if len(diffs) else None
    rec = {"simulator": sim.sim, "inputs": int(len(x)), "mismatches": 0, "latency_cycles": int(lat),
           "ii_cycles": ii, "predicted_latency_cycles": design.meta["predicted_latency_cycles"],
           "predicted_ii_cycles": design.meta["predicted_ii_cycles"],
           "runs": list(runs), "tlast_checked": True,
           "build_seconds": round(sim.build_seconds, 2),
           "sim_seconds_per_frame": round(r["seconds"] / max(1, len(x)), 5),
           "ii_range": [int(diffs.min()), int(diffs.max())] if len(diffs) else None}
    if out_json is not None:
        # the same integer frames for the board: ohq-flow board-run sends x and checks y
        buf = io.BytesIO()
        np.savez(buf, x=x_int, y=y_ref)
        atomic_write_bytes(out_json.with_name("network_vectors.npz"), buf.getvalue())
        atomic_write_json(out_json, rec)
    return rec
