"""Board measurer: a user command that measures a layer on real hardware and prints JSON."""

from .command import measure_board, substitute_argv

__all__ = ["measure_board", "substitute_argv"]
