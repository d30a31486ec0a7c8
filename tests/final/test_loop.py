"""The closed budget loop (final/loop.py) and the verdict (final/verdict.py) on real configs, no tools needed."""

from __future__ import annotations

import json

import yaml

from ohq_flow.config import load_config
from ohq_flow.final.loop import LOOP_JSON, close_round, format_rounds, read_loop, solve_overrides
from ohq_flow.final.verdict import verdict


def _cfg(tmp_path, **implement):
    (tmp_path / "m.onnx").write_bytes(b"x")
    data = {"name": "t", "model": {"qonnx": "m.onnx"}, "board": "ulx3s-85f", "budgets": {"lut": 10000},
            "implement": {"enabled": True, **implement}, "output_dir": str(tmp_path / "run")}
    p = tmp_path / "flow.yaml"
    p.write_text(yaml.safe_dump(data))
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    return load_config(p), run


def _solution(lut: float, bits: int = 4) -> dict:
    return {"assignment": {"L0": {"w_bits": bits, "a_bits": 4, "fold": ""}}, "budgets": {"lut": 10000.0},
            "totals": {"lut": lut, "ff": 100.0, "dsp": 0.0, "bram18": 0.0, "latency_cycles": 10, "ii_cycles": 5}}


def _impl(lut4: int) -> dict:
    return {"status": "ok", "lut4": lut4, "ff": 120, "mult18": 0, "dp16kd": 0}


def _build(lut: int) -> dict:
    return {"design": {"measured": {"lut": lut, "ff": 110, "dsp": 0, "bram18": 0},
                       "network_sim": {"latency_cycles": 10, "ii_cycles": 5}}}


def test_a_miss_within_tolerance_is_solved_again_with_a_scaled_budget_and_a_cut(tmp_path):
    cfg, run = _cfg(tmp_path)
    sol = _solution(9900.0)
    v = verdict(cfg, sol, _build(7000), _impl(10300))          # 3% over: within the 5% tolerance, still a miss
    rows = {r["metric"]: r for r in v["rows"]}
    assert v["over"] == [] and rows["lut"]["within"] is False and rows["lut"]["final_from"] == "post-route"
    doc, again = close_round(cfg, run, sol, v)
    assert again
    budgets, exclude = solve_overrides(cfg, run)
    assert abs(budgets["lut"] - 10000 * 9900 / 10300 * 0.98) < 1e-6
    assert exclude == [{"L0": (4, 4, "")}]
    assert "within tolerance" in format_rounds(doc)


def test_a_design_within_budget_ends_the_loop_and_max_rounds_bounds_it(tmp_path):
    cfg, run = _cfg(tmp_path, max_rounds=2)
    doc, again = close_round(cfg, run, _solution(9900.0), verdict(cfg, _solution(9900.0), _build(7000), _impl(9800)))
    assert not again and solve_overrides(cfg, run) == ({}, [])   # and the finished loop's record is gone
    v = verdict(cfg, _solution(9900.0), _build(7000), _impl(15000))
    assert v["over"] == ["lut"]                                   # 50% over: a failure once the loop is done
    _, again = close_round(cfg, run, _solution(9900.0), v)
    assert again
    _, again = close_round(cfg, run, _solution(9000.0, bits=3), v)
    assert not again                                              # two implementations: max_rounds reached
    assert len(json.loads((run / LOOP_JSON).read_text())["rounds"]) == 2


def test_the_loop_record_is_not_reused_for_other_inputs(tmp_path):
    cfg, run = _cfg(tmp_path)
    close_round(cfg, run, _solution(9900.0), verdict(cfg, _solution(9900.0), _build(7000), _impl(12000)))
    assert read_loop(cfg, run)["rounds"]
    cfg2, _ = _cfg(tmp_path, seed=7)                               # another implement section: another loop
    assert read_loop(cfg2, run)["rounds"] == []


def test_close_loop_off_never_solves_again(tmp_path):
    cfg, run = _cfg(tmp_path, close_loop=False)
    _, again = close_round(cfg, run, _solution(9900.0), verdict(cfg, _solution(9900.0), _build(7000), _impl(15000)))
    assert not again


def test_a_solve_outside_a_loop_round_starts_a_new_loop(tmp_path):
    cfg, run = _cfg(tmp_path)
    close_round(cfg, run, _solution(9900.0), verdict(cfg, _solution(9900.0), _build(7000), _impl(9000)))
    assert (run / LOOP_JSON).is_file()                            # finished: no next round
    assert solve_overrides(cfg, run) == ({}, [])                   # the next run's solve: a fresh loop
    assert not (run / LOOP_JSON).exists()
