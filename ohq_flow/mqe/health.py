"""Can this sensitivity table be trusted? Checks of the reference outputs and of the table's signal.

MQE's damage is only meaningful when the reference network reacts to its inputs and fewer bits
do more damage. A degenerate reference (the same logits for every sample, all-zero or saturated
logits — typical of random weights or synthetic inputs far from the training data) or a table
without signal (every damage ~0, or damage not rising as bits fall) gives an "optimal" answer
that means nothing; these checks say so, with what to try.
"""

from __future__ import annotations

import numpy as np

from ohq_flow.tables.sensitivity import SensitivityRow

ZERO_DAMAGE = 1e-9           # below this a KL/MSE is "no damage"
FLAT_RELATIVE = 1e-6         # reference logits varying less than this (relative) across samples are constant

HINTS = ("give real calibration inputs (mqe.inputs: npz with your data) or other synthetic input statistics "
         "(mqe.mean / mqe.std matching the data the model was trained on)",
         "check that the model's weights are trained (a checkpoint was given) — random weights give no signal")


def reference_problems(ref_logits: np.ndarray) -> list[str]:
    """Problems of the reference outputs on the sensitivity inputs (empty when they look usable)."""
    z = np.asarray(ref_logits, dtype=np.float64).reshape(len(ref_logits), -1)
    problems = []
    if not np.all(np.isfinite(z)):
        problems.append("the reference outputs contain NaN or infinity")
        return problems
    scale = float(np.abs(z).max())
    if scale == 0.0:
        return ["the reference outputs are all zero for every sample"]
    if len(z) > 1 and float(z.std(axis=0).max()) <= FLAT_RELATIVE * scale:
        problems.append(f"the reference outputs are the same for all {len(z)} samples (the inputs do not reach the output)")
    if z.shape[1] > 1:
        top = np.sort(z, axis=1)
        margin = top[:, -1] - top[:, -2]
        p = np.exp(-np.clip(margin, 0, 700))          # softmax mass of the runner-up relative to the top class
        if np.all(p < 1e-12) and len(z) > 1:
            problems.append("the reference softmax is saturated (one class takes all the probability for every sample); "
                            "KL between saturated distributions is ~0 whatever the bits")
    return problems


def table_problems(rows: list[SensitivityRow], metric: str = "kl") -> list[str]:
    """Problems of the sensitivity table itself: no damage anywhere, or damage not rising as bits fall."""
    joint = [r for r in rows if r.mode in (None, "joint")] or rows
    if not joint:
        return ["the sensitivity table is empty"]
    values = np.array([getattr(r, metric) for r in joint], dtype=np.float64)
    if np.all(values <= ZERO_DAMAGE):
        return [f"every candidate's {metric} is ~0 (max {values.max():.3g}): no layer looks sensitive at any bit-width"]
    rising, layers = 0, 0
    for layer in dict.fromkeys(r.layer for r in joint):
        mine = [r for r in joint if r.layer == layer]
        lo = min(mine, key=lambda r: (r.w_bits + r.a_bits, r.w_bits))
        hi = max(mine, key=lambda r: (r.w_bits + r.a_bits, r.w_bits))
        if lo is hi:
            continue
        layers += 1
        rising += getattr(lo, metric) > getattr(hi, metric)
    if layers and rising < 0.5 * layers:
        return [f"damage does not rise as bits fall: only {rising} of {layers} layers are more damaged at their fewest "
                "bits than at their most"]
    return []


def sensitivity_health(ref_logits: np.ndarray, rows: list[SensitivityRow], metric: str = "kl") -> dict:
    """``{"trusted": bool, "problems": [...], "hints": [...]}`` for sensitivity_checks.json and the report."""
    problems = reference_problems(ref_logits) + table_problems(rows, metric)
    return {"trusted": not problems, "problems": problems, "hints": list(HINTS) if problems else []}


def format_health(health: dict) -> str:
    """A prominent warning block for the terminal (empty when the table is trusted)."""
    if health["trusted"]:
        return ""
    lines = ["WARNING: the sensitivity cannot be trusted — the bit-widths chosen from it are not meaningful:"]
    lines += [f"  - {p}" for p in health["problems"]]
    lines += ["  what to try:"] + [f"  * {h}" for h in health["hints"]]
    return "\n".join(lines)
