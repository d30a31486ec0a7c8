"""Shared helpers: reading report files, numbers and ASCII tables."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ohq_flow.errors import ReportParseError

_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(ns|us|ms|sec|s)?\s*$")
_UNDEF = {"", "?", "undef", "-", "na", "n/a", "none"}


class NotAReportError(ReportParseError):
    """The file is readable but is not a tool report this package knows."""


MAX_REPORT_BYTES = 64 << 20
"""The largest report read (real csynth/utilisation reports are well below 10 MB)."""


def read_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """At most ``limit`` bytes of a *regular* file (a device such as /dev/zero, a FIFO or a socket is
    refused, symlinks to them too); a file larger than MAX_REPORT_BYTES is refused unless ``limit``
    is given (then only its first bytes are read)."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ReportParseError(str(p), f"cannot read file ({exc.strerror})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReportParseError(str(p), "not a regular file (a directory, device, pipe or socket)",
                                   "give the path of a report file")
        cap = MAX_REPORT_BYTES if limit is None else limit
        if limit is None and st.st_size > cap:
            raise ReportParseError(str(p), f"file is {st.st_size:,} bytes, larger than the "
                                   f"{MAX_REPORT_BYTES:,}-byte limit for a report", "is it the right file?")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(cap + 1)
    finally:
        os.close(fd)
    if limit is None and len(data) > cap:
        raise ReportParseError(str(p), f"file grew past the {MAX_REPORT_BYTES:,}-byte limit while being read")
    return data[:cap]


def read_text(path: str | Path) -> str:
    """Return the file's text with LF line endings; raise if missing, empty, too large or not a file."""
    p = Path(path)
    data = read_bytes(p)
    if not data.strip():
        raise ReportParseError(str(p), "file is empty", "re-run the tool step that writes it")
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def is_undef(s: str | None) -> bool:
    """True for the tools' spellings of 'no value' (?, undef, -, NA)."""
    return s is None or s.strip().lower() in _UNDEF


def to_float(s: str | None) -> float | None:
    """'4.429 ns' -> 4.429, '0.62' -> 0.62; ?/undef/- -> None. Units are dropped, not converted."""
    if is_undef(s):
        return None
    m = _UNIT.match(s.replace(",", ""))
    return float(m.group(1)) if m else None


def to_int(s: str | None) -> int | None:
    """'96014' -> 96014; '?', 'undef' -> None; '12.0' -> 12; '1.5' -> None."""
    f = to_float(s)
    if f is None or not float(f).is_integer():
        return None
    return int(f)


def count(x) -> int | float | None:
    """A resource count from JSON/XML/text: int when integral, float otherwise, None if absent."""
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, str):
        s = x.strip()
        if is_undef(s):
            return None
        m = re.match(r"^[~<]?\s*([-+]?\d+(?:\.\d+)?)", s)
        if not m:
            return None
        x = float(m.group(1))
    f = float(x)
    return int(f) if f.is_integer() else f


def split_row(line: str) -> list[str]:
    """'|a | b|' -> ['a', 'b']."""
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in s.split("|")]


def table_block(text: str, marker: str, start: int = 0,
                allow_text: bool = False) -> tuple[list[list[str]] | None, bool]:
    """(rows, closed) of the first ASCII table after ``marker``; ``closed`` is True when the
    table ends with a border line (a table cut off by truncation is not closed)."""
    i = text.find(marker, start)
    if i < 0:
        return None, False
    rows: list[list[str]] = []
    started, last = False, ""
    for line in text[i + len(marker):].split("\n")[1:]:
        s = line.strip()
        if not started:
            if not s:
                continue
            if not s.startswith(("+", "|")):
                if allow_text:
                    continue
                return None, False
            started = True
        if not s.startswith(("+", "|")):
            return rows, last.startswith("+")
        if s.startswith("|"):
            rows.append(split_row(s))
        last = s
    return rows, False  # the text ended inside the table


def table_after(text: str, marker: str, start: int = 0,
                allow_text: bool = False) -> list[list[str]] | None:
    """Rows of the first ASCII table after ``marker`` (separator lines dropped).

    Returns None when the marker is absent or is followed by ``N/A`` / text instead of a table
    (unless ``allow_text``, which skips text lines before the table).
    """
    return table_block(text, marker, start, allow_text)[0]


def sections(text: str) -> dict[str, str]:
    """Split a report on its '== Title' banner lines: {title: body}."""
    out: dict[str, str] = {}
    parts = re.split(r"^== (.+?)\s*$", text, flags=re.M)
    for title, body in zip(parts[1::2], parts[2::2]):
        out.setdefault(title.strip(), body)
    return out


def head(path: str | Path, n: int = 8192) -> str:
    """The first ``n`` bytes of a regular file as text (for sniffing the kind); OSError otherwise."""
    try:
        return read_bytes(path, n).decode("utf-8", errors="replace")
    except ReportParseError as exc:
        raise OSError(str(exc)) from None
