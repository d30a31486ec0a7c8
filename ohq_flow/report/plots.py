"""Plot helpers shared by the steps and the report (matplotlib, Agg backend, PNG bytes)."""

from __future__ import annotations

import io

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def figure_png(fig, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def layer_candidate_heatmap(values: dict[tuple[str, int, int], float], layers: list[str], title: str,
                            cmap: str = "viridis") -> bytes:
    """Heatmap PNG of layers (rows, in the given order) × candidates w?a? (columns)."""
    cands = sorted({(w, a) for (_, w, a) in values})
    names = [l for l in layers if any(k[0] == l for k in values)]
    grid = np.full((len(names), len(cands)), np.nan)
    for (layer, w, a), v in values.items():
        if layer in names:
            grid[names.index(layer), cands.index((w, a))] = v
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(cands) + 2), max(3, 0.35 * len(names) + 1.5)))
    im = ax.imshow(grid, aspect="auto", cmap=cmap)
    ax.set_xticks(range(len(cands)), [f"w{w}a{a}" for w, a in cands], rotation=60, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    return figure_png(fig, dpi=110)
