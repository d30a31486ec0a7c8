"""The memory bound of every tool run: a watcher sums the resident memory of a tool's process group and kills
the group when it passes the limit (resident, not virtual, memory: WebAssembly runtimes and JITs reserve
far more address space than they use, so an address-space rlimit would refuse healthy runs).

The limit is ``hardware.max_memory_gb`` (set once per run by the pipeline), else ``$OHQ_MAX_MEMORY_GB``
(how job processes inherit it), else half the machine's memory.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

ENV = "OHQ_MAX_MEMORY_GB"
DEFAULT_SHARE = 0.5
_PAGE = os.sysconf("SC_PAGE_SIZE")
_configured: float | None = None


def machine_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def set_limit_gb(gb: float | None) -> None:
    """The run's bound (``hardware.max_memory_gb``); None: the environment's or the default."""
    global _configured
    _configured = gb


def limit_gb() -> float:
    if _configured is not None:
        return _configured
    env = os.environ.get(ENV)
    if env:
        try:
            value = float(env)
        except ValueError:
            value = -1.0
        if value > 0:
            return value
    return DEFAULT_SHARE * machine_memory_bytes() / 2**30


def child_env() -> dict[str, str]:
    """The entry a child process needs to apply the same limit to its own tools."""
    return {ENV: f"{limit_gb():.6g}"}


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every live process in process group ``pgid`` (from /proc)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid:            # after the name: state ppid pgrp ...; rss is the 22nd
                total += int(fields[21]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


class MemoryWatch:
    """Kill process group ``pgid`` (SIGKILL) once its resident memory passes the limit; ``exceeded`` says so."""

    def __init__(self, pgid: int, limit_gb_: float | None = None, period_s: float = 0.2):
        self.pgid, self.limit = pgid, int((limit_gb_ if limit_gb_ is not None else limit_gb()) * 2**30)
        self.peak, self.exceeded = 0, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period_s,), daemon=True, name="ohq-memwatch")

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            rss = group_rss_bytes(self.pgid)
            self.peak = max(self.peak, rss)
            if rss > self.limit:
                self.exceeded = True
                try:
                    os.killpg(self.pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                return

    def message(self, tool: str, log_path) -> str:
        return (f"{tool} exceeded the memory limit of {self.limit / 2**30:.3g} GB (resident {self.peak / 2**30:.3g} GB "
                f"when stopped); process group killed; log: {log_path}")


REMEDY = ("raise hardware.max_memory_gb (default: half the machine's memory), make the design smaller (a tighter "
          "budget, more folding), or run on a machine with more memory")
