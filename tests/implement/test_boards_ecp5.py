"""ECP5 board files: complete, listed, and bad fields rejected with the field's name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ohq_flow.boards import BOARDS_DIR, catalog, load_board_file, resolve_board
from ohq_flow.errors import InputError

ECP5 = {"ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f", "orangecrab-25f", "orangecrab-85f", "ecpix5-85f"}


def test_ecp5_boards_are_complete_and_consistent():
    cat = catalog()
    assert ECP5 <= {k for k, b in cat.items() if b.is_ecp5}
    for stem in ECP5:
        b = cat[stem]
        size = b.part.split("-")[1].rstrip("F")                     # LFE5U-85F-6BG381C -> 85
        assert b.ecp5.device.endswith(f"{size}k"), stem
        assert str(b.ecp5.speed) == b.part.split("-")[2][0], stem    # speed grade from the part number
        assert b.pins is not None and b.pins.clock.mhz == b.default_clock_mhz, stem
        assert b.resources.ff == b.resources.lut and b.resources.uram == 0, stem   # 2 LUT4 + 2 FF per slice
        assert len({b.pins.clock.site, b.pins.uart_tx.site, b.pins.uart_rx.site}) == 3, stem
    # the existing AMD boards stay valid without the new sections
    assert all(b.ecp5 is None for k, b in cat.items() if b.part.startswith("xc"))


def test_boards_command_lists_ecp5_boards():
    out = subprocess.run([sys.executable, "-m", "ohq_flow", "boards"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for stem in ECP5:
        assert stem in out.stdout


@pytest.mark.parametrize("path, value, field", [
    (("ecp5", "speed"), 9, "ecp5.speed"),
    (("ecp5", "device"), "100k", "ecp5.device"),
    (("pins", "clock", "site"), "G2; rm", "pins.clock.site"),
    (("pins", "uart_tx"), None, "pins.uart_tx"),
    (("pins", "clock", "mhz"), None, "mhz"),
])
def test_bad_board_field_is_named(tmp_path, path, value, field):
    data = yaml.safe_load((BOARDS_DIR / "ulx3s-85f.yaml").read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    f = tmp_path / "board.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as exc:
        load_board_file(f)
    assert field in str(exc.value) and str(f) in str(exc.value)
    assert exc.value.exit_code == 2


def test_implementation_needs_the_ecp5_sections():
    from ohq_flow.implement.ecp5 import require_ecp5
    with pytest.raises(InputError, match="no 'ecp5:' section"):
        require_ecp5(resolve_board("pynq-z2"))
