"""Fold labels and the choice among a layer's folds (used by the design's terms and the analytic measurer).

A fold is ``pe{P}_simd{S}`` (a folded unit with P rows and S columns in parallel, ``P | MH``,
``S | MW``) or ``px{K}`` (K copies of a streamed kernel, ``K | pixels``). ``search.folds: auto``
keeps the Pareto front of the candidates' (cycles, LUT, DSP, BRAM18) and at most ``search.max_folds``
of it, spread evenly over log cycles (fastest and slowest kept).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ohq_flow.errors import InputError

_LABEL = re.compile(r"^(?:pe(\d+)_simd(\d+)|px(\d+))$")


@dataclass(frozen=True)
class Fold:
    """PE/SIMD of a folded layer, or parallel pixels of a streamed one."""

    pe: int = 1
    simd: int = 1
    px: int = 0                  # > 0: a streamed layer's pixels per cycle

    @property
    def label(self) -> str:
        return f"px{self.px}" if self.px else f"pe{self.pe}_simd{self.simd}"


def parse_fold(label: str) -> Fold:
    """``pe4_simd8`` or ``px2`` -> Fold (InputError otherwise)."""
    m = _LABEL.match(str(label).strip())
    if not m or any(g is not None and int(g) < 1 for g in m.groups()):
        raise InputError(f"fold {label!r} is not like 'pe4_simd8' or 'px2' (all values >= 1)")
    return Fold(px=int(m.group(3))) if m.group(3) else Fold(pe=int(m.group(1)), simd=int(m.group(2)))


def pareto_front(items: list[tuple[Fold, dict]], keys=("cycles", "lut", "dsp", "bram18")) -> list[tuple[Fold, dict]]:
    """Items no other item is at least as good as in every key (ties: the first wins)."""
    out = []
    for i, (f, e) in enumerate(items):
        if not any(all(e2[k] <= e[k] for k in keys) and (any(e2[k] < e[k] for k in keys) or j < i)
                   for j, (_, e2) in enumerate(items) if j != i):
            out.append((f, e))
    return out


def spread_log(items: list, cycles, cap: int) -> list:
    """At most ``cap`` items, evenly spaced in log(cycles), the fastest and the slowest kept."""
    items = sorted(items, key=cycles)
    if len(items) <= cap:
        return items
    if cap == 1:
        return [items[0]]
    logs = [math.log(max(cycles(x), 1.0)) for x in items]
    picked = []
    for t in range(cap):
        target = logs[0] + (logs[-1] - logs[0]) * t / (cap - 1)
        best = min((i for i in range(len(items)) if i not in picked), key=lambda i: abs(logs[i] - target))
        picked.append(best)
    return [items[i] for i in sorted(picked)]
