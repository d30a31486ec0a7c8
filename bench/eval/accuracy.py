"""Exact test accuracy of a bit-width assignment: the QONNX model re-quantized by the shared rule
(``ohq_flow.model.quantizers.apply_bits``), lowered to ONNX and run in onnxruntime (equal to the
QONNX executor, tested in tests/mqe)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ohq_flow.model.quantizers import apply_bits
from ohq_flow.mqe.lowering import OrtRunner, lower_to_onnx


class AccuracyEvaluator:
    """``accuracy(assignment)`` on one data split, memoised; ``calls`` counts distinct evaluations."""

    def __init__(self, model, layers, x: np.ndarray, y: np.ndarray):
        self.model, self.layers, self.x, self.y = model, layers, x.astype(np.float32), np.asarray(y)
        self.iname = model.graph.input[0].name
        self._memo: dict[tuple, float] = {}

    @property
    def calls(self) -> int:
        return len(self._memo)

    def logits(self, assignment: Mapping[str, tuple[int, int]]) -> np.ndarray:
        model, _ = apply_bits(self.model, self.layers, dict(assignment))
        runner = OrtRunner(lower_to_onnx(model))
        return runner.run({self.iname: self.x})[runner.outputs[0]].reshape(len(self.x), -1)

    def accuracy(self, assignment: Mapping[str, tuple[int, int]]) -> float:
        key = tuple(sorted(assignment.items()))
        if key not in self._memo:
            self._memo[key] = float(np.mean(self.logits(assignment).argmax(1) == self.y))
        return self._memo[key]
