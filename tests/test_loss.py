"""Losses: values against numpy float64 references of PyTorch's definitions, gradients by
central finite differences in float64 (relative error < 1e-6)."""
import numpy as np
import pytest

from pydl._core import kernels

import reference as ref
from conftest import numeric_grad, rel_err


def ce_case(rng, n=7, c=5):
    z = rng.standard_normal((n, c)) * 2
    labels = rng.integers(0, c, n).astype(np.int32)
    return z, labels


@pytest.mark.parametrize("weights", [None, "random"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy_value_and_gradient(rng, weights, smoothing):
    z, labels = ce_case(rng)
    w = None if weights is None else rng.uniform(0.2, 3.0, z.shape[1])
    loss, grad = kernels.loss(z, labels, None, "cross_entropy", w, smoothing)
    assert loss == pytest.approx(ref.cross_entropy(z, labels, w, smoothing), rel=1e-12)
    numeric = numeric_grad(lambda: kernels.loss(z, labels, None, "cross_entropy", w, smoothing)[0], z)
    assert rel_err(grad, numeric) < 1e-6


def test_cross_entropy_known_value():
    # uniform logits over 4 classes: loss = log(4) whatever the label
    loss, grad = kernels.loss(np.zeros((3, 4)), np.array([0, 1, 3], np.int32))
    assert loss == pytest.approx(np.log(4), rel=1e-14)
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15)


def test_cross_entropy_stable_for_huge_logits():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=np.float32)
    loss, grad = kernels.loss(z, np.array([0, 0], np.int32))
    assert np.isfinite(loss) and loss == pytest.approx(1000.0, rel=1e-6)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("weights", [None, (0.3, 2.0)])
def test_binary_cross_entropy(rng, weights):
    z = rng.standard_normal((6, 3)) * 3
    t = (rng.random((6, 3)) > 0.5).astype(np.float64)
    w = None if weights is None else np.array(weights)
    loss, grad = kernels.loss(z, None, t, "binary_cross_entropy", w)
    assert loss == pytest.approx(ref.binary_cross_entropy(z, t, w), rel=1e-12)
    numeric = numeric_grad(lambda: kernels.loss(z, None, t, "binary_cross_entropy", w)[0], z)
    assert rel_err(grad, numeric) < 1e-6


def test_binary_cross_entropy_soft_targets(rng):
    z = rng.standard_normal((5, 2))
    t = rng.random((5, 2))
    loss, grad = kernels.loss(z, None, t, "binary_cross_entropy")
    assert loss == pytest.approx(ref.binary_cross_entropy(z, t), rel=1e-12)
    assert rel_err(grad, numeric_grad(lambda: kernels.loss(z, None, t, "binary_cross_entropy")[0], z)) < 1e-6


@pytest.mark.parametrize("kind,fn", [("mse", ref.mse), ("mae", ref.mae)])
def test_regression_losses(rng, kind, fn):
    z = rng.standard_normal((8, 3))
    t = z + np.where(rng.random((8, 3)) > 0.5, 1, -1) * rng.uniform(0.1, 1.0, (8, 3))  # |z - t| >= 0.1
    loss, grad = kernels.loss(z, None, t, kind)
    assert loss == pytest.approx(fn(z, t), rel=1e-13)
    assert rel_err(grad, numeric_grad(lambda: kernels.loss(z, None, t, kind)[0], z)) < 1e-6


def test_float32_loss_close_to_float64(rng):
    z, labels = ce_case(rng, 64, 10)
    l32, g32 = kernels.loss(z.astype(np.float32), labels)
    l64, g64 = kernels.loss(z, labels)
    assert l32 == pytest.approx(l64, rel=1e-6)
    np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=1e-7)


def test_loss_errors():
    with pytest.raises(ValueError, match="unknown loss"):
        kernels.loss(np.zeros((2, 2)), None, np.zeros((2, 2)), "hinge")
    with pytest.raises(ValueError, match="out of range"):
        kernels.loss(np.zeros((2, 2)), np.array([0, 2], np.int32))
    with pytest.raises(ValueError, match="sum to zero"):
        kernels.loss(np.zeros((2, 2)), np.array([0, 0], np.int32), None, "cross_entropy", np.array([0.0, 1.0]))
