"""The Yosys measurer on an ECP5 board (family ecp5): synth_ecp5, LUT4-equivalent counts, depth."""

from __future__ import annotations

import shutil

import pytest

from ohq_flow.boards import resolve_board
from ohq_flow.hw.rtl.yosys import LEVEL_DELAY_NS, measure_yosys

from .conftest import DESIGN


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_measure_yosys_ecp5(tmp_path):
    family = resolve_board("ulx3s-85f").yosys_family
    res = measure_yosys([DESIGN / "rtl" / "ohq_top.v"], "ohq_top", family=family, work_dir=tmp_path, timeout_s=300)
    c = res.cells
    assert family == "ecp5" and "LUT4" in c and not any(k.startswith(("LUT6", "FD")) for k in c)   # ECP5 cells, not Xilinx
    assert res.lut == c.get("LUT4", 0) + 2 * c.get("CCU2C", 0) + 2 * c.get("TRELLIS_DPR16X4", 0)
    assert res.ff == c["TRELLIS_FF"] > 0
    assert res.depth > 0
    t0, per_level = LEVEL_DELAY_NS["ecp5"]
    assert res.est_clock_ns == pytest.approx(t0 + per_level * res.depth)
