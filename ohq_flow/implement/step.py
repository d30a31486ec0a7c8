"""The ``implement`` step: final/design/design.json -> final/impl/ (bitstream, reports, impl.json)."""

from __future__ import annotations

import json
from pathlib import Path

from ohq_flow.errors import FlowError, InputError
from ohq_flow.fileio import atomic_write_json

from .design import DESIGN_JSON, load_design
from .record import IMPL_DIR, IMPL_JSON, format_impl, impl_record

def _status_only(run_dir: Path, status: str, message: str, **extra) -> dict:
    rec = {"status": status, "message": message, **extra}
    atomic_write_json(run_dir / IMPL_JSON, rec)
    return rec


def step_implement(ctx) -> dict:
    """Wrap the network in the board shell and implement it (see the module docstring)."""
    cfg, run_dir = ctx.cfg, ctx.run_dir
    out = run_dir / IMPL_DIR
    out.mkdir(parents=True, exist_ok=True)
    icfg = cfg.implement
    if not icfg.enabled:
        rec = _status_only(run_dir, "disabled", "implement.enabled is false")
        ctx.echo("implement: disabled in the config")
        return {"status": rec["status"]}
    if not (run_dir / DESIGN_JSON).is_file():
        msg = (f"no complete design ({DESIGN_JSON} is missing): nothing to implement — the build step writes the "
               "streaming network top; until it does, this step is skipped")
        ctx.echo(f"implement: {msg}")
        return {"status": _status_only(run_dir, "no_design", msg)["status"]}
    board = cfg.board_obj()
    spec, sources, incs = load_design(run_dir / DESIGN_JSON)
    if board.is_ecp5:
        return _implement_ecp5(ctx, board, spec, sources, incs, out)
    from .vivado import implement_vivado
    if board.pins is None:   # no clock/UART pins in the board file: say so, record it, and let the run go on
        msg = (f"board file {board.file or board.name} has no 'pins:' section (clock, uart_tx, uart_rx), so no board "
               "shell and no bitstream can be made for it; add the oscillator and UART pins (see "
               "ohq_flow/boards/arty-a7-100t.yaml) or target a board that has them (e.g. ulx3s-85f)")
        ctx.echo(f"implement: NOT implemented — {msg}")
        return {"status": _status_only(run_dir, "no_pins", msg, board=board.name, bitstream=None)["status"]}
    osc = board.pins.clock.mhz
    if icfg.target_mhz and osc and abs(icfg.target_mhz - osc) > 1e-6:
        raise InputError(f"implement.target_mhz {icfg.target_mhz:g}: on {board.name} the shell runs on the board oscillator "
                         f"({osc:g} MHz; no MMCM is generated)", f"remove implement.target_mhz or set it to {osc:g}")
    rec = implement_vivado(spec, sources, incs, board, out, run_dir=run_dir, timeout_s=icfg.timeout_s, baud=icfg.baud,
                           echo=ctx.echo)
    _timing_gate(rec, board, icfg)
    return {"status": rec["status"]}


def _timing_gate(rec: dict, board, icfg) -> None:
    """FlowError (exit 1) when timing is not met, unless the config allows it; the bitstream stays."""
    if rec.get("timing_met") is False and not icfg.allow_timing_failure:
        raise FlowError(f"timing not met on {board.name}: post-route Fmax {rec['fmax_mhz']:.1f} MHz < target "
                        f"{rec['target_mhz']:g} MHz (worst slack {rec['wns_ns']:g} ns); {IMPL_JSON} has timing_met: false",
                        f"lower implement.target_mhz to {int(rec['fmax_mhz'])} or below, try another implement.seed, or set "
                        "implement.allow_timing_failure: true to keep the bitstream and continue")


