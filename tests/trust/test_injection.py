"""Nothing from a board file, a config or a path reaches a tool script as code."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from ohq_flow.boards import load_board_file, resolve_board
from ohq_flow.config import parse_config
from ohq_flow.errors import ConfigError, InputError

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")


def _board(tmp_path, **change):
    data = resolve_board("pynq-z2").model_dump(exclude={"file"})
    data.update(change)
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("field,value", [
    ("yosys_family", "xc7\n!id > F #"), ("yosys_family", "xc7; shell id"), ("yosys_family", "xc7 -run x"),
    ("part", "xc7z020 {$x}"), ("part", "xc7z020\nexec id"), ("part", "[exec id]"), ("family", "Zynq\nexec id"),
])
def test_board_fields_that_could_reach_a_script_are_allow_listed(tmp_path, field, value):
    with pytest.raises(InputError) as ei:
        load_board_file(_board(tmp_path, **{field: value}))
    assert field in str(ei.value) and "board.yaml" in str(ei.value)


def test_catalog_boards_pass_the_allow_list():
    from ohq_flow.boards import catalog
    assert len(catalog()) >= 10


@pytest.mark.parametrize("key", ["output_dir", "hardware.cache_dir"])
def test_paths_with_control_characters_are_refused(tmp_path, key):
    data = {"model": {"qonnx": None}, "board": "pynq-z2"}
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    data["model"]["qonnx"] = str(onnx)
    value = str(tmp_path / "runs\n!id > F #")
    if key == "output_dir":
        data["output_dir"] = value
    else:
        data["hardware"] = {"cache_dir": value}
    with pytest.raises(ConfigError) as ei:
        parse_config(data, base_dir=tmp_path)
    assert key in str(ei.value) and "control characters" in str(ei.value)


def test_tcl_values_refuse_control_characters():
    from ohq_flow.hw.measurers.xilinx._common import tcl_value
    assert tcl_value("/a dir/with space.v") == "{/a dir/with space.v}"
    for bad in ("a\nb", "a\x00b", "a\tb", "a}b", "a$b", "[exec id]"):
        with pytest.raises(InputError):
            tcl_value(bad)


@needs_yosys
def test_yosys_reads_paths_verbatim_and_refuses_script_words(tmp_path):
    """A work directory and sources with a space, '#' and ';' in their paths synthesise; a family
    or top that is not a plain word never reaches the script."""
    from ohq_flow.hw.rtl.cmvm import generate_cmvm_rtl
    from ohq_flow.hw.rtl.yosys import measure_yosys
    root = tmp_path / "my run #1; x"
    w = np.array([[1, -2, 3], [2, 1, -1]])
    d = generate_cmvm_rtl(w, w_bits=3, a_bits=4, a_signed=True, out_dir=root / "rtl dir", latency_cutoff=None)
    odd = root / "rtl dir" / "my kernel #;.v"
    srcs = [s for s in d.sources if "wrapper" not in s.name]
    shutil.copyfile(srcs[0], odd)
    res = measure_yosys([odd] + srcs[1:], d.top, family="xc7", work_dir=root / "yosys out", timeout_s=120)
    assert res.lut > 0
    for family, top in (("xc7\n!touch PWNED #", d.top), ("xc7", "top; !touch PWNED")):
        with pytest.raises(InputError):
            measure_yosys(srcs, top, family=family, work_dir=tmp_path / "y2", timeout_s=60)
    assert not list(tmp_path.rglob("PWNED"))
