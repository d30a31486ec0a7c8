"""Strategy ``haq``: a DDPG actor-critic walks the layers and picks one candidate per layer (HAQ).

Per layer the agent sees a state (layer index, op type, log parameters, log MACs, its number
of bit choices, the previous action, the budget share used so far by the layers before and the
least share the layers after must still take) and emits a continuous action in [0, 1]^d:
weight bits, activation bits and, when the problem has folds, the fold (ordered from the slowest
to the fastest). The action picks the nearest candidate (tie-compatible with the layers before).
The budget is then enforced as in the HAQ paper: bits are lowered one step at a time (each step
the one adding the least damage per budget share freed) until the policy fits. Reward: minus the
summed damage of the sensitivity table, normalised by its worst case (or ``reward(assignment)``,
e.g. validation accuracy after a short fine-tune). DDPG with target networks, a replay buffer, truncated Gaussian exploration
whose width decays per episode, random actions for the warm-up episodes, and a moving-average
reward baseline.

Hardware feedback: with :class:`~ohq_flow.solve.strategies.costs.OnDemandCosts` the costs of the
candidates of the policies of an episode batch that could beat the best policy so far are measured
together (parallel jobs, cached); unmeasured costs are estimated from measured neighbours to steer
the bit lowering and to train on the other policies, and a policy is returned only once all its
candidates are measured and it fits.

Checkpoint (``checkpoint`` = a directory): after each episode batch, atomically, the agent,
optimisers, replay buffer, random state, best policy and measured candidates, in a file named
by a hash of the problem, the budgets, the cost source, the seed and the settings (not the
episode count): a stale checkpoint is never used, and a longer run continues a shorter one.
The same seed gives the same result, interrupted and resumed or not.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ohq_flow.errors import InputError
from ohq_flow.fileio import atomic_write_bytes, sha256_json
from ohq_flow.solve.ilp import Solution
from ohq_flow.solve.problem import Candidate, Problem
from ohq_flow.solve.strategies.base import (Choice, allowed, finish, impossible, metric_value, summed_metrics,
                                            tie_compatible, unsupported, violations)
from ohq_flow.solve.strategies.costs import TableCosts

_RESOURCES = ("lut", "ff", "dsp", "bram18", "uram")
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class HAQSettings:
    """Search settings (all but ``episodes`` are part of the checkpoint key)."""

    episodes: int = 300
    batch: int = 8               # episodes whose policies are measured together
    warmup: int = 32             # episodes with uniformly random actions
    hidden: int = 64
    lr_actor: float = 1e-3
    lr_critic: float = 2e-3
    gamma: float = 1.0
    tau: float = 0.01
    sigma: float = 0.5           # exploration noise after the warm-up, decayed per episode
    sigma_decay: float = 0.98
    sigma_min: float = 0.05
    replay: int = 4000           # transitions kept
    minibatch: int = 64
    updates_per_episode: int = 2
    baseline_decay: float = 0.95
    max_rounds: int = 8          # measure-and-lower rounds per batch (on demand)
    measure_top: int = 2         # policies measured per round (on demand): the best-rewarded that could win

    def __post_init__(self) -> None:
        for name in ("episodes", "batch", "hidden", "replay", "minibatch", "max_rounds", "measure_top"):
            if getattr(self, name) < 1:
                raise InputError(f"haq {name}={getattr(self, name)} must be >= 1")
        if self.warmup < 0 or self.updates_per_episode < 0:
            raise InputError("haq warmup and updates_per_episode must be >= 0")


# ----------------------------------------------------------------------------- costs the agent sees
class _Estimator:
    """Per-candidate metric values: measured ones exact; unmeasured ones from the nearest measured
    candidate of the layer (resources scaled by w·a), else from the cost per bop of other layers."""

    def __init__(self, problem: Problem, source):
        self.problem, self.source = problem, source
        self._memo: dict = {}
        self._version = -1

    def value(self, layer: str, c: Candidate, metric: str) -> float:
        if self.source.known(layer, c):
            v = metric_value(self.problem, c, metric)
            return math.inf if v is None else v
        version = len(getattr(self.source, "rows", ()))   # estimates change only when something is measured
        if version != self._version:
            self._memo, self._version = {}, version
        key = (layer, c.key, metric)
        if key not in self._memo:
            self._memo[key] = self._estimate(layer, c, metric)
        return self._memo[key]

    def _estimate(self, layer: str, c: Candidate, metric: str) -> float:
        mine = [o for o in self.problem.candidates[layer] if self.source.known(layer, o)
                and metric_value(self.problem, o, metric) is not None]
        if mine:
            near = min(mine, key=lambda o: (abs(math.log2(o.w_bits / c.w_bits)) + abs(math.log2(o.a_bits / c.a_bits)),
                                            o.key))
            v = metric_value(self.problem, near, metric)
            return v * (c.w_bits * c.a_bits) / (near.w_bits * near.a_bits) if metric in _RESOURCES else v
        num = den = 0.0
        for l, cs in self.problem.candidates.items():
            for o in cs:
                v, b = metric_value(self.problem, o, metric), o.cost.get("bops")
                if self.source.known(l, o) and v is not None and b:
                    num, den = num + v, den + b
        b = c.cost.get("bops")
        return num / den * b if den and b else 0.0

    def over(self, choice: Choice, budgets: Mapping[str, float]) -> list[str]:
        """Broken budgets: exact when every chosen candidate is measured, else estimated."""
        chosen = {l: self.problem.candidate(l, k) for l, k in choice.items()}
        if all(self.source.known(l, c) for l, c in chosen.items()):
            return violations(self.problem, choice, budgets)
        out = []
        for m, limit in budgets.items():
            vals = [self.value(l, c, m) for l, c in chosen.items()]
            total = max(vals) if m == "ii_cycles" else sum(vals)
            if total > limit * (1 + 1e-6) + 1e-6:
                out.append(m)
        return out

    def share(self, layer: str, c: Candidate, budgets: Mapping[str, float], metrics) -> float:
        return sum(self.value(layer, c, m) / max(budgets[m], 1e-9) for m in metrics) / max(1, len(metrics))


# ----------------------------------------------------------------------------- the agent
def _mlp(torch, n_in: int, hidden: int, n_out: int, out_act=None):
    layers = [torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
              torch.nn.Linear(hidden, n_out)]
    return torch.nn.Sequential(*layers, *([out_act] if out_act is not None else []))


class _Adam:
    """Adam (Kingma & Ba), enough for two small MLPs (torch.optim would import torch._dynamo: ~20 s)."""

    def __init__(self, torch, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.torch, self.params, self.lr, self.betas, self.eps = torch, list(params), lr, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        torch, (b1, b2) = self.torch, self.betas
        self.t += 1
        with torch.no_grad():
            grads = [p.grad for p in self.params]
            torch._foreach_mul_(self.m, b1)
            torch._foreach_add_(self.m, grads, alpha=1 - b1)
            torch._foreach_mul_(self.v, b2)
            torch._foreach_addcmul_(self.v, grads, grads, value=1 - b2)
            denom = torch._foreach_sqrt(self.v)
            torch._foreach_div_(denom, math.sqrt(1 - b2 ** self.t))
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(self.params, self.m, denom, value=-self.lr / (1 - b1 ** self.t))

    def state_dict(self) -> dict:
        return {"m": [x.clone() for x in self.m], "v": [x.clone() for x in self.v], "t": self.t}

    def load_state_dict(self, d: dict) -> None:
        self.m, self.v, self.t = [x.clone() for x in d["m"]], [x.clone() for x in d["v"]], int(d["t"])


class _Agent:
    """DDPG: actor s -> a in [0,1]^d, critic (s, a) -> Q, soft-updated target copies."""

    def __init__(self, torch, n_state: int, n_action: int, s: HAQSettings, seed: int):
        import copy
        self.torch, self.s = torch, s
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.actor = _mlp(torch, n_state, s.hidden, n_action, torch.nn.Sigmoid())
            self.critic = _mlp(torch, n_state + n_action, s.hidden, 1)
        self.actor_t, self.critic_t = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.opt_a = _Adam(torch, self.actor.parameters(), s.lr_actor)
        self.opt_c = _Adam(torch, self.critic.parameters(), s.lr_critic)

    def act(self, state: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.actor(self.torch.as_tensor(state, dtype=self.torch.float32)[None])[0].numpy().astype(np.float64)

    def update(self, batch) -> None:
        torch = self.torch
        st, ac, rw, nx, done = (torch.as_tensor(x, dtype=torch.float32) for x in batch)
        with torch.no_grad():
            q_next = self.critic_t(torch.cat([nx, self.actor_t(nx)], 1))[:, 0]
            target = rw + self.s.gamma * (1.0 - done) * q_next
        q = self.critic(torch.cat([st, ac], 1))[:, 0]
        loss_c = torch.nn.functional.mse_loss(q, target)
        self.opt_c.zero_grad()
        loss_c.backward()
        self.opt_c.step()
        loss_a = -self.critic(torch.cat([st, self.actor(st)], 1)).mean()
        self.opt_a.zero_grad()
        loss_a.backward()
        self.opt_a.step()
        with torch.no_grad():
            for net, tgt in ((self.actor, self.actor_t), (self.critic, self.critic_t)):
                torch._foreach_lerp_(list(tgt.parameters()), list(net.parameters()), self.s.tau)

    def state_dict(self) -> dict:
        return {n: getattr(self, n).state_dict() for n in ("actor", "critic", "actor_t", "critic_t", "opt_a", "opt_c")}

    def load_state_dict(self, d: dict) -> None:
        for n, v in d.items():
            getattr(self, n).load_state_dict(v)


# ----------------------------------------------------------------------------- the search
class _Search:
    def __init__(self, problem: Problem, budgets: Mapping[str, float], s: HAQSettings, seed: int, source,
                 reward: Callable | None, layer_info: Mapping | None):
        import torch
        self.torch, self.problem, self.budgets, self.s, self.seed = torch, problem, dict(budgets), s, seed
        self.source, self.reward_fn = source, reward
        self.est = _Estimator(problem, source)
        self.metrics = [m for m in summed_metrics(budgets)] + (["ii_cycles"] if "ii_cycles" in budgets else [])
        table_mode = isinstance(source, TableCosts)
        self.cands = allowed(problem, budgets) if table_mode else {
            l: [c for c in cs if l not in problem.pins or c.bits == problem.pins[l]] for l, cs in problem.candidates.items()}
        self.layers = list(self.cands)
        self.problem = problem
        self.wv = {l: sorted({c.w_bits for c in cs}) for l, cs in self.cands.items()}
        self.av = {l: sorted({c.a_bits for c in cs}) for l, cs in self.cands.items()}
        self.folds = problem.has_folds
        self.n_action = 3 if self.folds else 2
        self.features = self._features(layer_info or {})
        self.n_state = self.features.shape[1] + self.n_action + 2
        self.worst = sum(max((c.damage for c in cs), default=0.0) for cs in self.cands.values()) or 1.0
        self.agent = _Agent(torch, self.n_state, self.n_action, s, seed)
        self.rng = np.random.default_rng(seed)
        self.replay = np.zeros((s.replay, 2 * self.n_state + self.n_action + 2), dtype=np.float64)
        self.n_replay = self.episode = 0
        self.sigma, self.baseline = s.sigma, None
        self.best: tuple[float, Choice] | None = None
        self.history: list[float] = []
        self._rmemo: dict[tuple, float] = {}

    # -- state
    def _features(self, info: Mapping) -> np.ndarray:
        rows = []
        n = len(self.layers)
        for i, l in enumerate(self.layers):
            meta = info.get(l) or {}
            c0 = (self.cands[l] or self.problem.candidates[l])[0]
            params = meta.get("params")
            if params is None and c0.cost.get("weight_bits") is not None:
                params = c0.cost["weight_bits"] / c0.w_bits
            macs = meta.get("macs")
            if macs is None and c0.cost.get("bops") is not None:
                macs = c0.cost["bops"] / (c0.w_bits * c0.a_bits)
            op = str(meta.get("op_type", ""))
            rows.append([i / max(1, n - 1), float(op == "Conv"), float(op in ("Gemm", "MatMul")),
                         math.log10(1 + (params or 0)), math.log10(1 + (macs or 0)),
                         len(self.wv[l]) / 8.0, len(self.av[l]) / 8.0])
        f = np.array(rows, dtype=np.float64)
        for j in (3, 4):
            f[:, j] /= max(1e-9, f[:, j].max())
        return f

    def _state(self, i: int, prev: np.ndarray, choice: Choice) -> np.ndarray:
        used = sum(self.est.share(l, self.problem.candidate(l, choice[l]), self.budgets, self.metrics)
                   for l in self.layers[:i]) if self.metrics else 0.0
        rest = sum(min(self.est.share(l, c, self.budgets, self.metrics) for c in self.cands[l])
                   for l in self.layers[i:]) if self.metrics else 0.0
        return np.concatenate([self.features[i], prev, [min(used, 4.0), min(rest, 4.0)]])

    # -- actions <-> candidates
    def _pick(self, layer: str, action: np.ndarray, choice: Choice) -> Candidate:
        cs = tie_compatible(self.problem, layer, self.cands[layer], choice) or self.cands[layer]
        W, A = self.wv[layer], self.av[layer]
        tw = min(int(action[0] * len(W)), len(W) - 1)
        ta = min(int(action[1] * len(A)), len(A) - 1)
        dist = min(abs(W.index(c.w_bits) - tw) + abs(A.index(c.a_bits) - ta) for c in cs)
        near = [c for c in cs if abs(W.index(c.w_bits) - tw) + abs(A.index(c.a_bits) - ta) == dist]
        near.sort(key=lambda c: (c.w_bits, c.a_bits, -(c.cost.get("latency_cycles") or 0.0), c.fold))
        if not self.folds:
            return near[0]
        bits = near[0].bits
        group = [c for c in near if c.bits == bits]
        return group[min(int(action[2] * len(group)), len(group) - 1)]

    def _action_of(self, layer: str, c: Candidate) -> np.ndarray:
        W, A = self.wv[layer], self.av[layer]
        a = [(W.index(c.w_bits) + 0.5) / len(W), (A.index(c.a_bits) + 0.5) / len(A)]
        if self.folds:
            group = sorted((o for o in self.cands[layer] if o.bits == c.bits),
                           key=lambda o: (-(o.cost.get("latency_cycles") or 0.0), o.fold))
            a.append((group.index(c) + 0.5) / len(group))
        return np.array(a)

    def _walk(self) -> Choice:
        choice: Choice = {}
        prev = np.zeros(self.n_action)
        for i, l in enumerate(self.layers):
            st = self._state(i, prev, choice)
            if self.episode < self.s.warmup:
                act = self.rng.random(self.n_action)
            else:
                act = self.agent.act(st) + self.rng.normal(0.0, self.sigma, self.n_action)
                act = np.clip(act, 0.0, 1.0)
            choice[l] = self._pick(l, act, choice).key
            prev = act
        return choice

    # -- budget enforcement (HAQ: lower the bits layer after layer until the policy fits)
    def _lower_once(self, choice: Choice, over: list[str], seen: set) -> bool:
        """One step down: of every layer's candidates with no more bits and a smaller share of the broken
        budgets, the one adding the least damage per share freed (the sensitivity table guides it)."""
        metrics = [m for m in over if m in self.budgets] or self.metrics
        moves = []
        for l in self.layers:
            cur = self.problem.candidate(l, choice[l])
            cur_share = self.est.share(l, cur, self.budgets, metrics)
            for c in self.cands[l]:
                if c.w_bits <= cur.w_bits and c.a_bits <= cur.a_bits and c is not cur:
                    freed = cur_share - self.est.share(l, c, self.budgets, metrics)
                    if freed > 0:
                        moves.append(((c.damage - cur.damage) / freed, l, c.key))
        for _, l, key in sorted(moves):
            trial = dict(choice)
            trial[l] = key
            if not self._retie(trial, l) or tuple(trial.items()) in seen:
                continue                               # never back to a policy already tried: no cycles
            seen.add(tuple(trial.items()))
            choice.clear()
            choice.update(trial)
            return True
        return False

    def _retie(self, choice: Choice, layer: str) -> bool:
        """Move the tie partners of ``layer`` to the compatible candidate nearest their current one."""
        for tie in self.problem.ties:
            if layer not in tie.layers:
                continue
            for other in tie.layers:
                if other == layer:
                    continue
                ok = tie_compatible(self.problem, other, self.cands[other], {layer: choice[layer]})
                if not ok:
                    return False
                cur = self.problem.candidate(other, choice[other])
                if cur not in ok:
                    choice[other] = min(ok, key=lambda c: (abs(c.w_bits - cur.w_bits) + abs(c.a_bits - cur.a_bits),
                                                           c.key)).key
        return True

    def _enforce(self, choices: list[Choice]) -> list[str]:
        """Lower every policy until it fits; per policy "fit" (all its costs measured), "estimated" or "failed".

        Measuring is spent where it matters: each round, only the ``measure_top`` best-rewarded
        policies that could beat the best one so far are measured (together, in parallel) and
        lowered again if their measured costs break a budget; a policy that cannot beat the best
        is judged on estimated costs ("estimated": it trains the agent, it is never returned).
        """
        status: list[str | None] = [None] * len(choices)
        best = self.best[0] if self.best is not None else -math.inf
        for _ in range(self.s.max_rounds):
            for i, ch in enumerate(choices):
                if status[i] is None:
                    seen = {tuple(ch.items())}
                    while True:
                        over = self.est.over(ch, self.budgets)
                        if not over or not self._lower_once(ch, over, seen):
                            break
                    if over:
                        status[i] = "failed"
            pending = [i for i, st in enumerate(status) if st is None]
            for i in pending:
                if self._reward(choices[i]) <= best + 1e-12 and not self._all_known(choices[i]):
                    status[i] = "estimated"
            pending = sorted((i for i in pending if status[i] is None), key=lambda i: (-self._reward(choices[i]), i))
            chosen = pending[:self.s.measure_top]
            self.source.measure((l, self.problem.candidate(l, k)) for i in chosen for l, k in choices[i].items())
            for i in pending:
                if self._all_known(choices[i]) and not violations(self.problem, choices[i], self.budgets):
                    status[i] = "fit"
                    best = max(best, self._reward(choices[i]))
            if all(st is not None for st in status) or isinstance(self.source, TableCosts):
                break                                  # a table has nothing more to measure
        return [st or ("estimated" if not self.est.over(ch, self.budgets) else "failed")
                for st, ch in zip(status, choices)]

    def _all_known(self, choice: Choice) -> bool:
        return all(self.source.known(l, self.problem.candidate(l, k)) for l, k in choice.items())

    # -- reward, replay, training
    def _reward(self, choice: Choice) -> float:
        if self.reward_fn is not None:
            key = tuple(sorted(choice.items()))
            if key not in self._rmemo:
                self._rmemo[key] = float(self.reward_fn({l: tuple(k[:2]) for l, k in choice.items()}))
            return self._rmemo[key]
        return -sum(self.problem.candidate(l, k).damage for l, k in choice.items()) / self.worst

    def _store(self, choice: Choice, reward: float) -> None:
        acts = [self._action_of(l, self.problem.candidate(l, choice[l])) for l in self.layers]
        # the states after lowering: the previous action and budget shares of the policy actually taken
        states = [self._state(i, acts[i - 1] if i else np.zeros(self.n_action), choice) for i in range(len(self.layers))]
        n = len(self.layers)
        for i in range(n):
            last = i == n - 1
            nxt = states[i] if last else states[i + 1]
            row = np.concatenate([states[i], acts[i], [reward if last else 0.0], nxt, [float(last)]])
            self.replay[self.n_replay % self.s.replay] = row
            self.n_replay += 1

    def _train(self, n_updates: int) -> None:
        size = min(self.n_replay, self.s.replay)
        if size < self.s.minibatch:
            return
        ns, na = self.n_state, self.n_action
        for _ in range(n_updates):
            rows = self.replay[self.rng.integers(0, size, self.s.minibatch)]
            self.agent.update((rows[:, :ns], rows[:, ns:ns + na], rows[:, ns + na], rows[:, ns + na + 1:2 * ns + na + 1],
                               rows[:, -1]))

    def run_batch(self, n: int) -> None:
        choices = [self._walk_and_count() for _ in range(n)]
        status = self._enforce(choices)              # lowers the policies in place
        for ch, st in zip(choices, status):
            r = self._reward(ch) if st != "failed" else -1.0 - 1.0 / max(1, len(self.layers))
            self.history.append(r)
            if st == "fit" and (self.best is None or r > self.best[0] + 1e-12):
                self.best = (r, dict(ch))
            self.baseline = r if self.baseline is None else (
                self.s.baseline_decay * self.baseline + (1 - self.s.baseline_decay) * r)
            self._store(ch, r - self.baseline)
        self._train(self.s.updates_per_episode * n)

    def _walk_and_count(self):
        out = self._walk()
        self.episode += 1
        if self.episode > self.s.warmup:
            self.sigma = max(self.s.sigma_min, self.sigma * self.s.sigma_decay)
        return out

    # -- checkpoint
    def key(self) -> str:
        p = self.problem
        cands = {l: [[list(c.key), c.damage, {m: c.cost.get(m) for m in sorted(self.budgets) if m != "damage"}
                      if isinstance(self.source, TableCosts) else None] for c in cs] for l, cs in self.cands.items()}
        settings = {k: v for k, v in asdict(self.s).items() if k != "episodes"}
        return sha256_json({"format": CHECKPOINT_FORMAT, "candidates": cands, "budgets": self.budgets,
                            "ties": [[list(t.layers), t.same_w_bits] for t in p.ties],
                            "pins": {l: list(v) for l, v in p.pins.items()}, "latency_mode": p.latency_mode,
                            "clock_mhz": p.clock_mhz, "source": self.source.identity(), "seed": self.seed,
                            "settings": settings, "features": self.features.round(9).tolist(),
                            "reward": getattr(self.reward_fn, "__qualname__", None)})

    def save(self, path: Path, key: str) -> None:
        torch = self.torch
        state = {"key": key, "episode": self.episode, "agent": self.agent.state_dict(),
                 "replay": torch.from_numpy(self.replay.copy()), "n_replay": self.n_replay,
                 "rng": _rng_state(self.rng), "sigma": self.sigma, "baseline": self.baseline,
                 "best": None if self.best is None else [self.best[0], {l: list(k) for l, k in self.best[1].items()}],
                 "history": list(self.history), "measured": [[l, list(k)] for l, k in self.source.measured]}
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(path, buf.getvalue())

    def load(self, path: Path, key: str) -> bool:
        try:
            state = self.torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
        except Exception as exc:                       # a corrupt checkpoint is ignored (started afresh)
            import logging
            logging.getLogger(__name__).warning("haq checkpoint %s unreadable (%s): starting afresh", path, exc)
            return False
        if state.get("key") != key:
            return False
        self.agent.load_state_dict(state["agent"])
        self.replay = state["replay"].numpy().copy()
        self.n_replay, self.episode = int(state["n_replay"]), int(state["episode"])
        self.rng.bit_generator.state = _rng_unstate(state["rng"])
        self.sigma, self.baseline = state["sigma"], state["baseline"]
        b = state["best"]
        self.best = None if b is None else (b[0], {l: (int(k[0]), int(k[1]), str(k[2])) for l, k in b[1].items()})
        self.history = list(state["history"])
        self.source.measure((l, self.problem.candidate(l, tuple(k))) for l, k in state["measured"])
        return True


def _rng_state(rng: np.random.Generator) -> dict:
    st = rng.bit_generator.state
    return {"bit_generator": st["bit_generator"], "state": str(st["state"]["state"]), "inc": str(st["state"]["inc"]),
            "has_uint32": int(st["has_uint32"]), "uinteger": int(st["uinteger"])}


def _rng_unstate(d: dict) -> dict:
    return {"bit_generator": d["bit_generator"], "state": {"state": int(d["state"]), "inc": int(d["inc"])},
            "has_uint32": d["has_uint32"], "uinteger": d["uinteger"]}


def select(problem: Problem, budgets: Mapping[str, float], *, seed: int = 0, costs=None,
           reward: Callable[[dict], float] | None = None, checkpoint: str | Path | None = None,
           layer_info: Mapping | None = None, on_batch: Callable[[int], None] | None = None, **settings) -> Solution:
    """HAQ search; ``costs``: a cost source (default: the Problem's table); ``reward``: assignment ->
    number to maximise (default: minus the normalised damage); ``checkpoint``: a directory;
    ``on_batch(episodes_done)`` is called after each checkpointed batch; ``settings``: HAQSettings fields."""
    import torch
    t0 = time.perf_counter()
    unsupported("haq", problem, budgets)
    unknown = set(settings) - set(HAQSettings.__dataclass_fields__)
    if unknown:
        raise InputError(f"haq: unknown setting(s) {', '.join(sorted(unknown))}",
                         f"settings are: {', '.join(HAQSettings.__dataclass_fields__)}")
    s = HAQSettings(**settings)
    source = costs if costs is not None else TableCosts()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                           # small MLPs: one thread, and bitwise reproducible
    try:
        search = _Search(problem, budgets, s, seed, source, reward, layer_info)
        why = impossible(problem, search.cands, budgets) if isinstance(source, TableCosts) else ""
        if why or any(not cs for cs in search.cands.values()):
            return finish(problem, budgets, None, strategy="haq", started=t0,
                          reason=why or "a layer has no candidate within its pin")
        path, resumed = None, 0
        if checkpoint is not None:
            key = search.key()
            path = Path(checkpoint) / f"haq_{key[:20]}.pt"
            if path.is_file() and search.load(path, key):
                resumed = search.episode
        while search.episode < s.episodes:
            search.run_batch(min(s.batch, s.episodes - search.episode))
            if path is not None:
                search.save(path, key)
            if on_batch is not None:
                on_batch(search.episode)
    finally:
        torch.set_num_threads(threads)
    info = {"episodes": search.episode, "resumed_from_episode": resumed, "best_reward": search.best and search.best[0],
            "costs": source.kind, **source.stats()}
    if path is not None:
        info["checkpoint"] = str(path)
    return finish(problem, budgets, search.best[1] if search.best else None, strategy="haq", started=t0, info=info,
                  reason=f"no policy of {search.episode} episodes fits the budgets after lowering the bits")
