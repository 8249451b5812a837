"""Conv2D, pooling and normalization kernels: forward against naive numpy float64 loops,
backward by central finite differences in float64 (relative error < 1e-6), on odd shapes:
stride 2, dilation 2, "same" with even kernels, 1x1 kernels, batch 1, non-square images."""
import numpy as np
import pytest

from pydl._core import kernels

from conftest import numeric_grad, rel_err


def pads(h, w, kh, kw, strides, padding, dilation):
    """(top, bottom, left, right) padding: TensorFlow's rule for 'same'."""
    (sh, sw), (dh, dw) = strides, dilation
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph = max((oh - 1) * sh + (kh - 1) * dh + 1 - h, 0)
        pw = max((ow - 1) * sw + (kw - 1) * dw + 1 - w, 0)
        return ph // 2, ph - ph // 2, pw // 2, pw - pw // 2
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return ph, ph, pw, pw


def conv_ref(x, k, b, strides, padding, dilation):
    n, h, w, c = x.shape
    kh, kw, _, f = k.shape
    pt, pb, pl, pr = pads(h, w, kh, kw, strides, padding, dilation)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    (sh, sw), (dh, dw) = strides, dilation
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pl + pr - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for bb in range(kw):
                    y[:, i, j, :] += xp[:, i * sh + a * dh, j * sw + bb * dw, :] @ k[a, bb]
    return y if b is None else y + b


CONV_CASES = [  # x shape, kernel (kh, kw), filters, strides, padding, dilation
    ((2, 7, 5, 3), (3, 3), 4, (1, 1), "valid", (1, 1)),
    ((2, 7, 5, 3), (3, 3), 4, (2, 2), "same", (1, 1)),
    ((1, 6, 8, 2), (2, 4), 3, (1, 1), "same", (1, 1)),     # even kernels, batch 1
    ((2, 9, 7, 2), (3, 2), 3, (1, 1), "valid", (2, 2)),    # dilation 2
    ((2, 8, 6, 2), (3, 3), 2, (1, 1), "same", (2, 1)),     # dilation with same
    ((3, 5, 4, 6), (1, 1), 5, (1, 1), "valid", (1, 1)),    # pointwise
    ((2, 5, 6, 3), (1, 1), 2, (2, 2), "valid", (1, 1)),    # 1x1 with stride
    ((2, 6, 5, 2), (3, 3), 3, (2, 1), (1, 2), (1, 1)),     # explicit padding, mixed strides
    ((2, 7, 6, 1), (3, 3), 8, (1, 1), "same", (1, 1)),     # few channels: the direct kernel
    ((1, 9, 8, 3), (2, 3), 16, (2, 2), "same", (1, 1)),    # direct kernel, even kernel, stride 2
    ((2, 9, 9, 2), (3, 3), 9, (1, 1), "valid", (2, 2)),    # direct kernel, dilation 2
    # the direct kernel's 8-pixel register blocks (rows wide enough for whole blocks inside the
    # padding), with filters past the last whole vector (16 floats, 8 doubles)
    ((2, 5, 21, 2), (3, 3), 20, (1, 1), "same", (1, 1)),
    ((1, 6, 40, 1), (3, 3), 32, (1, 2), "same", (1, 1)),   # blocks with stride 2 along the row
    ((2, 6, 30, 3), (3, 2), 17, (1, 1), "valid", (1, 2)),  # blocks with dilation
    ((1, 5, 20, 4), (3, 3), 16, (1, 1), "same", (1, 1)),   # 4 channels: the channel count not unrolled
]


@pytest.mark.parametrize("shape,ksize,filters,strides,padding,dilation", CONV_CASES)
def test_conv2d_forward_and_backward(rng, shape, ksize, filters, strides, padding, dilation):
    x = rng.standard_normal(shape)
    k = rng.standard_normal((*ksize, shape[3], filters))
    b = rng.standard_normal(filters)
    y = kernels.conv2d_forward(x, k, b, strides, padding, dilation)
    expected = conv_ref(x, k, b, strides, padding, dilation)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    y32 = kernels.conv2d_forward(x.astype(np.float32), k.astype(np.float32), b.astype(np.float32), strides,
                                 padding, dilation)
    np.testing.assert_allclose(y32, expected, rtol=1e-4, atol=1e-4)

    r = rng.standard_normal(y.shape)  # L = sum(r * y)

    def loss():
        return float((r * kernels.conv2d_forward(x, k, b, strides, padding, dilation)).sum())

    dx, dk, db = kernels.conv2d_backward(r, x, k, strides, padding, dilation)
    assert rel_err(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_err(dk, numeric_grad(loss, k)) < 1e-6
    assert rel_err(db, numeric_grad(loss, b)) < 1e-6


ACTIVATION_REFS = {"relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
                   "tanh": np.tanh, "softmax": lambda v: np.exp(v) / np.exp(v).sum(-1, keepdims=True)}


@pytest.mark.parametrize("activation", sorted(ACTIVATION_REFS))
@pytest.mark.parametrize("channels,filters", [(3, 4), (2, 20)])  # the im2col GEMM; the direct kernel
def test_conv2d_fused_activation(rng, activation, channels, filters):
    x, k = rng.standard_normal((2, 6, 19, channels)), rng.standard_normal((3, 3, channels, filters))
    b = rng.standard_normal(filters)
    y = kernels.conv2d_forward(x, k, b, (1, 1), "same", (1, 1), activation)
    expected = ACTIVATION_REFS[activation](conv_ref(x, k, b, (1, 1), "same", (1, 1)))
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_kernel_too_large():
    with pytest.raises(ValueError, match="does not fit"):
        kernels.conv2d_forward(np.zeros((1, 3, 3, 1)), np.zeros((5, 5, 1, 1)))


def pool_ref(x, kind, pool, strides, padding):
    n, h, w, c = x.shape
    pt, pb, pl, pr = pads(h, w, *pool, strides, padding, (1, 1))
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=np.nan)
    oh = (h + pt + pb - pool[0]) // strides[0] + 1
    ow = (w + pl + pr - pool[1]) // strides[1] + 1
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * strides[0]: i * strides[0] + pool[0], j * strides[1]: j * strides[1] + pool[1], :]
            y[:, i, j, :] = np.nanmax(win, axis=(1, 2)) if kind == "max" else np.nanmean(win, axis=(1, 2))
    return y


