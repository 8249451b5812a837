"""Masked global 1-D pools and position embeddings, kernel by kernel (issue 13): forward against
numpy float64 references, backward by float64 central differences (relative error < 1e-6);
masks with fully padded sequences, T = 1; float32 agrees; bad arguments raise."""
import numpy as np
import pytest

from pydl._core import kernels

from conftest import numeric_grad, rel_err


def masked(rng, n, t, with_mask):
    if not with_mask:
        return None
    m = (rng.random((n, t)) > 0.4).astype(np.uint8)
    m[0] = 0                 # a sequence of padding alone
    m[-1, 0] = 1
    return m


def avg_ref(x, m):
    if m is None:
        return x.mean(axis=1)
    w = m.astype(np.float64)[:, :, None]
    count = w.sum(axis=1)
    return np.where(count > 0, (x * w).sum(axis=1) / np.maximum(count, 1), 0.0)


def max_ref(x, m):
    if m is None:
        return x.max(axis=1)
    xm = np.where(m.astype(bool)[:, :, None], x, -np.inf)
    out = xm.max(axis=1)
    return np.where(np.isfinite(out), out, 0.0)


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("n,t,c", [(3, 7, 5), (2, 1, 3), (4, 33, 2)])
def test_masked_avg_pool_matches_reference_and_finite_differences(n, t, c, with_mask):
    rng = np.random.default_rng(n * 10 + t)
    x = rng.standard_normal((n, t, c))
    m = masked(rng, n, t, with_mask)
    y = kernels.masked_avg_pool1d_forward(x, m)
    assert y.shape == (n, c)
    np.testing.assert_allclose(y, avg_ref(x, m), rtol=1e-13, atol=1e-15)
    r = rng.standard_normal(y.shape)
    dx = kernels.masked_avg_pool1d_backward(r, t, m)
    want = numeric_grad(lambda: float(np.sum(kernels.masked_avg_pool1d_forward(x, m) * r)), x)
    assert dx.shape == x.shape and rel_err(dx, want) < 1e-6
    if m is not None:
        assert np.all(dx[~m.astype(bool)] == 0)  # padded steps get no gradient
    y32 = kernels.masked_avg_pool1d_forward(x.astype(np.float32), m)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("n,t,c", [(3, 7, 5), (2, 1, 3), (4, 33, 2)])
def test_masked_max_pool_matches_reference_and_finite_differences(n, t, c, with_mask):
    rng = np.random.default_rng(n * 10 + t + 1)
    x = rng.standard_normal((n, t, c))  # distinct values: the maximum is unique, so differentiable
    m = masked(rng, n, t, with_mask)
    y, argmax = kernels.masked_max_pool1d_forward(x, m)
    np.testing.assert_array_equal(y, max_ref(x, m))
    if m is not None:
        assert np.all(argmax[0] == -1)  # nothing valid: no step
    valid = argmax >= 0
    rows, cols = np.nonzero(valid)
    np.testing.assert_array_equal(x[rows, argmax[valid], cols], y[valid])
    r = rng.standard_normal(y.shape)
    dx = kernels.masked_max_pool1d_backward(r, argmax, t)
    want = numeric_grad(lambda: float(np.sum(kernels.masked_max_pool1d_forward(x, m)[0] * r)), x)
    assert dx.shape == x.shape and rel_err(dx, want) < 1e-6


@pytest.mark.parametrize("n,t,length,d", [(3, 5, 8, 4), (2, 8, 8, 3), (1, 1, 4, 2)])
def test_position_embedding_matches_reference_and_finite_differences(n, t, length, d):
    rng = np.random.default_rng(t + length)
    table = rng.standard_normal((length, d))
    y = kernels.position_embedding_forward(table, n, t)
    np.testing.assert_array_equal(y, np.broadcast_to(table[:t], (n, t, d)))  # the first T rows
    r = rng.standard_normal(y.shape)
    dtable = kernels.position_embedding_backward(r, length)
    want = numeric_grad(lambda: float(np.sum(kernels.position_embedding_forward(table, n, t) * r)), table)
    assert dtable.shape == table.shape and rel_err(dtable, want) < 1e-6
    np.testing.assert_allclose(dtable[:t], r.sum(axis=0), rtol=1e-13)
    assert np.all(dtable[t:] == 0)


def test_bad_arguments_raise_clear_errors():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"mask \(N, T\)"):
        kernels.masked_avg_pool1d_forward(x, np.ones((2, 4), np.uint8))
    with pytest.raises(ValueError, match="x"):
        kernels.masked_max_pool1d_forward(np.zeros((2, 3)), None)
    with pytest.raises(ValueError, match="argmax entries"):
        kernels.masked_max_pool1d_backward(np.zeros((2, 4)), np.full((2, 4), 3, np.int32), 3)
    with pytest.raises(ValueError, match="steps <= 5"):
        kernels.position_embedding_forward(np.zeros((5, 2)), 1, 6)
    with pytest.raises(ValueError, match="sequence_length"):
        kernels.position_embedding_backward(np.zeros((1, 6, 2)), 5)
