"""HGQ: learned fine-grained bit-widths on a Brevitas model, with a resource term calibrated on measured costs.

The method of High Granularity Quantization (Sun et al., arXiv:2405.00645), written here for our
PyTorch/Brevitas stack:

* every weight tensor gets trainable *fractional bits* ``f`` per output channel (or per weight),
  every layer input trainable ``f`` per input channel; a value is quantized to the fixed-point grid
  ``round(x * 2**f) / 2**f`` with ``f`` rounded to an integer (straight-through);
* the loss reaches ``f`` through HGQ's surrogate gradient: the quantization error
  ``delta = x_q - x`` scales like ``2**-f``, so ``d x_q / d f := -ln(2) * delta``;
* integer bits come from the data (weights: their absolute maximum; activations: the running
  per-channel maximum), so the bit-width is ``max(0, i + f + sign)``;
* the resource term is the *effective bit operations* ``EBOPs = sum over weights of
  bits(weight) * bits(its input channel)`` times the LUT per EBOP fitted on the run's measured
  per-layer costs (:func:`fit_lut_model` on ``costs.csv``): ``loss = CE + beta * LUT_pred``.

The Brevitas quantizers of the model are switched off (``disable_quant``) while HGQ's own
quantizers act on the layers' weights (a parametrization) and inputs (a pre-forward hook).
The hgq step exports the trained model to QONNX (``hgq/hgq.onnx``, :mod:`ohq_flow.train.hgq_export`);
with ``build.source: hgq`` the build step builds that model (:func:`hgq_model_for_build`).
"""

from __future__ import annotations

import copy
import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ohq_flow.errors import InputError

LN2 = math.log(2.0)


# ------------------------------------------------------------------------------- the quantizer
class _FixedPoint(torch.autograd.Function):
    """round(x * 2**f) / 2**f; straight-through for x, HGQ's surrogate gradient for f."""

    @staticmethod
    def forward(ctx, x, f):
        scale = torch.pow(2.0, f)
        xq = torch.round(x * scale) / scale
        ctx.save_for_backward(xq - x)
        ctx.f_shape = f.shape
        return xq

    @staticmethod
    def backward(ctx, g):
        (delta,) = ctx.saved_tensors
        gf = g * (-LN2) * delta
        # sum over the dimensions f was broadcast along
        while gf.dim() > len(ctx.f_shape):
            gf = gf.sum(0)
        for d, n in enumerate(ctx.f_shape):
            if n == 1 and gf.shape[d] != 1:
                gf = gf.sum(d, keepdim=True)
        return g, gf


def _ste_round(v: torch.Tensor) -> torch.Tensor:
    return v + (torch.round(v) - v).detach()


def _int_bits(amax: torch.Tensor) -> torch.Tensor:
    """Integer bits so that |x| <= amax fits: ceil(log2(amax)), for amax > 0."""
    return torch.ceil(torch.log2(amax.clamp_min(1e-12)))


class WeightHGQ(nn.Module):
    """Parametrization of a weight: fixed-point with learned fractional bits per channel or per weight."""

    def __init__(self, weight: torch.Tensor, granularity: str, init_bits: int):
        super().__init__()
        ref = _int_bits(weight.detach().abs().amax(dim=tuple(range(1, weight.dim())), keepdim=True))
        shape = weight.shape if granularity == "per_weight" else ref.shape
        # every weight starts at init_bits for its channel's largest value: f = bits - 1 (sign) - i
        self.f = nn.Parameter((init_bits - 1 - ref).expand(shape).float().clone())
        self.granularity = granularity

    def int_bits(self, w: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, w.dim()))
        amax = w.detach().abs() if self.granularity == "per_weight" else w.detach().abs().amax(dim=dims, keepdim=True)
        return _int_bits(amax)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        f = _ste_round(self.f)
        i = self.int_bits(w)
        lim = torch.pow(2.0, i)
        step = torch.pow(2.0, -f)
        wq = _FixedPoint.apply(w, f)
        alive = (i + f + 1.0 > 0).to(w.dtype)           # a 0-bit weight is 0 (free in hardware)
        return torch.maximum(torch.minimum(wq, lim - step), -lim) * alive

    def bits(self, w: torch.Tensor) -> torch.Tensor:
        """Bit-width of every weight (broadcast to w's shape), differentiable in f; 0 = pruned."""
        b = torch.relu(self.int_bits(w) + _ste_round(self.f) + 1.0)
        return b.expand_as(w)


