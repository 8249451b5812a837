"""Issue 12, data: DataLoader((x, y)) means arrays, DataLoader.split(fraction) holds out the
last fraction like fit(validation_split=), timeseries_dataset_from_array has Keras's
windows and target alignment, and the scalers take 1-D series and (N, T, F) windows."""
import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import pydl
from pydl import layers
from pydl.data import (ArrayDataset, DataLoader, MinMaxScale, Normalize, RandomFlip, Standardize,
                       timeseries_dataset_from_array)


def _batches(loader):
    xs, ys = zip(*list(loader))
    return np.concatenate(xs), (None if ys[0] is None else np.concatenate(ys))


# ------------------------------------------------------------------ DataLoader((x, y))
def test_loader_takes_a_tuple_of_arrays_as_an_array_dataset(rng):
    x = rng.standard_normal((50, 3)).astype(np.float32)
    y = rng.integers(0, 2, 50)
    loader = DataLoader((x, y), batch_size=16, shuffle=False)
    assert isinstance(loader.dataset, ArrayDataset) and len(loader) == 4
    bx, by = _batches(loader)
    np.testing.assert_array_equal(bx, x)
    np.testing.assert_array_equal(by, y)
    model = pydl.Sequential([layers.Input((3,)), layers.Dense(2)], seed=0)
    model.compile("adam", "cross_entropy")
    a = model.fit(DataLoader((x, y), batch_size=16, seed=1), epochs=2, verbose=0).history["loss"]
    model2 = pydl.Sequential([layers.Input((3,)), layers.Dense(2)], seed=0)
    model2.compile("adam", "cross_entropy")
    b = model2.fit(DataLoader(ArrayDataset(x, y), batch_size=16, seed=1), epochs=2, verbose=0).history["loss"]
    assert len(a) == 2 and a == b  # the canonical spelling, bitwise


def test_loader_takes_x_alone_as_a_one_tuple(rng):
    x = rng.standard_normal((10, 3)).astype(np.float32)
    bx, by = _batches(DataLoader((x,), batch_size=4, shuffle=False))
    np.testing.assert_array_equal(bx, x)
    assert by is None
    with pytest.raises(TypeError, match=r"bare array.*\(x, y\).*\(x,\)"):
        DataLoader(x)  # no targets: refused, with what to pass


