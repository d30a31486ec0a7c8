"""``ohq-flow`` command line: a thin layer over the library (argument handling only).

Exit codes: 0 ok, 1 flow failure, 2 bad input. Errors print one clear message; ``--debug``
shows the full traceback.
"""

from __future__ import annotations

import errno
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import typer

from ohq_flow.version import __version__
from ohq_flow.errors import FlowError, InputError, OhqError

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hardware-aware mixed-precision quantization for FPGAs: "
                       "Brevitas/QONNX -> sensitivity (MQE) + measured cost (OQA) -> ILP -> verified design.")
_FLAG = ""  # flags take no value: show none in --help (typer would print <bool>)


@app.callback(invoke_without_command=True)
def _main(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", metavar=_FLAG, help="show full tracebacks"),
          verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="more log output (-vv for debug)"),
          quiet: bool = typer.Option(False, "-q", "--quiet", metavar=_FLAG, help="only warnings and errors"),
          version: bool = typer.Option(False, "--version", metavar=_FLAG,
                                       help="print the version (with --verbose: also its packages' and tools' versions)")):
    if version:
        typer.echo(f"ohq-flow {__version__}")
        if verbose:
            from ohq_flow.versions import verbose_listing
            typer.echo(verbose_listing())
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        ctx.fail("Missing command.")
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("torch", "onnxscript", "distributed", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not debug:
        warnings.filterwarnings("ignore")


def _load(config: Path):
    from ohq_flow.config import load_config
    return load_config(config)


def _run_ctx(config: Path, force: bool = False):
    """The run context of a config; the run's log also goes to RUN_DIR/ohq_flow.log."""
    from ohq_flow.pipeline import run_context
    return run_context(_load(config), force)


# ----------------------------------------------------------------------------- config & boards
@app.command()
def validate(config: Path = typer.Argument(..., help="flow config (YAML)")):
    """Check a config: every problem at once, with its YAML path and a fix hint."""
    cfg = _load(config)
    board = cfg.board_obj()
    if cfg.model.brevitas is not None:          # import the factory (cheap): a missing module/function is bad input
        from ohq_flow.model.export import load_factory
        load_factory(cfg.model.brevitas.factory, cfg.model.brevitas.python_path)
    from ohq_flow.solve.step import budgets_over_board
    for warning in budgets_over_board(cfg.budgets.as_dict(), board):
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"{config}: OK — model: {'QONNX ' + str(cfg.model.qonnx) if cfg.model.qonnx else cfg.model.brevitas.factory}, "
               f"board: {board.name} ({board.part}), output: {cfg.output_dir}")


@app.command()
def init(path: Path = typer.Argument(Path("ohq_flow.yaml"), help="where to write the starter config"),
         force: bool = typer.Option(False, "--force", metavar=_FLAG, help="overwrite an existing file")):
    """Write a commented starter config."""
    from ohq_flow.config import STARTER_CONFIG
    from ohq_flow.fileio import atomic_write_text
    if path.exists() and not force:
        raise InputError(f"{path} already exists", "pass --force to overwrite it")
    atomic_write_text(path, STARTER_CONFIG)
    typer.echo(f"wrote {path}; edit it, then run: ohq-flow validate {path}")


@app.command()
def schema():
    """Print the JSON schema of the config."""
    from ohq_flow.config import json_schema
    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def boards(as_json: bool = typer.Option(False, "--json", metavar=_FLAG, help="JSON output")):
    """List the board catalog (boards/*.yaml)."""
    from ohq_flow.boards import catalog
    cat = catalog()
    if as_json:
        typer.echo(json.dumps({k: b.model_dump() for k, b in cat.items()}, indent=2))
        return
    head = ("name", "board", "part", "LUT", "FF", "DSP", "BRAM18", "URAM", "MHz", "bitstream")
    rows = [(k, b.name, b.part, *(f"{getattr(b.resources, r):,}" for r in ("lut", "ff", "dsp", "bram18", "uram")),
             f"{b.default_clock_mhz:g}", _impl_path(b)) for k, b in cat.items()]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        typer.echo("  ".join(str(c).rjust(w) if 3 <= i < 9 else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))))


def _impl_path(board) -> str:
    """How the implement step makes a bitstream for this board (the boards table's last column)."""
    if board.ecp5 is not None:
        return "nextpnr-ecp5 " + " ".join(board.ecp5.nextpnr_args()[:1])
    return "Vivado Tcl" if board.pins is not None else "- (no pins:)"