def _implement_ecp5(ctx, board, spec, sources, incs, out: Path) -> dict:
    from .ecp5 import Ecp5Settings, implement_ecp5
    from ohq_flow.hw.cache import default_cache_dir
    icfg, run_dir = ctx.cfg.implement, ctx.run_dir
    settings = Ecp5Settings(target_mhz=icfg.target_mhz, seed=icfg.seed, router=icfg.router, timeout_s=icfg.timeout_s,
                            baud=icfg.baud)
    cache_dir = ctx.cfg.hardware.cache_dir or default_cache_dir()
    try:
        result = implement_ecp5(spec, sources, incs, board, out, settings, cache_dir, echo=ctx.echo)
    except (FlowError, InputError) as exc:
        _status_only(run_dir, "failed", exc.message, board=board.name, device=board.part, tool="nextpnr-ecp5",
                     bitstream=None, timing_met=None)
        raise
    bit = out / f"{spec.top}.bit"
    bit.write_bytes((out / "design.bit").read_bytes())
    (out / "design.bit").unlink()
    svf = out / "design.svf"
    svf.replace(out / f"{spec.top}.svf")
    rec = impl_record(result, spec, run_dir, bit)
    rec.update(status="ok" if rec["timing_met"] else "timing_not_met", board=board.name, svf=f"{IMPL_DIR}/{spec.top}.svf",
               report=f"{IMPL_DIR}/nextpnr_report.json",
               program=f"openFPGALoader -b {board.ecp5.loader_board} {IMPL_DIR}/{spec.top}.bit" if board.ecp5.loader_board else None)
    loop = _budget_gate(ctx, rec)             # the budget is the contract: post-route against every budget
    atomic_write_json(run_dir / IMPL_JSON, rec)
    ctx.echo(format_impl(rec, board))
    _timing_gate(rec, board, icfg)
    _finish_loop(ctx, rec, loop)
    return {"status": rec["status"], "fmax_mhz": rec["fmax_mhz"], "cached": rec.get("cached"),
            "over_budget": rec["verdict"]["over"]}


def _budget_gate(ctx, rec: dict):
    """Put the post-route verdict (final.verdict) and this round of the closed loop into the record."""
    from ohq_flow.final.loop import close_round
    from ohq_flow.final.verdict import verdict
    from ohq_flow.tables.solution import read_solution
    run_dir = ctx.run_dir
    build = json.loads((run_dir / "final" / "build.json").read_text()) if (run_dir / "final" / "build.json").is_file() else {}
    has_sol = ctx.cfg.build.source == "solution" and (run_dir / "solution.json").is_file()
    sol = read_solution(run_dir / "solution.json") if has_sol else None     # a design built without a solve: no ILP
    rec["verdict"] = verdict(ctx.cfg, sol or {"totals": build.get("predicted", {})}, build, rec)
    if sol is None:
        return None
    doc, again = close_round(ctx.cfg, run_dir, sol, rec["verdict"])
    rec["rounds"] = doc["rounds"]
    return doc if again else {"final": doc}


def _finish_loop(ctx, rec: dict, loop) -> None:
    """Replan (the pipeline runs again from solve) while the loop has rounds left; FlowError (exit 1) when the final
    design is over budget."""
    from ohq_flow.errors import Replan
    from ohq_flow.final.loop import format_rounds
    from ohq_flow.final.verdict import format_verdict
    v = rec["verdict"]
    ctx.echo(format_verdict(v))
    if loop is not None:
        ctx.echo("closed budget loop:\n" + format_rounds(loop.get("final", loop)))
    if loop is not None and "final" not in loop:
        missed = [r["metric"] for r in v["rows"] if r.get("within") is False]
        raise Replan(f"post-route {', '.join(missed)} over budget: solving again with the budget scaled by the "
                     "measured error (implement.close_loop)")
    if not v["over"]:
        return
    raise FlowError(f"the implemented design is OVER BUDGET: {', '.join(v['over'])} beyond budgets.tolerance "
                    f"{100 * v['tolerance']:g}% after place and route; see {IMPL_JSON}",
                    "lower the budget, allow more rounds (implement.max_rounds), or target a larger board")
