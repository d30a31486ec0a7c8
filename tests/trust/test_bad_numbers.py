"""A value that cannot be right is an error naming the file and field, never a row."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from ohq_flow.errors import InputError, ReportParseError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
UTIL = FIX / "vivado-2024.2-spi-controller-artix7-placed-routed" / "base_utilization_synth.rpt"
FINN = FIX / "finn-v0.7-cybersecurity-mlp-estimates" / "report" / "estimate_layer_resources.json"


def _drop_column(text: str, name: str) -> str:
    """Remove the column headed ``name`` from every table of a Vivado report."""
    out, col = [], None
    for line in text.split("\n"):
        if line.startswith("+"):
            out.append(line if col is None else "+".join(p for i, p in enumerate(line.split("+")) if i != col))
            continue
        if not line.startswith("|"):
            col = None
            out.append(line)
            continue
        cells = line.split("|")
        if name in [c.strip() for c in cells]:
            col = [c.strip() for c in cells].index(name)
        out.append("|".join(c for i, c in enumerate(cells) if i != col) if col is not None else line)
    return "\n".join(out)


def test_utilisation_without_used_column_is_an_error(tmp_path):
    from ohq_flow.hw.reports import parse_report
    assert parse_report(UTIL)[0].lut == 283
    bad = tmp_path / UTIL.name
    bad.write_text(_drop_column(UTIL.read_text(), "Used"))
    assert "| Used |" not in bad.read_text() and "Slice LUTs" in bad.read_text()
    with pytest.raises(ReportParseError) as ei:
        parse_report(bad)
    assert str(bad) in str(ei.value) and "'Used' column" in str(ei.value)


@pytest.mark.parametrize("value", [-5, "-5", float("nan")])
def test_finn_negative_resources_are_errors(tmp_path, value):
    from ohq_flow.hw.reports import parse_report
    data = json.loads(FINN.read_text())
    layer = next(k for k in data if k != "total")
    data[layer]["LUT"] = value
    bad = tmp_path / FINN.name
    bad.write_text(json.dumps(data))
    with pytest.raises(ReportParseError) as ei:
        parse_report(bad)
    assert str(bad) in str(ei.value) and "lut" in str(ei.value)


@pytest.mark.parametrize("cell", ["-23914", "nan", "inf", "-inf", "1e999"])
def test_cost_table_refuses_impossible_costs(tmp_path, cell):
    from ohq_flow.hw.costs import read_costs
    path = tmp_path / "costs.csv"
    path.write_text(f"layer,w_bits,a_bits,lut,ff\nfc0,4,8,100,10\nfc1,4,8,{cell},10\n")
    with pytest.raises(InputError) as ei:
        read_costs(path)
    assert f"{path}:3" in str(ei.value) and "lut" in str(ei.value)


def test_cost_json_refuses_impossible_costs(tmp_path):
    from ohq_flow.hw.costs import read_costs_json
    path = tmp_path / "costs.json"
    path.write_text(json.dumps([{"layer": "fc", "w_bits": 4, "a_bits": 8, "lut": -1}]))
    with pytest.raises(InputError, match="lut=-1"):
        read_costs_json(path)


@pytest.mark.parametrize("col,cell", [("kl", "-4.77"), ("kl", "nan"), ("mse", "-1"), ("kl", "inf")])
def test_sensitivity_table_refuses_impossible_damage(tmp_path, col, cell):
    from ohq_flow.solve.sensitivity_table import read_sensitivity_rows
    path = tmp_path / "s.csv"
    vals = {"kl": "0.5", "mse": "0.1"}
    vals[col] = cell
    path.write_text(f"layer,w_bits,a_bits,kl,mse\nfc,4,8,0.1,0.2\nfc,2,8,{vals['kl']},{vals['mse']}\n")
    with pytest.raises(InputError) as ei:
        read_sensitivity_rows(path)
    assert f"{path}:3" in str(ei.value) and col in str(ei.value)


def test_yosys_zero_cells_for_a_layer_that_needs_adders_is_a_failure(tmp_path):
    import numpy as np
    from ohq_flow.errors import FlowError
    from ohq_flow.hw.measurers.yosys import check_not_empty
    from ohq_flow.hw.profile import LayerHW
    from ohq_flow.hw.rtl.yosys import YosysResult
    empty = YosysResult(0, 0, 0, 0, 0.0, 0, 1.0, {}, "0.0", 0.1, tmp_path / "y.log")
    layer = LayerHW("fc", "Gemm", np.array([[1, 2], [3, 0]]), 4, 8, True, 1, "xc7", "xc7z020clg400-1", 10.0, None)
    with pytest.raises(FlowError, match="no cells"):
        check_not_empty(empty, layer)
    wires = LayerHW("fc", "Gemm", np.array([[1, 0], [0, 1]]), 4, 8, True, 1, "xc7", "xc7z020clg400-1", 10.0, None)
    check_not_empty(empty, wires)              # each output is one input: no logic needed, no error


def test_layer_payload_is_plain_json_and_round_trips(digits_model):
    from ohq_flow.hw.profile import LayerHW
    from ohq_flow.model.layers import discover_layers
    import numpy as np
    model, _ = digits_model
    layer = discover_layers(model)[0]
    p = LayerHW(layer.name, layer.op_type, np.arange(6).reshape(2, 3), 4, 8, True, 4, "xc7", "p", 10.0, 5.0,
                extra={"layer": layer, "layer_onnx": b"\x00\x01", "io_type": "io_parallel"})
    text = json.dumps(p.to_json(), allow_nan=False)
    back = LayerHW.from_json(json.loads(text))
    assert back.extra["layer"] == layer and back.extra["layer_onnx"] == b"\x00\x01"
    assert np.array_equal(back.w_int, p.w_int) and back.pixels == 4