# ------------------------------------------------------------------------------------ the flow
def _run(config: Path, start: Optional[str], stop: Optional[str], force: bool):
    from ohq_flow.pipeline import run_steps
    from ohq_flow.steps import STEPS
    ctx = _run_ctx(config, force)
    run_steps(STEPS, ctx, start=start, stop=stop, echo=typer.echo)
    return ctx


@app.command()
def layers(config: Path = typer.Argument(..., help="flow config (YAML)"),
           as_json: bool = typer.Option(False, "--json", metavar=_FLAG, help="print layers.json instead of the table")):
    """Export the model and print its quantizable layers (writes layers.json)."""
    ctx = _run(config, None, "layers", False)
    path = ctx.path("layers.json") if as_json else ctx.path("layers.txt")
    typer.echo(path.read_text().rstrip())
    if not as_json:
        typer.echo(f"(written to {ctx.path('layers.json')})")


@app.command()
def run(config: Path = typer.Argument(..., help="flow config (YAML)"),
        start: Optional[str] = typer.Option(None, "--from", help="first step to run"),
        stop: Optional[str] = typer.Option(None, "--to", help="last step to run"),
        force: bool = typer.Option(False, "--force", metavar=_FLAG, help="redo steps even when their inputs are unchanged")):
    """Run the flow (steps whose inputs are unchanged are skipped)."""
    ctx = _run(config, start, stop, force)
    typer.echo(f"run directory: {ctx.run_dir}")


@app.command()
def sensitivity(config: Path = typer.Argument(..., help="flow config (YAML)")):
    """MQE: per-layer sensitivity -> sensitivity.csv and heatmap (resumes after interruption)."""
    ctx = _run(config, None, "sensitivity", False)
    typer.echo(f"wrote {ctx.path('sensitivity.csv')} and {ctx.path('sensitivity.png')}")


@app.command()
def profile(config: Path = typer.Argument(..., help="flow config (YAML)")):
    """OQA: measure every layer at every candidate -> costs.csv (cached, parallel)."""
    from ohq_flow.pipeline import run_steps
    from ohq_flow.steps import STEPS
    ctx = _run_ctx(config)
    steps = [s for s in STEPS if s.name in ("export", "layers", "profile")]
    run_steps(steps, ctx, echo=typer.echo)
    typer.echo(f"wrote {ctx.path('costs.csv')}")


