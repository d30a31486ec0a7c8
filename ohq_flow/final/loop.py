"""The closed loop: when the implemented design misses a budget, solve again for a smaller design.

``budget_loop.json`` (in the run directory; written by the implement step, read by the solve step) records
every round: the solution, its predicted and post-route figures, the budgets the ILP was given. After a
round whose post-route figure of a metric exceeds the user's budget (at all: the tolerance decides only
whether the final design fails, exit 1), the next round's budget of that metric is the last one scaled by predicted/post-route (the ILP's measured
error on this design), and every assignment tried so far is cut off (no-good cuts) — for at most
``implement.max_rounds`` implementations. The record is keyed by what produced its first round (the
config's budgets/search/solver/build/implement sections and the solve step's input tables): a run with other
inputs starts a new loop, never reuses a stale one.
"""

from __future__ import annotations

import json
from pathlib import Path

from ohq_flow.fileio import atomic_write_json, sha256_file, sha256_json

LOOP_JSON = "budget_loop.json"
RESOURCE_ROWS = ("lut", "ff", "dsp", "bram18", "uram")     # re-solved for; latency misses are the ILP's exact figures
MARGIN = 0.02          # the next budget is a little below budget x predicted / post-route


def loop_key(cfg, run_dir: Path) -> str:
    parts = {s: getattr(cfg, s).model_dump(mode="json", exclude={"close_loop", "max_rounds"} if s == "implement" else None)
             for s in ("budgets", "search", "solver", "build", "implement")}
    files = {f: sha256_file(Path(run_dir) / f) if (Path(run_dir) / f).is_file() else None
             for f in ("sensitivity.csv", "costs.csv", "design_costs.json")}
    return sha256_json({"config": parts, "tables": files, "board": cfg.board_obj().part})


def read_loop(cfg, run_dir: Path) -> dict:
    """The loop record of these inputs ({"key", "rounds": [], "next": None} when there is none or it is stale)."""
    key = loop_key(cfg, run_dir)
    path = Path(run_dir) / LOOP_JSON
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("rounds"), list):
        return {"key": key, "rounds": [], "next": None}
    return doc


def solve_overrides(cfg, run_dir: Path) -> tuple[dict, list]:
    """(budget overrides, assignments to exclude) for the solve step's next round; ({}, []) outside a loop, and then
    the record of a finished loop is removed: a solve that is no loop round starts a new loop."""
    doc = read_loop(cfg, run_dir)
    nxt = doc.get("next") or {}
    if not nxt:
        (Path(run_dir) / LOOP_JSON).unlink(missing_ok=True)
        return {}, []
    excl = [{l: tuple(v) for l, v in a.items()} for a in nxt.get("exclude", [])]
    return dict(nxt.get("budgets") or {}), excl


def close_round(cfg, run_dir: Path, solution: dict, verdict: dict) -> tuple[dict, bool]:
    """Record this round; returns (the loop record, whether another round is to run)."""
    doc = read_loop(cfg, run_dir)
    rounds = doc["rounds"]
    asg = {l: [v["w_bits"], v["a_bits"], v.get("fold") or ""] for l, v in solution["assignment"].items()}
    rounds.append({"round": len(rounds) + 1, "assignment": asg, "budgets_given": solution.get("budgets"),
                   "rows": verdict["rows"], "over": verdict["over"]})
    missed = [r["metric"] for r in verdict["rows"] if r.get("within") is False and r["metric"] in RESOURCE_ROWS]
    again = bool(missed) and cfg.implement.close_loop and len(rounds) < cfg.implement.max_rounds
    doc["next"] = None
    if again:
        given = dict(solution.get("budgets") or {})
        nxt = {}
        for r in verdict["rows"]:
            m = r["metric"]
            if m in missed and r.get("ilp") and r.get("final"):
                base = given.get(m, r["budget"])
                nxt[m] = base * min(1.0, r["ilp"] / r["final"]) * (1 - MARGIN)
        doc["next"] = {"budgets": nxt, "exclude": [x["assignment"] for x in rounds]}
    atomic_write_json(Path(run_dir) / LOOP_JSON, doc)
    return doc, again


def format_rounds(doc: dict) -> str:
    """One line per round: what was over and by how much."""
    lines = []
    for r in doc.get("rounds", []):
        over = ", ".join(f"{x['metric']} {x['final']:,.0f} > {x['budget']:,.0f}" for x in r["rows"] if x["metric"] in r["over"])
        near = ", ".join(f"{x['metric']} {x['final']:,.0f} > {x['budget']:,.0f}" for x in r["rows"]
                         if x.get("within") is False and x["metric"] not in r["over"])
        lines.append(f"  round {r['round']}: " + (f"OVER ({over})" if over else
                                                   f"over, within tolerance ({near})" if near else "within every budget"))
    if doc.get("next"):
        lines.append("  next round: budgets " + ", ".join(f"{m} {v:,.0f}" for m, v in doc["next"]["budgets"].items())
                     + f"; {len(doc['next']['exclude'])} assignment(s) excluded")
    return "\n".join(lines)
