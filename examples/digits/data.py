"""scikit-learn's digits (ships inside the package; no download), split and scaled reproducibly."""

from __future__ import annotations

import numpy as np

# Pixel values 0..16 are scaled to [-1, 1]; the synthetic inputs of MQE use the same statistics.
PIXEL_MEAN, PIXEL_STD = 8.0, 8.0


def load_digits_split(seed: int = 0, test_fraction: float = 0.25):
    """(x_train, y_train, x_test, y_test), x shaped [N, 1, 8, 8] float32 in [-1, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = ((d.images.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD)[:, None, :, :]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


def finetune_data(seed: int = 0, val_fraction: float = 0.2):
    """The flow's ``data.factory``: ((x_train, y_train), (x_val, y_val)) from the training split.

    The validation set is held out of the training split; the test split (digits_test.npz, the
    build step's evaluation set) is never trained or early-stopped on.
    """
    from sklearn.model_selection import train_test_split

    x_tr, y_tr, _, _ = load_digits_split(seed)
    x_a, x_b, y_a, y_b = train_test_split(x_tr, y_tr, test_size=val_fraction, random_state=seed, stratify=y_tr)
    return (x_a, y_a), (x_b, y_b)
