"""Where a search strategy gets candidate costs: a full table, or measurement on demand.

:class:`TableCosts` — every candidate's cost is in the Problem already (the profile step ran).
:class:`OnDemandCosts` — the Problem's candidates start without hardware costs; ``measure``
plans the cost jobs of the asked-for candidates with the profile step's planner and runs them
through the same job runner and content-addressed cache (in parallel, one call per batch), then
fills the candidates' ``cost`` in place. A cache hit costs nothing; a failed job leaves the
candidate without costs, so no budget check ever accepts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from ohq_flow.errors import InputError
from ohq_flow.tables.costs import CostRow
from ohq_flow.solve.problem import COST_METRICS, Candidate, Problem, meta_cost


class TableCosts:
    """All costs known up front (nothing to measure)."""

    kind = "table"

    def known(self, layer: str, c: Candidate) -> bool:
        return True

    def measure(self, items: Iterable[tuple[str, Candidate]]) -> None:
        return None

    def identity(self) -> str:
        return "table"

    def stats(self) -> dict:
        return {}

    @property
    def measured(self) -> list[tuple[str, tuple]]:
        return []


class OnDemandCosts:
    """Costs measured when first needed: ``plan_jobs`` + ``run_jobs`` + the cost cache."""

    kind = "on_demand"

    def __init__(self, problem: Problem, model, layers, cfg, work_root: Path, *, progress: bool = False):
        from ohq_flow.hw.cache import CostCache
        from ohq_flow.hw.profile import plan_jobs
        if problem.has_folds:
            raise InputError("on-demand measurement plans (w_bits, a_bits) jobs; this problem has folds",
                             "measure the full table (profile step) for fold candidates, or set solver.haq.on_demand: false")
        self.problem, self.cfg, self.progress = problem, cfg, progress
        by_name = {l.name: l for l in layers}
        missing = [l for l in problem.candidates if l not in by_name]
        if missing:
            raise InputError(f"on-demand costs: layers {', '.join(missing)} are not layers of the model")
        space = {l: sorted({c.bits for c in cs}) for l, cs in problem.candidates.items()}
        jobs = plan_jobs(model, [by_name[l] for l in problem.candidates], space, cfg, Path(work_root))
        self.jobs = {(j.layer, j.w_bits, j.a_bits): j for j in jobs}
        self.cache = CostCache(cfg.hardware.cache_dir)
        self.rows: dict[tuple[str, int, int], CostRow] = {}
        self.ran = self.cached = self.failed = 0

    def for_problem(self, problem: Problem) -> "OnDemandCosts":
        """A fresh source (nothing measured yet in memory; same planned jobs and cache) for another
        skeleton problem of the same layers and candidates: planning is paid once."""
        import copy
        other = copy.copy(self)
        other.problem, other.rows = problem, {}
        other.ran = other.cached = other.failed = 0
        return other

    def known(self, layer: str, c: Candidate) -> bool:
        return (layer, c.w_bits, c.a_bits) in self.rows

    def identity(self) -> str:
        """What the measured costs depend on: the jobs' content-addressed keys."""
        from ohq_flow.fileio import sha256_json
        return sha256_json(sorted(j.key for j in self.jobs.values()))

    @property
    def measured(self) -> list[tuple[str, tuple]]:
        return [(k[0], (k[1], k[2], "")) for k in self.rows]

    def measure(self, items: Iterable[tuple[str, Candidate]]) -> None:
        """Measure (or take from the cache) every asked-for candidate not known yet, in one parallel run."""
        from ohq_flow.hw.jobs import run_jobs
        todo = list(dict.fromkeys((l, c.w_bits, c.a_bits) for l, c in items if not self.known(l, c)))
        if not todo:
            return
        hw = self.cfg.hardware
        summary = run_jobs([self.jobs[k] for k in todo], cache=self.cache, executor=hw.executor, workers=hw.workers,
                           dask_address=hw.dask_address, progress=self.progress)
        self.ran += summary.ran
        self.cached += summary.cached
        for key, row in zip(todo, summary.rows):
            self.rows[key] = row
            cand = self.problem.candidate(key[0], (key[1], key[2], ""))
            if row.ok:
                cand.cost.update({m: getattr(row, m) for m in COST_METRICS})
                cand.cost["fmax_mhz"] = row.fmax_mhz
            else:
                self.failed += 1

    def stats(self) -> dict:
        return {"measured": len(self.rows), "ran": self.ran, "cached": self.cached, "failed": self.failed,
                "table_size": len(self.jobs)}


def skeleton_problem(sensitivity: Mapping[tuple[str, int, int], float], layers, space: Mapping, *,
                     layer_meta: Mapping | None = None, **settings) -> Problem:
    """A Problem whose candidates are the sensitivity rows of ``space`` without hardware costs
    (weight_bits/bops from ``layer_meta`` only), for :class:`OnDemandCosts` to fill."""
    cands = {}
    for layer in layers:
        cs = []
        for w, a in space[layer.name]:
            if (layer.name, w, a) not in sensitivity:
                continue
            cost = {m: None for m in COST_METRICS}
            cost["fmax_mhz"] = None
            cost.update(meta_cost(layer_meta, layer.name, w, a))
            cs.append(Candidate(w, a, float(sensitivity[(layer.name, w, a)]), cost))
        if not cs:
            raise InputError(f"layer {layer.name} has no row in the sensitivity table for its search space")
        cands[layer.name] = cs
    settings = {**settings, "ties": list(settings.get("ties") or []), "pins": dict(settings.get("pins") or {})}
    return Problem(cands, {}, **settings)


def cached_rows(model, layers, space, cfg, run_dir: Path) -> list[CostRow]:
    """The profile step with on-demand costs: costs.csv/costs.json of the candidates already in the
    cost cache (nothing is measured)."""
    from ohq_flow.hw.cache import CostCache
    from ohq_flow.tables.costs import write_costs
    from ohq_flow.hw.profile import plan_jobs
    cache = CostCache(cfg.hardware.cache_dir)
    rows = []
    for job in plan_jobs(model, layers, space, cfg, Path(run_dir) / "oqa"):
        hit = cache.get(job.key)
        if hit is not None:
            hit.layer = job.layer
            rows.append(hit)
    write_costs(rows, Path(run_dir) / "costs.csv", Path(run_dir) / "costs.json")
    return rows
