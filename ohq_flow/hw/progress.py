"""Progress of a long run of cost jobs: a tqdm bar on a terminal, plain rate-limited lines otherwise.

Off a terminal (a log file, CI, ``nohup``) a line like::

    cost jobs: 120/1488 (8%) done, 30 cached, 0 failed; 4.1 min elapsed, ETA 46 min; RSS 0.41 GB

is printed to stderr at most every ``every_s`` seconds or every ``every_pct`` % of the jobs
(and once at the end). The ETA extrapolates from the jobs that ran (cache hits are instant).
RSS is this process's resident memory (jobs run in their own processes).
"""

from __future__ import annotations

import sys
import time


def rss_bytes() -> int | None:
    """This process's current resident set size (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    import os
    return pages * os.sysconf("SC_PAGE_SIZE")


def fmt_rss() -> str:
    b = rss_bytes()
    return f"RSS {b / 2**30:.2f} GB" if b is not None else "RSS ?"


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else (f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h")


class JobProgress:
    """``update(n, cached=..., failed=...)`` per finished job; ``close()`` at the end."""

    def __init__(self, total: int, *, enabled: bool = True, desc: str = "cost jobs", unit: str = "job",
                 every_s: float = 10.0, every_pct: float = 5.0, stream=None, tty: bool | None = None):
        self.total, self.desc, self.every_s, self.every_pct = total, desc, every_s, every_pct
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and total > 0
        self.tty = self.stream.isatty() if tty is None else tty
        self.done = self.cached = self.failed = 0
        self.t0 = time.monotonic()
        self._last_t, self._last_pct = self.t0, 0.0
        self._bar = None
        if self.enabled and self.tty:
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream)

    def eta_s(self) -> float | None:
        ran = self.done - self.cached
        if ran <= 0:
            return None
        return (time.monotonic() - self.t0) / ran * (self.total - self.done)

    def line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = self.eta_s()
        return (f"{self.desc}: {self.done}/{self.total} ({pct:.0f}%) done, {self.cached} cached, {self.failed} failed; "
                f"{_fmt_s(time.monotonic() - self.t0)} elapsed, ETA {_fmt_s(eta) if eta is not None else '?'}; {fmt_rss()}")

    def update(self, n: int = 1, *, cached: bool = False, failed: bool = False) -> None:
        self.done += n
        self.cached += n if cached else 0
        self.failed += n if failed else 0
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(fmt_rss(), refresh=False)
            self._bar.update(n)
            return
        now, pct = time.monotonic(), 100.0 * self.done / self.total
        if now - self._last_t >= self.every_s or pct - self._last_pct >= self.every_pct or self.done == self.total:
            self._last_t, self._last_pct = now, pct
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
