"""The run as a pipeline of named steps: artifacts in, artifacts out, resumable.

Each step declares what it depends on (config sections and upstream artifacts). The runner
hashes those inputs; a step whose input hash and output files are unchanged since the last
run is skipped; a step that reports itself ``partial`` (some jobs failed) runs again. One process at
a time works in a run directory (``.ohq_run.lock``). ``manifest.json`` in the run directory records, per step, the input hash, the
output files with their hashes, timings and tool versions. Writes are atomic, so a killed
run resumes at the first unfinished step.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ohq_flow.version import __version__
from ohq_flow.config import FlowConfig
from ohq_flow.errors import InputError, Replan
from ohq_flow.fileio import atomic_write_json, sha256_file, sha256_json
from ohq_flow.hw import memlimit

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What a step sees: the config, the run directory, shared in-memory state, and ``echo`` — where a
    step's messages for the user go (:func:`run_steps` sets it; steps never ``print``)."""

    cfg: FlowConfig
    run_dir: Path
    force: bool = False
    cache: dict = field(default_factory=dict)
    echo: Callable[[str], None] = print

    def path(self, name: str) -> Path:
        return self.run_dir / name

    @property
    def log_path(self) -> Path:
        return self.run_dir / "ohq_flow.log"


def run_context(cfg: FlowConfig, force: bool = False) -> RunContext:
    """The run context of a config (its output directory must be writable)."""
    try:
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
        with open(cfg.output_dir / "ohq_flow.log", "a"):
            pass
    except OSError as exc:
        raise InputError(f"output directory {cfg.output_dir} cannot be written ({exc.strerror or exc})",
                         "set output_dir in the config to a writable directory (and check free disk space)") from None
    return RunContext(cfg=cfg, run_dir=cfg.output_dir, force=force)


