"""Activations and the dense kernel: forward against numpy float64, backward against
central finite differences in float64 (relative error < 1e-6) and against the reference."""
import numpy as np
import pytest

from pydl._core import kernels

import reference as ref
from conftest import numeric_grad, rel_err

ACTS = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax"]


def away_from_kinks(rng, shape):
    """Inputs at least 0.05 away from 0, where relu/leaky_relu have no derivative."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.05, np.sign(x + 1e-12) * 0.05 + x, x)


@pytest.mark.parametrize("act", ACTS)
def test_activation_forward(rng, act):
    x = rng.standard_normal((6, 7)) * 3
    np.testing.assert_allclose(kernels.activation_forward(x, act), ref.act(x, act), rtol=1e-12, atol=1e-14)
    y32 = kernels.activation_forward(x.astype(np.float32), act)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, ref.act(x.astype(np.float32), act), rtol=2e-6, atol=2e-7)


def test_sigmoid_and_softmax_are_stable_for_large_inputs():
    x = np.array([[-1000.0, 0.0, 1000.0]])
    assert np.all(np.isfinite(kernels.activation_forward(x, "sigmoid")))
    np.testing.assert_allclose(kernels.activation_forward(x, "softmax"), [[0, 0, 1]], atol=1e-300)


@pytest.mark.parametrize("act", ACTS)
def test_activation_backward_finite_differences(rng, act):
    x = away_from_kinks(rng, (4, 5))
    r = rng.standard_normal((4, 5))  # L = sum(r * act(x)), so dL/dy = r
    y = kernels.activation_forward(x, act)
    analytic = kernels.activation_backward(r, x, y, act)
    numeric = numeric_grad(lambda: float((r * kernels.activation_forward(x, act)).sum()), x)
    assert rel_err(analytic, numeric) < 1e-6


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n,fin,units", [(1, 3, 2), (5, 7, 4), (33, 20, 17)])
def test_dense_forward(rng, act, n, fin, units):
    x, w, b = rng.standard_normal((n, fin)), rng.standard_normal((fin, units)), rng.standard_normal(units)
    y, _ = kernels.dense_forward(x, w, b, act)
    np.testing.assert_allclose(y, ref.dense(x, w, b, act), rtol=1e-10, atol=1e-12)
    y_nobias, _ = kernels.dense_forward(x, w, None, act)
    np.testing.assert_allclose(y_nobias, ref.dense(x, w, None, act), rtol=1e-10, atol=1e-12)
    y_keep, z = kernels.dense_forward(x, w, b, act, keep_preactivation=True)
    np.testing.assert_allclose(y_keep, y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(z, x @ w + b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_backward_finite_differences(rng, act, use_bias):
    n, fin, units = 6, 5, 4
    x, w, b = rng.standard_normal((n, fin)), rng.standard_normal((fin, units)) * 0.5, rng.standard_normal(units)
    if act in ("relu", "leaky_relu"):  # keep pre-activations off the kink
        z = x @ w + b
        b = b + np.where(np.abs(z) < 0.05, 0.1, 0.0).max(axis=0)
    r = rng.standard_normal((n, units))
    bias = b if use_bias else None

    def loss():
        return float((r * kernels.dense_forward(x, w, bias, act)[0]).sum())

    y, z = kernels.dense_forward(x, w, bias, act, keep_preactivation=True)
    dx, dw, db = kernels.dense_backward(r, x, w, y, z, act, use_bias)
    assert rel_err(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_err(dw, numeric_grad(loss, w)) < 1e-6
    if use_bias:
        assert rel_err(db, numeric_grad(loss, b)) < 1e-6


def test_dense_backward_against_reference_and_accumulates(rng):
    n, fin, units = 9, 6, 5
    x, w, b = rng.standard_normal((n, fin)), rng.standard_normal((fin, units)), rng.standard_normal(units)
    dy = rng.standard_normal((n, units))
    y, z = kernels.dense_forward(x, w, b, "tanh", keep_preactivation=True)
    dz = dy * (1 - np.tanh(x @ w + b) ** 2)
    dw0, db0 = rng.standard_normal((fin, units)), rng.standard_normal(units)
    dx, dw, db = kernels.dense_backward(dy, x, w, y, z, "tanh", True, True, dw0, db0)
    # parameter gradients accumulate (+=), the input gradient overwrites (=)
    np.testing.assert_allclose(dw, dw0 + x.T @ dz, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, db0 + dz.sum(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, dz @ w.T, rtol=1e-10, atol=1e-12)


def test_dense_float32_matches_float64_reference(rng):
    x, w, b = rng.standard_normal((64, 100)), rng.standard_normal((100, 30)) * 0.1, rng.standard_normal(30)
    y, _ = kernels.dense_forward(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), "gelu")
    np.testing.assert_allclose(y, ref.dense(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), "gelu"),
                               rtol=1e-5, atol=1e-5)


def test_dropout_statistics_scaling_and_backward(rng):
    x = rng.standard_normal((200, 500))
    rate = 0.3
    y, mask = kernels.dropout_forward(x, rate, seed=7)
    kept = mask.astype(bool)
    # 100,000 Bernoulli(0.7) draws: the kept fraction is within 5 standard deviations of 0.7
    assert abs(kept.mean() - 0.7) < 5 * np.sqrt(0.7 * 0.3 / kept.size)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-15)
    assert np.all(y[~kept] == 0)
    dy = rng.standard_normal(x.shape)
    dx = kernels.dropout_backward(dy, mask, rate)
    np.testing.assert_allclose(dx, np.where(kept, dy / (1 - rate), 0), rtol=1e-15)
    # a pure function of (seed, stream, counter): same mask again, a different one otherwise
    assert np.array_equal(kernels.dropout_forward(x, rate, seed=7)[1], mask)
    assert not np.array_equal(kernels.dropout_forward(x, rate, seed=8)[1], mask)
    assert not np.array_equal(kernels.dropout_forward(x, rate, seed=7, counter=1 << 32)[1], mask)