class ActHGQ(nn.Module):
    """Fixed-point quantizer of a layer input (channel dim 1) with learned fractional bits, per input
    channel or (``per_tensor``: one step and one range for the tensor, what the hardware's kernels
    take — see hgq_export) per tensor."""

    def __init__(self, channels: int, init_bits: int, per_tensor: bool = False):
        super().__init__()
        self.init_bits, self.per_tensor = init_bits, per_tensor
        self.f = nn.Parameter(torch.zeros(1 if per_tensor else channels))
        self.register_buffer("amax", torch.zeros(channels))
        self.register_buffer("signed", torch.zeros((), dtype=torch.bool))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def _view(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return v.view((1, -1) + (1,) * (x.dim() - 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                dims = (0,) + tuple(range(2, x.dim()))
                self.amax.copy_(torch.maximum(self.amax, x.abs().amax(dim=dims)))
                self.signed |= bool((x < 0).any())
                if not bool(self.initialised):  # start each channel at init_bits for its range
                    self.f.copy_(self.init_bits - self.signed.float() - self._int_bits())
                    self.initialised.fill_(True)
        f = self._view(_ste_round(self.f), x)
        i = self._view(self._int_bits(), x)
        xq = _FixedPoint.apply(x, f)
        lim, step = torch.pow(2.0, i), torch.pow(2.0, -f)
        low = -lim if bool(self.signed) else torch.zeros_like(lim)
        return torch.maximum(torch.minimum(xq, lim - step), low)

    def _int_bits(self) -> torch.Tensor:
        amax = self.amax.max().expand(1) if self.per_tensor else self.amax
        return _int_bits(amax)

    def bits(self) -> torch.Tensor:
        """Bit-width per channel, differentiable in f."""
        return torch.relu(self._int_bits() + _ste_round(self.f) + self.signed.float()).expand(self.amax.shape)


# --------------------------------------------------------------------------------- the model
def _disable_brevitas(module: nn.Module) -> int:
    from brevitas.proxy.quant_proxy import QuantProxyFromInjector
    n = 0
    for sub in module.modules():
        if isinstance(sub, QuantProxyFromInjector):
            sub.disable_quant = True
            n += 1
        if hasattr(sub, "return_quant_tensor"):
            sub.return_quant_tensor = False
    return n


class HGQModel(nn.Module):
    """A copy of a Brevitas model with HGQ quantizers on every Conv/Linear weight and input."""

    def __init__(self, module: nn.Module, granularity: str = "per_channel", init_bits: int = 8,
                 act_granularity: str = "per_channel"):
        super().__init__()
        self.net = copy.deepcopy(module).train()
        _disable_brevitas(self.net)
        self.layers: dict[str, nn.Module] = {}
        self.wq = nn.ModuleDict()
        self.aq = nn.ModuleDict()
        for name, sub in list(self.net.named_modules()):
            if not isinstance(sub, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                continue
            key = name.replace(".", "__")
            chans = sub.in_features if isinstance(sub, nn.Linear) else sub.in_channels
            self.wq[key] = WeightHGQ(sub.weight, granularity, init_bits)
            self.aq[key] = ActHGQ(chans, init_bits, per_tensor=act_granularity == "per_tensor")
            parametrize.register_parametrization(sub, "weight", self.wq[key])
            sub.register_forward_pre_hook(self._make_hook(self.aq[key]))
            self.layers[name] = sub
        if not self.layers:
            raise InputError("HGQ: the model has no Conv1d/Conv2d/Linear layer", "HGQ quantizes convolution and linear layers")

    @staticmethod
    def _make_hook(aq: ActHGQ):
        def hook(_mod, args):
            x = args[0]
            x = x.value if hasattr(x, "value") and not isinstance(x, torch.Tensor) else x
            return (aq(x),) + tuple(args[1:])
        return hook

    def forward(self, x):
        out = self.net(x)
        return out.value if hasattr(out, "value") and not isinstance(out, torch.Tensor) else out

    def _weight(self, layer: nn.Module) -> torch.Tensor:
        return layer.parametrizations.weight.original

    def ebops(self) -> dict[str, torch.Tensor]:
        """Effective bit operations per layer: sum of bits(weight) * bits(its input channel)."""
        out = {}
        for name, layer in self.layers.items():
            key = name.replace(".", "__")
            w = self._weight(layer)
            bw = self.wq[key].bits(w)
            ba = self.aq[key].bits()
            groups = getattr(layer, "groups", 1)
            if isinstance(layer, nn.Linear):
                out[name] = (bw * ba.view(1, -1)).sum()
            else:  # weight [out, in/groups, k...]: the input channel of weight (o, c) is g(o)*in/groups + c
                cin_g = w.shape[1]
                per_group = w.shape[0] // groups
                ba_idx = (torch.arange(w.shape[0]) // per_group).view(-1, 1) * cin_g + torch.arange(cin_g).view(1, -1)
                ba_w = ba[ba_idx].view(w.shape[0], cin_g, *([1] * (w.dim() - 2)))
                out[name] = (bw * ba_w).sum()
        return out

    def bit_summary(self) -> dict:
        """Per layer: weight bits per channel (mean over the channel for per-weight), input bits per channel."""
        out = {}
        with torch.no_grad():
            for name, layer in self.layers.items():
                key = name.replace(".", "__")
                w = self._weight(layer)
                bw = self.wq[key].bits(w)
                out[name] = {"weight_bits_per_channel": bw.reshape(bw.shape[0], -1).mean(1).tolist(),
                             "weight_bits_mean": float(bw.mean()), "zero_bit_weights": int((bw == 0).sum()),
                             "input_bits_per_channel": self.aq[key].bits().tolist(),
                             "input_bits_mean": float(self.aq[key].bits().mean())}
        return out


# ------------------------------------------------------------------------ the resource model
@dataclass
class LutModel:
    """LUT ≈ lut_per_ebop * EBOPs + lut_per_layer (per layer), fitted on measured costs."""

    lut_per_ebop: float
    lut_per_layer: float
    r2: float
    rows: int
    per_layer_r2: dict

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def fit_lut_model(costs_csv: Path, layers_json: Path) -> LutModel:
    """Least-squares fit of measured LUT against EBOPs = weights * w_bits * a_bits over a run's costs.csv."""
    weights = {l["name"]: int(np.prod(l["weight_shape"])) for l in json.loads(Path(layers_json).read_text())["layers"]}
    xs, ys, names = [], [], []
    with open(costs_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("status") != "ok" or not row.get("lut") or row["layer"] not in weights:
                continue
            xs.append(weights[row["layer"]] * int(row["w_bits"]) * int(row["a_bits"]))
            ys.append(float(row["lut"]))
            names.append(row["layer"])
    if len(xs) < 2:
        raise InputError(f"{costs_csv}: fewer than two measured LUT rows to fit the HGQ resource model",
                         "run the profile step first")
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    a, b = np.polyfit(x, y, 1)
    if b < 0:  # a negative fixed cost would predict negative LUT for small layers: fit through the origin
        a, b = float(x @ y / (x @ x)), 0.0
    r2 = _r2(y, a * x + b)
    per_layer = {n: _r2(y[m], a * x[m] + b) for n in sorted(set(names)) for m in [np.asarray(names) == n] if m.sum() > 2}
    return LutModel(float(a), float(b), r2, len(xs), per_layer)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return float(1 - ((y - pred) ** 2).sum() / ss) if ss > 0 else float("nan")


# ---------------------------------------------------------------------------------- training
def train_hgq(model: HGQModel, data, *, steps: int, beta: float, lut_per_ebop: float, lr: float = 1e-3,
              bits_lr: float = 0.05, batch_size: int = 64, seed: int = 0, echo=None) -> dict:
    """Train weights and bit-widths: loss = CE + beta * lut_per_ebop * EBOPs. Returns the history."""
    import torch.nn.functional as F
    torch.manual_seed(seed)
    bit_params = [p for n, p in model.named_parameters() if n.endswith(".f")]
    ids = {id(p) for p in bit_params}
    opt = torch.optim.Adam([{"params": [p for p in model.parameters() if id(p) not in ids], "lr": lr},
                            {"params": bit_params, "lr": bits_lr}])
    n = len(data.y_train)
    per_epoch = max(1, -(-n // batch_size))
    history = []
    model.train()
    for step in range(steps):
        epoch, j = divmod(step, per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        idx = perm[j * batch_size:(j + 1) * batch_size].numpy()
        x, y = torch.from_numpy(data.x_train[idx]), torch.from_numpy(data.y_train[idx])
        opt.zero_grad()
        ce = F.cross_entropy(model(x), y)
        ebops = sum(model.ebops().values())
        loss = ce + beta * lut_per_ebop * ebops
        if not torch.isfinite(loss):
            from ohq_flow.errors import FlowError
            raise FlowError(f"HGQ diverged: loss is {loss.item()} at step {step + 1}; training stopped, nothing of "
                            "this run written (hgq/ keeps the last complete result)", "lower hgq.lr or hgq.bits_lr")
        loss.backward()
        opt.step()
        if echo and (step + 1) % max(1, steps // 10) == 0:
            echo(f"hgq step {step + 1}/{steps}: loss {ce.item():.4f}, EBOPs {ebops.item():,.0f} "
                 f"(~{lut_per_ebop * ebops.item():,.0f} LUT)")
        history.append({"step": step + 1, "ce": ce.item(), "ebops": ebops.item()})
    model.eval()
    with torch.no_grad():
        ebops = float(sum(model.ebops().values()))
    return {"history": history[-1:], "ebops": ebops}


# ---------------------------------------------------------------------------------- the step
HGQ_JSON = "hgq/hgq.json"
HGQ_STATE = "hgq/hgq_state_dict.pt"
HGQ_ONNX = "hgq/hgq.onnx"


def hgq_key(ctx, data_fingerprint: str) -> str:
    """Everything that determines the hgq step's result: settings, data, model, run tables, code."""
    from ohq_flow.fileio import sha256_file, sha256_json
    from ohq_flow.pipeline import code_hash, factory_source
    b = ctx.cfg.model.brevitas
    src = factory_source(ctx.cfg)
    files = {rel: sha256_file(ctx.path(rel)) for rel in ("model.onnx", "layers.json", "costs.csv")}
    ev = ctx.cfg.build.eval_npz
    return sha256_json({"settings": ctx.cfg.hgq.model_dump(mode="json"), "data": data_fingerprint,
                        "factory": b.factory, "kwargs": b.kwargs, "factory_source": sha256_file(src) if src else None,
                        "checkpoint": sha256_file(b.checkpoint) if b.checkpoint else None, "files": files,
                        "eval_npz": sha256_file(ev) if ev else None, "code": code_hash()})


def _reusable(ctx, key: str) -> dict | None:
    """hgq/hgq.json when it was made with ``key`` and its state dict and QONNX model are intact."""
    from ohq_flow.fileio import sha256_file
    path = ctx.path(HGQ_JSON)
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("key") != key:
        return None
    for rel, field in ((HGQ_STATE, "state_dict_sha256"), (HGQ_ONNX, "onnx_sha256")):
        if not ctx.path(rel).is_file() or sha256_file(ctx.path(rel)) != rec.get(field):
            return None
    return rec


def run_hgq(ctx, echo=print) -> dict:
    """The hgq step: fit the LUT model on costs.csv, train bit-widths and weights, export to QONNX
    -> hgq/hgq.json, hgq/hgq_state_dict.pt, hgq/hgq.onnx. Reused when made from the same inputs."""
    from ohq_flow.fileio import atomic_write_json, sha256_file
    from ohq_flow.model.export import build_brevitas_model
    from ohq_flow.artifacts import load_layers, load_run_model
    from ohq_flow.train.data import load_data
    from ohq_flow.train.finetune import eval_set, save_torch, accuracy, n_outputs
    from ohq_flow.train.hgq_export import hgq_qonnx
    cfg, h = ctx.cfg, ctx.cfg.hgq
    if not h.enabled:
        for rel in (HGQ_STATE, HGQ_ONNX):
            ctx.path(rel).unlink(missing_ok=True)
        atomic_write_json(ctx.path(HGQ_JSON), {"enabled": False})
        return {"enabled": False}
    import time
    t0 = time.time()
    b = cfg.model.brevitas
    module = build_brevitas_model(b.factory, b.kwargs, b.checkpoint, b.python_path)
    data = load_data(cfg.data, b.input_shape, n_outputs(module, b.input_shape))   # checked before training
    key = hgq_key(ctx, data.fingerprint())
    old = _reusable(ctx, key)
    if old is not None:
        echo(f"hgq: {ctx.path(HGQ_JSON)} was made from the same settings and inputs; reused")
        return {"val_accuracy": old["val_accuracy"], "ebops": old["ebops"], "reused": True}
    fit = fit_lut_model(ctx.path("costs.csv"), ctx.path("layers.json"))
    echo(f"hgq: LUT = {fit.lut_per_ebop:.4f} x EBOPs + {fit.lut_per_layer:.1f} per layer "
         f"(R^2 {fit.r2:.3f} over {fit.rows} measured layer designs)")
    evalset = eval_set(cfg, b.input_shape)
    model = HGQModel(module, h.weight_granularity, h.init_bits, h.act_granularity)
    info = train_hgq(model, data, steps=h.steps, beta=h.beta, lut_per_ebop=fit.lut_per_ebop, lr=h.lr,
                     bits_lr=h.bits_lr, batch_size=h.batch_size, seed=h.seed, echo=echo)
    with torch.no_grad():
        per_layer = {k: float(v) for k, v in model.ebops().items()}
    ebops = sum(per_layer.values())
    layers = load_layers(ctx)
    qonnx, export = hgq_qonnx(load_run_model(ctx), layers, model)   # the learned widths in QONNX
    ctx.path(HGQ_ONNX).parent.mkdir(parents=True, exist_ok=True)
    tmp = ctx.path(HGQ_ONNX + ".tmp")
    qonnx.save(str(tmp))
    tmp.replace(ctx.path(HGQ_ONNX))
    save_torch(model.state_dict(), ctx.path(HGQ_STATE))
    record = {"enabled": True, "key": key, "settings": h.model_dump(mode="json"), "lut_model": fit.to_dict(),
              "ebops": ebops, "ebops_per_layer": per_layer,
              "predicted_lut": fit.lut_per_ebop * ebops + fit.lut_per_layer * len(per_layer),
              "val_accuracy": accuracy(model, data.x_val, data.y_val),
              "eval_accuracy": accuracy(model, *evalset) if evalset is not None else None,
              "bits": model.bit_summary(), "export": export,
              "assignment": {name: {"w_bits": r["w_bits"], "a_bits": r["a_bits"]} for name, r in export.items()},
              "steps": h.steps, "seconds": round(time.time() - t0, 2), "data": data.source,
              "state_dict_sha256": sha256_file(ctx.path(HGQ_STATE)), "onnx_sha256": sha256_file(ctx.path(HGQ_ONNX)),
              "note": "predicted_lut is the regulariser's estimate; build.source: hgq synthesises the design"}
    atomic_write_json(ctx.path(HGQ_JSON), record)
    echo(f"hgq: validation accuracy {record['val_accuracy']:.4f}, EBOPs {ebops:,.0f} "
         f"(~{record['predicted_lut']:,.0f} LUT predicted), mean weight bits "
         + ", ".join(f"{k} {v['weight_bits_mean']:.2f}" for k, v in record["bits"].items())
         + f"; QONNX model {ctx.path(HGQ_ONNX)}")
    return {"val_accuracy": record["val_accuracy"], "ebops": ebops}


def hgq_model_for_build(ctx):
    """(QONNX ModelWrapper of hgq/hgq.onnx, {layer: (w_bits, a_bits)}, hgq.json) for ``build.source: hgq``."""
    from qonnx.core.modelwrapper import ModelWrapper

    from ohq_flow.errors import FlowError
    from ohq_flow.fileio import sha256_file
    path = ctx.path(HGQ_JSON)
    rec = json.loads(path.read_text()) if path.is_file() else {}
    if not rec.get("enabled"):
        raise FlowError(f"build.source is hgq but {path} holds no trained HGQ model",
                        "run the hgq step (ohq-flow run CONFIG --from hgq)")
    onnx = ctx.path(HGQ_ONNX)
    if not onnx.is_file() or sha256_file(onnx) != rec.get("onnx_sha256"):
        raise FlowError(f"{onnx} is missing or does not match {path}", "re-run the hgq step (--from hgq)")
    assignment = {k: (int(v["w_bits"]), int(v["a_bits"])) for k, v in rec["assignment"].items()}
    return ModelWrapper(str(onnx)), assignment, rec
