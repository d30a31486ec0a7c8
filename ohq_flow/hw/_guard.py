"""Run one tool so that it dies with the flow: ``python .../ohq_flow/hw/_guard.py FLOW_PID ARGV...``.

The flow starts the guard as the leader of a new process group; the guard starts the tool in that group and
waits for it. When the flow is gone (killed with SIGKILL: no chance to clean up) the guard kills the whole
group, so no tool outlives a killed run. It exits with the tool's code (128 + N for a signal N). Run as a script:
the standard library only (cheap to start, no sys.path needed)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

POLL_S = 0.5


def main(argv: list[str]) -> int:
    flow, tool = int(argv[0]), argv[1:]
    try:
        proc = subprocess.Popen(tool)
    except OSError as exc:
        print(f"[ohq_flow guard] cannot start {tool[0]}: {exc}", file=sys.stderr, flush=True)
        return 127
    while True:
        try:
            code = proc.wait(timeout=POLL_S)
            return code if code >= 0 else 128 - code
        except subprocess.TimeoutExpired:
            if os.getppid() != flow:                     # the flow is gone: the tool and this guard go too
                os.killpg(0, signal.SIGKILL)


def found(exe: str, cwd=None, path: str | None = None) -> bool:
    """Whether ``exe`` can be started (on PATH, or a path, relative to ``cwd``, of an executable file)."""
    if os.sep in exe:
        full = exe if os.path.isabs(exe) or cwd is None else os.path.join(cwd, exe)
        return os.path.isfile(full) and os.access(full, os.X_OK)
    return shutil.which(exe, path=path) is not None


def guarded(argv: list[str]) -> list[str]:
    """``argv`` run under the guard of this process."""
    return [sys.executable, os.path.abspath(__file__), str(os.getpid()), *argv]   # a script: needs no sys.path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
