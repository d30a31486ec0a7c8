"""Analytic folded-dataflow cost model (FINN-R style MVAU + sliding-window generator); no tools needed."""

from .calibrate import apply_calibration, calibrate
from .model import MVAU, SWG, bram18_for_memory, estimate_layer, min_accumulator_bits, mvau_estimate, swg_estimate

__all__ = ["MVAU", "SWG", "apply_calibration", "bram18_for_memory", "calibrate", "estimate_layer",
           "min_accumulator_bits", "mvau_estimate", "swg_estimate"]
