"""Out-of-context place and route of one layer kernel (the function a nextpnr measurer calls): real tools."""

from __future__ import annotations

import numpy as np
import pytest

from ohq_flow.boards import resolve_board
from ohq_flow.errors import InputError
from ohq_flow.implement.ooc import ooc_ecp5, ooc_layer

from .test_impl_ecp5 import needs_tools


@needs_tools
def test_ooc_layer_places_and_routes_the_measurers_kernel(tmp_path):
    w = np.array([[1, -2, 0, 1], [-1, 1, -1, 0], [-2, 0, 1, 1], [0, 1, 1, -2]])
    res = ooc_layer(w, w_bits=2, a_bits=3, a_signed=True, board=resolve_board("ulx3s-12f"), work_dir=tmp_path,
                    latency_cutoff=2.0, target_mhz=50)
    assert res["out_of_context"] and res["device"] == "LFE5U-12F-6BG381C" and res["target_mhz"] == 50
    assert res["lut4"] > 0 and res["synth"]["lut4"] > 0 and res["ff"] == res["synth"]["ff"]
    assert res["fmax_mhz"] > 0 and res["timing_met"] == (res["fmax_mhz"] >= 50)
    assert res["seconds"]["pnr"] > 0 and (tmp_path / "ooc" / "nextpnr_report.json").is_file()
    assert all(p.endswith(".v") for p in res["sources"]) and res["top"] == "layer_wrapper"


def test_ooc_needs_an_ecp5_device(tmp_path):
    with pytest.raises(InputError, match="no 'ecp5:' section"):
        ooc_ecp5([], "top", resolve_board("pynq-z2"), tmp_path)
