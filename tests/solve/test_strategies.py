"""Selection strategies: the registry, budgets never broken, HAQ seeds/resume, on-demand costs via the cache."""

from __future__ import annotations

import json
import random

import pytest

from ohq_flow.errors import ConfigError, InputError
from ohq_flow.hw.costs import CostRow, write_costs
from ohq_flow.solve import Candidate, Problem, Tie, totals_of
from ohq_flow.solve.ilp import within_budgets
from ohq_flow.solve.sensitivity_table import SensitivityRow, write_sensitivity
from ohq_flow.solve.strategies import NAMES, check_name, select, sweep

from tests.solve.test_ilp import random_problem

HAQ_FAST = {"episodes": 24, "batch": 8, "warmup": 8}
OPTIONS = {"haq": HAQ_FAST, "evolutionary": {"evaluations": 200}}


def damage_problem(n_layers: int = 4, seed: int = 0, frac: float = 0.45) -> Problem:
    rng = random.Random(seed)
    cands = {}
    for i in range(n_layers):
        n = rng.uniform(50, 500)
        cands[f"l{i}"] = [Candidate(w, a, rng.uniform(0.5, 2) * n * 2.0 ** -w * 2.0 ** (-a / 2),
                                    {"lut": n * w * a / 8 + rng.randint(0, 9), "latency_cycles": 10.0 + w})
                          for w in (2, 3, 4, 6, 8) for a in (4, 8)]
    full = sum(max(c.cost["lut"] for c in cs) for cs in cands.values())
    return Problem(cands, {"lut": frac * full})


def independent_check(p: Problem, sol, budgets) -> None:
    """The assignment fits every budget, tie and pin (checked without the strategies' own helpers)."""
    choice = sol.choices()
    assert set(choice) == set(p.candidates)
    tot = totals_of(p, choice)
    assert not within_budgets(p, tot, budgets), (sol.solver, tot, budgets)
    for tie in p.ties:
        assert len({choice[l][:2] if tie.same_w_bits else choice[l][1] for l in tie.layers}) == 1
    for layer, wa in p.pins.items():
        assert choice[layer][:2] == wa
    assert sol.totals == pytest.approx(tot)


# ----------------------------------------------------------------------------- registry
def test_registry_names_and_unknown_strategy():
    assert set(NAMES) >= {"ilp", "greedy", "evolutionary", "uniform", "haq"}
    with pytest.raises(InputError, match="unknown selection strategy 'haqq'.*did you mean 'haq'") as exc:
        check_name("haqq")
    assert "ilp, greedy, evolutionary, uniform, haq" in str(exc.value)
    with pytest.raises(InputError, match="one of: ilp"):
        select(damage_problem(), strategy="annealing")


def test_config_strategy_validated(digits_cfg):
    from ohq_flow.config import FlowConfig
    data = digits_cfg.model_dump(mode="json")
    data["solver"]["strategy"] = "greddy"
    with pytest.raises((ConfigError, ValueError), match="greddy.*did you mean 'greedy'"):
        FlowConfig.model_validate(data)
    data["solver"]["strategy"] = "haq"
    data["solver"]["haq"] = {"episodes": 10, "on_demand": True}
    cfg = FlowConfig.model_validate(data)
    assert cfg.solver.haq.episodes == 10 and cfg.solver.haq.on_demand


def test_heuristics_refuse_what_they_cannot_do():
    p = damage_problem()
    p.ties = [Tie(("l0", "l1"))]
    with pytest.raises(InputError, match="greedy does not support tied layers"):
        select(p, strategy="greedy")
    q = damage_problem().with_budgets({"damage": 5.0}, minimize="lut")
    for name in ("greedy", "evolutionary", "uniform", "haq"):
        with pytest.raises(InputError, match="reverse problem"):
            select(q, strategy=name)


# ----------------------------------------------------------------------------- budgets
@pytest.mark.parametrize("seed", range(12))
def test_no_strategy_returns_an_over_budget_policy(seed):
    p = random_problem(seed)          # ties, pins, dataflow II, several budgets; sometimes infeasible
    exact = select(p, strategy="ilp")
    for name in NAMES:
        if name == "greedy" and p.ties:
            continue
        sol = select(p, strategy=name, seed=seed, **OPTIONS.get(name, {}))
        if sol.assignment:
            independent_check(p, sol, p.budgets)
            assert exact.assignment and sol.totals["damage"] >= exact.objective - 1e-9
        else:
            assert sol.status in ("infeasible",) or name == "ilp"
            assert sol.diagnosis is not None


