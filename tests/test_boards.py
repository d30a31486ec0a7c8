"""Board catalog: data files with vendor totals."""

from __future__ import annotations

import pytest

from ohq_flow.boards import catalog, load_board_file, resolve_board
from ohq_flow.errors import InputError

# (catalog name, part, LUT, FF, DSP, BRAM18, URAM) from the vendors' product tables
VENDOR = [
    ("pynq-z2", "xc7z020clg400-1", 53200, 106400, 220, 280, 0),
    ("zcu104", "xczu7ev-ffvc1156-2-e", 230400, 460800, 1728, 624, 96),
    ("zcu102", "xczu9eg-ffvb1156-2-e", 274080, 548160, 2520, 1824, 0),
    ("kv260", "xck26-sfvc784-2LV-c", 117120, 234240, 1248, 288, 64),
    ("ultra96-v2", "xczu3eg-sbva484-1-i", 70560, 141120, 360, 432, 0),
    ("arty-a7-100t", "xc7a100tcsg324-1", 63400, 126800, 240, 270, 0),
    ("alveo-u250", "xcu250-figd2104-2L-e", 1728000, 3456000, 12288, 5376, 1280),
]


@pytest.mark.parametrize("name,part,lut,ff,dsp,bram18,uram", VENDOR)
def test_vendor_totals(name, part, lut, ff, dsp, bram18, uram):
    b = resolve_board(name)
    assert b.part == part
    assert (b.resources.lut, b.resources.ff, b.resources.dsp, b.resources.bram18, b.resources.uram) == (lut, ff, dsp, bram18, uram)
    assert b.default_clock_mhz > 0 and b.yosys_family in ("xc7", "xcup")


def test_aliases_and_case():
    assert resolve_board("PYNQ-Z2").part == resolve_board("pynqz2").part
    assert resolve_board("U250").name == "Alveo U250"


def test_unknown_board_suggests():
    with pytest.raises(InputError) as ei:
        resolve_board("zcu-105")
    assert "did you mean" in str(ei.value)


def test_bad_board_file_names_file_and_field(tmp_path):
    p = tmp_path / "b.yaml"
    p.write_text("name: x\npart: y\nfamily: z\nyosys_family: xc7\ndefault_clock_mhz: 100\nresources: {lut: 1, ff: 1, dsp: 1, bram18: 1}\n")
    with pytest.raises(InputError) as ei:
        load_board_file(p)
    assert str(p) in str(ei.value) and "uram" in str(ei.value)


def test_catalog_has_at_least_the_required_boards():
    assert {n for n, *_ in VENDOR} <= set(catalog())
