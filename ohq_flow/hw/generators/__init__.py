"""Per-layer design generators (see :class:`~ohq_flow.hw.generators.base.Generator`): ``da4ml`` (RTL of the
kernel's constant matrix-vector product) and ``hls4ml`` (an HLS project of the extracted layer).

Adding one is one file defining ``GENERATOR`` plus its line in :data:`REGISTRY`; a measurer names
the generator whose designs it costs (``Measurer.generator``).
"""

from __future__ import annotations

from ohq_flow.registry import load

# name -> "module[:attribute]" (attribute default: GENERATOR); imported only when used
REGISTRY = {
    "da4ml": "ohq_flow.hw.generators.da4ml",
    "hls4ml": "ohq_flow.hw.generators.hls4ml_gen",
}
NAMES = tuple(REGISTRY)


def get(name: str):
    """The :class:`~ohq_flow.hw.generators.base.Generator` registered as ``name``."""
    return load(REGISTRY, name, "generator", "GENERATOR")
