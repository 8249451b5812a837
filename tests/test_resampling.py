"""Random over/under-sampling and SMOTE: class counts against imbalanced-learn, where the
rows come from, SMOTE's geometry against scikit-learn's neighbours, seeds, errors, and
the effect of oversampling on minority recall of a pydl model."""
import numpy as np
import pytest
from imblearn import over_sampling as imb_over, under_sampling as imb_under
from sklearn.neighbors import NearestNeighbors

import pydl
from pydl import layers, optimizers
from pydl.data import SMOTE, RandomOverSampler, RandomUnderSampler

STRATEGIES = ["auto", {0: 60, 2: 40}]


def _imbalanced(rng, counts=(60, 25, 12), d=3):
    y = np.repeat(np.arange(len(counts)), counts)
    perm = rng.permutation(len(y))
    return rng.standard_normal((len(y), d))[perm], y[perm]


def _counts(y):
    return dict(zip(*np.unique(y, return_counts=True)))


def _rows_in(rows, pool):
    """Every row of `rows` equals some row of `pool`."""
    flat_pool = {r.tobytes() for r in pool.reshape(len(pool), -1)}
    return all(r.tobytes() in flat_pool for r in rows.reshape(len(rows), -1))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_oversampler_counts_and_rows(rng, strategy):
    x, y = _imbalanced(rng)
    xr, yr = RandomOverSampler(strategy, seed=0).fit_resample(x, y)
    _, y_ref = imb_over.RandomOverSampler(sampling_strategy=strategy, random_state=0).fit_resample(x, y)
    assert _counts(yr) == _counts(y_ref)
    np.testing.assert_array_equal(xr[: len(x)], x)  # originals first, in order
    np.testing.assert_array_equal(yr[: len(y)], y)
    assert _rows_in(np.column_stack([xr, yr]), np.column_stack([x, y]))  # labels travel with rows


@pytest.mark.parametrize("strategy", ["auto", {0: 20, 1: 25}])
def test_undersampler_counts_and_rows(rng, strategy):
    x, y = _imbalanced(rng)
    xr, yr = RandomUnderSampler(strategy, seed=0).fit_resample(x, y)
    _, y_ref = imb_under.RandomUnderSampler(sampling_strategy=strategy, random_state=0).fit_resample(x, y)
    assert _counts(yr) == _counts(y_ref)
    sampler = RandomUnderSampler(strategy, seed=0)
    xr2, _ = sampler.fit_resample(x, y)
    idx = sampler.sample_indices_
    assert len(np.unique(idx)) == len(idx)  # without replacement
    assert np.all(np.diff(idx) > 0)  # original relative order kept
    np.testing.assert_array_equal(xr2, x[idx])
    assert _rows_in(np.column_stack([xr, yr]), np.column_stack([x, y]))


def test_samplers_accept_any_sample_shape(rng):
    x = rng.standard_normal((30, 2, 3, 4)).astype(np.float32)
    y = np.array([0] * 24 + [1] * 6)
    xr, yr = RandomOverSampler(seed=1).fit_resample(x, y)
    assert xr.shape == (48, 2, 3, 4) and xr.dtype == np.float32 and _counts(yr) == {0: 24, 1: 24}
    assert _rows_in(xr, x)
    xr, yr = RandomUnderSampler(seed=1).fit_resample(list(x), list(y))
    assert xr.shape == (12, 2, 3, 4) and _counts(yr) == {0: 6, 1: 6}


@pytest.mark.parametrize("cls", [RandomOverSampler, RandomUnderSampler, SMOTE])
def test_seed_reproduces(rng, cls):
    x, y = _imbalanced(rng)
    a = cls(seed=3).fit_resample(x, y)
    b = cls(seed=3).fit_resample(x, y)
    c = cls(seed=4).fit_resample(x, y)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("k", [1, 5])
def test_smote_counts_and_geometry(rng, strategy, k):
    x, y = _imbalanced(rng)
    xr, yr = SMOTE(k, strategy, seed=0).fit_resample(x, y)
    _, y_ref = imb_over.SMOTE(k_neighbors=k, sampling_strategy=strategy, random_state=0).fit_resample(x, y)
    assert _counts(yr) == _counts(y_ref)
    np.testing.assert_array_equal(xr[: len(x)], x)
    np.testing.assert_array_equal(yr[: len(y)], y)
    for c in np.unique(y):
        synth = xr[len(x):][yr[len(y):] == c]
        if len(synth) == 0:
            continue
        members = x[y == c]
        nbrs = NearestNeighbors(n_neighbors=k).fit(members).kneighbors(return_distance=False)
        # All (i, j) segments with j among i's k nearest neighbours, shape (m*k, d).
        start = np.repeat(members, k, axis=0)
        direction = members[nbrs.ravel()] - start
        # Project each synthetic point on each segment's line; solve for u and the residual.
        rel = synth[:, None, :] - start[None]                                    # (s, m*k, d)
        u = (rel * direction[None]).sum(-1) / (direction ** 2).sum(-1)[None]     # (s, m*k)
        resid = np.linalg.norm(rel - u[..., None] * direction[None], axis=-1)
        on_segment = (resid < 1e-6) & (u >= -1e-6) & (u < 1 + 1e-6)
        assert on_segment.any(axis=1).all(), f"class {c}: a synthetic point lies on no neighbour segment"


