"""Fused attention kernels: forward against a numpy float64 softmax(QK^T/sqrt(d) + mask) V
that builds the whole score matrix, backward by central finite differences in float64
(relative error < 1e-6). Masks (key padding, query padding, general, causal), T not a multiple
of the tiles (32 queries x 64 keys), T = 1, Tq != Tk, fully masked rows, dropout, threads."""
import numpy as np
import pytest

import pydl
from pydl import _core
from pydl._core import kernels

from conftest import numeric_grad, rel_err


def allowed_ref(n, tq, tk, key_mask=None, query_mask=None, attention_mask=None, causal=False):
    ok = np.ones((n, tq, tk), dtype=bool)
    if key_mask is not None:
        ok &= key_mask.astype(bool)[:, None, :]
    if query_mask is not None:
        ok &= query_mask.astype(bool)[:, :, None]
    if attention_mask is not None:
        ok &= attention_mask.astype(bool)
    if causal:
        ok &= np.tril(np.ones((tq, tk), dtype=bool))[None]
    return ok


def attention_ref(q, k, v, **masks):
    """(N, T, H, d) arrays; a row with no allowed key weighs every key 1 / Tk (Keras)."""
    n, tq, _, d = q.shape
    tk = k.shape[1]
    ok = allowed_ref(n, tq, tk, **masks)[:, None]                       # (N, 1, Tq, Tk)
    s = np.einsum("bihc,bjhc->bhij", q, k) / np.sqrt(d)
    s = np.where(ok, s, -np.inf)
    mx = np.max(s, axis=-1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    e = np.where(ok, np.exp(s - mx), 0.0)
    den = e.sum(-1, keepdims=True)
    p = np.where(den > 0, e / np.where(den > 0, den, 1.0), 1.0 / tk)
    return np.einsum("bhij,bjhc->bihc", p, v)


def rand(rng, *shape):
    return rng.standard_normal(shape)


def masks_for(kind, rng, n, tq, tk):
    if kind == "none":
        return {}
    if kind == "key":
        km = (rng.random((n, tk)) > 0.3).astype(np.uint8)
        km[:, 0] = 1
        return {"key_mask": km}
    if kind == "causal":
        return {"causal": True}
    if kind == "causal_key":
        km = np.ones((n, tk), np.uint8)
        km[0, tk // 2:] = 0  # a padded sequence
        return {"causal": True, "key_mask": km}
    if kind == "general":  # some rows fully masked, plus a padded query
        am = (rng.random((n, tq, tk)) > 0.5).astype(np.uint8)
        am[0, 0, :] = 0
        qm = np.ones((n, tq), np.uint8)
        qm[-1, -1] = 0
        return {"attention_mask": am, "query_mask": qm}
    raise AssertionError(kind)


CASES = [  # (n, tq, tk, heads, dk, dv, masks)
    (2, 5, 5, 2, 3, 4, "none"),
    (1, 1, 1, 1, 4, 2, "none"),          # T = 1
    (2, 3, 70, 2, 9, 5, "key"),          # Tq != Tk, two key tiles, dk not a multiple of 8
    (1, 37, 37, 1, 4, 3, "causal"),      # two query tiles
    (2, 33, 33, 2, 3, 2, "causal_key"),
    (2, 6, 67, 2, 3, 3, "general"),
]


@pytest.mark.parametrize("n,tq,tk,heads,dk,dv,kind", CASES)
def test_forward_matches_float64_reference(n, tq, tk, heads, dk, dv, kind):
    rng = np.random.default_rng(0)
    q, k, v = rand(rng, n, tq, heads, dk), rand(rng, n, tk, heads, dk), rand(rng, n, tk, heads, dv)
    m = masks_for(kind, rng, n, tq, tk)
    o, lse = kernels.attention_forward(q, k, v, **m)
    want = attention_ref(q, k, v, **m)
    assert o.shape == want.shape and lse.shape == (n, heads, tq)
    assert np.all(np.isfinite(o))
    np.testing.assert_allclose(o, want, rtol=1e-12, atol=1e-12)
    o32, _ = kernels.attention_forward(*(x.astype(np.float32) for x in (q, k, v)), **m)
    assert o32.dtype == np.float32
    np.testing.assert_allclose(o32, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n,tq,tk,heads,dk,dv,kind", CASES)
def test_backward_matches_finite_differences(n, tq, tk, heads, dk, dv, kind):
    rng = np.random.default_rng(1)
    q, k, v = rand(rng, n, tq, heads, dk), rand(rng, n, tk, heads, dk), rand(rng, n, tk, heads, dv)
    m = masks_for(kind, rng, n, tq, tk)
    r = rand(rng, n, tq, heads, dv)
    o, lse = kernels.attention_forward(q, k, v, **m)
    dq, dk_, dv_ = kernels.attention_backward(r, q, k, v, o, lse, **m)

    def loss():
        return float(np.sum(kernels.attention_forward(q, k, v, **m)[0] * r))

    for got, x in ((dq, q), (dk_, k), (dv_, v)):
        want = numeric_grad(loss, x)
        assert rel_err(got, want) < 1e-6


def test_fully_masked_rows_average_every_value_and_pass_gradient_to_values_only():
    """Keras semantics: a row that may attend to no key weighs every key 1 / Tk, so its output
    is the mean of V and only V gets a gradient from it; never NaN."""
    rng = np.random.default_rng(2)
    n, t, h, d = 2, 40, 2, 4
    q, k, v = rand(rng, n, t, h, d), rand(rng, n, t, h, d), rand(rng, n, t, h, d)
    km = np.ones((n, t), np.uint8)
    km[1] = 0  # sample 1 has no valid key at all
    qm = np.ones((n, t), np.uint8)
    qm[0, 5] = 0
    o, lse = kernels.attention_forward(q, k, v, key_mask=km, query_mask=qm)
    mean_v = v.mean(axis=1)  # (N, H, d)
    np.testing.assert_allclose(o[1], np.broadcast_to(mean_v[1], (t, h, d)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(o[0, 5], mean_v[0], rtol=1e-12, atol=1e-14)
    assert np.all(np.isinf(lse[1])) and np.all(np.isfinite(o))
    r = rand(rng, *o.shape)
    dq, dk_, dv_ = kernels.attention_backward(r, q, k, v, o, lse, key_mask=km, query_mask=qm)
    assert np.all(dq[1] == 0) and np.all(dk_[1] == 0) and np.all(dq[0, 5] == 0)
    # sample 1: every value gets the mean of the output gradients over its rows
    np.testing.assert_allclose(dv_[1], np.broadcast_to(r[1].sum(axis=0) / t, (t, h, d)), rtol=1e-12, atol=1e-14)
    assert np.all(np.isfinite(dq)) and np.any(dq[0] != 0)

    def loss():
        return float(np.sum(kernels.attention_forward(q, k, v, key_mask=km, query_mask=qm)[0] * r))

    for got, x in ((dq, q), (dk_, k), (dv_, v)):
        assert rel_err(got, numeric_grad(loss, x)) < 1e-6
    # a masked key of a sample with valid keys gets no gradient
    km[0, 7] = 0
    o, lse = kernels.attention_forward(q, k, v, key_mask=km)
    _, dk_, dv_ = kernels.attention_backward(np.ones_like(o), q, k, v, o, lse, key_mask=km)
    assert np.all(dk_[0, 7] == 0) and np.all(dv_[0, 7] == 0)


def test_long_causal_sequence_matches_reference():
    rng = np.random.default_rng(3)
    q, k, v = rand(rng, 1, 200, 2, 16), rand(rng, 1, 200, 2, 16), rand(rng, 1, 200, 2, 8)
    o, _ = kernels.attention_forward(q, k, v, causal=True)
    np.testing.assert_allclose(o, attention_ref(q, k, v, causal=True), rtol=1e-11, atol=1e-12)
    # the first query sees only the first key
    np.testing.assert_allclose(o[:, 0], v[:, 0], rtol=1e-12)


def test_dropout_keeps_gradients_consistent_and_averages_out():
    rng = np.random.default_rng(4)
    n, t, h, d = 1, 9, 2, 3
    q, k, v = rand(rng, n, t, h, d), rand(rng, n, t, h, d), rand(rng, n, t, h, d)
    r = rand(rng, n, t, h, d)
    kw = {"dropout": 0.3, "seed": 11, "causal": True}
    o, lse = kernels.attention_forward(q, k, v, **kw)
    plain, _ = kernels.attention_forward(q, k, v, causal=True)
    assert not np.allclose(o, plain)
    np.testing.assert_array_equal(o, kernels.attention_forward(q, k, v, **kw)[0])  # same seed, same bits
    dq, dk_, dv_ = kernels.attention_backward(r, q, k, v, o, lse, **kw)

    def loss():
        return float(np.sum(kernels.attention_forward(q, k, v, **kw)[0] * r))

    for got, x in ((dq, q), (dk_, k), (dv_, v)):
        assert rel_err(got, numeric_grad(loss, x)) < 1e-6
    # inverted dropout: the mean over many masks is the undropped output
    mean = np.mean([kernels.attention_forward(q, k, v, dropout=0.3, seed=s, causal=True)[0] for s in range(2000)],
                   axis=0)
    np.testing.assert_allclose(mean, plain, atol=0.05)


def test_bad_arguments_raise_value_error():
    q = np.zeros((1, 4, 2, 3))
    with pytest.raises(ValueError, match="causal mask needs as many queries as keys"):
        kernels.attention_forward(q, np.zeros((1, 5, 2, 3)), np.zeros((1, 5, 2, 3)), causal=True)
    with pytest.raises(ValueError, match="k must be"):
        kernels.attention_forward(q, np.zeros((1, 5, 3, 3)), np.zeros((1, 5, 3, 3)))
    with pytest.raises(ValueError, match="key_mask"):
        kernels.attention_forward(q, q, q, key_mask=np.ones((1, 5), np.uint8))
    with pytest.raises(ValueError, match="dropout"):
        kernels.attention_forward(q, q, q, dropout=1.0)
    with pytest.raises(ValueError, match="rank 4"):
        kernels.attention_forward(q[0], q, q)


def test_bitwise_identical_for_one_two_three_threads():
    rng = np.random.default_rng(5)
    n, t, h, d = 4, 80, 3, 16
    q, k, v = (rand(rng, n, t, h, d).astype(np.float32) for _ in range(3))
    r = rand(rng, n, t, h, d).astype(np.float32)
    km = np.ones((n, t), np.uint8)
    km[1, 50:] = 0
    before = pydl.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            pydl.set_num_threads(threads)
            split = _core.split_regions()
            o, lse = kernels.attention_forward(q, k, v, key_mask=km, causal=True, dropout=0.1, seed=3)
            grads = kernels.attention_backward(r, q, k, v, o, lse, key_mask=km, causal=True, dropout=0.1, seed=3)
            if threads > 1:
                assert _core.split_regions() > split  # the pairs really went to several threads
            results.append((o, lse, *grads))
    finally:
        pydl.set_num_threads(before)
    assert len(results) == 3
    for other in results[1:]:
        assert len(other) == len(results[0])
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
