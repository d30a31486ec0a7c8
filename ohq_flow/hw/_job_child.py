"""The process one job runs in: ``python -m ohq_flow.hw._job_child JOB_FILE RESULT_FILE``.

Started by :mod:`ohq_flow.hw.jobs` in a new process group with stdout/stderr going to the job
log. Loads the pickled job, calls ``fn(ctx)``, and writes the row as JSON to RESULT_FILE
atomically (a row with status ``failed`` and the traceback in the log when ``fn`` raises).
If the runner that started it dies, it kills its own process group (tools included).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from ohq_flow.fileio import atomic_write_json
from ohq_flow.hw.costs import STATUS_FAILED, CostRow

_ORPHAN_POLL_S = 0.25


def _watch_parent() -> None:
    """Kill our process group as soon as the runner that started us is gone."""
    # the runner's pid comes from the environment: reading getppid() here would miss a runner
    # killed between our fork and this line (we would already be reparented)
    parent = int(os.environ.get("OHQ_JOB_RUNNER_PID", os.getppid()))

    def loop() -> None:
        while True:
            time.sleep(_ORPHAN_POLL_S)
            if os.getppid() != parent:
                os.killpg(0, signal.SIGKILL)

    threading.Thread(target=loop, name="ohq-orphan-watch", daemon=True).start()


def _load(job_file: Path):
    outer = pickle.loads(job_file.read_bytes())
    for p in outer["sys_path"]:
        if p not in sys.path:
            sys.path.append(p)
    return pickle.loads(outer["job"]), Path(outer["log_path"])


def _check_row(job, row) -> CostRow:
    if not isinstance(row, CostRow):
        raise TypeError(f"{job.fn.__qualname__} returned {type(row).__name__}, not a CostRow")
    if (row.w_bits, row.a_bits) != (job.w_bits, job.a_bits):
        raise ValueError(f"{job.fn.__qualname__} returned a row for w{row.w_bits} a{row.a_bits}, "
                         f"but the job is w{job.w_bits} a{job.a_bits}")
    row.layer = job.layer
    return row


def run(job_file: Path, result_file: Path) -> int:
    """Run the job in ``job_file``; write its row to ``result_file``. Returns the exit code."""
    from ohq_flow.hw.jobs import JobContext, format_exception_line
    job, log_path = _load(job_file)
    ctx = JobContext(key=job.key, layer=job.layer, w_bits=job.w_bits, a_bits=job.a_bits,
                     payload=job.payload, workdir=Path(job.workdir), log_path=log_path,
                     timeout_s=job.timeout_s)
    t0 = time.monotonic()
    try:
        row = _check_row(job, job.fn(ctx))
        code = 0
    except BaseException as exc:  # the job's fault, whatever it is, becomes a failed row
        traceback.print_exc()
        row = CostRow(job.layer, job.w_bits, job.a_bits, status=STATUS_FAILED,
                      error=format_exception_line(exc))
        code = 1
    if row.elapsed_s is None:
        row.elapsed_s = time.monotonic() - t0
    sys.stdout.flush()
    sys.stderr.flush()
    atomic_write_json(result_file, row.to_dict())
    return code


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.exit("usage: python -m ohq_flow.hw._job_child JOB_FILE RESULT_FILE")
    _watch_parent()
    sys.exit(run(Path(argv[0]), Path(argv[1])))


if __name__ == "__main__":
    main()