def test_smote_output_dtype(rng):
    x, y = _imbalanced(rng)
    xr, _ = SMOTE(seed=0).fit_resample(x.astype(np.float32), y)
    assert xr.dtype == np.float32
    xr, _ = SMOTE(seed=0).fit_resample((x * 10).astype(np.int64), y)
    assert xr.dtype == np.float64


def test_smote_too_few_samples(rng):
    x = rng.standard_normal((24, 2))
    y = np.array([0] * 10 + [1] * 10 + [3] * 4)
    with pytest.raises(ValueError, match=r"SMOTE: class 3 has 4 samples; k_neighbors=5 needs at least 6"):
        SMOTE().fit_resample(x, y)
    assert len(SMOTE(k_neighbors=3).fit_resample(x, y)[0]) == 30


def test_bad_inputs(rng):
    x, y = _imbalanced(rng)
    with pytest.raises(ValueError, match="sampling_strategy: expected 'auto'"):
        RandomOverSampler("minority")
    with pytest.raises(TypeError, match="sampling_strategy"):
        RandomUnderSampler(0.5)
    with pytest.raises(ValueError, match="class 5 is not present"):
        RandomOverSampler({5: 100}).fit_resample(x, y)
    with pytest.raises(ValueError, match="cannot shrink class 0 from 60 to 10"):
        RandomOverSampler({0: 10}).fit_resample(x, y)
    with pytest.raises(ValueError, match="cannot grow class 2 from 12 to 50"):
        RandomUnderSampler({2: 50}).fit_resample(x, y)
    with pytest.raises(TypeError, match="target for class 2 to be a non-negative int"):
        SMOTE(sampling_strategy={2: 20.5}).fit_resample(x, y)
    with pytest.raises(ValueError, match="target for class 2 to be a non-negative int"):
        SMOTE(sampling_strategy={2: -1}).fit_resample(x, y)
    with pytest.raises(ValueError, match="different lengths: 97 samples vs 96 labels"):
        RandomOverSampler().fit_resample(x, y[:-1])
    with pytest.raises(ValueError, match="empty"):
        RandomUnderSampler().fit_resample(np.zeros((0, 2)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="1-D"):
        RandomOverSampler().fit_resample(x, y[:, None])
    with pytest.raises(ValueError, match="non-integral"):
        RandomOverSampler().fit_resample(x, y + 0.5)
    with pytest.raises(TypeError, match="integer class labels"):
        RandomOverSampler().fit_resample(x, y.astype(str))
    with pytest.raises(ValueError, match="2-D"):
        SMOTE().fit_resample(x[:, :, None], y)
    with pytest.raises(ValueError, match="NaN"):
        SMOTE().fit_resample(np.where(x > 2, np.nan, x), y)
    with pytest.raises(ValueError, match="SMOTE: expected k_neighbors to be a positive int, got 0"):
        SMOTE(k_neighbors=0)
    with pytest.raises(TypeError, match="SMOTE: expected k_neighbors to be a positive int, got 2.5"):
        SMOTE(k_neighbors=2.5)


def _minority_recall(x_train, y_train, x, y):
    model = pydl.Sequential([layers.Input((2,)), layers.Dense(1)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="binary_cross_entropy")
    model.fit(x_train, y_train[:, None].astype(np.float32), epochs=20, batch_size=64, verbose=0)
    pred = model.predict(x)[:, 0] > 0  # the model outputs logits
    return pred[y].mean()


def test_oversampling_raises_minority_recall(rng):
    n = 2000
    y = rng.random(n) < 0.05
    x = (rng.standard_normal((n, 2)) + y[:, None] * 1.5).astype(np.float32)
    baseline = _minority_recall(x, y, x, y)
    over = _minority_recall(*RandomOverSampler(seed=0).fit_resample(x, y), x, y)
    smote = _minority_recall(*SMOTE(seed=0).fit_resample(x, y), x, y)
    # Measured: baseline 0.30, RandomOverSampler 0.86, SMOTE 0.86 (107 minority samples).
    assert over >= baseline + 0.2
    assert smote >= baseline + 0.2


@pytest.mark.parametrize("chunk_elems", [7, 1 << 22])  # tiny chunks exercise the row blocking
def test_nearest_neighbors_match_sklearn(rng, chunk_elems):
    from pydl.data.resampling import _nearest_neighbors
    pts = rng.standard_normal((40, 4))
    ref = NearestNeighbors(n_neighbors=5).fit(pts).kneighbors(return_distance=False)
    np.testing.assert_array_equal(_nearest_neighbors(pts, 5, chunk_elems=chunk_elems), ref)
