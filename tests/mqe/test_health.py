"""The sensitivity trust checks flag degenerate references and tables without signal."""

from __future__ import annotations

import numpy as np

from ohq_flow.mqe.health import reference_problems, sensitivity_health, table_problems
from ohq_flow.solve.sensitivity_table import SensitivityRow


def _rows(kl_low: float, kl_high: float, layers=("a", "b")) -> list[SensitivityRow]:
    return [r for l in layers for r in (SensitivityRow(l, 2, 4, kl_low, mode="joint"),
                                        SensitivityRow(l, 8, 8, kl_high, mode="joint"))]


def test_healthy_reference_and_table():
    ref = np.random.default_rng(0).normal(size=(8, 10))
    health = sensitivity_health(ref, _rows(0.5, 0.01))
    assert health == {"trusted": True, "problems": [], "hints": []}


def test_constant_zero_and_saturated_references():
    assert "same for all" in reference_problems(np.tile(np.arange(10.0), (8, 1)))[0]
    assert "all zero" in reference_problems(np.zeros((8, 10)))[0]
    saturated = np.zeros((8, 10))
    saturated[:, 3] = 1e4 + np.arange(8)
    assert any("saturated" in p for p in reference_problems(saturated))
    assert "NaN" in reference_problems(np.full((4, 3), np.nan))[0]


def test_table_without_signal():
    assert "~0" in table_problems(_rows(0.0, 0.0))[0]
    assert "does not rise" in table_problems(_rows(0.01, 0.5))[0]
    health = sensitivity_health(np.random.default_rng(1).normal(size=(8, 10)), _rows(0.0, 0.0))
    assert not health["trusted"] and health["hints"]
