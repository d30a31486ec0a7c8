"""Bad input gives a clear error and exit 2 (never 'unexpected X'); nothing unbounded is read."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, capsys=None) -> tuple[int, str]:
    from ohq_flow.cli import main
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr() if capsys else None
    return code, (out.out + out.err) if out else ""


def _config(tmp_path: Path, **change) -> Path:
    (tmp_path / "m.onnx").write_bytes(b"x")
    data = {"model": {"qonnx": "m.onnx"}, "board": "pynq-z2", "output_dir": "run"}
    data.update(change)
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("args,text", [(["bogus"], "No such command"), (["validate"], "Missing argument"),
                                       (["validate", "--nope", "x"], "No such option")])
def test_usage_errors_exit_2(args, text, capsys):
    code, out = _cli(*args, capsys=capsys)
    assert code == 2 and text in out and "unexpected" not in out


def test_flags_show_no_value_in_help(capsys):
    code, text = _cli("--help", capsys=capsys)
    line = next(l for l in text.splitlines() if "--debug" in l)
    assert "<bool>" not in line


@pytest.mark.parametrize("value", [".nan", ".inf", "'0%'", "'150%'", "true", "-3", "'-5%'"])
def test_impossible_budgets_fail_validate(tmp_path, value, capsys):
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text() + f"budgets:\n  lut: {value}\n")
    code, out = _cli("validate", cfg, capsys=capsys)
    assert code == 2 and "budgets.lut" in out


def test_budget_option_is_validated(tmp_path, capsys):
    sens, costs = tmp_path / "s.csv", tmp_path / "c.csv"
    sens.write_text("layer,w_bits,a_bits,kl\nfc,4,8,0.1\n")
    costs.write_text("layer,w_bits,a_bits,lut\nfc,4,8,10\n")
    code, out = _cli("solve", "--sensitivity", sens, "--costs", costs, "--budget", "lut=nan", capsys=capsys)
    assert code == 2 and "budgets.lut" in out


def test_non_utf8_config(tmp_path, capsys):
    cfg = _config(tmp_path)
    cfg.write_bytes(cfg.read_bytes() + b"# caf\xe9\n")
    code, out = _cli("validate", cfg, capsys=capsys)
    assert code == 2 and "not UTF-8" in out and "unexpected" not in out


def test_config_or_board_that_is_a_directory(tmp_path, capsys):
    (tmp_path / "cfgdir").mkdir()
    code, out = _cli("validate", tmp_path / "cfgdir", capsys=capsys)
    assert code == 2 and "unexpected" not in out
    (tmp_path / "board.yaml").mkdir()
    code, out = _cli("validate", _config(tmp_path, board="board.yaml"), capsys=capsys)
    assert code == 2 and "is a directory" in out


def test_output_dir_that_cannot_be_written(tmp_path, capsys):
    (tmp_path / "run").write_text("a file, not a directory")
    code, out = _cli("layers", _config(tmp_path), capsys=capsys)
    assert code == 2 and "output directory" in out and "unexpected" not in out


def test_yaml_alias_bomb_is_refused(tmp_path, capsys):
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text() + "\n".join(bomb) + "\n")
    code, out = _cli("validate", cfg, capsys=capsys)
    assert code == 2 and "alias" in out


@pytest.mark.parametrize("kind", ["dev_zero", "huge", "directory_as_file"])
def test_parse_report_refuses_unbounded_input(tmp_path, kind, capsys):
    path = tmp_path / "util.rpt"
    if kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        with open(path, "wb") as fh:
            fh.write(b"report_utilization\n")
            fh.truncate(200 << 20)                   # sparse: no disk used, 200 MB apparent
    else:
        from ohq_flow.hw.reports._text import read_text
        from ohq_flow.errors import ReportParseError
        path.mkdir()
        with pytest.raises(ReportParseError, match="not a regular file"):
            read_text(path)
        return
    code, out = _cli("parse-report", path, capsys=capsys)
    assert code == 2 and ("not a regular file" in out or "limit" in out)


def test_hanging_yosys_version_times_out_without_orphans(tmp_path):
    from ohq_flow.errors import FlowError
    from ohq_flow.hw.rtl.yosys import yosys_version
    fake = tmp_path / "yosys"
    pid_file = tmp_path / "child.pid"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nwait\n")
    fake.chmod(0o755)
    with pytest.raises(FlowError, match="did not answer"):
        yosys_version(str(fake), timeout_s=2.0)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail("the hanging tool's child outlived the timeout")
