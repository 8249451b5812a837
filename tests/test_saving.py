"""Save/load: bitwise round trip of weights and optimizer state; clear errors for
truncated, corrupted and foreign files; atomic writes."""
import os

import numpy as np
import pytest

import pydl
from pydl import layers, optimizers

from conftest import assert_weights_equal


def trained_model():
    x, y = pydl.datasets.load_digits()
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(32, activation="tanh"), layers.Dropout(0.1),
                             layers.Dense(10)], seed=4)
    model.compile(optimizer=optimizers.Adam(learning_rate=2e-3, clipnorm=5.0), loss="cross_entropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    return model, x, y


def test_round_trip_is_bitwise_and_training_continues_identically(tmp_path):
    model, x, y = trained_model()
    path = str(tmp_path / "model.pydl")
    model.save(path)
    loaded = pydl.load_model(path)
    assert_weights_equal(loaded.get_weights(), model.get_weights())
    assert loaded.summary(print_fn=None).splitlines()[1:] == model.summary(print_fn=None).splitlines()[1:]
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    # optimizer moments, step and data order position travel too: the next epoch is identical
    saved = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    loaded.fit(x, y, epochs=1, verbose=0)
    assert_weights_equal(loaded.get_weights(), model.get_weights())
    after = model.get_weights()
    assert len(after) == len(saved) == 4
    assert not any(np.array_equal(a, b) for a, b in zip(after, saved))  # the epoch changed every weight


def test_uncompiled_model_round_trip(tmp_path):
    model = pydl.Sequential([layers.Input((3,)), layers.Dense(2, activation="sigmoid", use_bias=False)], seed=9)
    path = str(tmp_path / "m.pydl")
    model.save(path)
    loaded = pydl.load_model(path)
    assert loaded.optimizer is None
    assert_weights_equal(loaded.get_weights(), model.get_weights())  # the kernel alone: no bias


def test_truncated_file_raises(tmp_path):
    model, _, _ = trained_model()
    path = tmp_path / "m.pydl"
    model.save(str(path))
    data = path.read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.pydl"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="not a readable pydl model file"):
            pydl.load_model(str(bad))


def test_foreign_and_corrupted_files_raise(tmp_path):
    junk = tmp_path / "junk.pydl"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match="pydl model file"):
        pydl.load_model(str(junk))
    from safetensors.numpy import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(other))
    with pytest.raises(ValueError, match="pydl model file"):
        pydl.load_model(str(other))
    with pytest.raises(OSError, match="cannot read"):
        pydl.load_model(str(tmp_path / "missing.pydl"))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    model, _, _ = trained_model()
    path = tmp_path / "m.pydl"
    model.save(str(path))
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    model.fit(*pydl.datasets.load_digits(), epochs=1, verbose=0)
    with pytest.raises(OSError, match="disk full"):
        model.save(str(path))
    monkeypatch.undo()
    assert path.read_bytes() == before  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pydl"]
