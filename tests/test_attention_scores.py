"""MultiHeadAttention(..., return_attention_scores=True): the weights P = softmax(QK^T/sqrt(d) +
mask) (N, heads, Tq, Tk), before dropout, as Keras returns them. The kernels against a numpy
float64 reference and float64 central differences; the layer's scores against the float64
Keras reference on the same weights, gradients through them, masks, save/load."""
import numpy as np
import pytest

import pydl
from pydl import _core, layers
from pydl._core import kernels

from conftest import numeric_grad, rel_err
from test_attention import assert_grads_close, f32, mha_ref, numeric_weight_grads
from test_attention_kernels import allowed_ref, masks_for, rand


def scores_ref(q, k, **masks):
    n, tq, _, d = q.shape
    ok = allowed_ref(n, tq, k.shape[1], **masks)[:, None]
    s = np.where(ok, np.einsum("bihc,bjhc->bhij", q, k) / np.sqrt(d), -np.inf)
    mx = np.max(s, axis=-1, keepdims=True)
    e = np.where(ok, np.exp(s - np.where(np.isfinite(mx), mx, 0.0)), 0.0)
    den = e.sum(-1, keepdims=True)
    return np.where(den > 0, e / np.where(den > 0, den, 1.0), 1.0 / k.shape[1])


CASES = [(2, 5, 5, 2, 3, "none"), (1, 1, 1, 1, 4, "none"), (2, 3, 70, 2, 9, "key"), (1, 37, 37, 1, 4, "causal"),
         (2, 33, 33, 2, 3, "causal_key"), (2, 6, 67, 2, 3, "general")]


@pytest.mark.parametrize("n,tq,tk,heads,dk,kind", CASES)
def test_scores_kernel_matches_reference_and_finite_differences(n, tq, tk, heads, dk, kind):
    rng = np.random.default_rng(tq * 7 + tk)
    q, k = rand(rng, n, tq, heads, dk), rand(rng, n, tk, heads, dk)
    m = masks_for(kind, rng, n, tq, tk)
    p = kernels.attention_scores_forward(q, k, **m)
    assert p.shape == (n, heads, tq, tk)
    np.testing.assert_allclose(p, scores_ref(q, k, **m), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    r = rand(rng, *p.shape)
    dq, dk_ = kernels.attention_scores_backward(r, p, q, k, **m)

    def loss():
        return float(np.sum(kernels.attention_scores_forward(q, k, **m) * r))

    for got, x in ((dq, q), (dk_, k)):
        want = numeric_grad(loss, x)
        if np.linalg.norm(want) == 0:  # T = 1: softmax of one key is constant
            assert np.all(got == 0)
        else:
            assert rel_err(got, want) < 1e-6
    # float32 agrees
    p32 = kernels.attention_scores_forward(q.astype(np.float32), k.astype(np.float32), **m)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p, rtol=1e-4, atol=1e-6)


def scores_model(tq=4, tk=5, d=6, causal=False, mask=False, seed=3):
    q_in, v_in = pydl.Input((tq, d), name="q"), pydl.Input((tk, d), name="v")
    inputs, kw = [q_in, v_in], {"use_causal_mask": causal}
    if mask:
        m = pydl.Input((tq, tk), dtype="bool", name="m")
        inputs.append(m)
        kw["attention_mask"] = m
    mha = layers.MultiHeadAttention(2, 3, name="mha")
    out, scores = mha(q_in, v_in, return_attention_scores=True, **kw)
    return pydl.Model(inputs, [out, scores], seed=seed), mha, inputs, kw


