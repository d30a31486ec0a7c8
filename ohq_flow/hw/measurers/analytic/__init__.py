"""Analytic folded-dataflow cost model (FINN-R style MVAU + sliding-window generator); no tools needed."""

from .calibrate import apply_calibration, calibrate
from .folds import Fold, FoldReport, expand_folds, parse_fold
from .model import (MVAU, SWG, bram18_for_memory, estimate_layer, fmax_estimate, min_accumulator_bits, mvau_dims,
                    mvau_estimate, swg_estimate)

__all__ = ["MVAU", "SWG", "Fold", "FoldReport", "apply_calibration", "bram18_for_memory", "calibrate", "estimate_layer",
           "expand_folds", "fmax_estimate", "min_accumulator_bits", "mvau_dims", "mvau_estimate", "parse_fold",
           "swg_estimate"]
