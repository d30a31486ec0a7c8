"""Property tests: truncated or garbled reports, configs and tables never yield made-up numbers.

Every input is either refused with the project's error (ReportParseError / InputError) or read
into records whose figures are possible (finite, non-negative) and, for reports, literally present
in the text that was read.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ohq_flow.errors import InputError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
REPORTS = sorted(p for p in FIX.rglob("*") if p.is_file() and p.suffix in (".rpt", ".xml", ".json")
                 and p.stat().st_size < 300_000)
FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GARBAGE = st.binary(min_size=0, max_size=40)


def _mutate(data: bytes, cut: float, at: float, junk: bytes) -> bytes:
    """Cut the file at a fraction ``cut`` and insert ``junk`` at a fraction ``at`` of what is left."""
    data = data[: int(len(data) * cut)]
    i = int(len(data) * at)
    return data[:i] + junk + data[i:]


_FIGURES = ("lut", "ff", "dsp", "latency_min_cycles", "latency_max_cycles", "ii_min_cycles", "ii_max_cycles")


@pytest.mark.parametrize("report", REPORTS, ids=lambda p: f"{p.parent.name}/{p.name}")
@FAST
@given(cut=st.floats(0.0, 1.0), at=st.floats(0.0, 1.0), junk=GARBAGE)
def test_damaged_report_never_yields_made_up_numbers(tmp_path, report, cut, at, junk):
    from ohq_flow.errors import ReportParseError
    from ohq_flow.hw.reports import parse_report
    from ohq_flow.hw.reports.detect import check_record
    data = _mutate(report.read_bytes(), cut, at, junk)
    path = tmp_path / report.name
    path.write_bytes(data)
    try:
        records = parse_report(path)
    except ReportParseError:
        return
    text = data.decode("utf-8", "replace")
    numbers = {float(m) for m in re.findall(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)}
    for rec in records:
        check_record(rec)
        for name in _FIGURES:
            v = getattr(rec, name)
            if v is None:
                continue
            assert math.isfinite(v) and v >= 0
            # a figure is read from the file or a sum of what the file states (totals), never invented
            assert float(v) in numbers or rec.level == "top", (name, v)


COSTS = "layer,w_bits,a_bits,lut,ff,dsp,latency_cycles,status\nfc0,4,8,120,30,0,3,ok\nfc1,2,8,60,20,1,3,ok\n"
SENS = "layer,w_bits,a_bits,kl,mse,mode\nfc0,4,8,0.25,0.1,joint\nfc0,2,8,1.5,0.7,joint\n"


def _read_costs(path):
    from ohq_flow.hw.costs import read_costs, row_problems
    for r in read_costs(path):
        assert row_problems(r) == []


def _read_sensitivity(path):
    from ohq_flow.solve.sensitivity_table import read_sensitivity_rows
    for r in read_sensitivity_rows(path, mode=None):
        assert math.isfinite(r.kl) and r.kl >= 0 and 1 <= r.w_bits and 1 <= r.a_bits
        assert r.mse is None or (math.isfinite(r.mse) and r.mse >= 0)


@pytest.mark.parametrize("table,read", [(COSTS, _read_costs), (SENS, _read_sensitivity)], ids=["costs", "sensitivity"])
@FAST
@given(cut=st.floats(0.0, 1.0), at=st.floats(0.0, 1.0), junk=st.text(max_size=12))
def test_damaged_table_never_yields_impossible_rows(tmp_path, table, read, cut, at, junk):
    path = tmp_path / "table.csv"
    path.write_bytes(_mutate(table.encode(), cut, at, junk.encode("utf-8", "surrogatepass")))
    try:
        read(path)                      # every row it returns is checked inside
    except InputError:
        pass


@FAST
@given(cut=st.floats(0.0, 1.0), at=st.floats(0.0, 1.0), junk=st.text(max_size=30))
def test_damaged_config_is_refused_or_valid(tmp_path, cut, at, junk):
    from ohq_flow.config import STARTER_CONFIG, load_config
    path = tmp_path / "flow.yaml"
    path.write_bytes(_mutate(STARTER_CONFIG.encode(), cut, at, junk.encode("utf-8", "surrogatepass")))
    try:
        cfg = load_config(path)
    except InputError:
        return
    for v in cfg.budgets.as_dict().values():
        assert not isinstance(v, bool)
        if isinstance(v, float):
            assert math.isfinite(v) and v > 0
