"""The tables: one reader and one writer each, validated on read."""

from __future__ import annotations

import json

import pytest

from ohq_flow.errors import InputError
from ohq_flow.tables import SensitivityRow, Solution, read_sensitivity_rows, read_solution, write_sensitivity, write_solution


def test_sensitivity_rows_round_trip_with_the_step_columns(tmp_path):
    rows = [SensitivityRow("fc0", 4, 8, 0.1234567890123, mse=0.5, n_samples=64, seed=1, mode="joint",
                           monotonic_violation=True),
            SensitivityRow("fc1", 2, 8, 1 / 3, mse=0.25, n_samples=64, seed=1, mode="joint", monotonic_violation=False)]
    path = write_sensitivity(rows, tmp_path / "s.csv", significant=10)
    assert path.read_text().splitlines()[0] == "layer,w_bits,a_bits,kl,mse,n_samples,seed,mode,monotonic_violation"
    back = read_sensitivity_rows(path)
    assert [r.monotonic_violation for r in back] == [True, False]
    assert back[0].kl == pytest.approx(0.1234567890123, rel=1e-9) and back[0].kl != rows[0].kl   # 10 digits kept
    exact = read_sensitivity_rows(write_sensitivity(rows, tmp_path / "e.csv"))
    assert exact == rows                                                                       # repr: exact
    (tmp_path / "bad.csv").write_text(path.read_text().replace(",joint,1", ",joint,7"))
    with pytest.raises(InputError, match="monotonic_violation.*0 or 1"):
        read_sensitivity_rows(tmp_path / "bad.csv")


def test_solution_written_and_read_back_or_refused(tmp_path):
    sol = Solution("optimal", 0.5, {"fc0": (4, 8)}, {"lut": 100.0}, 0.01, "cbc")
    doc = read_solution(write_solution(tmp_path / "solution.json", sol, strategy="ilp", seed=0))
    assert doc["assignment"] == {"fc0": {"w_bits": 4, "a_bits": 8, "fold": ""}} and doc["strategy"] == "ilp"
    bad = dict(doc, assignment={"fc0": {"w_bits": "4", "a_bits": 8}})
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="fc0 needs integer w_bits"):
        read_solution(tmp_path / "bad.json")
    with pytest.raises(InputError, match="run the solve step first"):
        read_solution(tmp_path / "missing.json")
