"""The ``finetune`` step: Brevitas quantization-aware fine-tuning at the chosen bit-widths.

The Brevitas model gets the solution's bit-widths (:func:`ohq_flow.final.writeback.writeback_brevitas`
with the export step's quantizer map) and is trained with cross-entropy on the ``data`` section's
training split (Adam, seeded batch order), validated every ``eval_every`` steps; the best model on
the validation split is kept and training stops after ``patience`` validations without improvement.

Resumable: every ``checkpoint_every`` steps ``finetune/checkpoint.pt`` (model, optimizer, torch RNG
state, step, early-stopping state) is written atomically, keyed by everything that determines the
result (solution, data, model, the fine-tune settings, the ohq_flow code). A checkpoint with
another key is never reused. Batch order depends only on (seed, epoch), so a resumed run gives the
same weights as an uninterrupted one. A non-finite loss stops the run (:class:`FlowError`) and
leaves the last good checkpoint in place.

Outputs: ``finetune/brevitas_state_dict.pt`` (fine-tuned state dict), ``finetune/brevitas_bit_widths.json``
and ``finetune/finetune.json`` (accuracy before/after on validation and evaluation set, steps, time).
:func:`final_model_for_build` turns them into the final QONNX model for ``build``.
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import numpy as np

from ohq_flow.errors import FlowError
from ohq_flow.fileio import atomic_write_bytes, atomic_write_json, sha256_file, sha256_json

log = logging.getLogger(__name__)

FT_DIR = "finetune"
FT_JSON = "finetune/finetune.json"
FT_STATE = "finetune/brevitas_state_dict.pt"
FT_BITS = "finetune/brevitas_bit_widths.json"
FT_CKPT = "finetune/checkpoint.pt"
DEFAULT_EPOCHS = 10


def accuracy(module, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    """Top-1 accuracy of a torch module (eval mode) on arrays."""
    return accuracy_and_loss(module, x, y, batch)[0]


def accuracy_and_loss(module, x: np.ndarray, y: np.ndarray, batch: int = 512) -> tuple[float, float]:
    """(top-1 accuracy, mean cross-entropy) of a torch module (eval mode) on arrays."""
    import torch
    import torch.nn.functional as F
    was_training = module.training
    module.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = _logits(module(torch.from_numpy(x[i:i + batch])))
            yb = torch.from_numpy(y[i:i + batch])
            correct += int((out.argmax(1) == yb).sum())
            loss += float(F.cross_entropy(out, yb, reduction="sum"))
    module.train(was_training)
    n = max(len(x), 1)
    return correct / n, loss / n


def _logits(out):
    """A plain tensor from a module output (Brevitas may return a QuantTensor)."""
    return out.value if hasattr(out, "value") and not hasattr(out, "detach") else out


def save_torch(obj, path: Path) -> None:
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_state(module, state: dict, bits: dict[str, int]) -> None:
    """Load a state dict into a written-back module and set its bit-widths again.

    Brevitas rebuilds its quantizers on ``load_state_dict`` (bit-widths back to the factory's,
    new activation-scale Parameter objects): so bits are re-applied here, and an optimizer must be
    created after loading.
    """
    from ohq_flow.final.writeback import bit_width_buffers
    module.load_state_dict(state)
    buffers = bit_width_buffers(module)
    for path, b in bits.items():
        buffers[path].value.fill_(float(b))


def n_outputs(module, input_shape: list[int]) -> int:
    """Number of classes: the width of the module's output."""
    import torch
    with torch.no_grad():
        out = _logits(module.eval()(torch.zeros(*input_shape)))
    return int(out.reshape(out.shape[0], -1).shape[1])


