"""ECP5 PLL divider search and UART bit timing."""

from __future__ import annotations

import pytest

from ohq_flow.errors import InputError
from ohq_flow.implement.pll import OUT_RANGE, PFD_RANGE, VCO_RANGE, ecp5_pll
from ohq_flow.implement.shell import clks_per_bit


@pytest.mark.parametrize("f_in, f_out", [(25, 50), (25, 100), (25, 60), (48, 100), (100, 75), (25, 33.3)])
def test_pll_settings_within_limits(f_in, f_out):
    s = ecp5_pll(f_in, f_out)
    pfd = f_in / s.clki_div
    assert PFD_RANGE[0] <= pfd <= PFD_RANGE[1]
    assert s.f_out_mhz == pytest.approx(pfd * s.clkfb_div)
    assert VCO_RANGE[0] <= s.f_out_mhz * s.clkop_div <= VCO_RANGE[1]
    assert abs(s.f_out_mhz - f_out) <= 0.01 * f_out
    assert s.clkop_cphase == s.clkop_div - 1


def test_pll_impossible_targets():
    with pytest.raises(InputError, match="output range"):
        ecp5_pll(25, OUT_RANGE[1] + 1)
    with pytest.raises(InputError, match="closest"):
        ecp5_pll(25, 48)          # 25 MHz * n / m never within 1 % of 48 MHz with the PFD >= 3.125 MHz


def test_uart_bit_timing():
    assert clks_per_bit(25, 115200) == 217
    with pytest.raises(InputError, match="baud"):
        clks_per_bit(0.3, 115200)
