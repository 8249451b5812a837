"""Merge kernels (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate) against numpy
float64, gradients by central finite differences (float64, relative error < 1e-6), and the
loss's sample weights against a numpy weighted mean."""
import numpy as np
import pytest

from pydl._core import kernels

from conftest import numeric_grad, rel_err

REFERENCE = {
    "add": lambda xs: np.sum(xs, axis=0),
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": lambda xs: np.prod(xs, axis=0),
    "average": lambda xs: np.mean(xs, axis=0),
    "maximum": lambda xs: np.max(xs, axis=0),
    "minimum": lambda xs: np.min(xs, axis=0),
}


def inputs(op, rng, k=3, shape=(4, 3, 5)):
    k = 2 if op == "subtract" else k
    # Distinct values: max/min are differentiable away from ties.
    return [rng.normal(size=shape) + 0.01 * i for i in range(k)]


@pytest.mark.parametrize("op", sorted(REFERENCE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_forward_matches_numpy(op, dtype):
    rng = np.random.default_rng(0)
    xs = [x.astype(dtype) for x in inputs(op, rng)]
    y = kernels.merge_forward(op, xs)
    assert y.dtype == dtype and y.shape == xs[0].shape
    np.testing.assert_allclose(y, REFERENCE[op](np.array(xs, np.float64)), rtol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("op", sorted(REFERENCE))
def test_merge_backward_matches_finite_differences(op):
    rng = np.random.default_rng(1)
    xs = inputs(op, rng)
    w = rng.normal(size=xs[0].shape)  # loss = sum(w * y)
    dxs = kernels.merge_backward(op, w, xs)
    assert len(dxs) == len(xs)
    for i, x in enumerate(xs):
        num = numeric_grad(lambda: float(np.sum(w * kernels.merge_forward(op, xs))), x)
        assert rel_err(dxs[i], num) < 1e-6, (op, i)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concat_forward_and_backward(axis):
    rng = np.random.default_rng(2)
    shapes = [(3, 4, 5), (3, 4, 5), (3, 4, 5)]
    widths = [2, 1, 3]
    xs = []
    for s, wd in zip(shapes, widths):
        s = list(s)
        s[axis] = wd
        xs.append(rng.normal(size=s))
    y = kernels.concat_forward(xs, axis)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=axis))
    w = rng.normal(size=y.shape)
    dxs = kernels.concat_backward(w, widths, axis)
    assert len(dxs) == len(xs)
    for i, x in enumerate(xs):
        num = numeric_grad(lambda: float(np.sum(w * kernels.concat_forward(xs, axis))), x)
        assert dxs[i].shape == x.shape
        assert rel_err(dxs[i], num) < 1e-6


def test_bad_merge_inputs_raise():
    a, b = np.zeros((2, 3)), np.zeros((2, 4))
    with pytest.raises(ValueError, match="one shape"):
        kernels.merge_forward("add", [a, b])
    with pytest.raises(ValueError, match="subtract takes 2"):
        kernels.merge_forward("subtract", [a, a, a])
    with pytest.raises(ValueError, match="unknown merge"):
        kernels.merge_forward("xor", [a, a])
    with pytest.raises(ValueError, match="widths"):
        kernels.concat_backward(np.zeros((2, 5)), [2, 2], 1)


@pytest.mark.parametrize("kind", ["cross_entropy", "binary_cross_entropy", "mse", "mae"])
def test_sample_weights_give_the_weighted_mean(kind):
    rng = np.random.default_rng(3)
    n, c = 7, 4 if kind == "cross_entropy" else 3
    z = rng.normal(size=(n, c))
    sw = rng.uniform(0.0, 2.0, size=n)
    labels = rng.integers(0, c, n).astype(np.int32)
    t = (rng.uniform(size=(n, c)) > 0.5).astype(np.float64) if kind == "binary_cross_entropy" else rng.normal(size=(n, c))
    if kind == "cross_entropy":
        logp = z - z.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        per_row, per_row_w = -logp[np.arange(n), labels], np.ones(n)
    else:
        if kind == "binary_cross_entropy":
            el = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        elif kind == "mse":
            el = (z - t) ** 2
        else:
            el = np.abs(z - t)
        per_row, per_row_w = el.sum(1), np.full(n, c)
    want = np.sum(sw * per_row) / np.sum(sw * per_row_w)
    kw = dict(labels=labels) if kind == "cross_entropy" else dict(targets=t)
    loss, grad = kernels.loss(z, kind=kind, sample_weights=sw, **kw)
    assert abs(loss - want) < 1e-12 * max(1.0, abs(want))
    num = numeric_grad(lambda: kernels.loss(z, kind=kind, sample_weights=sw, **kw)[0], z)
    assert rel_err(grad, num) < 1e-6
    zero_loss, zero_grad = kernels.loss(z, kind=kind, sample_weights=np.zeros(n), **kw)
    assert zero_loss == 0.0 and not zero_grad.any()
