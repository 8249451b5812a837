"""The kernels Embedding, Normalization and Bidirectional call (csrc/kernels/embedding, norm,
merge) against numpy float64: forward exactly (gathers, copies) or to float rounding, gradients
by central finite differences in float64 (relative error < 1e-6), thread counts bitwise equal."""
import numpy as np
import pytest

from pydl._core import kernels

import pydl
from conftest import assert_split_iff_threads, numeric_grad, rel_err, split_regions


# --- Embedding -------------------------------------------------------------------------------

def test_embedding_ids_convert_and_mask():
    x = np.array([[0.0, 3.0, 1.0], [2.0, 0.0, 4.0]], np.float32)
    ids, mask = kernels.embedding_ids(x, 5)
    assert ids.dtype == np.int64 and ids.shape == x.shape
    np.testing.assert_array_equal(ids, x.astype(np.int64))
    np.testing.assert_array_equal(mask, (x != 0).astype(np.uint8))


@pytest.mark.parametrize("bad, position", [(5.0, 4), (-1.0, 1), (1.5, 2), (np.nan, 0)])
def test_embedding_ids_name_the_first_bad_position(bad, position):
    x = np.zeros(6)
    x[position] = bad
    x[5] = 7.0  # a later bad id is not the one reported
    with pytest.raises(ValueError, match=rf"flat position {position} is not an integer in \[0, 5\)"):
        kernels.embedding_ids(x, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_forward_gathers_rows(dtype):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(7, 4)).astype(dtype)
    ids = rng.integers(0, 7, size=(3, 5))
    y = kernels.embedding_forward(table, ids)
    assert y.dtype == dtype and y.shape == (3, 5, 4)
    np.testing.assert_array_equal(y, table[ids])


def test_embedding_backward_is_the_gradient_with_repeated_ids():
    rng = np.random.default_rng(1)
    table = rng.normal(size=(6, 3))
    ids = np.array([[1, 4, 1], [0, 1, 4]])  # repeats: their gradients add up; rows 2, 3, 5 unused
    w = rng.normal(size=(2, 3, 3))  # loss = sum(w * y)
    got = kernels.embedding_backward(w, ids, 6)
    want = np.zeros((6, 3))
    np.add.at(want, ids.reshape(-1), w.reshape(-1, 3))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    num = numeric_grad(lambda: float(np.sum(w * kernels.embedding_forward(table, ids))), table)
    assert rel_err(got, num) < 1e-6
    assert not got[[2, 3, 5]].any()


def test_embedding_backward_is_bitwise_equal_across_thread_counts(threads):
    # 64 columns split in chunks of 32 over the threads; each column adds its rows in order,
    # so every thread count gives the same bits even with many repeated ids.
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 50, size=4000)
    dy = rng.normal(size=(4000, 64)).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        pydl.set_num_threads(n)
        before = split_regions()
        results.append(kernels.embedding_backward(dy, ids, 50))
        assert_split_iff_threads(n, before)
    assert len(results) == 3
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    want = np.zeros((50, 64))
    np.add.at(want, ids, dy.astype(np.float64))
    assert rel_err(results[0], want) < 1e-5


def test_embedding_bindings_refuse_bad_ids():
    with pytest.raises(ValueError, match=r"id 7 is not in \[0, 7\)"):
        kernels.embedding_forward(np.zeros((7, 2)), np.array([0, 7]))
    with pytest.raises(ValueError, match=r"id -1 is not in \[0, 3\)"):
        kernels.embedding_backward(np.zeros((2, 2)), np.array([0, -1]), 3)


# --- Normalization (fixed statistics) --------------------------------------------------------

def normalization_ref(x, mean, var):
    scale = np.where(var > 0, 1.0 / np.sqrt(np.where(var > 0, var, 1.0)), 1.0)
    return (x - mean) * scale


@pytest.mark.parametrize("stats_shape", [(3,), (2, 3)])  # per channel, per feature
def test_normalization_forward_and_backward(stats_shape):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 2, 3))
    mean = rng.normal(size=stats_shape)
    var = rng.uniform(0.5, 2.0, size=stats_shape)
    var.reshape(-1)[0] = 0.0  # a constant feature passes unscaled
    y = kernels.normalization_forward(x, mean, var)
    np.testing.assert_allclose(y, normalization_ref(x, mean, var), rtol=1e-14)
    w = rng.normal(size=x.shape)
    dx = kernels.normalization_backward(w, var)
    num = numeric_grad(lambda: float(np.sum(w * kernels.normalization_forward(x, mean, var))), x)
    assert rel_err(dx, num) < 1e-6
    y32 = kernels.normalization_forward(x.astype(np.float32), mean.astype(np.float32), var.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, normalization_ref(x, mean, var), rtol=1e-5, atol=1e-6)


def test_normalization_refuses_mismatched_statistics():
    with pytest.raises(ValueError, match="multiple of the statistics"):
        kernels.normalization_forward(np.zeros((2, 5)), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="variance"):
        kernels.normalization_forward(np.zeros((2, 3)), np.zeros(3), np.ones(2))


# --- Bidirectional merge ---------------------------------------------------------------------

MERGES = {
    "concat": lambda a, b: np.concatenate([a, b], axis=-1),
    "sum": lambda a, b: a + b,
    "ave": lambda a, b: (a + b) / 2,
    "mul": lambda a, b: a * b,
}


@pytest.mark.parametrize("mode", sorted(MERGES))
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3)])  # last states, sequences
def test_bidirectional_merge_forward_and_backward(mode, shape):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    y = kernels.bidirectional_merge_forward(mode, a, b)
    want = MERGES[mode](a, b)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-15)
    w = rng.normal(size=want.shape)
    da, db = kernels.bidirectional_merge_backward(mode, w, a, b)
    f = lambda: float(np.sum(w * kernels.bidirectional_merge_forward(mode, a, b)))  # noqa: E731
    assert rel_err(da, numeric_grad(f, a)) < 1e-6
    assert rel_err(db, numeric_grad(f, b)) < 1e-6


def test_bidirectional_merge_refuses_bad_input():
    with pytest.raises(ValueError, match="merge_mode must be concat, sum, ave or mul, got 'max'"):
        kernels.bidirectional_merge_forward("max", np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dy"):
        kernels.bidirectional_merge_backward("concat", np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)))
