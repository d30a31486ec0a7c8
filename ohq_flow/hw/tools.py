"""Running external tools (yosys, vitis_hls, vivado, user commands) safely.

Always an argument list (never a shell string), always a timeout, always a log file whose path
is named in the error when the tool fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ohq_flow.errors import FlowError, InputError
from ohq_flow.hw._guard import found, guarded
from ohq_flow.hw.memlimit import REMEDY, MemoryWatch


@dataclass
class ToolResult:
    argv: list[str]
    returncode: int
    elapsed_s: float
    log_path: Path
    stdout: str


def find_tool(name: str, hint: str | None = None) -> str:
    """Absolute path of executable ``name`` on PATH, or an InputError naming it."""
    path = shutil.which(name)
    if path is None:
        raise InputError(f"tool '{name}' is not on PATH", hint or f"install {name} or add it to PATH")
    return path


def open_log(path: Path):
    """A new log file at ``path`` for writing; a symlink or file already there is replaced, never followed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    return os.fdopen(fd, "w")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_tool(argv: Sequence[str], *, log_path: str | os.PathLike, timeout_s: float,
             cwd: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
             check: bool = True) -> ToolResult:
    """Run ``argv`` with a timeout, writing stdout+stderr to ``log_path``.

    Raises :class:`FlowError` naming the log on a non-zero exit (when ``check``), a timeout, or resident memory
    past the run's limit (:mod:`ohq_flow.hw.memlimit`); the tool's process group is killed in each case.
    ``env`` entries are added to a copy of the current environment (ours is never modified).
    """
    argv = [str(a) for a in argv]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    t0 = time.monotonic()
    with open_log(log_path) as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        if not found(argv[0], cwd, (full_env or os.environ).get("PATH")):
            raise InputError(f"tool '{argv[0]}' not found", f"install it or put it on PATH; log: {log_path}")
        proc = subprocess.Popen(guarded(argv), cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
        with MemoryWatch(proc.pid) as watch:
            try:
                stdout, _ = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                stdout, _ = proc.communicate()
                log.write((stdout or "") + f"\n[ohq_flow] timed out after {timeout_s:g} s\n")
                raise FlowError(f"{Path(argv[0]).name} timed out after {timeout_s:g} s; log: {log_path}",
                                "raise the timeout in the config (hardware.timeout_s) or use a faster measurer") from None
            finally:
                _kill_group(proc.pid)                 # nothing the tool started outlives it
        if watch.exceeded:
            log.write((stdout or "") + f"\n[ohq_flow] {watch.message(Path(argv[0]).name, log_path)}\n")
            raise FlowError(watch.message(Path(argv[0]).name, log_path), REMEDY)
        log.write(stdout)
    elapsed = time.monotonic() - t0
    if check and proc.returncode != 0:
        tail = "\n".join(stdout.strip().splitlines()[-5:])
        raise FlowError(f"{Path(argv[0]).name} exited with code {proc.returncode}; log: {log_path}\n{tail}")
    return ToolResult(argv, proc.returncode, elapsed, log_path, stdout)
