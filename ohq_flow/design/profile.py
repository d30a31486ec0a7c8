"""The profile step's design half: the cost terms of the complete design (``design_costs.json``).

After the per-layer kernels are measured (``costs.csv``), every candidate is priced in the complete design
the build will generate (:func:`ohq_flow.design.terms.design_terms`): its kernel or folded unit, the
glue it brings, the pairwise terms with its neighbours, the pipeline's timing, the board shell and the
family's synthesis -> place-and-route calibration. Layers too large to unroll get PE x SIMD folds only
(their rows are added to ``costs.csv``, labelled ``source=design``).
"""

from __future__ import annotations

from pathlib import Path

DESIGN_COSTS = "design_costs.json"


def write_disabled(run_dir: Path, why: str) -> None:
    """``design_costs.json`` when no complete design is built (the solve step then budgets the kernels only)."""
    from ohq_flow.fileio import atomic_write_json
    atomic_write_json(Path(run_dir) / DESIGN_COSTS, {"disabled": True, "why": why})


def load_design_costs(run_dir: Path):
    """The run's :class:`~ohq_flow.design.terms.DesignTerms`, or None when no complete design is built."""
    import json
    from ohq_flow.design.terms import read_terms
    path = Path(run_dir) / DESIGN_COSTS
    if not path.is_file():
        return None
    try:
        if json.loads(path.read_text()).get("disabled"):
            return None
    except ValueError:
        pass                                    # read_terms names the problem
    return read_terms(path)


def profile_design(model, layers, space, rows, cfg, run_dir: Path, folded: set[str]) -> tuple[list, str]:
    """(cost rows with the folded candidates added, a summary line); writes ``design_costs.json``."""
    from ohq_flow.design.price import post_route_fit
    from ohq_flow.design.terms import design_terms, fold_rows, kernel_rows_of, write_terms
    from ohq_flow.tables.costs import write_costs
    board = cfg.board_obj()
    search = cfg.search
    also = "also" if search.folds != "off" else "unrolled"
    mode = {l.name: ("folded" if l.name in folded else also) for l in layers}
    fit = post_route_fit(board.yosys_family, implemented=bool(cfg.implement.enabled and board.is_ecp5))
    kernels = kernel_rows_of(rows, layers)
    # an unrolled candidate whose kernel was not measured (a failed job) is no candidate of the design
    space = {l: [c for c in cands if l in folded or (l, *c) in kernels or mode[l] != "unrolled"] for l, cands in space.items()}
    empty = [l for l, cands in space.items() if not cands]
    if empty:
        from ohq_flow.errors import FlowError
        raise FlowError(f"no candidate of layer(s) {', '.join(empty)} has a measured kernel", "see costs.csv's error column")
    terms = design_terms(model, layers, space, kernels, family=board.yosys_family, fold_mode=mode,
                         fold_list="auto" if search.folds in ("off", "auto") else list(search.folds),
                         max_folds=search.max_folds, max_lanes=search.max_lanes, prefer=cfg.build.requant,
                         output=cfg.build.output, post_route=fit)
    extra = fold_rows(terms, space, layers, cfg.clock_ns(), board.part)
    rows = [r for r in rows if not r.fold or r.fold == "px1"] + extra
    write_costs(rows, Path(run_dir) / "costs.csv", Path(run_dir) / "costs.json")
    write_terms(Path(run_dir) / DESIGN_COSTS, terms)
    n_pairs = sum(len(p["cost"]) for p in terms.pairs)
    text = (f"complete design priced per candidate ({DESIGN_COSTS}): {sum(len(v) for v in terms.unary.values())} "
            f"candidates, {len(terms.pairs)} pairwise terms ({n_pairs} entries), constant "
            f"{terms.constant['lut']:,.0f} LUT; {len(folded)} layer(s) folded only"
            + (f" ({', '.join(sorted(folded))})" if folded else "")
            + (f"; {len(terms.bounded)} stage(s) bounded" if terms.bounded else "")
            + ("; post-route calibration: " + ", ".join(f"{m} {v['describe']}" for m, v in fit.items()) if fit else
               f"; no post-route calibration for {board.yosys_family} (budgets compare synthesised counts)"))
    return rows, text
