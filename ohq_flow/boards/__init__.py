"""Boards are data: one YAML file per board in ``boards/`` (part, resource totals, clock).

A config names a board by catalog name (file stem or alias, case- and dash-insensitive) or by
the path of a YAML file with the same fields.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, field_validator, model_validator

from ohq_flow.errors import InputError

BOARDS_DIR = Path(__file__).resolve().parent
RESOURCE_KEYS = ("lut", "ff", "dsp", "bram18", "uram")
# values that reach tool scripts (Yosys, Tcl) are allow-listed: one word, nothing a script could interpret
PART_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
YOSYS_FAMILY_PATTERN = r"^[a-z][a-z0-9_]{0,15}$"
MAX_BOARD_FILE_BYTES = 1 << 20


class BoardResources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lut: int = Field(ge=0)
    ff: int = Field(ge=0)
    dsp: int = Field(ge=0)
    bram18: int = Field(ge=0, description="18Kb block RAMs (a 36Kb block counts 2)")
    uram: int = Field(ge=0)


_SITE = r"^[A-Z]{1,2}[0-9]{1,2}$"          # a package ball, e.g. G2, AB12
ECP5_DEVICES = ("12k", "25k", "45k", "85k", "um-25k", "um-45k", "um-85k", "um5g-25k", "um5g-45k", "um5g-85k")


class Ecp5Target(BaseModel):
    """nextpnr-ecp5 flags of the board's FPGA: ``--<device> --package <package> --speed <speed>``."""

    model_config = ConfigDict(extra="forbid")
    device: Literal[ECP5_DEVICES]  # type: ignore[valid-type]
    package: str = Field(pattern=r"^[A-Z]+[0-9]+$", description="e.g. CABGA381, CSFBGA285, CABGA554")
    speed: Literal[6, 7, 8]
    loader_board: str | None = Field(None, pattern=r"^[A-Za-z0-9_]+$", description="openFPGALoader -b name")

    def nextpnr_args(self) -> list[str]:
        return [f"--{self.device}", "--package", self.package, "--speed", str(self.speed)]


class BoardPin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(pattern=_SITE, description="package pin, e.g. G2")
    mhz: PositiveFloat | None = Field(None, description="frequency (clock pins only)")


class BoardPins(BaseModel):
    """The pins the implementation's I/O shell uses: the oscillator and a UART (FPGA's view)."""

    model_config = ConfigDict(extra="forbid")
    clock: BoardPin
    uart_tx: BoardPin = Field(description="FPGA output to the host's receive line")
    uart_rx: BoardPin = Field(description="FPGA input from the host's transmit line")
    io_type: str = Field("LVCMOS33", pattern=r"^[A-Z0-9_]+$")
    uart: str = Field("", description="where the UART is on the board (for the user)")

    @model_validator(mode="after")
    def _clock_mhz(self) -> "BoardPins":
        if self.clock.mhz is None:
            raise ValueError("pins.clock needs mhz (the oscillator's frequency)")
        return self


class Board(BaseModel):
    """A target board: FPGA part, resource totals and default clock."""

    model_config = ConfigDict(extra="forbid")
    name: str
    aliases: list[str] = []
    vendor: str = ""
    part: str = Field(pattern=PART_PATTERN, description="FPGA part, e.g. xc7z020clg400-1 (letters, digits, _ . + -)")
    family: str
    yosys_family: str = Field(pattern=YOSYS_FAMILY_PATTERN, description="synth_xilinx -family value, e.g. xc7 or xcup")
    default_clock_mhz: PositiveFloat
    resources: BoardResources
    ecp5: Ecp5Target | None = Field(None, description="Lattice ECP5 boards: nextpnr-ecp5 device flags")
    pins: BoardPins | None = Field(None, description="clock and UART pins for the implementation's I/O shell")
    source: str = ""
    file: str = ""

    @field_validator("name", "family", "vendor", "source", "aliases")
    @classmethod
    def _printable(cls, v):
        for text in ([v] if isinstance(v, str) else v):
            if any(ord(c) < 32 or ord(c) == 127 for c in text):
                raise ValueError(f"{text!r} contains control characters (newline, tab, ...)")
        return v

    @property
    def clock_ns(self) -> float:
        return 1000.0 / self.default_clock_mhz

    def total(self, metric: str) -> float | None:
        """Board total for a resource metric (lut, ff, dsp, bram18, uram), else None."""
        return float(getattr(self.resources, metric)) if metric in RESOURCE_KEYS else None

    @property
    def is_ecp5(self) -> bool:
        return self.ecp5 is not None


def _norm(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


_PARSED: dict[tuple, Board] = {}


def load_board_file(path: str | Path) -> Board:
    """Load one board YAML file; errors name the file and the field.

    Parsed boards are memoised by (path, mtime, size) — the config asks for its board once per
    cost job, and the catalog is 17 YAML files — and each call returns its own copy.
    """
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key is not None and key in _PARSED:
        return _PARSED[key].model_copy(deep=True)
    board = _parse_board_file(path)
    if key is not None:
        _PARSED[key] = board.model_copy(deep=True)
    return board


def _parse_board_file(path: Path) -> Board:
    from ohq_flow.yamlio import load_yaml_file
    data = load_yaml_file(path, "board file", max_bytes=MAX_BOARD_FILE_BYTES,
                          missing_hint="give a catalog name (ohq-flow boards) or a path to a board YAML")
    if not isinstance(data, dict):
        raise InputError(f"board file {path} must be a mapping of fields", "copy one of the files in boards/ as a template")
    try:
        board = Board.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"board file {path}: {problems}", "copy one of the files in boards/ as a template") from None
    board.file = str(path)
    return board


def catalog(boards_dir: Path = BOARDS_DIR) -> dict[str, Board]:
    """All catalog boards keyed by file stem."""
    return {p.stem: load_board_file(p) for p in sorted(boards_dir.glob("*.yaml"))}


def board_names(boards_dir: Path = BOARDS_DIR) -> list[str]:
    return sorted(p.stem for p in boards_dir.glob("*.yaml"))


def find_board(name: str, boards_dir: Path = BOARDS_DIR) -> Board | None:
    """Catalog lookup by file stem, display name or alias; None if unknown."""
    want = _norm(name)
    for stem, board in catalog(boards_dir).items():
        if want in {_norm(stem), _norm(board.name), *(_norm(a) for a in board.aliases)}:
            return board
    return None


def suggest_board(name: str, boards_dir: Path = BOARDS_DIR) -> str | None:
    """Closest catalog name to ``name`` (for "did you mean")."""
    names = board_names(boards_dir)
    by_norm = {_norm(n): n for n in names}
    hits = difflib.get_close_matches(_norm(name), list(by_norm), n=1, cutoff=0.5)
    return by_norm[hits[0]] if hits else None


def resolve_board(spec: str, base_dir: Path | None = None) -> Board:
    """A catalog name or a path to a board YAML (relative to ``base_dir``) -> Board."""
    board = find_board(spec)
    if board is not None:
        return board
    looks_like_path = spec.endswith((".yaml", ".yml")) or "/" in spec
    if looks_like_path:
        path = Path(spec)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return load_board_file(path)
    guess = suggest_board(spec)
    hint = f"did you mean '{guess}'? " if guess else ""
    raise InputError(f"unknown board '{spec}'", f"{hint}known boards: {', '.join(board_names())}; or give a path to a board YAML file")
