"""The run as a pipeline of named steps: artifacts in, artifacts out, resumable.

Each step declares what it depends on (config sections and upstream artifacts). The runner
hashes those inputs; a step whose input hash and output files are unchanged since the last
run is skipped. ``manifest.json`` in the run directory records, per step, the input hash, the
output files with their hashes, timings and tool versions. Writes are atomic, so a killed
run resumes at the first unfinished step.
"""

from __future__ import annotations

import functools
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ohq_flow import __version__
from ohq_flow.config import FlowConfig
from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_json, sha256_file, sha256_json

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What a step sees: the config, the run directory and shared in-memory state."""

    cfg: FlowConfig
    run_dir: Path
    force: bool = False
    cache: dict = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.run_dir / name


def run_context(cfg: FlowConfig, force: bool = False) -> RunContext:
    """The run context of a config; the run's log also goes to RUN_DIR/ohq_flow.log (one handler per file)."""
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    log_path = str((cfg.output_dir / "ohq_flow.log").resolve())
    root = logging.getLogger()
    if not any(isinstance(h, logging.FileHandler) and h.baseFilename == log_path for h in root.handlers):
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        root.addHandler(handler)
    return RunContext(cfg=cfg, run_dir=cfg.output_dir, force=force)


@dataclass
class Step:
    """A named step: ``run(ctx)`` writes ``outputs`` (paths relative to the run dir)."""

    name: str
    run: Callable[[RunContext], dict | None]
    outputs: tuple[str, ...]
    config_sections: tuple[str, ...]
    upstream: tuple[str, ...] = ()   # artifacts (relative paths) this step reads
    description: str = ""


def _versions() -> dict:
    import importlib.metadata as md
    out = {"ohq_flow": __version__, "python": platform.python_version()}
    for pkg in ("torch", "brevitas", "qonnx", "onnx", "onnxruntime", "da4ml", "pulp"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


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
    dirs = [pkg] + [d for d in (pkg.parent / "boards", pkg.parent / "templates") if d.is_dir()]
    files = sorted(p for d in dirs for p in d.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix in (".py", ".yaml", ".ys", ".tcl", ".j2"))
    return sha256_json({str(p.relative_to(pkg.parent)): sha256_file(p) for p in files})


def input_hash(step: Step, ctx: RunContext) -> str:
    """Hash of the step's config sections, upstream artifact contents and the ohq_flow code."""
    parts = {"step": step.name, "config": {s: _config_part(ctx.cfg, s) for s in step.config_sections},
             "upstream": {u: _file_hash(ctx.path(u)) for u in step.upstream}, "code": code_hash()}
    if "model" in step.config_sections:
        m = ctx.cfg.model
        src = m.qonnx if m.qonnx is not None else m.brevitas.checkpoint
        parts["model_file"] = _file_hash(Path(src)) if src else None
    return sha256_json(parts)


def is_fresh(step: Step, ctx: RunContext, manifest: Manifest, in_hash: str) -> bool:
    """True when the step ran before with the same inputs and its outputs are intact."""
    entry = manifest.entry(step.name)
    if not entry or entry.get("input_hash") != in_hash or entry.get("status") != "ok":
        return False
    for rel, digest in entry.get("outputs", {}).items():
        if _file_hash(ctx.path(rel)) != digest:
            return False
    return True


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
    manifest = Manifest(ctx.run_dir)
    outcome = {}
    for step in steps[i0:i1 + 1]:
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
        extra = step.run(ctx) or {}
        elapsed = time.time() - t0
        outputs = {rel: _file_hash(ctx.path(rel)) for rel in step.outputs}
        absent = [rel for rel, d in outputs.items() if d is None]
        if absent:
            raise RuntimeError(f"step '{step.name}' did not write {absent}")
        manifest.record(step.name, {"status": "ok", "input_hash": h, "outputs": outputs,
                                    "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
                                    "elapsed_s": round(elapsed, 3), "info": extra})
        echo(f"[{step.name}] done in {elapsed:.1f} s")
        log.info("step %s done in %.1f s", step.name, elapsed)
        outcome[step.name] = "ran"
    return outcome
