"""gemm: every transpose combination, bias and activation epilogue, against numpy float64;
results bitwise identical across thread counts."""
import numpy as np
import pytest

import pydl
from pydl._core import kernels

import reference as ref
from conftest import assert_split_iff_threads, split_regions

SHAPES = [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 128, 128), (128, 256, 784), (257, 130, 65), (5, 300, 1)]


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_gemm_matches_numpy(rng, m, n, k, ta, tb, dtype, tol):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    expected = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    got = kernels.gemm(a, b, ta, tb)
    assert got.dtype == dtype
    assert np.abs(got - expected).max() <= tol * max(1.0, np.abs(expected).max()) * np.sqrt(k)


@pytest.mark.parametrize("act", ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax"])
@pytest.mark.parametrize("m,n,k", [(7, 9, 5), (300, 200, 100)])
def test_gemm_bias_activation_epilogue(rng, act, m, n, k):
    a = rng.standard_normal((m, k))
    b = rng.standard_normal((k, n))
    bias = rng.standard_normal(n)
    c0 = rng.standard_normal((m, n))
    expected = ref.act(0.5 * a @ b + 2.0 * c0 + bias, act)
    got = kernels.gemm(a, b, alpha=0.5, beta=2.0, c=c0, bias=bias, activation=act)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-11)
    expected0 = ref.act(a @ b + bias, act)
    np.testing.assert_allclose(kernels.gemm(a, b, bias=bias, activation=act), expected0, rtol=1e-10, atol=1e-11)


# Each shape is split into parts (a large product, a matrix-vector product large enough to
# split, a mid-size one): the check below fails if a shape stops being split.
@pytest.mark.parametrize("m,k,n", [(384, 700, 520), (1, 512, 4096), (128, 64, 512)])
def test_gemm_bitwise_same_for_any_thread_count(rng, threads, m, k, n):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    results = []
    for t in (1, 2, 3):
        pydl.set_num_threads(t)
        before = split_regions()
        results.append(kernels.gemm(a, b, bias=np.ones(n, np.float32), activation="relu"))
        assert_split_iff_threads(t, before)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0], strict=True)


def test_gemm_shape_errors(rng):
    with pytest.raises(ValueError, match="does not fit"):
        kernels.gemm(np.ones((3, 4)), np.ones((5, 6)))
    with pytest.raises(ValueError, match="bias"):
        kernels.gemm(np.ones((3, 4)), np.ones((4, 6)), bias=np.ones(5))
    with pytest.raises(ValueError, match="unknown activation"):
        kernels.gemm(np.ones((3, 4)), np.ones((4, 6)), activation="swishy")