def test_loader_tuple_errors_say_what_to_pass(rng):
    x = rng.standard_normal((10, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="different lengths: 10 vs 9"):
        DataLoader((x, np.zeros(9)))
    with pytest.raises(ValueError, match=r"\(x, y\) or \(x,\)"):
        DataLoader((x, np.zeros(10), np.ones(10)))
    with pytest.raises(ValueError, match=r"\(x, y\) or \(x,\)"):
        DataLoader(())


# ----------------------------------------------------------------------- split(fraction)
def test_split_holds_out_the_last_fraction_before_shuffling(rng):
    x = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    loader = DataLoader((x, y), batch_size=8, shuffle=True, seed=3)
    train, val = loader.split(0.2)
    assert len(train.dataset) == 40 and len(val.dataset) == 10
    np.testing.assert_array_equal(np.sort(_batches(train)[1]), np.arange(40))
    np.testing.assert_array_equal(np.sort(_batches(val)[1]), np.arange(40, 50))
    for part in (train, val):
        assert part.batch_size == 8 and part.shuffle is True and part.seed == 3
    # the same cut as fit(x, y, validation_split=0.2): n_val = int(n * fraction)
    x7 = np.zeros((7, 2), np.float32)
    assert [len(p.dataset) for p in DataLoader((x7, np.zeros(7)), batch_size=2).split(0.3)] == [5, 2]


def test_split_keeps_transform_seed_and_drops_no_validation_sample(rng):
    x = rng.integers(0, 255, (30, 4, 4, 1)).astype(np.uint8)
    loader = DataLoader((x, np.arange(30)), batch_size=7, transform=RandomFlip(), drop_last=True)
    train, val = loader.split(0.5)
    assert train.transform is loader.transform and val.transform is loader.transform
    assert train.seed == val.seed == loader._seed  # a drawn seed is carried, so splits reproduce
    assert train.drop_last and not val.drop_last
    assert sum(len(b[0]) for b in val) == 15


def test_split_errors(rng):
    class Squares(pydl.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return np.full(2, i, np.float32), i

    with pytest.raises(TypeError, match="ArrayDataset"):
        DataLoader(Squares()).split(0.2)
    loader = DataLoader((np.zeros((10, 2), np.float32), np.zeros(10)))
    for bad in (0.0, 1.0, -0.1, 0.05):
        with pytest.raises(ValueError, match="validation_split"):
            loader.split(bad)
    with pytest.raises(TypeError, match="validation_split"):
        loader.split("0.2")


# --------------------------------------------------------------------- time series
def _keras_windows(data, targets, sequence_length, sequence_stride, sampling_rate, start_index, end_index):
    """Keras's rule written out: windows start at start_index + p for p = 0, stride, ...
    while the window fits before end_index; window p takes every sampling_rate-th step and
    its target is targets[start_index + p]."""
    start = start_index or 0
    end = len(data) if end_index is None else end_index
    xs, ts = [], []
    p = 0
    while start + p + (sequence_length - 1) * sampling_rate < end and (targets is None or start + p < len(targets)):
        xs.append(np.stack([data[start + p + k * sampling_rate] for k in range(sequence_length)]))
        if targets is not None:
            ts.append(targets[start + p])
        p += sequence_stride
    return np.array(xs), (None if targets is None else np.array(ts))


@pytest.mark.parametrize("kw", [
    dict(sequence_length=5), dict(sequence_length=3, sequence_stride=2), dict(sequence_length=4, sampling_rate=3),
    dict(sequence_length=4, sequence_stride=3, sampling_rate=2, start_index=5, end_index=60),
    dict(sequence_length=10, start_index=7), dict(sequence_length=2, end_index=20),
])
def test_timeseries_windows_and_targets_match_keras_rule(kw):
    data = np.arange(100 * 2, dtype=np.float32).reshape(100, 2)
    targets = np.arange(100) * 10
    loader = timeseries_dataset_from_array(data, targets, batch_size=16, **kw)
    assert isinstance(loader, DataLoader) and not loader.shuffle
    got_x, got_t = _batches(loader)
    want_x, want_t = _keras_windows(data, targets, kw["sequence_length"], kw.get("sequence_stride", 1),
                                    kw.get("sampling_rate", 1), kw.get("start_index"), kw.get("end_index"))
    assert got_x.shape == want_x.shape and len(want_x) > 0
    np.testing.assert_array_equal(got_x, want_x)
    np.testing.assert_array_equal(got_t, want_t)


def test_timeseries_forecasting_target_alignment():
    # Keras's documented example: predict the value after each window with targets=data[T:]
    data = np.arange(20, dtype=np.float32)[:, None]
    loader = timeseries_dataset_from_array(data[:-4], data[4:, 0], sequence_length=4, batch_size=100)
    x, t = _batches(loader)
    assert len(x) == 13
    np.testing.assert_array_equal(t, x[:, -1, 0] + 1)  # the step right after each window


def test_timeseries_without_targets_shorter_targets_and_shuffle():
    data = np.arange(30, dtype=np.float32).reshape(30, 1)
    x, t = _batches(timeseries_dataset_from_array(data, None, sequence_length=5, batch_size=8))
    assert t is None and len(x) == 26
    x, t = _batches(timeseries_dataset_from_array(data, np.arange(10), sequence_length=5))
    assert len(x) == 10  # as Keras: no more windows than targets
    a = _batches(timeseries_dataset_from_array(data, np.arange(30), sequence_length=5, shuffle=True, seed=4))
    b = _batches(timeseries_dataset_from_array(data, np.arange(30), sequence_length=5, shuffle=True, seed=4))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], np.sort(a[1]))  # shuffled
    np.testing.assert_array_equal(a[0][:, 0, 0], a[1].astype(np.float32))  # pairs stay together