POOL_CASES = [((2, 6, 6, 3), (2, 2), (2, 2), "valid"), ((1, 7, 5, 2), (2, 2), (2, 2), "same"),
              ((2, 7, 6, 2), (3, 3), (2, 2), "same"), ((2, 5, 7, 1), (3, 2), (1, 2), "valid")]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape,pool,strides,padding", POOL_CASES)
def test_pool2d(rng, kind, shape, pool, strides, padding):
    x = rng.standard_normal(shape)
    y, arg = kernels.pool2d_forward(x, kind, pool, strides, padding)
    np.testing.assert_allclose(y, pool_ref(x, kind, pool, strides, padding), rtol=1e-12, atol=1e-14)
    r = rng.standard_normal(y.shape)
    dx = kernels.pool2d_backward(r, arg, list(shape), kind, pool, strides, padding)
    numeric = numeric_grad(lambda: float((r * kernels.pool2d_forward(x, kind, pool, strides, padding)[0]).sum()), x)
    assert rel_err(dx, numeric) < 1e-6


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_global_pool(rng, kind):
    x = rng.standard_normal((3, 4, 5, 6))
    y, arg = kernels.global_pool_forward(x, kind)
    np.testing.assert_allclose(y, x.max(axis=(1, 2)) if kind == "max" else x.mean(axis=(1, 2)), rtol=1e-12)
    r = rng.standard_normal(y.shape)
    dx = kernels.global_pool_backward(r, arg, list(x.shape), kind)
    numeric = numeric_grad(lambda: float((r * kernels.global_pool_forward(x, kind)[0]).sum()), x)
    assert rel_err(dx, numeric) < 1e-6


def test_batchnorm_training_forward_and_moving_stats(rng):
    x = rng.standard_normal((4, 3, 5, 6)) * 2 + 1
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    mm, mv = rng.standard_normal(6), rng.uniform(0.5, 2, 6)
    mm0, mv0 = mm.copy(), mv.copy()
    y, stats = kernels.batchnorm_forward(x, gamma, beta, mm, mv, True, 0.9, 1e-5)
    flat = x.reshape(-1, 6)
    mean, var = flat.mean(0), flat.var(0)
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(mm, 0.9 * mm0 + 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(mv, 0.9 * mv0 + 0.1 * flat.var(0, ddof=1), rtol=1e-12)  # unbiased, as PyTorch
    y_inf, _ = kernels.batchnorm_forward(x, gamma, beta, mm, mv, False, 0.9, 1e-5)
    np.testing.assert_allclose(y_inf, gamma * (x - mm) / np.sqrt(mv + 1e-5) + beta, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_backward_finite_differences(rng, training):
    x = rng.standard_normal((5, 2, 3, 4))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    mm, mv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    r = rng.standard_normal(x.shape)

    def loss():  # moving statistics are copied so the forward has no lasting effect
        return float((r * kernels.batchnorm_forward(x, gamma, beta, mm.copy(), mv.copy(), training)[0]).sum())

    _, stats = kernels.batchnorm_forward(x, gamma, beta, mm.copy(), mv.copy(), training)
    dx, dg, db = kernels.batchnorm_backward(r, x, gamma, stats, mm, mv, training)
    assert rel_err(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_err(dg, numeric_grad(loss, gamma)) < 1e-6
    assert rel_err(db, numeric_grad(loss, beta)) < 1e-6


def test_layernorm_forward_and_backward(rng):
    x = rng.standard_normal((3, 4, 7)) * 3
    gamma, beta = rng.standard_normal(7), rng.standard_normal(7)
    y, stats = kernels.layernorm_forward(x, gamma, beta)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * gamma + beta, rtol=1e-11, atol=1e-12)
    r = rng.standard_normal(x.shape)

    def loss():
        return float((r * kernels.layernorm_forward(x, gamma, beta)[0]).sum())

    dx, dg, db = kernels.layernorm_backward(r, x, gamma, stats)
    assert rel_err(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_err(dg, numeric_grad(loss, gamma)) < 1e-6
    assert rel_err(db, numeric_grad(loss, beta)) < 1e-6
