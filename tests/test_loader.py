"""DataLoader: every sample once per epoch, the same batches for a given seed whatever the
prefetch depth, uint8 conversion, custom datasets, and fit(DataLoader)."""
import numpy as np
import pytest

import pydl
from pydl import layers, optimizers
from pydl import data as P
from pydl.data import ArrayDataset, DataLoader, Dataset

from conftest import assert_weights_equal


def digits_u8():
    x, y = pydl.datasets.load_digits(as_images=True)
    return (x * 255).round().astype(np.uint8), y


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_sample_once_per_epoch(drop_last):
    x = np.arange(103, dtype=np.float32).reshape(103, 1)
    loader = DataLoader(ArrayDataset(x, np.arange(103)), batch_size=10, seed=3, drop_last=drop_last)
    for _ in range(3):
        seen = np.concatenate([yb for _, yb in loader])
        assert len(seen) == (100 if drop_last else 103)
        assert len(np.unique(seen)) == len(seen)
    epochs = [np.concatenate([yb for _, yb in loader]) for _ in range(2)]
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch
    # x and y stay paired
    for xb, yb in loader:
        np.testing.assert_array_equal(xb[:, 0], yb.astype(np.float32))


def test_same_seed_same_batches_whatever_the_prefetch():
    x, y = digits_u8()
    t = P.Compose([P.RandomFlip(), P.RandomRotation(15), P.RandomCrop(8, 1)])
    runs = []
    for prefetch in (1, 2, 5):
        loader = DataLoader(ArrayDataset(x, y), batch_size=64, seed=11, transform=t, prefetch_factor=prefetch)
        runs.append([(xb.copy(), yb.copy()) for _ in range(2) for xb, yb in loader])
    assert len(runs[0]) == 2 * 29  # 1797 digits in batches of 64, two epochs
    for other in runs[1:]:
        assert len(other) == len(runs[0])
        assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(runs[0], other))
    loader = DataLoader(ArrayDataset(x, y), batch_size=64, seed=12, transform=t)
    assert not np.array_equal(next(iter(loader))[0], runs[0][0][0])


def test_uint8_converted_exactly_without_transform():
    x, y = digits_u8()
    loader = DataLoader(ArrayDataset(x, y), batch_size=50, shuffle=False)
    xb, yb = next(iter(loader))
    assert xb.dtype == np.float32
    np.testing.assert_array_equal(xb, x[:50].astype(np.float32))
    np.testing.assert_array_equal(yb, y[:50])


class Squares(Dataset):
    """A custom map-style dataset computed on the fly."""

    def __len__(self):
        return 300

    def __getitem__(self, i):
        v = np.full((4,), i / 300, dtype=np.float32)
        return v, int(i % 3)


def test_custom_dataset_batches_and_training():
    loader = DataLoader(Squares(), batch_size=32, seed=0)
    seen = np.concatenate([yb for _, yb in loader])
    assert len(seen) == 300
    model = pydl.Sequential([layers.Input((4,)), layers.Dense(16, activation="relu"), layers.Dense(3)], seed=0)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    h = model.fit(loader, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 3 and np.isfinite(h.history["loss"]).all()


def train(prefetch, transform):
    x, y = digits_u8()
    loader = DataLoader(ArrayDataset(x, y), batch_size=64, seed=5, transform=transform, prefetch_factor=prefetch)
    model = pydl.Sequential([layers.Input((8, 8, 1)), layers.Normalization(mean=[0.0], variance=[255.0 ** 2], per="channel"),
                             layers.Conv2D(8, 3, padding="same", activation="relu"), layers.Flatten(),
                             layers.Dropout(0.1), layers.Dense(10)], seed=1)
    model.compile(optimizer=optimizers.Adam(learning_rate=3e-3), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(loader, epochs=4, verbose=0)
    return model, history


def test_fit_with_loader_is_reproducible_and_learns():
    t = P.Compose([P.RandomRotation(10), P.RandomZoom(0.1)])
    m1, h1 = train(1, t)
    m3, h3 = train(3, t)
    assert_weights_equal(m3.get_weights(), m1.get_weights())
    assert h1.history["loss"] == h3.history["loss"]
    x, y = digits_u8()
    assert m1.evaluate(x, y)["accuracy"] > 0.85  # evaluate sees raw images: no augmentation


def test_fit_loader_errors():
    x, y = digits_u8()
    model = pydl.Sequential([layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(10)])
    model.compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 6, 6, 1\)"):
        model.fit(DataLoader(ArrayDataset(x, y)), verbose=0)
    with pytest.raises(ValueError, match="leave y out"):
        model.fit(DataLoader(ArrayDataset(x, y), transform=P.CenterCrop(6)), y, verbose=0)
    with pytest.raises(TypeError, match="ArrayDataset"):
        DataLoader(x)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(ArrayDataset(x, y), prefetch_factor=0)
    with pytest.raises(ValueError, match="empty"):
        ArrayDataset(np.zeros((0, 3)))
    # a crop that fits the model trains
    model.fit(DataLoader(ArrayDataset(x, y), transform=P.CenterCrop(6)), epochs=1, verbose=0)


def test_custom_dataset_logs_every_compiled_metric():
    """Python-made batches accumulate loss and metrics in C++ like array epochs: the logged
    values equal an evaluation pass over the same samples when the weights do not move."""
    model = pydl.Sequential([layers.Input((4,)), layers.Dense(3)], seed=0)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="cross_entropy",
                  metrics=["accuracy", "log_loss", "f1", "top_2_accuracy"])
    h = model.fit(DataLoader(Squares(), batch_size=32, seed=0), epochs=1, verbose=0)
    ds = Squares()
    x = np.stack([ds[i][0] for i in range(len(ds))])
    y = np.array([ds[i][1] for i in range(len(ds))])
    ref = model.evaluate(x, y)
    for k in ("loss", "accuracy", "log_loss", "f1", "top_2_accuracy"):
        assert h.history[k][0] == pytest.approx(ref[k], rel=1e-6), k
