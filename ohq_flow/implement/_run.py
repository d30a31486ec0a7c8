"""A tool run whose output is streamed to a log (and progress lines to the user) with a timeout."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from ohq_flow.errors import FlowError, InputError
from ohq_flow.hw._guard import found, guarded
from ohq_flow.hw.memlimit import REMEDY, MemoryWatch


def run_streaming(argv: Sequence[str], *, log_path: Path, timeout_s: float, cwd: Path,
                  on_line: Callable[[str], None] | None = None) -> tuple[int, float, str]:
    """Run ``argv`` (a list, never a shell); every output line goes to ``log_path`` and ``on_line``.

    Returns (exit code, seconds, tail of the output). Raises FlowError on a timeout (the process
    is killed), InputError when the executable does not exist.
    """
    argv = [str(a) for a in argv]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    tail: list[str] = []
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        if not found(argv[0], cwd):
            raise InputError(f"tool '{argv[0]}' not found", "install it or put it on PATH")
        proc = subprocess.Popen(guarded(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", bufsize=1, start_new_session=True)
        timed_out = threading.Event()

        def _kill():
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass

        def _time_out():
            timed_out.set()
            _kill()
        timer = threading.Timer(timeout_s, _time_out)
        timer.start()
        with MemoryWatch(proc.pid) as watch:
            try:
                for line in proc.stdout:
                    log.write(line)
                    tail.append(line.rstrip())
                    del tail[:-40]
                    if on_line is not None:
                        on_line(line.rstrip())
                code = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:       # interrupted: nothing the tool started outlives us
                    _kill()
        if watch.exceeded:
            log.write(f"\n[ohq_flow] {watch.message(Path(argv[0]).name, log_path)}\n")
            raise FlowError(watch.message(Path(argv[0]).name, log_path), REMEDY)
        if timed_out.is_set():
            log.write(f"\n[ohq_flow] timed out after {timeout_s:g} s\n")
            raise FlowError(f"{Path(argv[0]).name} timed out after {timeout_s:g} s; log: {log_path}",
                            "raise implement.timeout_s, or make the design smaller (budgets, folding)")
    return code, time.monotonic() - t0, "\n".join(tail)
