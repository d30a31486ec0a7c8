"""Package data: tool-script and RTL templates, found through importlib.resources (works from a wheel)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

TEMPLATES = Path(str(files("ohq_flow") / "templates"))
BOARDS = Path(str(files("ohq_flow") / "boards"))
