"""pydl's own GEMM (csrc/kernels/gemm*.cc): every micro-kernel family this CPU has (AVX-512,
AVX2, portable C++), both dtypes, all four transposes, odd and large sizes, alpha/beta and
every epilogue, against a numpy float64 reference; bitwise identical results for 1, 2 and 3
threads; families the CPU lacks are refused with a ValueError."""
import numpy as np
import pytest

import pydl
from pydl._core import kernels

import reference as ref
from conftest import ISAS, assert_split_iff_threads, gemm_isa_available as _available, split_regions

ACTIVATIONS = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax"]
# (M, N, K): ones, threes and 17s around the register tiles (8x32, 6x16, 4x8), a K beyond one
# K step (several passes over C), sizes past 1000 on each axis, and lone rows (M = 1, and the
# last of M = 9) over wide B (the one-row kernel); right edges of exactly one register (48 and
# 40 columns: 16 past 32, 8 past 32), which take the narrow kernel without a copy.
SHAPES = [(1, 1, 1), (3, 17, 1), (17, 3, 33), (1, 1000, 3), (1031, 17, 3), (3, 1029, 17), (17, 3, 1037),
          (33, 65, 777), (9, 300, 40), (20, 48, 40), (21, 40, 9)]


def _operands(rng, m, n, k, ta, tb, dtype):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b, (a.T if ta else a).astype(np.float64), (b.T if tb else b).astype(np.float64)


def _tol(dtype, k):
    # FMA chains of k terms: error grows about like sqrt(k) units of the scale of |a||b|
    return (3e-6 if dtype == np.float32 else 1e-14) * np.sqrt(k + 1)


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_transpose_and_odd_size_matches_float64(rng, isa, m, n, k, ta, tb, dtype):
    a, b, a64, b64 = _operands(rng, m, n, k, ta, tb, dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    scale = np.abs(a64) @ np.abs(b64) + np.abs(c0) + np.abs(bias) + 1
    for alpha, beta in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)]:
        expected = alpha * (a64 @ b64) + beta * c0.astype(np.float64) + bias
        got = kernels.gemm(a, b, ta, tb, alpha=alpha, beta=beta, c=c0, bias=bias)
        assert got.dtype == dtype and got.shape == (m, n)
        assert np.all(np.abs(got - expected) <= _tol(dtype, k) * scale), (alpha, beta)
    # beta = 0 never reads C: NaN there must not leak into the result
    nan_c = np.full((m, n), np.nan, dtype)
    got = kernels.gemm(a, b, ta, tb, alpha=1.5, beta=0.0, c=nan_c)
    assert np.all(np.abs(got - 1.5 * (a64 @ b64)) <= _tol(dtype, k) * 1.5 * scale)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("m,n,k", [(17, 45, 9), (70, 33, 401), (17, 48, 9), (19, 40, 33), (9, 300, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_epilogue_matches_float64(rng, isa, act, m, n, k, dtype):
    a, b, a64, b64 = _operands(rng, m, n, k, False, False, dtype)
    a, a64 = a * 0.3, a64 * 0.3  # pre-activations of order 1, where the activations bend
    bias = rng.standard_normal(n).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    rtol = 2e-5 if dtype == np.float32 else 1e-11
    expected = ref.act(0.5 * (a64 @ b64) + 2.0 * c0 + bias, act)
    got = kernels.gemm(a, b, alpha=0.5, beta=2.0, c=c0, bias=bias, activation=act)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(kernels.gemm(a, b, activation=act), ref.act(a64 @ b64, act), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_k_zero_and_alpha_zero_give_beta_c_plus_bias(rng, dtype):
    c0 = rng.standard_normal((5, 7)).astype(dtype)
    bias = rng.standard_normal(7).astype(dtype)
    got = kernels.gemm(np.ones((5, 0), dtype), np.ones((0, 7), dtype), beta=0.5, c=c0, bias=bias, activation="relu")
    np.testing.assert_allclose(got, np.maximum(0.5 * c0 + bias, 0), rtol=1e-6)
    got = kernels.gemm(np.ones((5, 3), dtype), np.ones((3, 7), dtype), alpha=0.0, beta=2.0, c=c0)
    np.testing.assert_allclose(got, 2.0 * c0, rtol=1e-6)


# Shapes split into many tiles (and K beyond one K step, so several passes over C): the check
# below fails if a shape stops being split, which would make the comparison meaningless.
@pytest.mark.parametrize("m,n,k,ta,tb", [(300, 257, 800, False, False), (1, 4000, 700, False, False),
                                         (129, 70, 1000, True, True), (700, 33, 130, False, True)])
def test_bitwise_same_for_1_2_3_threads(rng, isa, threads, m, n, k, ta, tb):
    a, b, _, _ = _operands(rng, m, n, k, ta, tb, np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    results = []
    for t in (1, 2, 3):
        pydl.set_num_threads(t)
        before = split_regions()
        results.append(kernels.gemm(a, b, ta, tb, alpha=0.7, beta=0.3, c=c0, bias=bias, activation="tanh"))
        assert_split_iff_threads(t, before)
    assert len(results) == 3
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0], strict=True)


def test_isa_names():
    assert kernels.gemm_isa() in ISAS
    assert _available("portable")
    with pytest.raises(ValueError, match="expected 'auto', 'avx512', 'avx2' or 'portable'"):
        kernels.set_gemm_isa("sse9")
