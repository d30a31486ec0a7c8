"""The :class:`Measurer` plug-in: how one layer candidate is costed (one file per measurer).

A measurer's ``run(ctx)`` is a top-level function the job runner (:mod:`ohq_flow.hw.jobs`) calls in
a child process with the JSON form of a :class:`~ohq_flow.hw.profile.LayerHW` as ``ctx.payload``;
it returns a :class:`~ohq_flow.tables.CostRow`. Everything else the flow needs to plan, key and
label its jobs is data on the :class:`Measurer` record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

FIDELITIES = ("measured", "post_route", "post_synth", "hls_estimate", "estimate")


def package_version(dist: str = "ohq_flow") -> str:
    """The installed version of a Python distribution (the tool version of pure-Python measurers)."""
    import importlib.metadata as md
    return md.version(dist)


@dataclass(frozen=True)
class Measurer:
    """One measurer: its name, what its rows are worth, what it needs and what enters its cache key."""

    name: str
    fidelity: str                                  # one of FIDELITIES (the rows' trust label)
    run: Callable[[Any], Any]                      # top-level ``run(ctx) -> CostRow`` (runs in the job child)
    version: Callable[[], str] = package_version   # version probe of its tool (part of every cache key)
    key_settings: tuple[str, ...] = ()             # hardware.* settings that change its result (cache key)
    key_templates: tuple[str, ...] = ()            # templates it fills (their content is in the cache key)
    tool: str | None = None                        # executable that must be on PATH before jobs are planned
    tool_hint: str = ""                            # how to get that tool
    check_board: Callable[[Any], None] | None = None   # raises InputError when the board cannot be used
    payload: Callable[[Any], dict] | None = None   # extra payload entries from the config (``extra`` of LayerHW)
    generator: str | None = None                   # the generator whose design it measures (hw/generators/)

    def __post_init__(self) -> None:
        if self.fidelity not in FIDELITIES:
            raise ValueError(f"measurer {self.name}: fidelity {self.fidelity!r} is not one of {FIDELITIES}")

    def key_settings_of(self, hw) -> dict:
        """The settings (and template hashes) this measurer's cache key must hold."""
        from ohq_flow.fileio import sha256_file
        from ohq_flow.resources import TEMPLATES
        out = {name: getattr(hw, name) for name in self.key_settings}
        for rel in self.key_templates:
            path = TEMPLATES / rel
            out[f"template:{rel}"] = sha256_file(path) if path.is_file() else None
        return out

    def row(self, p, **kw):
        """A CostRow of payload ``p`` labelled with this measurer's name and fidelity."""
        from ohq_flow.tables.costs import CostRow
        return CostRow(layer=p.layer, w_bits=p.w_bits, a_bits=p.a_bits, clock_ns=p.clock_ns, part=p.part,
                       source=self.name, fidelity=self.fidelity, **kw)
