"""Errors the flow raises on bad input or failed work.

Every error names the thing at fault (a file, a config field, a graph node) and, where one
exists, how to fix it. The CLI prints ``str(err)`` without a traceback (``--debug`` shows it)
and exits 2 for :class:`InputError` subclasses, 1 for :class:`FlowError`.
"""

from __future__ import annotations


class OhqError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  hint: {hint}")


class InputError(OhqError):
    """The user's input (config, model, file, argument) is wrong. Exit code 2."""

    exit_code = 2


class ConfigError(InputError):
    """One or more config problems; ``problems`` lists every one as (yaml_path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s) in the config"]
        lines += [f"  - {path or '<root>'}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class ModelError(InputError):
    """The model cannot be loaded, exported or analysed."""


class ReportParseError(InputError):
    """A tool report is empty, truncated or not a report of the expected kind."""

    def __init__(self, file: str, what: str, hint: str | None = None):
        self.file = file
        self.what = what
        super().__init__(f"{file}: {what}", hint)


class FlowError(OhqError):
    """A step of the flow failed (a tool crashed, a job timed out, ...). Exit code 1."""


class Replan(Exception):
    """Raised by a step that wants the pipeline to run again from ``step`` (the closed budget loop)."""

    def __init__(self, message: str, step: str = "solve"):
        super().__init__(message)
        self.message, self.step = message, step
