"""The nextpnr report parser on real reports written by nextpnr-ecp5 here (tests/fixtures/reports/nextpnr)."""

from __future__ import annotations

import json

import pytest

from ohq_flow.errors import ReportParseError
from ohq_flow.hw.reports import parse_report
from ohq_flow.hw.reports.cli import main_parse_report

from .conftest import NEXTPNR_REPORTS

REPORTS = sorted(NEXTPNR_REPORTS.glob("*.json"))


def test_fixtures_present():
    assert len(REPORTS) >= 3
    verdicts = set()
    for p in REPORTS:
        f = json.loads(p.read_text())["fmax"]
        verdicts |= {v["achieved"] >= v["constraint"] for v in f.values()}
    assert verdicts == {True, False}     # a report that meets timing and one that does not


@pytest.mark.parametrize("path", REPORTS, ids=[p.stem for p in REPORTS])
def test_real_report(path):
    data = json.loads(path.read_text())
    util = data["utilization"]
    top = parse_report(path)[0]
    assert (top.kind, top.tool, top.stage, top.level) == ("nextpnr_report", "nextpnr-ecp5", "route", "top")
    assert top.lut == util["TRELLIS_COMB"]["used"] and top.ff == util["TRELLIS_FF"]["used"]
    assert top.dsp == util["MULT18X18D"]["used"] and top.bram18 == float(util["DP16KD"]["used"])
    assert top.uram is None                      # ECP5 has none: missing, not 0
    assert top.extra["available"]["lut"] == util["TRELLIS_COMB"]["available"]
    worst = min(data["fmax"].values(), key=lambda v: v["achieved"] / v["constraint"])
    assert top.achieved_clock_ns == pytest.approx(1000 / worst["achieved"], abs=1e-3)
    assert top.target_clock_ns == pytest.approx(1000 / worst["constraint"], abs=1e-3)
    assert top.timing_met == (worst["achieved"] >= worst["constraint"])
    assert (top.wns_ns >= 0) == top.timing_met
    paths = top.extra["critical_paths"]
    assert paths and all(p["delay_ns"] >= p["logic_ns"] + p["routing_ns"] - 1e-3 > 0 for p in paths)


def test_parse_report_cli_json(capsys):
    assert main_parse_report(str(REPORTS[0]), True) == 0
    recs = json.loads(capsys.readouterr().out)
    assert recs[0]["kind"] == "nextpnr_report" and recs[0]["lut"] > 0


def test_truncated_report_is_an_error(tmp_path):
    text = REPORTS[0].read_text()
    bad = tmp_path / "r.json"
    bad.write_text(text[: len(text) // 2])
    with pytest.raises(ReportParseError, match="truncated"):
        parse_report(bad)
