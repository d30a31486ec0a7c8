"""Train the digits example (8-bit baseline) and save the checkpoint and the test split.

    python -m examples.digits.train [--out examples/digits/digits_w8a8.pt] [--epochs 40]

Writes the state dict and `digits_test.npz` (x, y) next to it (the flow's evaluation set).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from examples.digits.data import load_digits_split
from examples.digits.model import build_model

HERE = Path(__file__).resolve().parent


def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a torch model on numpy arrays."""
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def fit(model: torch.nn.Module, x_tr: np.ndarray, y_tr: np.ndarray, *, epochs: int, lr: float = 3e-3,
        seed: int = 0, batch: int = 64) -> float:
    """Adam + cosine schedule, cross-entropy; returns the seconds it took."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    t0 = time.time()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return time.time() - t0


def train(epochs: int = 40, seed: int = 0, w_bits: int = 8, a_bits: int = 8, lr: float = 3e-3):
    """Train a DigitsCNN; returns (model, test accuracy, seconds)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    x_tr, y_tr, x_te, y_te = load_digits_split(seed)
    model = build_model(w_bits=w_bits, a_bits=a_bits)
    secs = fit(model, x_tr, y_tr, epochs=epochs, lr=lr, seed=seed)
    return model, evaluate(model, x_te, y_te), secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(HERE / "digits_w8a8.pt"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model, acc, secs = train(args.epochs, args.seed)
    out = Path(args.out)
    torch.save(model.state_dict(), out)
    _, _, x_te, y_te = load_digits_split(args.seed)
    np.savez(out.with_name("digits_test.npz"), x=x_te, y=y_te)
    print(f"digits: test accuracy {acc:.4f} after {args.epochs} epochs in {secs:.1f} s -> {out}")
    if acc < 0.95:
        raise SystemExit(f"test accuracy {acc:.4f} is below the 0.95 target")


if __name__ == "__main__":
    main()
