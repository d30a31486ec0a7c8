"""Profiling at scale: per-group depthwise kernels, lazily built job payloads, time-boxed estimates."""

from __future__ import annotations

import io
import json
import tracemalloc

import numpy as np
import pytest

from ohq_flow.config import MeasurerRule, SearchSection
from ohq_flow.hw.extract import kernel_operand, layer_integer_matrix
from ohq_flow.hw.rtl.cmvm import conv_kernel_matrix, generate_cmvm_rtl, kernel_blocks
from ohq_flow.model.export import build_brevitas_model, export_brevitas
from ohq_flow.model.layers import discover_layers
from ohq_flow.search_space import search_space


def _export(root, tmp_path, fn: str, kwargs: dict, shape):
    module = build_brevitas_model(f"scale_models:{fn}", kwargs, None, [root / "tests" / "fixtures" / "models"])
    return export_brevitas(module, shape, tmp_path / f"{fn}_{'_'.join(map(str, kwargs.values()))}.onnx")


def _dense(blocks: np.ndarray) -> np.ndarray:
    g, r, c = blocks.shape
    out = np.zeros((g * r, g * c), dtype=blocks.dtype)
    for i in range(g):
        out[i * r:(i + 1) * r, i * c:(i + 1) * c] = blocks[i]
    return out


def test_depthwise_kernel_is_per_group_and_matches_block_diagonal(root, tmp_path):
    from ohq_flow.hw.profile import LayerHW
    model = _export(root, tmp_path, "depthwise", {"channels": 4}, (1, 4, 4, 4))
    dw = next(l for l in discover_layers(model) if l.op_type == "Conv" and l.groups > 1)
    assert dw.groups == 4
    blocks = kernel_operand(model, dw, 4)
    assert blocks.shape == (4, 9, 1)                          # 4 kernels of 9 taps, not a 36x4 matrix
    assert np.array_equal(_dense(blocks), layer_integer_matrix(model, dw, 4)[0])
    # the payload carries the blocks (compactly), and round-trips
    p = LayerHW(dw.name, "Conv", blocks, 4, 4, False, 16, "xc7", "p", 10.0, 5.0)
    back = LayerHW.from_json(json.loads(json.dumps(p.to_json())))
    assert np.array_equal(back.w_int, blocks)
    # the per-group adder graph computes exactly the block-diagonal product
    per_group = generate_cmvm_rtl(blocks, w_bits=4, a_bits=4, a_signed=False, out_dir=tmp_path / "g", latency_cutoff=None)
    dense = generate_cmvm_rtl(_dense(blocks), w_bits=4, a_bits=4, a_signed=False, out_dir=tmp_path / "d", latency_cutoff=None)
    assert (per_group.n_inputs, per_group.n_outputs) == (36, 4)
    x = np.random.default_rng(0).integers(0, 16, size=(16, 36))
    assert np.array_equal(per_group.predict(x), x @ _dense(blocks))
    assert np.array_equal(per_group.predict(x), dense.predict(x))
    assert per_group.da4ml_cost == dense.da4ml_cost


def test_kernel_blocks_orders_rows_like_the_im2col_matrix():
    w = np.arange(4 * 2 * 3 * 3).reshape(4, 2, 3, 3)          # C_out 4, groups 2, C_in/g 2
    assert np.array_equal(_dense(kernel_blocks(w, 2)), conv_kernel_matrix(w, 2))


def _plan_memory(model, layers, cfg, tmp_path) -> tuple[int, int, list]:
    """(bytes still held after planning, peak bytes while planning, jobs) of plan_jobs."""
    from ohq_flow.hw.profile import plan_jobs
    space = search_space(layers, SearchSection(weight_bits=[2, 4, 6, 8], act_bits=[4]))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    jobs = plan_jobs(model, layers, space, cfg, tmp_path / "oqa")
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held - base, peak - base, jobs