def _parse_budgets(items: List[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"--budget {item!r} must look like metric=value, e.g. lut=12000 or lut=40%")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            out[key.strip()] = value.strip()
    return out


def _merge_budgets(budgets, update: dict):
    """The config's budgets with ``--budget`` values, validated like the config (ConfigError naming --budget)."""
    from pydantic import ValidationError
    from ohq_flow.config import BudgetsSection, ConfigError, validation_problems
    try:
        return BudgetsSection.model_validate({**budgets.model_dump(), **update})
    except ValidationError as exc:
        raise ConfigError("--budget", [(f"budgets.{p}", m) for p, m in validation_problems(exc)]) from None


def _check_budgets(update: dict) -> dict:
    """``--budget`` values of standalone solve, validated like the config's budgets."""
    from ohq_flow.config import BudgetsSection
    return _merge_budgets(BudgetsSection(), update).as_dict()


@app.command()
def solve(config: Optional[Path] = typer.Argument(None, help="flow config (or give --sensitivity and --costs)"),
          sens: Optional[Path] = typer.Option(None, "--sensitivity", help="sensitivity.csv (standalone mode)"),
          costs: Optional[Path] = typer.Option(None, "--costs", help="costs.csv (standalone mode)"),
          budget: List[str] = typer.Option([], "--budget", help="metric=value, e.g. lut=12000 or lut=40% (repeatable)"),
          board: Optional[str] = typer.Option(None, "--board", help="board for % budgets (standalone mode)"),
          sweep: List[str] = typer.Option([], "--sweep", help="metric=START:STOP:N Pareto sweep (repeatable)"),
          latency_mode: Optional[str] = typer.Option(
              None, "--latency-mode", help="sequential | dataflow (default: dataflow with an ii_cycles budget, else sequential)"),
          clock_mhz: Optional[float] = typer.Option(None, "--clock-mhz", help="cap on the design clock (MHz)"),
          minimize: Optional[str] = typer.Option(None, "--minimize",
                                                 help="minimise a metric (latency_ns, latency_cycles, ii_cycles, lut, ...) "
                                                      "instead of the damage"),
          max_damage: Optional[float] = typer.Option(None, "--max-damage", help="bound on the summed damage (with --minimize)"),
          solver: str = typer.Option("cbc", "--solver", help="cbc | highs"),
          strategy: Optional[str] = typer.Option(None, "--strategy",
                                                 help="ilp (default) | greedy | evolutionary | uniform | haq"),
          seed: Optional[int] = typer.Option(None, "--seed", help="seed of a randomised strategy"),
          out: Optional[Path] = typer.Option(None, "--out", help="output directory (standalone mode)"),
          as_json: bool = typer.Option(False, "--json", metavar=_FLAG,
                                       help="print the solution as JSON (also when infeasible: exit 1)")):
    """Bit-width selection (the ILP, or --strategy): from a run's tables (CONFIG) or from CSV files alone."""
    from ohq_flow.errors import FlowError
    try:
        _solve(config, sens, costs, budget, board, sweep, latency_mode, clock_mhz, minimize, max_damage, solver, out,
               as_json, strategy, seed)
    except FlowError as exc:
        sol = getattr(exc, "solution", None)
        if not as_json or sol is None:
            raise
        typer.echo(json.dumps(sol.to_json_dict(), indent=2))
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _solve(config, sens, costs, budget, board, sweep, latency_mode, clock_mhz, minimize, max_damage, solver, out, as_json,
           strategy=None, seed=None):
    from ohq_flow.solve.step import board_totals, format_result, solve_run
    from ohq_flow.solve.strategies import check_name
    if strategy is not None:
        check_name(strategy)
    if config is not None:
        from ohq_flow.pipeline import run_steps
        from ohq_flow.steps import STEPS
        ctx = _run_ctx(config)
        if sweep:
            ctx.cfg.solver.sweep = list(sweep)
        if budget:
            ctx.cfg.budgets = _merge_budgets(ctx.cfg.budgets, _parse_budgets(budget))
        solver_updates = {k: v for k, v in (("minimize", minimize), ("max_damage", max_damage), ("strategy", strategy),
                                            ("seed", seed)) if v is not None}
        if solver_updates:
            ctx.cfg.solver = ctx.cfg.solver.model_copy(update=solver_updates)
        if clock_mhz is not None:
            ctx.cfg.hardware = ctx.cfg.hardware.model_copy(update={"clock_mhz": clock_mhz})
        if latency_mode is not None:
            ctx.cfg.budgets = ctx.cfg.budgets.model_copy(update={"latency_mode": latency_mode})
        steps = [s for s in STEPS if s.name in ("export", "layers", "sensitivity", "profile", "solve")]
        # steps report through ctx.echo: with --json their messages go to stderr, stdout holds the JSON only
        run_steps(steps, ctx, echo=(lambda s: typer.echo(s, err=True)) if as_json else typer.echo)
        if as_json:
            typer.echo(ctx.path("solution.json").read_text())
        return
    if sens is None or costs is None:
        raise InputError("solve needs a CONFIG, or both --sensitivity S.csv and --costs C.csv")
    from ohq_flow.boards import resolve_board
    b = resolve_board(board) if board else None
    out_dir = out or sens.parent
    import contextlib, io
    sink = io.StringIO()
    budgets = _check_budgets(_parse_budgets(budget))
    if latency_mode is None:
        latency_mode = "dataflow" if "ii_cycles" in budgets or minimize == "ii_cycles" else "sequential"
    with contextlib.redirect_stdout(sink) if as_json else contextlib.nullcontext():
        sol = solve_run(sens, costs, out_dir, budgets=budgets, board=b, latency_mode=latency_mode,
                        solver=solver, sweeps=sweep, clock_mhz=clock_mhz, minimize=minimize, max_damage=max_damage,
                        strategy=strategy or "ilp", seed=seed or 0)
    typer.echo(json.dumps(sol.to_json_dict(), indent=2) if as_json else format_result(sol, board_totals(b)))


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a run directory")):
    """Write report.html (self-contained) and report.md for a run directory."""
    from ohq_flow.report.build_report import write_report
    if not run_dir.is_dir():
        raise InputError(f"run directory {run_dir} does not exist", "run `ohq-flow run CONFIG` first")
    html_path, md_path = write_report(run_dir)
    typer.echo(f"wrote {md_path}\n{html_path}")


# ------------------------------------------------------------------------------------ board
@app.command("board-run")
def board_run(run_dir: Path = typer.Argument(..., help="a run directory with final/design and final/impl"),
              port: str = typer.Option(..., "--port", help="serial port of the board's UART, e.g. /dev/ttyUSB0"),
              baud: int = typer.Option(115200, "--baud", help="must match implement.baud of the bitstream"),
              vectors: Optional[Path] = typer.Option(None, "--vectors", help="npz with x, y (and labels); default: final/verify/network_vectors.npz"),
              limit: Optional[int] = typer.Option(None, "--limit", min=1, help="only the first N frames"),
              timeout: float = typer.Option(5.0, "--timeout", help="seconds to wait for each answer")):
    """Run the test inputs on the board (bitstream loaded): outputs vs the QONNX executor, accuracy, on-board latency."""
    from ohq_flow.implement.board_run import format_board_run, main_board_run
    res = main_board_run(run_dir, port, baud=baud, vectors=vectors, limit=limit, timeout_s=timeout)
    typer.echo(format_board_run(res))
    if res["bit_exact"] != res["frames"]:
        raise FlowError(f"{res['frames'] - res['bit_exact']} of {res['frames']} frames differ from the expected outputs "
                       f"(first: {res['first_mismatches']}); see {run_dir / 'final/impl/board_run.json'}")


@app.command("board-sim")
def board_sim(run_dir: Path = typer.Argument(..., help="a run directory with final/design/design.json"),
              clks_per_bit: int = typer.Option(16, "--clks-per-bit", min=4, help="simulated UART bit time in clocks")):
    """Simulate the board (shell + network, Verilator) behind a pseudo-terminal for board-run; Ctrl-C stops it."""
    from ohq_flow.implement.design import DESIGN_JSON, load_design
    from ohq_flow.implement.uart_sim import build_uart_sim, start_uart_sim
    spec, sources, incs = load_design(run_dir / DESIGN_JSON)
    exe = build_uart_sim(spec, sources, incs, run_dir / "final" / "impl" / "sim", clks_per_bit=clks_per_bit)
    proc, pty = start_uart_sim(exe)
    typer.echo(f"simulated board on {pty}: ohq-flow board-run {run_dir} --port {pty}")
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()


# ------------------------------------------------------------------------------------ reports
@app.command("parse-report")
def parse_report(path: Path = typer.Argument(..., help="a report file or a project directory"),
                 as_json: bool = typer.Option(False, "--json", metavar=_FLAG, help="JSON list of records")):
    """Parse Vivado/Vitis HLS, Vivado, FINN and nextpnr reports into normalised records."""
    from ohq_flow.hw.reports.cli import main_parse_report
    raise typer.Exit(main_parse_report(str(path), as_json))


def _click_errors() -> tuple[type, ...]:
    """Usage-error classes: click's, and the copy of click typer bundles (typer >= 0.20)."""
    import click
    out = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as TyperClickException
        out.append(TyperClickException)
    except ImportError:
        pass
    return tuple(out)


def _terminate_as_interrupt() -> None:
    """SIGTERM (a job scheduler, ``kill``) unwinds like Ctrl-C, so every tool's process group is killed on the way
    out (Python's default for SIGTERM exits at once and leaves the running tool behind)."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: run the app, turning our errors into one message and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args                # the app-level flag (no subcommand takes one): no module state
    _terminate_as_interrupt()
    try:
        # typer (non-standalone) returns the code of typer.Exit, and turns Ctrl-C into Exit(130)
        code = app(args=args, standalone_mode=False)
    except OhqError as exc:
        if debug:
            raise
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        code = 130
    except OSError as exc:                   # a read-only or full disk, a directory where a file should be
        if debug:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        typer.secho(f"error: cannot access{where}: {exc.strerror or exc}", fg=typer.colors.RED, err=True)
        bad_input = isinstance(exc, (PermissionError, IsADirectoryError, NotADirectoryError, FileNotFoundError)) \
            or exc.errno == errno.EROFS
        if bad_input:
            typer.echo("  hint: check the path and its permissions (output_dir, cache_dir in the config)", err=True)
        sys.exit(2 if bad_input else 1)
    except Exception as exc:  # click usage errors and the like
        if isinstance(exc, _click_errors()):
            exc.show()
            sys.exit(getattr(exc, "exit_code", 2) or 2)
        if debug:
            raise
        typer.secho(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                    fg=typer.colors.RED, err=True)
        sys.exit(1)
    if code == 130:
        typer.echo("interrupted: finished work is saved; run the same command again to resume", err=True)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
