"""The data section: config validation and the checks every batch passes before training starts."""

from __future__ import annotations

import numpy as np
import pytest

from ohq_flow.errors import ConfigError, InputError
from tests.train.conftest import FIXTURES, data_factory, make_cfg

SHAPE = [1, 1, 8, 8]


def _load(tmp_path, data):
    from ohq_flow.train.data import load_data
    return load_data(make_cfg(tmp_path, data=data).data, SHAPE, 10)


def test_digits_factory_loads_disjoint_splits(tmp_path):
    d = _load(tmp_path, {"factory": "examples.digits.data:finetune_data", "python_path": ["../.."]})
    assert d.x_train.shape[1:] == (1, 8, 8) and len(d.y_train) + len(d.y_val) == 1347
    assert not set(map(bytes, d.x_val)) & set(map(bytes, d.x_train[:200]))


def test_loaders_are_collected(tmp_path):
    d = _load(tmp_path, data_factory("loaders", batch_size=100))
    assert len(d.y_train) == 1077 and d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64


def test_label_out_of_range_names_factory_and_batch(tmp_path):
    with pytest.raises(InputError) as e:
        _load(tmp_path, data_factory("loaders", bad_label_batch=2))
    msg = str(e.value)
    assert "train_data:loaders" in msg and "training split" in msg and "batch 2" in msg and "label 10" in msg


def test_wrong_shape_names_batch_and_input_shape(tmp_path):
    with pytest.raises(InputError) as e:
        _load(tmp_path, data_factory("loaders", bad_shape_batch=1))
    assert "batch 1" in str(e.value) and "[128, 64]" in str(e.value) and "input_shape" in str(e.value)


@pytest.mark.parametrize("fn, words", [("failing", ["train_data:failing failed", "dataset server unreachable"]),
                                       ("one_split_only", ["not (train, validation)"]),
                                       ("onehot_labels", ["labels have shape", "not one-hot"]),
                                       ("no_such_function", ["no function 'no_such_function'"])])
def test_bad_factories(tmp_path, fn, words):
    with pytest.raises(InputError) as e:
        _load(tmp_path, data_factory(fn))
    assert all(w in str(e.value) for w in words), str(e.value)


def test_npz_sources(tmp_path):
    (tmp_path / "d").mkdir()
    x = np.zeros((20, 1, 8, 8), np.float32)
    y = np.arange(20) % 10
    np.savez(tmp_path / "d" / "all.npz", x_train=x, y_train=y, x_val=x[:5], y_val=y[:5])
    np.savez(tmp_path / "d" / "tr.npz", x=x, y=y)
    np.savez(tmp_path / "d" / "va.npz", x=x[:5], y=y[:5] + 7)
    assert len(_load(tmp_path, {"npz": str(tmp_path / "d" / "all.npz")}).y_val) == 5
    with pytest.raises(InputError, match=r"validation split\), batch 0, sample 3: label 10"):
        _load(tmp_path, {"train_npz": str(tmp_path / "d" / "tr.npz"), "val_npz": str(tmp_path / "d" / "va.npz")})
    with pytest.raises(InputError, match="x_train"):
        _load(tmp_path, {"npz": str(tmp_path / "d" / "tr.npz")})


def test_config_lists_every_data_problem(tmp_path):
    with pytest.raises(ConfigError) as e:
        make_cfg(tmp_path, data={"factory": "not a factory", "npz": "missing.npz"}, finetune={"enabled": True, "epochs": 2, "steps": 3})
    paths = [p for p, _ in e.value.problems]
    assert "data.factory" in paths and "data.npz" in paths and "finetune" in paths
    with pytest.raises(ConfigError, match="needs a 'data' section"):
        make_cfg(tmp_path, data=None, finetune={"enabled": True})
    with pytest.raises(ConfigError, match="train_npz' and 'val_npz' go together"):
        make_cfg(tmp_path, data={"train_npz": str(FIXTURES / "train_data.py")})


def test_without_data_config_is_unchanged(tmp_path):
    cfg = make_cfg(tmp_path, data=None)
    assert cfg.data is None and cfg.finetune.enabled is False and cfg.hgq.enabled is False