def test_strategies_on_one_problem_and_sweeps():
    p = damage_problem(5, 3)
    ilp = select(p, strategy="ilp")
    for name in NAMES:
        sol = select(p, strategy=name, seed=0, **OPTIONS.get(name, {}))
        independent_check(p, sol, p.budgets)
        assert sol.solver == (name if name != "ilp" else "cbc")
        assert sol.objective >= ilp.objective - 1e-9
    full = sum(max(c.cost["lut"] for c in cs) for cs in p.candidates.values())
    pts = sweep(p, "lut", [0.3 * full, 0.6 * full], strategy="greedy")
    assert [pt.budget for pt in pts] == [0.3 * full, 0.6 * full]
    assert all(pt.totals["lut"] <= pt.budget + 1e-6 for pt in pts)
    assert pts[1].objective <= pts[0].objective


def test_impossible_budget_is_infeasible_with_a_reason():
    p = damage_problem()
    for name in NAMES:
        sol = select(p, {"lut": 1.0}, strategy=name, **OPTIONS.get(name, {}))
        assert not sol.assignment and sol.status == "infeasible"
        assert sol.diagnosis.format()


# ----------------------------------------------------------------------------- HAQ
def test_haq_seeded_reproducible_and_folds():
    p = damage_problem(4, 1)
    a = select(p, strategy="haq", seed=3, **HAQ_FAST)
    b = select(p, strategy="haq", seed=3, **HAQ_FAST)
    assert a.choices() == b.choices() and a.strategy_info["best_reward"] == b.strategy_info["best_reward"]
    # a fold dimension: fast/slow versions of each candidate; HAQ picks folds and stays within both budgets
    cands = {l: [Candidate(c.w_bits, c.a_bits, c.damage, {"lut": c.cost["lut"] * k, "latency_cycles": 40.0 / k},
                           fold=f"pe{k}") for c in cs for k in (1, 2)] for l, cs in p.candidates.items()}
    budgets = {"lut": p.budgets["lut"], "latency_cycles": 4 * 30.0}
    q = Problem(cands, budgets)
    sol = select(q, strategy="haq", seed=0, **HAQ_FAST)
    independent_check(q, sol, budgets)
    assert set(sol.folds.values()) <= {"pe1", "pe2"}


def test_haq_resume_after_interruption_equals_an_uninterrupted_run(tmp_path):
    p = damage_problem(4, 2)
    whole = select(p, strategy="haq", seed=1, checkpoint=tmp_path / "a", **HAQ_FAST)

    def stop(episodes):
        if episodes >= 16:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        select(p, strategy="haq", seed=1, checkpoint=tmp_path / "b", on_batch=stop, **HAQ_FAST)
    resumed = select(p, strategy="haq", seed=1, checkpoint=tmp_path / "b", **HAQ_FAST)
    assert resumed.strategy_info["resumed_from_episode"] == 16
    assert resumed.choices() == whole.choices()
    assert resumed.strategy_info["best_reward"] == whole.strategy_info["best_reward"]
    # another budget (or seed) never picks up that checkpoint
    other = select(p, {"lut": p.budgets["lut"] * 0.9}, strategy="haq", seed=1, checkpoint=tmp_path / "b", **HAQ_FAST)
    assert other.strategy_info["resumed_from_episode"] == 0
    # a corrupt checkpoint is ignored, not trusted
    for f in (tmp_path / "b").glob("haq_*.pt"):
        f.write_bytes(b"garbage")
    again = select(p, strategy="haq", seed=1, checkpoint=tmp_path / "b", **HAQ_FAST)
    assert again.strategy_info["resumed_from_episode"] == 0 and again.choices() == whole.choices()


def test_haq_custom_reward_hook():
    p = damage_problem(3, 4)
    seen = []

    def reward(asg):                       # e.g. validation accuracy: here, prefer 8-bit activations everywhere
        seen.append(asg)
        return sum(a for _, a in asg.values())

    sol = select(p, {"lut": 1e9}, strategy="haq", seed=0, reward=reward, **HAQ_FAST)
    assert seen and all(set(a) == set(p.candidates) for a in seen)
    assert all(a == 8 for _, a in sol.assignment.values())


# ----------------------------------------------------------------------------- on demand, real measurer
def _last_layer_setup(digits_model, digits_cfg, tmp_path):
    from ohq_flow.config import MeasurerRule, SearchSection
    from ohq_flow.model.layers import discover_layers
    model, _ = digits_model
    last = discover_layers(model)[-1:]
    cfg = digits_cfg.model_copy(deep=True)
    cfg.hardware.cache_dir = tmp_path / "cache"
    cfg.hardware.rules = [MeasurerRule(measurer="da4ml_estimate")]
    cfg.hardware.workers = 2
    cfg.search = SearchSection(weight_bits=[2, 3, 4, 6, 8], act_bits=[4, 8])
    sens = tmp_path / "sensitivity.csv"
    write_sensitivity([SensitivityRow(last[0].name, w, a, kl=2.0 ** -w + 2.0 ** -a) for w in (2, 3, 4, 6, 8)
                       for a in (4, 8)], sens)
    return model, last, cfg, sens