@contextlib.contextmanager
def run_log(ctx: RunContext):
    """While the steps run, log records also go to RUN_DIR/ohq_flow.log (the handler is removed after)."""
    handler = logging.FileHandler(ctx.log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        handler.close()


@dataclass
class Step:
    """A named step: ``run(ctx)`` writes ``outputs`` (paths relative to the run dir)."""

    name: str
    run: Callable[[RunContext], dict | None]
    outputs: tuple[str, ...]
    config_sections: tuple[str, ...]
    upstream: tuple[str, ...] = ()   # artifacts (relative paths) this step reads
    description: str = ""
    optional: tuple[str, ...] = ()   # artifacts it reads when they exist (hashed when present)


def _versions() -> dict:
    from ohq_flow.versions import package_versions
    return {"ohq_flow": __version__, "python": platform.python_version(),
            **package_versions(("torch", "brevitas", "qonnx", "onnx", "onnxruntime", "da4ml", "pulp"))}


class Manifest:
    """``manifest.json`` of a run directory."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "manifest.json"
        self.data = {"steps": {}}
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                log.warning("%s is corrupt; all steps will run again", self.path)

    def entry(self, step: str) -> dict | None:
        return self.data.get("steps", {}).get(step)

    def record(self, step: str, entry: dict) -> None:
        self.data.setdefault("steps", {})[step] = entry
        self.data["versions"] = _versions()
        atomic_write_json(self.path, self.data)


def _config_part(cfg: FlowConfig, section: str):
    value = getattr(cfg, section)
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else str(value)


def _file_hash(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """Hash of ohq_flow's sources, board files and tool templates: another ohq_flow redoes every step."""
    pkg = Path(__file__).resolve().parent
    dirs = [pkg]   # boards/ and templates/ are package data inside it
    files = sorted(p for d in dirs for p in d.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix in (".py", ".yaml", ".ys", ".tcl", ".j2", ".v", ".lpf", ".xdc", ".cpp"))
    return sha256_json({str(p.relative_to(pkg.parent)): sha256_file(p) for p in files})


def _named_files(value) -> dict[str, str]:
    """Content hashes of every existing file an (absolute) path in a config section names."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for v in value.values():
            out.update(_named_files(v))
    elif isinstance(value, list):
        for v in value:
            out.update(_named_files(v))
    elif isinstance(value, str) and value.startswith("/") and "\n" not in value and len(value) < 4096:
        try:
            if Path(value).is_file():
                out[value] = sha256_file(value)
        except OSError:
            pass
    return out


def factory_source(cfg: FlowConfig) -> Path | None:
    """The source file of the Brevitas factory's module, found on its python_path (not imported)."""
    b = cfg.model.brevitas
    if b is None:
        return None
    rel = Path(*b.factory.split(":")[0].split("."))
    for d in b.python_path:
        for cand in (Path(d) / rel.with_suffix(".py"), Path(d) / rel / "__init__.py"):
            if cand.is_file():
                return cand
    return None


def input_hash(step: Step, ctx: RunContext) -> str:
    """Hash of everything a step's result depends on: its config sections, the content of every file
    they name (model, checkpoint, calibration data, ...), the board's content (not its name), the
    factory's source, upstream artifact contents and the ohq_flow code."""
    config = {s: _config_part(ctx.cfg, s) for s in step.config_sections}
    parts = {"step": step.name, "config": config, "files": _named_files(config),
             "upstream": {u: _file_hash(ctx.path(u)) for u in step.upstream + step.optional}, "code": code_hash()}
    if "model" in step.config_sections:
        src = factory_source(ctx.cfg)
        parts["factory_source"] = _file_hash(src) if src else None
    if "board" in step.config_sections:
        parts["board"] = ctx.cfg.board_obj().model_dump(mode="json", exclude={"file"})
    return sha256_json(parts)


LOCK_FILE = ".ohq_run.lock"


@contextlib.contextmanager
def run_dir_lock(run_dir: Path):
    """Hold the run directory for one process; a second run on it is refused naming the holder."""
    import fcntl
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("utf-8", "replace").strip() or "?"
            raise InputError(f"run directory {run_dir} is in use by another ohq-flow process (pid {holder})",
                             "wait for it to finish, or give this run another output_dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)                             # closing the descriptor releases the lock


def is_fresh(step: Step, ctx: RunContext, manifest: Manifest, in_hash: str) -> bool:
    """True when the step ran before with the same inputs and its outputs are intact."""
    entry = manifest.entry(step.name)
    if not entry or entry.get("input_hash") != in_hash or entry.get("status") != "ok":
        return False
    for rel, digest in entry.get("outputs", {}).items():
        if _file_hash(ctx.path(rel)) != digest:
            return False
    return True


def _time_spent_before(entry: dict | None, in_hash: str) -> float:
    """Seconds earlier, interrupted attempts of this step (same inputs) already spent."""
    if entry and entry.get("status") == "interrupted" and entry.get("input_hash") == in_hash:
        return float(entry.get("spent_s") or 0.0)
    return 0.0


def run_steps(steps: list[Step], ctx: RunContext, *, start: str | None = None, stop: str | None = None,
              echo: Callable[[str], None] = print) -> dict[str, str]:
    """Run ``steps`` in order (from ``start`` to ``stop`` inclusive); returns step -> ran|skipped."""
    names = [s.name for s in steps]
    for label, value in (("--from", start), ("--to", stop)):
        if value is not None and value not in names:
            raise InputError(f"{label} {value}: no such step", f"steps are: {', '.join(names)}")
    i0 = names.index(start) if start else 0
    i1 = names.index(stop) if stop else len(steps) - 1
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    memlimit.set_limit_gb(ctx.cfg.hardware.max_memory_gb)     # every tool run of this run is bounded by it
    with run_dir_lock(ctx.run_dir), run_log(ctx):
        previous, ctx.echo = ctx.echo, echo
        try:
            todo, outcome = steps[i0:i1 + 1], {}
            while True:
                try:
                    outcome.update(_run_steps(todo, ctx, echo))
                    return outcome
                except Replan as again:          # the closed budget loop: run again from the step it names
                    echo(f"[loop] {again.message}")
                    names_todo = [s.name for s in steps]
                    todo = steps[names_todo.index(again.step):i1 + 1]
        finally:
            ctx.echo = previous


def _run_steps(steps: list[Step], ctx: RunContext, echo: Callable[[str], None]) -> dict[str, str]:
    manifest = Manifest(ctx.run_dir)
    outcome = {}
    for step in steps:
        missing = [u for u in step.upstream if not ctx.path(u).is_file()]
        if missing:
            raise InputError(f"step '{step.name}' needs {', '.join(missing)} in {ctx.run_dir}",
                             "run the earlier steps first (drop --from)")
        h = input_hash(step, ctx)
        if not ctx.force and is_fresh(step, ctx, manifest, h):
            echo(f"[{step.name}] up to date, skipped")
            outcome[step.name] = "skipped"
            continue
        echo(f"[{step.name}] {step.description}")
        log.info("step %s started", step.name)
        t0 = time.time()
        before = _time_spent_before(manifest.entry(step.name), h)
        try:
            extra = step.run(ctx) or {}
        except BaseException:   # interrupted or failed: keep the time spent, a resume adds to it
            manifest.record(step.name, {"status": "interrupted", "input_hash": h,
                                        "spent_s": round(before + time.time() - t0, 3)})
            raise
        elapsed = time.time() - t0
        outputs = {rel: _file_hash(ctx.path(rel)) for rel in step.outputs}
        absent = [rel for rel, d in outputs.items() if d is None]
        if absent:
            raise RuntimeError(f"step '{step.name}' did not write {absent}")
        status = "partial" if extra.get("partial") else "ok"   # a partial step runs again next time
        manifest.record(step.name, {"status": status, "input_hash": h, "outputs": outputs,
                                    "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
                                    "elapsed_s": round(elapsed, 3), "total_s": round(before + elapsed, 3),
                                    "info": extra})
        echo(f"[{step.name}] done in {elapsed:.1f} s" + (" (partial: failed parts are retried next run)"
                                                          if status == "partial" else ""))
        log.info("step %s done in %.1f s", step.name, elapsed)
        outcome[step.name] = "ran"
    return outcome