def test_planned_jobs_hold_no_kernels_memory_flat_in_layer_count(root, tmp_path, digits_cfg):
    cfg = digits_cfg.model_copy(deep=True)
    cfg.hardware.rules = [MeasurerRule(measurer="da4ml_estimate")]
    model = _export(root, tmp_path, "wide_mlp", {"n_layers": 3, "width": 128}, (1, 128))
    layers = discover_layers(model)
    held_s, peak_s, jobs_s = _plan_memory(model, layers[:1], cfg, tmp_path / "s")
    held_l, peak_l, jobs_l = _plan_memory(model, layers, cfg, tmp_path / "l")
    assert (len(jobs_s), len(jobs_l)) == (4, 12)
    one_payload = len(json.dumps(jobs_l[0].payload()))       # built on demand: a 128x128 kernel
    assert one_payload > 15_000
    # 8 more jobs hold, in total, less than one payload (eagerly built payloads would hold 8)
    assert held_l - held_s < one_payload
    assert peak_l < 1.5 * peak_s + one_payload


def test_runner_builds_payloads_only_as_jobs_are_submitted(tmp_path):
    from ohq_flow.hw.jobs import Job, run_jobs
    from tests.hw import jobfuncs
    events: list[tuple[str, int]] = []

    class Payload:
        def __init__(self, i):
            self.i = i

        def __call__(self):
            events.append(("built", self.i))
            return 1

    jobs = [Job(key=f"k{i}", layer=f"L{i}", w_bits=4, a_bits=4, fn=jobfuncs.ok_job, payload=Payload(i), timeout_s=30,
                workdir=tmp_path / f"j{i}") for i in range(6)]
    summary = run_jobs(jobs, cache=None, workers=1, progress=False,
                       on_result=lambda row: events.append(("done", int(row.layer[1:]))))
    assert summary.ok == 6
    for k, (kind, i) in enumerate(events):
        if kind == "built":                                  # window of 2 (= 2 x workers) jobs in flight
            assert i - sum(e[0] == "done" for e in events[:k]) <= 2


@pytest.mark.parametrize("tty", [False])
def test_progress_lines_off_a_terminal(tty):
    from ohq_flow.hw.progress import JobProgress
    out = io.StringIO()
    bar = JobProgress(40, stream=out, tty=tty, every_s=1e9, every_pct=25)
    for i in range(40):
        bar.update(1, cached=i < 4)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("cost jobs: 40/40 (100%) done, 4 cached, 0 failed")
    assert all("ETA" in ln and "RSS" in ln for ln in lines)


def test_estimate_past_its_time_box_becomes_a_labelled_analytic_row(digits_model, digits_cfg, tmp_path):
    from ohq_flow.hw.profile import run_profile
    model, _ = digits_model
    layers = discover_layers(model)
    cfg = digits_cfg.model_copy(deep=True)
    cfg.hardware.cache_dir = tmp_path / "cache"
    cfg.hardware.rules = [MeasurerRule(measurer="da4ml_estimate")]
    cfg.hardware.estimate_timeout_s = 0.001                  # no estimate can finish
    space = search_space(layers, SearchSection(weight_bits=[2, 6], act_bits=[8]))
    rows, summary = run_profile(model, layers, space, cfg, tmp_path / "run", progress=False)
    assert summary.ok == len(rows) == 2 * len(layers) and summary.timed_out == 0
    for r in rows:
        assert r.source == "analytic" and r.fidelity == "estimate" and r.ok
        assert r.error.startswith("fallback: da4ml_estimate timed out (time box 0.001 s)")
        assert r.ii_cycles is not None and r.lut > 0
    rows2, summary2 = run_profile(model, layers, space, cfg, tmp_path / "run2", progress=False)
    assert summary2.ran == 0 and summary2.cached == len(rows2)  # the fallback is cached, not waited for again
    assert [r.lut for r in rows2] == [r.lut for r in rows]
    cfg.hardware.estimate_timeout_s = 120.0                  # a longer box tries da4ml again
    from ohq_flow.hw.profile import _reuse_fallbacks, plan_jobs
    from ohq_flow.hw.cache import CostCache
    todo, reused = _reuse_fallbacks(plan_jobs(model, layers, space, cfg, tmp_path / "oqa3"), CostCache(cfg.hardware.cache_dir))
    assert len(todo) == len(rows) and not reused
