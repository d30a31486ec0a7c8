"""Train the evaluation suite and save checkpoints + test splits (run by `make bench`).

    python -m examples.suite.train [--out bench/models] [--only digits_mlp,...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from examples.digits.train import evaluate, fit
from examples.suite import data, models

ROOT = Path(__file__).resolve().parents[2]
# name -> (factory "module:function", data loader, input shape, epochs)
SUITE = {
    "digits_cnn": ("examples.digits.model:build_model", data.digits, [1, 1, 8, 8], 40),
    "digits_mlp": ("examples.suite.models:digits_mlp", data.digits, [1, 1, 8, 8], 60),
    "mnist1d_mlp": ("examples.suite.models:mnist1d_mlp", data.mnist1d, [1, 1, 40], 60),
    "mnist1d_cnn": ("examples.suite.models:mnist1d_cnn", data.mnist1d, [1, 1, 40], 60),
}


def build(factory: str) -> torch.nn.Module:
    import importlib
    mod, fn = factory.split(":")
    return getattr(importlib.import_module(mod), fn)()


def train_one(name: str, out_dir: Path, seed: int = 0) -> dict:
    """Train one suite model; writes <name>.pt and <name>_test.npz; returns its record."""
    factory, loader, shape, epochs = SUITE[name]
    x_all, y_all, x_te, y_te = loader(seed)
    n_val = len(x_all) // 10  # a validation split held out of training (for the search baselines)
    x_tr, y_tr, x_val, y_val = x_all[:-n_val], y_all[:-n_val], x_all[-n_val:], y_all[-n_val:]
    torch.manual_seed(seed)
    model = build(factory)
    secs = fit(model, x_tr, y_tr, epochs=epochs, seed=seed)
    acc = evaluate(model, x_te, y_te)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / f"{name}.pt")
    np.savez(out_dir / f"{name}_test.npz", x=x_te, y=y_te)
    np.savez(out_dir / f"{name}_val.npz", x=x_val, y=y_val)
    np.savez(out_dir / f"{name}_train.npz", x=x_tr, y=y_tr)
    return {"name": name, "factory": factory, "input_shape": shape, "test_accuracy": acc, "train_s": round(secs, 1),
            "n_train": int(len(x_tr)), "n_val": int(len(x_val)), "n_test": int(len(x_te)), "checkpoint": str(out_dir / f"{name}.pt")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "bench" / "models"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    names = [n for n in SUITE if not args.only or n in args.only.split(",")]
    records = [train_one(n, Path(args.out)) for n in names]
    for r in records:
        print(f"{r['name']:<12} test accuracy {r['test_accuracy']:.4f}  ({r['train_s']} s)")
    (Path(args.out) / "suite.json").write_text(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
