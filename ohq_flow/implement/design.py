"""``final/design/design.json``: the streaming network top the implementation wraps (read-only here)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from ohq_flow.errors import InputError

DESIGN_JSON = "final/design/design.json"
_REL = r"^(?!/)(?!.*(^|/)\.\.(/|$))[\w./+-]+$"   # relative, no '..', no spaces or shell characters


class DesignSpec(BaseModel):
    """The fields of design.json the implementation needs (others, e.g. scales, are kept but unused)."""

    model_config = ConfigDict(extra="allow")
    top: str = Field("ohq_top", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    sources: list[str] = Field(min_length=1)
    include_dirs: list[str] = []
    in_width: PositiveInt
    in_beats: PositiveInt
    in_elem_bits: PositiveInt
    in_signed: bool
    in_channels: PositiveInt
    out_width: PositiveInt
    out_beats: PositiveInt
    out_elem_bits: PositiveInt
    out_signed: bool
    out_channels: PositiveInt
    predicted_latency_cycles: float | None = None
    predicted_ii_cycles: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "DesignSpec":
        import re
        for name in ("sources", "include_dirs"):
            for rel in getattr(self, name):
                if not re.match(_REL, rel):
                    raise ValueError(f"{name}: {rel!r} must be a relative path below final/design/ (no '..', no spaces)")
        for side in ("in", "out"):
            w, c, b = (getattr(self, f"{side}_{k}") for k in ("width", "channels", "elem_bits"))
            if w < c * b:
                raise ValueError(f"{side}_width {w} < {side}_channels {c} x {side}_elem_bits {b}")
        if self.top in ("ohq_board_top", "ohq_board_core", "ohq_uart_shell", "ohq_uart_rx", "ohq_uart_tx"):
            raise ValueError(f"top {self.top!r} clashes with a module of the I/O shell; rename the network top")
        return self


def load_design(design_json: str | Path) -> tuple[DesignSpec, list[Path], list[Path]]:
    """(spec, absolute source paths, absolute include dirs); errors name the file and the field."""
    path = Path(design_json)
    if not path.is_file():
        raise InputError(f"no complete design: {path} does not exist",
                         "the build step writes it (final/design/design.json with the streaming network top)")
    try:
        spec = DesignSpec.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})", "run the build step again") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise InputError(f"{path}: {problems}", "the design generator must follow the streaming-top contract") from None
    base = path.parent.resolve()
    sources = [base / s for s in spec.sources]
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise InputError(f"{path}: sources missing: {', '.join(missing)}", "run the build step again")
    incs = [base / d for d in spec.include_dirs]
    return spec, sources, incs
