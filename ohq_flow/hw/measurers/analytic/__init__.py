"""The ``analytic`` measurer (FINN's estimate of a folded unit, :mod:`ohq_flow.design.finn_estimate`; no tools),
the fold rows of a per-layer cost table, and calibrating estimates against measured rows."""

from .calibrate import apply_calibration, calibrate
from .folds import FoldReport, expand_folds

__all__ = ["FoldReport", "apply_calibration", "calibrate", "expand_folds"]
