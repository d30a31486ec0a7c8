"""ECP5 EHXPLLL divider search: the closest output frequency to a target from the board oscillator."""

from __future__ import annotations

from dataclasses import dataclass

from ohq_flow.errors import InputError

# Lattice TN1263 / data sheet limits (MHz)
PFD_RANGE = (3.125, 400.0)
VCO_RANGE = (400.0, 800.0)
OUT_RANGE = (3.125, 400.0)


@dataclass(frozen=True)
class PllSetting:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    clkop_cphase: int
    f_in_mhz: float
    f_out_mhz: float
    f_vco_mhz: float

    def params(self) -> dict[str, int]:
        return {"USE_PLL": 1, "CLKI_DIV": self.clki_div, "CLKFB_DIV": self.clkfb_div,
                "CLKOP_DIV": self.clkop_div, "CLKOP_CPHASE": self.clkop_cphase}


def ecp5_pll(f_in_mhz: float, f_out_mhz: float, tolerance: float = 0.01) -> PllSetting:
    """Dividers for CLKOP = f_in / CLKI_DIV * CLKFB_DIV (feedback from CLKOP) closest to ``f_out_mhz``.

    Raises InputError when the target is outside the PLL's range or no setting is within ``tolerance``.
    """
    if not OUT_RANGE[0] <= f_out_mhz <= OUT_RANGE[1]:
        raise InputError(f"clock {f_out_mhz:g} MHz is outside the ECP5 PLL's output range {OUT_RANGE[0]}-{OUT_RANGE[1]:g} MHz",
                         "choose implement.target_mhz within it")
    best = None
    for clki in range(1, 129):
        pfd = f_in_mhz / clki
        if pfd < PFD_RANGE[0]:
            break
        if pfd > PFD_RANGE[1]:
            continue
        for fb in range(1, 81):
            fout = pfd * fb
            if fout > OUT_RANGE[1]:
                break
            for op in range(1, 129):
                vco = fout * op
                if VCO_RANGE[0] <= vco <= VCO_RANGE[1]:
                    err = abs(fout - f_out_mhz)
                    # prefer the smallest error, then a VCO near the middle of its range
                    rank = (round(err, 9), abs(vco - 600.0))
                    if best is None or rank < best[0]:
                        best = (rank, PllSetting(clki, fb, op, op - 1, f_in_mhz, fout, vco))
    if best is None or best[0][0] > tolerance * f_out_mhz:
        near = f" (closest: {best[1].f_out_mhz:g} MHz)" if best else ""
        raise InputError(f"no ECP5 PLL setting makes {f_out_mhz:g} MHz from {f_in_mhz:g} MHz within {tolerance:.0%}{near}",
                         "choose another implement.target_mhz")
    return best[1]