@pytest.mark.parametrize("variant", ["plain", "causal", "mask"])
def test_layer_returns_keras_scores_and_the_same_output(variant):
    rng = np.random.default_rng(4)
    n, t, d = 3, 5, 6
    model, mha, inputs, kw = scores_model(t, t, d, causal=variant == "causal", mask=variant == "mask")
    mha.set_weights([w + 0.2 * f32(rng, *w.shape) for w in mha.get_weights()])  # nonzero biases
    xq, xv = f32(rng, n, t, d), f32(rng, n, t, d)
    arrays = [xq, xv]
    ref_kw = {"causal": variant == "causal"}
    if variant == "mask":
        am = rng.random((n, t, t)) > 0.4
        am[1, 2] = False  # a row that may attend to nothing: uniform weights
        arrays.append(am)
        ref_kw["attention_mask"] = am
    out, scores = model.predict(arrays)
    assert scores.shape == (n, 2, t, t)
    want_out, want_p = mha_ref(mha.get_weights(), xq.astype(np.float64), xv.astype(np.float64), return_scores=True,
                               **ref_kw)
    np.testing.assert_allclose(scores, want_p, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(out, want_out, rtol=2e-4, atol=2e-5)
    # the output is what the same layer gives without scores, bitwise
    alone = pydl.Model(inputs, layers.MultiHeadAttention(2, 3, name="mha")(inputs[0], inputs[1], **kw), seed=3)
    alone.set_weights(mha.get_weights())
    np.testing.assert_array_equal(alone.predict(arrays), out)


def test_gradients_flow_through_scores_and_output():
    """Two losses, one on the output and one on the scores: the query/key weights get both
    gradients (the shared layer's nodes add up), against float64 central differences."""
    rng = np.random.default_rng(5)
    n, tq, tk, d = 3, 4, 5, 6
    model, mha, _, _ = scores_model(tq, tk, d)
    model.compile("sgd", ["mse", "mse"])
    mha.set_weights([w + 0.2 * f32(rng, *w.shape) for w in mha.get_weights()])
    xq, xv = f32(rng, n, tq, d), f32(rng, n, tk, d)
    y_out, y_p = f32(rng, n, tq, d), rng.random((n, 2, tq, tk)).astype(np.float32)
    _, grads = model.loss_and_gradients([xq, xv], [y_out, y_p])
    w64 = [w.astype(np.float64) for w in mha.get_weights()]

    def loss():
        out, p = mha_ref(w64, xq.astype(np.float64), xv.astype(np.float64), return_scores=True)
        return float(np.mean((out - y_out) ** 2) + np.mean((p - y_p) ** 2))

    want = numeric_weight_grads(loss, w64)
    assert len(grads) == len(want) == 8
    assert_grads_close(grads, want)

    def loss_scores_only():
        _, p = mha_ref(w64, xq.astype(np.float64), xv.astype(np.float64), return_scores=True)
        return float(np.mean((p - y_p) ** 2))

    # the scores alone reach the query and key kernels (their loss changes them)
    only = numeric_weight_grads(loss_scores_only, w64[:4])
    assert all(np.linalg.norm(g) > 1e-6 for g in (only[0], only[2]))


def test_padding_mask_zeroes_padded_keys_and_save_load_keeps_the_scores(tmp_path):
    rng = np.random.default_rng(6)
    steps, vocab = 6, 9
    ids_in = pydl.Input((steps,), dtype="int32")
    e = layers.Embedding(vocab, 4, mask_zero=True, name="emb")(ids_in)
    out, scores = layers.MultiHeadAttention(2, 2, name="mha")(e, e, return_attention_scores=True)
    model = pydl.Model(ids_in, [layers.GlobalAvgPool1D()(out), scores], seed=1)
    ids = np.zeros((3, steps), np.int32)
    for i, L in enumerate([6, 3, 1]):
        ids[i, :L] = rng.integers(1, vocab, L)
    pooled, p = model.predict(ids)
    valid = ids != 0
    # padded keys get weight 0 from valid query rows; padded query rows weigh every key 1 / T
    for b in range(3):
        for i in range(steps):
            if valid[b, i]:
                assert np.all(p[b, :, i, ~valid[b]] == 0)
                np.testing.assert_allclose(p[b, :, i].sum(-1), 1.0, rtol=1e-6)
            else:
                np.testing.assert_allclose(p[b, :, i], 1.0 / steps, rtol=1e-6)
    path = tmp_path / "scores.pydl"
    model.save(path)
    again = pydl.load_model(path)
    got_pooled, got_p = again.predict(ids)
    np.testing.assert_array_equal(got_p, p)
    np.testing.assert_array_equal(got_pooled, pooled)


def test_bad_uses_raise_clear_errors():
    q = pydl.Input((4, 3))
    with pytest.raises(TypeError, match="return_attention_scores"):
        layers.MultiHeadAttention(1, 2)(q, q, return_attention_scores="yes")
    # another output index on a layer with one output
    with pytest.raises(ValueError, match="one output"):
        _core.Graph([[3]], [{"type": "dense", "name": "d", "units": 2}], [(0, [0], 1)], [1])
    with pytest.raises(ValueError, match="two outputs"):
        _core.Graph([[4, 3]], [{"type": "multi_head_attention", "name": "m", "num_heads": 1, "key_dim": 2}],
                    [(0, [0, 0], 2)], [1])