def test_timeseries_trains_an_rnn():
    t = np.linspace(0, 20, 400, dtype=np.float32)
    series = np.sin(t)[:, None]
    loader = timeseries_dataset_from_array(series[:-8], series[8:, 0:1], sequence_length=8, batch_size=32, seed=0,
                                           shuffle=True)
    model = pydl.Sequential([layers.Input((8, 1)), layers.LSTM(16), layers.Dense(1)], seed=0)
    model.compile("adam", "mse")
    h = model.fit(loader, epochs=15, verbose=0)
    assert h.history["loss"][-1] < 0.1 * h.history["loss"][0]


@pytest.mark.parametrize("kw, match", [
    (dict(sequence_length=0), "sequence_length"), (dict(sequence_length=5, sequence_stride=0), "sequence_stride"),
    (dict(sequence_length=5, sampling_rate=0), "sampling_rate"), (dict(sequence_length=5, start_index=-1), "start_index"),
    (dict(sequence_length=5, start_index=10, end_index=10), "end_index"),
    (dict(sequence_length=5, end_index=31), "end_index"), (dict(sequence_length=40), "no window"),
    (dict(sequence_length=5, batch_size=None), "batch_size"),
])
def test_timeseries_errors(kw, match):
    data = np.zeros((30, 2), np.float32)
    with pytest.raises((ValueError, TypeError), match=match):
        timeseries_dataset_from_array(data, None, **kw)


def test_timeseries_checks_data_and_targets():
    with pytest.raises(ValueError, match="data"):
        timeseries_dataset_from_array(np.float32(3.0), None, sequence_length=1)
    with pytest.raises(ValueError, match="targets"):
        timeseries_dataset_from_array(np.zeros((30, 2)), np.zeros(()), sequence_length=2)


# ------------------------------------------------------------------------ scalers
def test_scalers_take_a_1d_series_as_one_feature(rng):
    s = rng.standard_normal(200) * 3 + 1
    out = Standardize().fit_transform(s)
    assert out.shape == (200,)
    np.testing.assert_allclose(out, StandardScaler().fit_transform(s[:, None])[:, 0], rtol=1e-5, atol=1e-6)
    mm = MinMaxScale().fit(s)
    np.testing.assert_allclose(mm.transform(s), MinMaxScaler().fit_transform(s[:, None])[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mm.inverse_transform(mm.transform(s)), s, rtol=1e-5, atol=1e-5)


def test_scalers_default_to_per_feature_statistics_over_windows(rng):
    w = rng.standard_normal((40, 12, 3)) * np.array([1.0, 5.0, 0.1]) + np.array([0.0, 10.0, -3.0])
    s = Standardize().fit(w)
    assert s.per_ == "channel" and s.offset_.shape == (3,)
    flat = w.reshape(-1, 3)
    np.testing.assert_allclose(s.offset_, flat.mean(0))
    np.testing.assert_allclose(s.transform(w).reshape(-1, 3), StandardScaler().fit_transform(flat), rtol=1e-5,
                               atol=1e-5)
    # windows of another length use the same per-feature statistics
    assert s.transform(w[:, :5]).shape == (40, 5, 3)
    m = MinMaxScale().fit(w)
    np.testing.assert_allclose(m.transform(w).reshape(-1, 3), MinMaxScaler().fit_transform(flat), rtol=1e-5,
                               atol=1e-5)
    # 2-D data and images keep per-feature (per-position) statistics; per= still chooses
    assert Standardize().fit(rng.random((10, 4))).offset_.shape == (4,)
    assert Standardize().fit(rng.random((10, 4, 4, 2))).offset_.shape == (4, 4, 2)
    assert Standardize(per="feature").fit(w).offset_.shape == (12, 3)
    assert Standardize().per == "auto"  # stored as given


def test_scaler_as_layer_after_windows(rng):
    w = rng.standard_normal((20, 6, 3)).astype(np.float32) * 4 + 2
    s = Standardize().fit(w)
    model = pydl.Sequential([layers.Input((6, 3)), s.as_layer(), layers.Flatten()], seed=0)
    np.testing.assert_allclose(model.predict(w).reshape(20, 6, 3), s.transform(w), rtol=1e-5, atol=1e-5)


def test_normalize_takes_a_1d_series():
    out = Normalize(mean=[2.0], std=[4.0]).fit_transform(np.array([2.0, 6.0, -2.0]))
    np.testing.assert_allclose(out, [0.0, 1.0, -1.0])
