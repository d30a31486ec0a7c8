"""The budget is the contract: the final design against every budget, in one table.

For each budgeted metric (the user's budgets, and every board resource at 100% unless set):
``budget | ILP | synthesised | post-route`` — the ILP's prediction (the board's units after place and
route where the family is calibrated; ``ILP synth`` its synthesised counts), the whole design
synthesised by Yosys (``final/build.json``), the implementation's post-route counts
(``final/impl/impl.json``) — and latency/II from the whole-network simulation. The *final* figure
of a metric is the most real one there is: post-route where the design was implemented, else the
synthesised count mapped to post-route units by the family's calibration (labelled), else the
synthesised count. A design whose final figure exceeds a budget by more than ``budgets.tolerance``
is OVER BUDGET: the run fails (exit 1), whatever else went well.
"""

from __future__ import annotations

from ohq_flow.metrics import RESOURCES

IMPL_KEYS = {"lut": ("lut4", "lut"), "ff": ("ff",), "dsp": ("mult18", "dsp"), "bram18": ("dp16kd", "bram18")}
UNITS_ECP5 = {"lut": "LUT4", "ff": "FF", "dsp": "MULT18X18D", "bram18": "DP16KD"}
UNITS_AMD = {"lut": "LUT", "ff": "FF", "dsp": "DSP48", "bram18": "BRAM18", "uram": "URAM"}


def user_budgets(cfg) -> dict[str, float]:
    """The budgets the user set, resolved, and every board resource at 100% unless set."""
    from ohq_flow.solve.problem import resolve_budgets
    from ohq_flow.solve.step import board_budgets, board_totals
    board = cfg.board_obj()
    return resolve_budgets(board_budgets(cfg.budgets.as_dict(), board), board_totals(board))


def verdict(cfg, solution: dict, build: dict | None = None, impl: dict | None = None) -> dict:
    """{rows: [...], over: [metrics over budget beyond the tolerance], final_from: ..., tolerance} (module docstring)."""
    from ohq_flow.design.price import post_route, post_route_fit
    board = cfg.board_obj()
    budgets = user_budgets(cfg)
    tol = float(cfg.budgets.tolerance)
    totals = solution.get("totals") or {}
    design = (build or {}).get("design") or {}
    synth = design.get("measured") or {}
    implemented = bool(impl) and impl.get("status") in ("ok", "timing_not_met")
    fit = post_route_fit(board.yosys_family, implemented=bool(cfg.implement.enabled and board.is_ecp5))
    mapped = post_route({m: synth.get(m) or 0.0 for m in ("lut", "ff", "dsp", "bram18")}, fit) if synth and fit else {}
    sim = design.get("network_sim") or {}
    rows, over = [], []
    metrics = [m for m in list(RESOURCES) + ["latency_cycles", "ii_cycles", "latency_ns"]
               if m in budgets or m in ("lut", "ff", "dsp", "bram18", "latency_cycles", "ii_cycles")]
    for m in metrics:
        row = {"metric": m, "budget": budgets.get(m), "ilp": totals.get(m), "ilp_synth": totals.get(f"synth_{m}", None)}
        if m in IMPL_KEYS:
            row["synthesised"] = synth.get(m)
            row["post_route"] = next((impl[k] for k in IMPL_KEYS[m] if implemented and impl.get(k) is not None), None)
            if row["post_route"] is not None:
                row["final"], row["final_from"] = row["post_route"], "post-route"
            elif m in mapped and m in fit:
                row["final"], row["final_from"] = round(mapped[m], 1), "synthesised, mapped to post-route (calibration)"
            else:
                row["final"], row["final_from"] = row["synthesised"], "synthesised"
        elif m == "latency_ns":
            row["final"] = (impl or {}).get("latency_ns")
            row["final_from"] = "simulated cycles at the post-route clock" if row["final"] is not None else None
        else:
            row["final"] = sim.get(m)
            row["final_from"] = "whole-network simulation" if row["final"] is not None else None
        b, f = row["budget"], row["final"]
        row["over"] = b is not None and f is not None and f > b * (1 + tol) + 1e-9
        row["within"] = None if b is None or f is None else f <= b + 1e-9
        if row["over"]:
            over.append(m)
        rows.append(row)
    return {"rows": rows, "over": over, "tolerance": tol, "board": board.name,
            "units": UNITS_ECP5 if board.is_ecp5 else UNITS_AMD,
            "calibration": {m: f["describe"] for m, f in fit.items()}}


def _n(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.1f}"


def format_verdict(v: dict) -> str:
    """The table for the terminal and the report, with an OVER BUDGET banner when the design misses a budget."""
    lines = []
    if v["over"]:
        lines.append("*" * 78)
        lines.append(f"*** OVER BUDGET: {', '.join(v['over'])} — the final design misses the budget by more than "
                     f"{100 * v['tolerance']:g}% ***")
        lines.append("*" * 78)
    lines.append(f"budgets ({v['board']}; final = the most real figure: post-route, else synthesised):")
    lines.append(f"  {'metric':<15} {'budget':>10} {'ILP':>10} {'ILP synth':>10} {'synthesised':>12} {'post-route':>11}  verdict")
    for r in v["rows"]:
        unit = v["units"].get(r["metric"], "")
        if r["budget"] is None:
            verdict = "(no budget)"
        elif r["final"] is None:
            verdict = "not measured"
        else:
            pct = 100.0 * r["final"] / r["budget"] if r["budget"] else float("inf")
            verdict = ("OVER" if r["over"] else "ok" if r["within"] else "within tolerance") + f" ({pct:.0f}% of budget" \
                + ("" if r["final_from"] in ("post-route", "whole-network simulation") else f", {r['final_from']}") + ")"
        lines.append(f"  {r['metric'] + (' ' + unit if unit else ''):<15} {_n(r['budget']):>10} {_n(r['ilp']):>10} "
                     f"{_n(r.get('ilp_synth')):>10} {_n(r.get('synthesised', r['final'] if r['metric'] not in IMPL_KEYS else None)):>12} "
                     f"{_n(r.get('post_route')):>11}  {verdict}")
    for m, d in v.get("calibration", {}).items():
        lines.append(f"  ILP {m}: {d}")
    return "\n".join(lines)
