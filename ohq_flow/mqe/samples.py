"""``mqe.samples: auto``: add synthetic samples until the layer ranking is stable.

The probe is each layer's damage at its lowest candidate (the most damaging mask, where the
ranking matters most), measured on the first n samples of one seeded batch of
``mqe.max_samples``. n starts at 4 and doubles; it stops at the first n whose probe ranking
agrees with the ranking at 2n (Spearman >= ``mqe.stability``), and uses n; otherwise
``max_samples``. Nested subsets of one stream, so the choice is reproducible.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)
START = 4


def _spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if list(np.argsort(a)) == list(np.argsort(b)) else 0.0
    return float(spearmanr(a, b).statistic)


def probe(model, layers, space, x: np.ndarray, executor=None) -> list[float]:
    """Per layer, the KL of its lowest candidate on the batch ``x``."""
    from ohq_flow.mqe.run import make_executor, score_layer
    ex = executor or make_executor("fast", model, layers=layers)
    ref = ex.reference(x)
    return [score_layer(ex, model, layer, [min(space[layer.name])], x, ref, modes=["joint"], seed=0)[0].kl
            for layer in layers]


def choose_samples(model, layers, space, x_max: np.ndarray, stability: float = 0.95) -> tuple[int, list[dict]]:
    """(samples to use, the trace [{n, spearman_vs_2n}]) for a seeded batch ``x_max``."""
    n_max = len(x_max)
    trace: list[dict] = []
    n = min(START, n_max)
    prev = probe(model, layers, space, x_max[:n])
    while 2 * n <= n_max:
        cur = probe(model, layers, space, x_max[:2 * n])
        rho = _spearman(prev, cur)
        trace.append({"n": n, "spearman_vs_2n": rho})
        log.info("mqe.samples auto: %d samples, ranking vs %d samples: Spearman %.3f", n, 2 * n, rho)
        if rho >= stability:
            return n, trace
        n, prev = 2 * n, cur
    return n_max, trace
