"""A large window's line buffer synthesises in bounded memory: a copy per window position (one read port each).
Yosys' memory_libmap searches every assignment of one memory's read ports to RAM ports, exponential in their
number: a 5x5 window's line buffer as one 25-read-port memory passed 3.7 GB within 7 s (ECP5)."""

from __future__ import annotations

import re
import shutil

import pytest

from ohq_flow.design.price import lutram_line_buffer
from ohq_flow.hw import memlimit
from ohq_flow.hw.rtl.yosys import measure_yosys
from ohq_flow.resources import TEMPLATES

pytestmark = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")

# a 5x5 convolution window (padding 2) over a 16x16, 8-channel, 8-bit feature map: 8 rows of 16 pixels, 64 bits each
TOP = """module win_top(input wire clk, input wire rst, input wire [63:0] s_tdata, input wire s_tvalid,
  output wire s_tready, output wire [1599:0] m_tdata, output wire m_tvalid, input wire m_tready);
  ohq_window #(.C(8), .EW(8), .H(16), .W(16), .KH(5), .KW(5), .SH(1), .SW(1), .PT(2), .PL(2), .OH(16), .OW(16),
    .R(8), .RB(3), .PADV(0)) u (.clk(clk), .rst(rst), .s_tdata(s_tdata), .s_tvalid(s_tvalid), .s_tready(s_tready),
    .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));
endmodule
"""


def test_5x5_window_line_buffer_maps_within_a_small_memory_bound(tmp_path):
    top = tmp_path / "win_top.v"
    top.write_text(TOP)
    memlimit.set_limit_gb(0.5)       # measured ~65 MB
    try:
        r = measure_yosys([top, TEMPLATES / "rtl" / "ohq_window.v"], "win_top", family="ecp5", work_dir=tmp_path / "y",
                          timeout_s=600)
    finally:
        memlimit.set_limit_gb(None)
    log = r.log_path.read_text()
    assert len(re.findall(r"mapping memory win_top\.u\.g_kh\[\d\]\.g_kw\[\d\]\.g_copy\.lbuf_copy via", log)) == 25
    assert "mapping memory win_top.u.lbuf " not in log          # the shared one is not built
    # 128 words of 64 bits: block RAM by the price list's rule; a copy per read port, two 36-bit PDPW16KD each
    assert not lutram_line_buffer(8 * 16, 64, "ecp5")
    assert r.bram18 == 25 * 2 and r.lutram == 0