def test_haq_on_demand_measures_through_the_cache(digits_model, digits_cfg, tmp_path):
    from ohq_flow.solve.step import solve_run
    model, last, cfg, sens = _last_layer_setup(digits_model, digits_cfg, tmp_path)
    opts = {"episodes": 8, "batch": 4, "warmup": 4}
    kw = dict(budgets={"lut": 1200.0}, board=None, layers=last, strategy="haq", seed=0, options=opts,
              on_demand=(model, cfg))
    (tmp_path / "r1").mkdir()
    first = solve_run(sens, None, tmp_path / "r1", **kw)
    rec1 = json.loads((tmp_path / "r1" / "solution.json").read_text())
    info1 = rec1["strategy_info"]
    assert rec1["strategy"] == "haq" and info1["costs"] == "on_demand" and info1["table_size"] == 10
    assert 0 < info1["measured"] and info1["ran"] == info1["measured"] - info1["cached"]
    assert info1["ran"] > 0 and info1["failed"] == 0
    rows = (tmp_path / "r1" / "costs_on_demand.csv").read_text().splitlines()
    assert len(rows) == 1 + info1["measured"]
    assert first.totals["lut"] <= 1200.0 and first.assignment
    (tmp_path / "r2").mkdir()
    solve_run(sens, None, tmp_path / "r2", **kw)
    info2 = json.loads((tmp_path / "r2" / "solution.json").read_text())["strategy_info"]
    assert info2["ran"] == 0 and info2["cached"] == info2["measured"] == info1["measured"]
    assert json.loads((tmp_path / "r2" / "solution.json").read_text())["assignment"] == rec1["assignment"]


def test_solve_run_with_a_strategy_writes_it(tmp_path):
    p = damage_problem(3, 5)
    write_sensitivity([SensitivityRow(l, c.w_bits, c.a_bits, kl=c.damage) for l, cs in p.candidates.items()
                       for c in cs], tmp_path / "s.csv")
    write_costs([CostRow(l, c.w_bits, c.a_bits, lut=c.cost["lut"], latency_cycles=c.cost["latency_cycles"])
                 for l, cs in p.candidates.items() for c in cs], tmp_path / "c.csv")
    from ohq_flow.solve.step import solve_run
    sol = solve_run(tmp_path / "s.csv", tmp_path / "c.csv", tmp_path, budgets=dict(p.budgets), board=None,
                    strategy="greedy", sweeps=["lut=500:2000:3"])
    rec = json.loads((tmp_path / "solution.json").read_text())
    assert rec["strategy"] == "greedy" and rec["solver"] == "greedy" and sol.totals["lut"] <= p.budgets["lut"]
    assert "optimality is not proven" in (tmp_path / "solution.txt").read_text()
    assert "time limit" not in (tmp_path / "solution.txt").read_text()
    pareto = (tmp_path / "pareto.csv").read_text().splitlines()
    assert sum(line.startswith("sweep,") for line in pareto) == 3


def test_cli_strategy_option(tmp_path):
    import subprocess
    import sys
    p = damage_problem(3, 6)
    write_sensitivity([SensitivityRow(l, c.w_bits, c.a_bits, kl=c.damage) for l, cs in p.candidates.items()
                       for c in cs], tmp_path / "s.csv")
    write_costs([CostRow(l, c.w_bits, c.a_bits, lut=c.cost["lut"]) for l, cs in p.candidates.items() for c in cs],
                tmp_path / "c.csv")
    base = [sys.executable, "-m", "ohq_flow", "solve", "--sensitivity", tmp_path / "s.csv", "--costs", tmp_path / "c.csv",
            "--budget", f"lut={p.budgets['lut']}", "--out", tmp_path]
    bad = subprocess.run([*map(str, base), "--strategy", "simulated_annealing"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "ilp, greedy, evolutionary, uniform, haq" in bad.stderr
    ok = subprocess.run([*map(str, base), "--strategy", "uniform", "--json"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    sol = json.loads(ok.stdout)
    assert sol["solver"] == "uniform" and len({(v["w_bits"], v["a_bits"]) for v in sol["assignment"].values()}) == 1
    assert sol["totals"]["lut"] <= p.budgets["lut"]
