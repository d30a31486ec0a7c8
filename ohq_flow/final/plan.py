"""What ``build`` will do and roughly how long, decided before any work — and what it refuses.

``build`` generates one fully unrolled kernel per layer (da4ml adder graph), synthesises and
simulates them, then the complete streaming design and an hls4ml project of the whole network.
The time of a kernel's da4ml solve grows steeply with its size; measured on this project's
reference machine (docs/scale.md): ~1 s at 1k weights, ~7 s at 4k, ~46 s at 9k, not finished
in 4 min at 16k. A grouped/depthwise kernel is solved per group (~35 ms per small group).

:func:`build_plan` estimates the kernel time from that curve (the other stages — Yosys,
simulation, hls4ml — scale with the same kernels; they are counted as a multiple of it, a
rough figure, said so) and refuses (exit 2, :class:`~ohq_flow.errors.InputError`) when a
layer's kernel is past ``build.max_kernel_weights`` or the estimate exceeds
``build.max_minutes`` — instead of running for an hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ohq_flow.errors import InputError

REF_WEIGHTS, REF_SECONDS, EXPONENT = 4096, 7.0, 2.3   # da4ml solve: 7 s at 4096 weights, ~ weights^2.3
PER_CALL_S, PER_GROUP_S = 0.4, 0.035
OTHER_STAGES_FACTOR = 3.0   # Yosys + per-layer and whole-design simulation + hls4ml, as a multiple of kernel RTL


def kernel_seconds(n_weights: int, groups: int = 1) -> float:
    """Estimated da4ml solve time of one layer kernel (per group for grouped convolutions)."""
    per = n_weights / max(groups, 1)
    solve = groups * REF_SECONDS * (per / REF_WEIGHTS) ** EXPONENT
    return PER_CALL_S + (PER_GROUP_S * groups if groups > 1 else 0.0) + solve


@dataclass
class BuildPlan:
    layers: int
    kernel_s: dict[str, float]
    largest: tuple[str, int]                     # (layer, weights per group)
    too_large: list[tuple[str, int]] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)   # built as folded MVAUs (no da4ml kernel)

    @property
    def total_s(self) -> float:
        return sum(self.kernel_s.values()) * (1 + OTHER_STAGES_FACTOR)

    def text(self) -> str:
        kern = sum(self.kernel_s.values())
        fold = f", {len(self.folded)} folded (MVAU: {', '.join(self.folded)})" if self.folded else ""
        return (f"build plan: {self.layers - len(self.folded)} layer kernel(s) fully unrolled (largest {self.largest[0]}, "
                f"{self.largest[1]:,} weights per group){fold}; estimated ~{_fmt(kern)} for the kernel RTL, ~{_fmt(self.total_s)} "
                "in all (Brevitas write-back, kernel RTL + Yosys, per-layer simulation, complete design simulation and "
                "Yosys, hls4ml C-simulation; a rough estimate from measured da4ml times)")


def _fmt(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else (f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h")


def folded_layers(layers, cfg, folds: dict[str, str] | None = None) -> list[str]:
    """Layers ``build`` makes as folded MVAUs: those the solution gave a PE/SIMD fold (``folds``: layer -> fold)."""
    return [l.name for l in layers if cfg.build.design and str((folds or {}).get(l.name) or "").startswith("pe")]


def build_plan(layers, cfg, folds: dict[str, str] | None = None) -> BuildPlan:
    """The plan; raises InputError when the build cannot finish (a kernel too large, or too long in all).

    ``folds``: layer -> the solution's fold; folded layers (:func:`folded_layers`) get no da4ml kernel."""
    kernel_s, sizes = {}, {}
    folded = folded_layers(layers, cfg, folds)
    for layer in layers:
        n = int(math.prod(layer.weight_shape))
        groups = layer.groups if layer.op_type == "Conv" else 1
        kernel_s[layer.name] = PER_CALL_S if layer.name in folded else kernel_seconds(n, groups)
        if layer.name not in folded:
            sizes[layer.name] = n // max(groups, 1)
    largest = max(sizes.items(), key=lambda kv: kv[1]) if sizes else ("-", 0)
    limit = cfg.build.max_kernel_weights
    plan = BuildPlan(len(layers), kernel_s, largest, [(k, v) for k, v in sizes.items() if v > limit], folded)
    if plan.too_large:
        names = ", ".join(f"{k} ({v:,})" for k, v in sorted(plan.too_large, key=lambda kv: -kv[1])[:5])
        more = f" and {len(plan.too_large) - 5} more" if len(plan.too_large) > 5 else ""
        raise InputError(f"build cannot generate fully unrolled kernels for {len(plan.too_large)} layer(s) past "
                          f"build.max_kernel_weights={limit:,} weights: {names}{more}. {plan.text()}",
                          "build makes one unrolled (one pixel per cycle) kernel per layer without a fold; an "
                          "ImageNet-size layer's da4ml solve does not finish. With build.design, layers past "
                          "search.unroll_max_weights get folded candidates only (the solution folds them); raise "
                          "build.max_kernel_weights to try anyway, or stop after solve (`ohq-flow run --to solve`)")
    if plan.total_s > cfg.build.max_minutes * 60:
        raise InputError(f"build is estimated at ~{_fmt(plan.total_s)}, over build.max_minutes={cfg.build.max_minutes:g}. "
                          f"{plan.text()}", "raise build.max_minutes to run it anyway, or stop after solve (`ohq-flow run --to solve`)")
    return plan