class Trainer:
    """One fine-tune: deterministic batches, checkpoints, early stopping, NaN guard.

    ``stop_after`` (tests): raise KeyboardInterrupt once that many steps ran in this call,
    as a Ctrl-C would.
    """

    def __init__(self, module, bits: dict[str, int], data, settings, ckpt_path: Path, key: str, echo=print,
                 stop_after: int | None = None):
        self.module, self.bits, self.data, self.s, self.ckpt_path, self.key, self.echo = module, bits, data, settings, ckpt_path, key, echo
        self.stop_after = stop_after
        n = len(data.y_train)
        self.steps_per_epoch = max(1, -(-n // settings.batch_size))
        self.total = settings.steps or (settings.epochs or DEFAULT_EPOCHS) * self.steps_per_epoch
        self.eval_every = settings.eval_every or self.steps_per_epoch
        self.opt = None          # created after any state is loaded (see load_state)
        self.step = 0
        self.best_acc = -1.0
        self.best_loss = float("inf")
        self.best_step = 0
        self.best_state = None
        self.bad_evals = 0
        self.history: list[dict] = []
        self.resumed_from = None

    # -------------------------------------------------------------------------------- batches
    def _batch(self, step: int):
        import torch
        epoch, j = divmod(step, self.steps_per_epoch)
        g = torch.Generator().manual_seed(self.s.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.data.y_train), generator=g)
        idx = perm[j * self.s.batch_size:(j + 1) * self.s.batch_size].numpy()
        return torch.from_numpy(self.data.x_train[idx]), torch.from_numpy(self.data.y_train[idx])

    # ---------------------------------------------------------------------------- checkpoints
    def _state(self) -> dict:
        import torch
        return {"key": self.key, "step": self.step, "model": self.module.state_dict(), "optimizer": self.opt.state_dict(),
                "rng": torch.get_rng_state(), "best_acc": self.best_acc, "best_loss": self.best_loss, "best_step": self.best_step,
                "best_state": self.best_state, "bad_evals": self.bad_evals, "history": self.history}

    def save_checkpoint(self) -> None:
        save_torch(self._state(), self.ckpt_path)

    def try_resume(self) -> dict | None:
        """Load the checkpoint if it exists and was written for the same inputs; returns its optimizer state."""
        import torch
        if not self.ckpt_path.is_file():
            return None
        try:
            ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
        except Exception as exc:
            log.warning("fine-tune checkpoint %s unreadable (%s); starting over", self.ckpt_path, exc)
            return None
        if not isinstance(ck, dict) or ck.get("key") != self.key:
            self.echo(f"finetune: checkpoint {self.ckpt_path} is from other inputs; starting over")
            return None
        load_state(self.module, ck["model"], self.bits)
        torch.set_rng_state(ck["rng"])
        for k in ("step", "best_acc", "best_loss", "best_step", "best_state", "bad_evals", "history"):
            setattr(self, k, ck[k])
        self.resumed_from = self.step
        self.echo(f"finetune: resuming from the checkpoint at step {self.step}/{self.total}")
        return ck["optimizer"]

    # ---------------------------------------------------------------------------------- train
    def _evaluate(self) -> bool:
        """Validate; returns True when training should stop early.

        Better = higher validation accuracy; at equal accuracy (small validation sets), lower loss.
        """
        import copy
        acc, loss = accuracy_and_loss(self.module, self.data.x_val, self.data.y_val)
        self.history.append({"step": self.step, "val_accuracy": acc, "val_loss": round(loss, 6)})
        if (acc, -loss) > (self.best_acc, -self.best_loss):
            self.best_acc, self.best_loss, self.best_step, self.bad_evals = acc, loss, self.step, 0
            self.best_state = copy.deepcopy(self.module.state_dict())
        else:
            self.bad_evals += 1
        return self.s.patience is not None and self.bad_evals >= self.s.patience

    def run(self) -> dict:
        """Train to the end (or early stop); the module ends holding the best validated weights."""
        import torch
        import torch.nn.functional as F
        opt_state = self.try_resume()
        if opt_state is None:
            torch.manual_seed(self.s.seed)
            self._evaluate()  # step 0: the written-back model is a candidate too
        self.opt = torch.optim.Adam(self.module.parameters(), lr=self.s.lr)
        if opt_state is not None:
            self.opt.load_state_dict(opt_state)
        stopped_early = bool(self.s.patience is not None and self.bad_evals >= self.s.patience)
        ran_here = 0
        self.module.train()
        while self.step < self.total and not stopped_early:
            if self.stop_after is not None and ran_here >= self.stop_after:
                raise KeyboardInterrupt
            x, y = self._batch(self.step)
            self.opt.zero_grad()
            loss = F.cross_entropy(_logits(self.module(x)), y)
            if not torch.isfinite(loss):
                last = self.ckpt_path if self.ckpt_path.is_file() else None
                raise FlowError(f"fine-tune diverged: loss is {loss.item()} at step {self.step + 1}; training stopped"
                                + (f"; the last good checkpoint (step {self._ckpt_step()}) is kept in {last}" if last else
                                   "; no checkpoint was written yet"),
                                "lower finetune.lr (or check the data for extreme values)")
            loss.backward()
            self.opt.step()
            self.step += 1
            ran_here += 1
            if self.step % self.eval_every == 0 or self.step == self.total:
                stopped_early = self._evaluate()
                h = self.history[-1]
                self.echo(f"finetune step {self.step}/{self.total}: loss {loss.item():.4f}, validation accuracy "
                          f"{h['val_accuracy']:.4f} (best {self.best_acc:.4f} at step {self.best_step})")
                self.module.train()
            if self.step % self.s.checkpoint_every == 0 or self.step == self.total or stopped_early:
                self.save_checkpoint()
        if stopped_early:
            self.echo(f"finetune: early stop at step {self.step} ({self.s.patience} validations without improvement)")
        load_state(self.module, self.best_state, self.bits)
        self.module.eval()
        return {"steps": self.step, "total_steps": self.total, "stopped_early": stopped_early, "best_step": self.best_step,
                "best_val_accuracy": self.best_acc, "resumed_from_step": self.resumed_from, "history": self.history}

    def _ckpt_step(self):
        import torch
        try:
            return torch.load(self.ckpt_path, map_location="cpu", weights_only=False)["step"]
        except Exception:
            return "?"


# ------------------------------------------------------------------------------------- the step
def _assignment(ctx) -> dict[str, tuple[int, int]]:
    from ohq_flow.tables.solution import read_solution
    sol = read_solution(ctx.path("solution.json"))
    return {l: (int(v["w_bits"]), int(v["a_bits"])) for l, v in sol["assignment"].items()}


def written_back_module(ctx):
    """(the config's Brevitas module with the solution's bit-widths, {quantizer path: bits})."""
    from ohq_flow.final.writeback import writeback_brevitas
    from ohq_flow.model.export import build_brevitas_model
    from ohq_flow.artifacts import QUANT_OWNERS, load_layers
    b = ctx.cfg.model.brevitas
    module = build_brevitas_model(b.factory, b.kwargs, b.checkpoint, b.python_path)
    qmap = json.loads(ctx.path(QUANT_OWNERS).read_text())
    return writeback_brevitas(module, load_layers(ctx), _assignment(ctx), qmap)


def checkpoint_key(ctx, data_fingerprint: str) -> str:
    """Everything that determines the fine-tune's result (not how often it checkpoints)."""
    from ohq_flow.pipeline import code_hash
    b = ctx.cfg.model.brevitas
    settings = ctx.cfg.finetune.model_dump(mode="json")
    settings.pop("checkpoint_every", None)
    return sha256_json({"settings": settings, "assignment": sorted(_assignment(ctx).items()), "data": data_fingerprint,
                        "factory": b.factory, "kwargs": b.kwargs,
                        "checkpoint": sha256_file(b.checkpoint) if b.checkpoint else None, "code": code_hash()})


def eval_set(cfg, input_shape):
    if cfg.build.eval_npz is None:
        return None
    from ohq_flow.train.data import check_batch
    z = np.load(cfg.build.eval_npz)
    return check_batch(z["x"], z["y"], f"build.eval_npz {cfg.build.eval_npz}", input_shape, None)


def run_finetune(ctx, echo=print, stop_after: int | None = None) -> dict:
    """The step: fine-tune (or record that it is disabled) -> finetune/finetune.json (+ state dict)."""
    cfg = ctx.cfg
    out = ctx.path(FT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    if not cfg.finetune.enabled:
        for rel in (FT_STATE, FT_BITS):
            ctx.path(rel).unlink(missing_ok=True)
        atomic_write_json(ctx.path(FT_JSON), {"enabled": False})
        return {"enabled": False}
    import torch
    from ohq_flow.final.writeback import save_brevitas
    from ohq_flow.train.data import load_data

    t0 = time.time()
    shape = cfg.model.brevitas.input_shape
    module, bits = written_back_module(ctx)
    data = load_data(cfg.data, shape, n_outputs(module, shape))   # every batch checked before training starts
    evalset = eval_set(cfg, shape)
    before = {"val": accuracy(module, data.x_val, data.y_val)}
    if evalset is not None:
        before["eval"] = accuracy(module, *evalset)
    echo(f"finetune: {len(data.y_train)} training / {len(data.y_val)} validation samples from {data.source}; "
         f"validation accuracy at the chosen bit-widths {before['val']:.4f}")
    trainer = Trainer(module, bits, data, cfg.finetune, ctx.path(FT_CKPT), checkpoint_key(ctx, data.fingerprint()),
                      echo=echo, stop_after=stop_after)
    info = trainer.run()
    after = {"val": accuracy(module, data.x_val, data.y_val)}
    if evalset is not None:
        after["eval"] = accuracy(module, *evalset)
    save_brevitas(module, bits, out)   # -> FT_STATE, FT_BITS
    record = {"enabled": True, "assignment": {k: list(v) for k, v in sorted(_assignment(ctx).items())},
              "accuracy_before": before, "accuracy_after": after,
              "n_train": int(len(data.y_train)), "n_val": int(len(data.y_val)),
              "n_eval": int(len(evalset[1])) if evalset is not None else None, "data": data.source,
              "settings": cfg.finetune.model_dump(mode="json"), "bit_widths": bits,
              "state_dict_sha256": sha256_file(ctx.path(FT_STATE)), "seconds": round(time.time() - t0, 2), **info}
    atomic_write_json(ctx.path(FT_JSON), record)
    ev = f"; evaluation set {before['eval']:.4f} -> {after['eval']:.4f}" if evalset is not None else ""
    echo(f"finetune: validation accuracy {before['val']:.4f} -> {after['val']:.4f}{ev} ({info['steps']} steps, "
         f"{record['seconds']:.1f} s)")
    return {"steps": info["steps"], "val_before": before["val"], "val_after": after["val"]}


def final_model_for_build(ctx, out_path: Path | None = None):
    """(QONNX ModelWrapper, Brevitas module) of the fine-tuned model, or None without a fine-tune.

    The fine-tuned module is exported (and cleaned) like the export step does, so its Quant node
    names match ``layers.json``; it already carries the chosen bit-widths, so ``build`` uses it
    instead of ``apply_bits(model.onnx, ...)``. Saved at ``out_path`` (default final/model.onnx).
    """
    rec_path = ctx.path(FT_JSON)
    if not ctx.cfg.finetune.enabled or not rec_path.is_file() or not json.loads(rec_path.read_text()).get("enabled"):
        return None
    import torch
    from ohq_flow.model.export import build_brevitas_model, export_brevitas
    rec = json.loads(rec_path.read_text())
    if sha256_file(ctx.path(FT_STATE)) != rec.get("state_dict_sha256"):
        raise FlowError(f"{ctx.path(FT_STATE)} does not match {rec_path}", "re-run the finetune step (--from finetune)")
    if rec.get("assignment") != {k: list(v) for k, v in sorted(_assignment(ctx).items())}:
        raise FlowError(f"{rec_path} is a fine-tune of other bit-widths than solution.json",
                        "re-run from the finetune step (ohq-flow run CONFIG --from finetune)")
    b = ctx.cfg.model.brevitas
    module = build_brevitas_model(b.factory, b.kwargs, None, b.python_path)
    load_state(module, torch.load(ctx.path(FT_STATE), map_location="cpu", weights_only=True),
               json.loads(ctx.path(FT_BITS).read_text()))
    module.eval()
    model = export_brevitas(module, b.input_shape, out_path or ctx.path("final/model.onnx"))
    return model, module
