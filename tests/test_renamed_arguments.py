"""Arguments renamed to their Keras 3 / PyTorch names (issue 17): the new name works, the old
one still works for one release with a DeprecationWarning naming the new one, both at once
is a TypeError, and the old attribute reads the new one."""
import warnings

import numpy as np
import pytest

from pydl import callbacks
from pydl.data import DataLoader, Resize


def test_resize_interpolation(rng):
    x = (rng.random((2, 6, 6, 1)) * 255).astype(np.float32)
    new = Resize(3, 3, interpolation="nearest")
    np.testing.assert_array_equal(new(x), x[:, 1::2, 1::2])  # centres of 2x2 blocks: (2i + 1)
    with pytest.warns(DeprecationWarning, match="method= is renamed interpolation="):
        old = Resize(3, 3, method="nearest")
    assert old.interpolation == "nearest" and old.get_config() == new.get_config()
    with pytest.warns(DeprecationWarning, match="Resize.method is renamed Resize.interpolation"):
        assert old.method == "nearest"
    with pytest.raises(TypeError, match="both"):
        Resize(3, 3, interpolation="nearest", method="bilinear")


def test_model_checkpoint_filepath():
    cb = callbacks.ModelCheckpoint(filepath="ckpt-{epoch}.pydl")
    assert cb.filepath == "ckpt-{epoch}.pydl"
    with pytest.warns(DeprecationWarning, match="path= is renamed filepath="):
        old = callbacks.ModelCheckpoint(path="ckpt-{epoch}.pydl")
    with pytest.warns(DeprecationWarning, match="ModelCheckpoint.path is renamed ModelCheckpoint.filepath"):
        assert old.path == "ckpt-{epoch}.pydl"
    with pytest.raises(TypeError, match="both"):
        callbacks.ModelCheckpoint("a.pydl", path="b.pydl")
    with pytest.raises(TypeError, match="expected filepath"):
        callbacks.ModelCheckpoint()


def test_csv_logger_filename(tmp_path):
    cb = callbacks.CSVLogger(filename=str(tmp_path / "log.csv"))
    assert cb.filename.endswith("log.csv")
    with pytest.warns(DeprecationWarning, match="path= is renamed filename="):
        old = callbacks.CSVLogger(path=tmp_path / "log.csv")
    with pytest.warns(DeprecationWarning, match="CSVLogger.path is renamed CSVLogger.filename"):
        assert old.path == str(tmp_path / "log.csv")
    with pytest.raises(TypeError, match="expected filename"):
        callbacks.CSVLogger(3)


def test_dataloader_prefetch_factor():
    data = (np.zeros((8, 2), np.float32), np.zeros(8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name warns about nothing
        assert DataLoader(data, prefetch_factor=3).prefetch_factor == 3
    with pytest.warns(DeprecationWarning, match="prefetch= is renamed prefetch_factor="):
        old = DataLoader(data, prefetch=5)
    assert old.prefetch_factor == 5
    with pytest.warns(DeprecationWarning, match="DataLoader.prefetch is renamed"):
        assert old.prefetch == 5
    with pytest.raises(ValueError, match="DataLoader: expected prefetch_factor"):
        DataLoader(data, prefetch_factor=0)
