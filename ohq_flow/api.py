"""Python API for notebooks: ``Flow(config)`` runs the CLI's steps, with its cache and run directory.

Every method runs the pipeline up to its step exactly as ``ohq-flow run CONFIG --to STEP`` does
(same step functions, same ``manifest.json``: unchanged steps are skipped, so a method called
again, or after the CLI, costs nothing) and returns the step's artifacts as typed Python objects
— pandas DataFrames for the tables.

    flow = Flow("examples/digits/flow.yaml")
    flow.layers()                      # DataFrame, one row per quantizable layer
    sol = flow.solve({"lut": "20%"})   # Solution: .assignment (DataFrame), .totals, .pareto
    flow.build().hls4ml["mismatches"]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ohq_flow.errors import ConfigError, InputError


@dataclass
class Solution:
    """``solution.json`` and ``pareto.csv`` of a run."""

    status: str
    objective: float | None
    assignment: Any                  # DataFrame: layer, w_bits, a_bits
    totals: dict[str, float]
    budgets: dict[str, float]
    pareto: Any                      # DataFrame of pareto.csv (uniform designs and sweeps)
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def bits(self) -> dict[str, tuple[int, int]]:
        """layer -> (w_bits, a_bits)."""
        return {r.layer: (int(r.w_bits), int(r.a_bits)) for r in self.assignment.itertuples()}


@dataclass
class BuildResult:
    """``final/build.json`` of a run, with predicted vs measured cost as a DataFrame."""

    final_dir: Path
    cost: Any                        # DataFrame: metric, predicted, measured, ratio
    verify: dict
    hls4ml: dict
    brevitas: dict | None
    accuracy: dict | None
    raw: dict = field(repr=False, default_factory=dict)


@dataclass
class Report:
    html: Path
    markdown: Path


def _config(config, base_dir: Path | None):
    from ohq_flow.config import FlowConfig, load_config, parse_config
    if isinstance(config, FlowConfig):
        return config
    if isinstance(config, (str, Path)):
        return load_config(config)
    if isinstance(config, dict):
        return parse_config(config, base_dir=Path(base_dir or Path.cwd()), source="<Flow config dict>")
    raise InputError(f"Flow(config): expected a YAML path, a dict or a FlowConfig, got {type(config).__name__}")


class Flow:
    """One flow run directory, driven from Python (see the module docstring)."""

    def __init__(self, config, *, base_dir: str | Path | None = None, force: bool = False,
                 echo: Callable[[str], None] | None = print):
        """``config``: a YAML path, a dict (relative paths against ``base_dir``, default cwd) or a FlowConfig."""
        import logging
        from ohq_flow.pipeline import run_context
        self.ctx = run_context(_config(config, base_dir), force=force)
        if logging.getLogger("ohq_flow").level == logging.NOTSET:   # the run log gets the steps' INFO lines
            logging.getLogger("ohq_flow").setLevel(logging.INFO)
        self._echo = echo or (lambda _: None)

    @property
    def cfg(self):
        return self.ctx.cfg

    @property
    def run_dir(self) -> Path:
        return self.ctx.run_dir

    def run(self, to: str | None = None, start: str | None = None) -> dict[str, str]:
        """``ohq-flow run CONFIG [--from START] [--to TO]``; returns step -> ran|skipped."""
        from ohq_flow.pipeline import run_steps
        from ohq_flow.steps import STEPS
        self.ctx.cache.clear()   # the model/layers of an earlier call may be stale (e.g. a new checkpoint)
        return run_steps(STEPS, self.ctx, start=start, stop=to, echo=self._echo)

    def _csv(self, name: str):
        import pandas as pd
        return pd.read_csv(self.ctx.path(name))

    # ----------------------------------------------------------------------------- the steps
    def export(self):
        """The cleaned QONNX model (``model.onnx``) as a qonnx ModelWrapper."""
        from ohq_flow.artifacts import load_run_model
        self.run("export")
        return load_run_model(self.ctx)

    def layers(self):
        """DataFrame of the quantizable layers (``layers.json``)."""
        import pandas as pd
        self.run("layers")
        doc = json.loads(self.ctx.path("layers.json").read_text())
        rows = []
        for l in doc["layers"]:
            row = {k: v for k, v in l.items() if k not in ("weight_quant", "input_quant")}
            for role in ("weight_quant", "input_quant"):
                q = l.get(role) or {}
                row[f"{role}_node"] = q.get("node")
            rows.append(row)
        return pd.DataFrame(rows)

    def sensitivity(self):
        """DataFrame of ``sensitivity.csv`` (layer, w_bits, a_bits, kl, mse, ...)."""
        self.run("sensitivity")
        return self._csv("sensitivity.csv")

    def profile(self):
        """DataFrame of ``costs.csv`` (one measured/estimated cost row per layer and candidate)."""
        self.run("profile")
        return self._csv("costs.csv")

    def solve(self, budgets: dict | None = None, *, sweep: list[str] | None = None) -> Solution:
        """The ILP. ``budgets`` (e.g. ``{"lut": "20%", "latency_cycles": 200}``) update the config's
        budgets like ``ohq-flow solve CONFIG --budget``; ``sweep`` replaces ``solver.sweep``."""
        import pandas as pd
        if budgets or sweep is not None:
            self._update_config(budgets or {}, sweep)
        self.run("solve")
        from ohq_flow.tables.solution import read_solution
        doc = read_solution(self.ctx.path("solution.json"))
        assignment = pd.DataFrame([{"layer": k, **v} for k, v in doc.get("assignment", {}).items()],
                                  columns=["layer", "w_bits", "a_bits"])
        return Solution(status=doc["status"], objective=doc.get("objective"), assignment=assignment,
                        totals=doc.get("totals", {}), budgets=doc.get("budgets", {}),
                        pareto=self._csv("pareto.csv"), raw=doc)

    def build(self) -> BuildResult:
        """Write-back, final design and its verification (``final/``)."""
        import pandas as pd
        self.run("build")
        rec = json.loads(self.ctx.path("final/build.json").read_text())
        rows = []
        for k in ("lut", "ff", "dsp", "bram18"):
            p, m = rec.get("predicted", {}).get(k), rec.get("measured", {}).get(k)
            rows.append({"metric": k, "predicted": p, "measured": m, "ratio": (m / p) if p and m is not None else None})
        return BuildResult(final_dir=self.ctx.path("final"), cost=pd.DataFrame(rows), verify=rec.get("verify", {}),
                           hls4ml=rec.get("hls4ml", {}), brevitas=rec.get("brevitas"), accuracy=rec.get("accuracy"),
                           raw=rec)

    def report(self) -> Report:
        """``report.html`` and ``report.md`` (runs every step before it that is not up to date)."""
        self.run("report")
        return Report(html=self.ctx.path("report.html"), markdown=self.ctx.path("report.md"))

    # ----------------------------------------------------------------------- results as objects
    def load_brevitas(self):
        """The final Brevitas module at its chosen bit-widths (:func:`ohq_flow.load_brevitas`)."""
        from ohq_flow.final.interop import load_brevitas
        return load_brevitas(self.run_dir)

    def _update_config(self, budgets: dict, sweep: list[str] | None) -> None:
        from ohq_flow.config import parse_config
        data = self.cfg.model_dump(mode="json")
        unknown = sorted(set(budgets) - set(data["budgets"]))
        if unknown:
            raise ConfigError("<Flow.solve budgets>", [(f"budgets.{k}", f"no such budget; known: {', '.join(data['budgets'])}")
                                                       for k in unknown])
        data["budgets"].update(budgets)
        if sweep is not None:
            data["solver"]["sweep"] = list(sweep)
        new = parse_config(data, base_dir=self.cfg.base_dir, source="<Flow.solve budgets>")
        new._source_file = self.cfg._source_file
        self.ctx.cfg = new
