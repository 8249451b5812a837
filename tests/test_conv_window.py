"""Conv2D through window tiles (csrc/kernels/conv2d.cc, window_rows): layers with more input
channels than the direct kernel takes and whole vectors of filters read each pixel's taps in
place; at stride 1 the input gradient is the same sweep over dy. Every micro-kernel family
this CPU has, both dtypes, against numpy float64 loops (forward, dx, dk, db), on shapes with
ragged register tiles, wide and narrow filter panels, padding, stride, dilation and even
kernels, the fused activations, and 1-vs-2-vs-3-thread bitwise equality. The few-channel
layers' kernel gradient (summed in registers, no columns) is checked on the same cases."""
import numpy as np
import pytest

import pydl
from pydl._core import kernels

from conftest import assert_split_iff_threads, split_regions
from test_conv_pool_norm import ACTIVATION_REFS, conv_ref, pads

# x shape, kernel (kh, kw), filters, strides, padding, dilation. Filters are multiples of 16
# (every family's float lanes) except 24, which float takes through the im2col GEMM and
# double (8 lanes) through window tiles; channels 16 / 32 give the input gradient its sweep.
WINDOW_CASES = [
    ((2, 6, 7, 16), (3, 3), 32, (1, 1), "same", (1, 1)),   # 42 pixels an image: ragged tiles
    ((1, 5, 9, 32), (3, 3), 48, (1, 1), "valid", (1, 1)),  # a wide and a narrow filter panel
    ((2, 7, 6, 16), (2, 4), 16, (1, 1), "same", (1, 1)),   # even kernel, narrow panels only
    ((2, 9, 8, 16), (3, 3), 16, (1, 1), "same", (2, 2)),   # dilation with padding
    ((2, 6, 6, 16), (5, 5), 16, (1, 1), "valid", (1, 1)),  # 25 taps
    ((2, 9, 7, 8), (3, 3), 16, (2, 2), "same", (1, 1)),    # stride 2: dx through columns
    ((1, 6, 5, 8), (3, 3), 24, (1, 2), (1, 2), (1, 1)),    # explicit padding, mixed strides
    # few channels (the direct kernels): the kernel gradient in registers, 9 tap-channels a pass
    ((2, 9, 11, 1), (3, 3), 32, (1, 1), "same", (1, 1)),
    ((2, 8, 7, 3), (5, 5), 16, (1, 1), "same", (1, 1)),    # 75 tap-channels: a last pass of 3
    ((1, 9, 10, 2), (3, 3), 16, (2, 1), "valid", (2, 1)),  # stride and dilation
]


def conv_grads_ref(dy, x, k, strides, padding, dilation):
    """dx, dk, db of sum(dy * conv(x, k) + b) by float64 loops over output pixels and taps."""
    n, h, w, c = x.shape
    kh, kw, _, f = k.shape
    pt, pb, pl, pr = pads(h, w, kh, kw, strides, padding, dilation)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    dxp = np.zeros_like(xp)
    dk = np.zeros_like(k)
    (sh, sw), (dh, dw) = strides, dilation
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            for a in range(kh):
                for b in range(kw):
                    iy, ix = i * sh + a * dh, j * sw + b * dw
                    dxp[:, iy, ix, :] += dy[:, i, j, :] @ k[a, b].T
                    dk[a, b] += xp[:, iy, ix, :].T @ dy[:, i, j, :]
    return dxp[:, pt:pt + h, pl:pl + w, :], dk, dy.sum(axis=(0, 1, 2))


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("shape,ksize,filters,strides,padding,dilation", WINDOW_CASES)
def test_window_forward_and_backward_match_float64(rng, isa, dtype, rtol, shape, ksize, filters, strides, padding,
                                                  dilation):
    x = rng.standard_normal(shape)
    k = rng.standard_normal((*ksize, shape[3], filters)) / np.sqrt(ksize[0] * ksize[1] * shape[3])
    b = rng.standard_normal(filters)
    y = kernels.conv2d_forward(x.astype(dtype), k.astype(dtype), b.astype(dtype), strides, padding, dilation)
    want = conv_ref(x, k, b, strides, padding, dilation)
    assert y.dtype == dtype and y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=rtol, atol=rtol)

    dy = rng.standard_normal(want.shape)
    dy_in = dy.astype(dtype)
    dx, dk, db = kernels.conv2d_backward(dy_in, x.astype(dtype), k.astype(dtype), strides, padding, dilation)
    np.testing.assert_array_equal(dy_in, dy.astype(dtype))  # the caller's dy is read, not written
    for got, ref in zip((dx, dk, db), conv_grads_ref(dy, x, k, strides, padding, dilation)):
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


@pytest.mark.parametrize("activation", sorted(ACTIVATION_REFS))
def test_window_fused_activation(rng, isa, activation):
    """ReLU at the store, sigmoid / tanh per chunk, softmax over whole rows after."""
    x, k = rng.standard_normal((2, 6, 19, 16)), rng.standard_normal((3, 3, 16, 32)) / 12
    b = rng.standard_normal(32)
    y = kernels.conv2d_forward(x, k, b, (1, 1), "same", (1, 1), activation)
    want = ACTIVATION_REFS[activation](conv_ref(x, k, b, (1, 1), "same", (1, 1)))
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


def test_window_relu_keeps_nan(isa):
    """ReLU at the store is act::relu lane by lane ((v < 0) ? 0 : v): a NaN stays NaN, as on
    the other paths, and the negative sums around it become 0."""
    x = -np.ones((1, 4, 8, 16))
    x[0, 1, 2, 3] = np.nan
    k = np.ones((3, 3, 16, 16))
    y = kernels.conv2d_forward(x, k, np.zeros(16), (1, 1), "same", (1, 1), "relu")
    nan = np.zeros(y.shape, bool)
    nan[0, 0:3, 1:4, :] = True  # the outputs whose window holds the NaN
    assert np.isnan(y[nan]).all()
    np.testing.assert_array_equal(y[~nan], np.zeros((~nan).sum()))


def test_window_bitwise_same_for_1_2_3_threads(rng, threads):
    x = rng.standard_normal((8, 12, 12, 32)).astype(np.float32)
    k = rng.standard_normal((3, 3, 32, 64)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    dy = rng.standard_normal((8, 12, 12, 64)).astype(np.float32)
    results = []
    for t in (1, 2, 3):
        pydl.set_num_threads(t)
        before = split_regions()
        y = kernels.conv2d_forward(x, k, b, (1, 1), "same", (1, 1), "relu")
        grads = kernels.conv2d_backward(dy, x, k, (1, 1), "same", (1, 1))
        assert_split_iff_threads(t, before)
        results.append((y, *grads))
    assert len(results) == 3
    for r in results[1:]:
        for got, want in zip(r, results[0]):
            np.testing.assert_array_equal(got, want, strict=True)
