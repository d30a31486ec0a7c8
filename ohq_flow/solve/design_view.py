"""The complete design as the selection sees it: the design's cost terms in the budgets' units.

:class:`DesignView` wraps the profile step's :class:`~ohq_flow.design.terms.DesignTerms`: resources
are the design's synthesised counts mapped to post-route counts by the family's calibration (the
budget is the board's own resources after place and route; without a calibration the synthesised
counts), a constant for the stages no choice changes (and the board shell), pairwise tables for
the stages between two layers, and the pipeline's timing: the exact latency/II of an assignment
(:meth:`timing`) and, per candidate, the terms of the longest-path bound the ILP uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

RESOURCE_METRICS = ("lut", "ff", "dsp", "bram18")


@dataclass
class Pair:
    """A pairwise term: cost[(k1, k2)] (budget units) when layer l1's ``p1`` part is k1 and l2's ``p2`` part is k2."""

    l1: str
    l2: str
    p1: str
    p2: str
    cost: dict[tuple[str, str], dict[str, float]]


@dataclass
class DesignView:
    terms: object                                   # ohq_flow.design.terms.DesignTerms
    fit: dict = field(default_factory=dict)         # metric -> {coef: {synth metric: c}, const}
    pairs: list[Pair] = field(default_factory=list)
    constant: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, terms) -> "DesignView":
        view = cls(terms, dict(terms.post_route or {}))
        view.constant = view.budget_units(terms.constant, const=True)
        for p in terms.pairs:
            cost = {tuple(k.split("|")): view.budget_units(v) for k, v in p["cost"].items()}
            view.pairs.append(Pair(p["layers"][0], p["layers"][1], p["parts"][0], p["parts"][1], cost))
        return view

    def budget_units(self, synth: Mapping[str, float], const: bool = False) -> dict[str, float]:
        """Synthesised counts -> the budgets' units (post-route where calibrated); ``const`` adds the fit's constant."""
        out = {m: float(synth.get(m, 0.0)) for m in RESOURCE_METRICS}
        for m, f in self.fit.items():
            out[m] = sum(c * float(synth.get(k, 0.0)) for k, c in f["coef"].items()) + (f["const"] if const else 0.0)
        return out

    @property
    def calibrated(self) -> list[str]:
        return sorted(self.fit)

    @staticmethod
    def part_key(part: str, c) -> str:
        """The key of candidate ``c`` in a pairwise table over ``part`` (some of w, a, f)."""
        from ohq_flow.design.terms import part_key
        return part_key(part, c.w_bits, c.a_bits, c.fold)

    def pair_key(self, p: Pair, c1, c2) -> tuple[str, str]:
        return (self.part_key(p.p1, c1), self.part_key(p.p2, c2))

    def resources(self, chosen: Mapping[str, object]) -> dict[str, float]:
        """Budget-unit resources of chosen candidates (layer -> Candidate): constant + unary + pairs."""
        out = dict(self.constant)
        for c in chosen.values():
            for m in RESOURCE_METRICS:
                out[m] += float(c.cost.get(m) or 0.0)
        for p in self.pairs:
            for m, v in p.cost[self.pair_key(p, chosen[p.l1], chosen[p.l2])].items():
                out[m] += v
        return out

    def synth(self, chosen: Mapping[str, object]) -> dict[str, float]:
        """The design's synthesised counts (Yosys) of chosen candidates."""
        return self.terms.resources({l: (c.w_bits, c.a_bits, c.fold) for l, c in chosen.items()})

    def timing(self, chosen: Mapping[str, object]) -> tuple[int, int]:
        """(latency, II) in cycles: the generator's exact cycle model of the streamed design."""
        return self.terms.timing_of({l: (c.w_bits, c.a_bits, c.fold) for l, c in chosen.items()})

    # ---- the longest-path bound (ohq_flow.design.timing.bound_terms), per stage
    def stage_bounds(self, layer_cands: Mapping[str, list]) -> list[dict]:
        """Per skeleton stage: src/dst and its (first, last, last_from_first, spread, occupancy) as a constant or,
        for a layer's kernel stage, one value per candidate (``by_cand``: candidate key -> terms)."""
        from ohq_flow.design.terms import label
        from ohq_flow.design.timing import bound_terms
        out = []
        t = self.terms.timing
        for s in t["stages"]:
            layer = s.get("layer")
            after = s.get("after")
            if after is not None:                # a requantiser, fused into the folded candidates of ``after``
                by = {}
                for c in layer_cands[after]:
                    fused = t["kernel"][after][label(c.w_bits, c.a_bits, c.fold)].get("fused", 0)
                    b = bound_terms({**s, "fused": fused}, s["in_beats"], s["out_beats"])
                    by[c.key] = {**_numbers(b, 0), "occ": s["out_beats"]}
                out.append({"src": s["src"], "dst": s["dst"], "layer": after, "by_cand": by})
                continue
            if layer is None:
                b = bound_terms(s, s["in_beats"], s["out_beats"])
                out.append({"src": s["src"], "dst": s["dst"], "const": _numbers(b, 0), "occ": s["out_beats"]})
                continue
            by = {}
            for c in layer_cands[layer]:
                k = t["kernel"][layer][label(c.w_bits, c.a_bits, c.fold)]
                kind, var = ("mvau", k["cycles"]) if "cycles" in k else ("kernel", k["lat"])
                b = bound_terms({**s, "kind": kind, "drain": k.get("drain", 1)}, s["in_beats"], s["out_beats"])
                occ = s["in_beats"] * k["cycles"] if "cycles" in k else s["out_beats"]
                by[c.key] = {**_numbers(b, var), "occ": occ, "var": var, "kind": kind}
            out.append({"src": s["src"], "dst": s["dst"], "layer": layer, "by_cand": by})
        return out


def _numbers(b: dict, var: float) -> dict:
    """bound_terms' (constant, factor) pairs evaluated at the stage variable ``var``."""
    return {k: (None if v is None else v[0] + v[1] * var) for k, v in b.items()}
