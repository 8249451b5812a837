"""MultiHeadAttention: forward against a numpy float64 implementation of Keras 3's layer on the
same weights; weight gradients (float32) against float64 central differences of that
reference (~1e-4); Embedding(mask_zero=True) padding end to end (padded variable-length batches
predict what the unpadded sequences predict one by one); bad inputs; save/load bitwise."""
import numpy as np
import pytest

import pydl
from pydl import _core, layers

from conftest import numeric_grad, assert_weights_equal, rel_err


def mha_ref(w, query, value, key=None, use_bias=True, query_mask=None, value_mask=None, attention_mask=None,
            causal=False, return_scores=False):
    """Keras' MultiHeadAttention in float64. A row with no allowed key weighs every key 1 / Tk
    (what Keras' large negative mask gives in float32)."""
    w = [np.asarray(a, np.float64) for a in w]
    if use_bias:
        wq, bq, wk, bk, wv, bv, wo, bo = w
    else:
        (wq, wk, wv, wo), z = w, 0.0
        bq = bk = bv = bo = z
    key = value if key is None else key
    key_dim = wq.shape[-1]
    q = np.einsum("btd,dhk->bthk", query, wq) + bq
    k = np.einsum("bsd,dhk->bshk", key, wk) + bk
    v = np.einsum("bsd,dhk->bshk", value, wv) + bv
    s = np.einsum("bthk,bshk->bhts", q / np.sqrt(key_dim), k)
    n, tq, tk = query.shape[0], query.shape[1], key.shape[1]
    ok = np.ones((n, tq, tk), bool)
    if query_mask is not None:
        ok &= query_mask.astype(bool)[:, :, None]
    if value_mask is not None:
        ok &= value_mask.astype(bool)[:, None, :]
    if attention_mask is not None:
        ok &= attention_mask.astype(bool)
    if causal:
        ok &= np.tril(np.ones((tq, tk), bool))
    ok = ok[:, None]
    s = np.where(ok, s, -np.inf)
    mx = np.max(s, -1, keepdims=True)
    e = np.where(ok, np.exp(s - np.where(np.isfinite(mx), mx, 0)), 0.0)
    den = e.sum(-1, keepdims=True)
    p = np.where(den > 0, e / np.where(den > 0, den, 1.0), 1.0 / tk)
    o = np.einsum("bhts,bshv->bthv", p, v)
    out = np.tensordot(o, wo, axes=([2, 3], [0, 1])) + bo
    return (out, p) if return_scores else out


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_weights_are_stored_as_keras_stores_them():
    q, v, k = pydl.Input((4, 6)), pydl.Input((5, 3)), pydl.Input((5, 5))
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=7, output_shape=8)
    model = pydl.Model([q, v, k], mha(q, v, key=k))
    shapes = [w.shape for w in mha.get_weights()]
    assert shapes == [(6, 2, 3), (2, 3), (5, 2, 3), (2, 3), (3, 2, 7), (2, 7), (2, 7, 8), (8,)]
    assert model.output_shape == (4, 8)
    limit = np.sqrt(6 / (6 * 2 + 6 * 3))  # Keras' glorot fans of an EinsumDense kernel (6, 2, 3)
    k = mha.get_weights()[0]
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.8 * limit
    nob = layers.MultiHeadAttention(2, 3, use_bias=False)
    pydl.Model(q, nob(q, q))
    assert [w.shape for w in nob.get_weights()] == [(6, 2, 3), (6, 2, 3), (6, 2, 3), (2, 3, 6)]


@pytest.mark.parametrize("case", ["self", "cross_key", "no_bias_value_dim", "causal", "mask", "output_shape"])
def test_forward_matches_keras_reference(case):
    rng = np.random.default_rng(0)
    n, tq, tk = 3, 7, 7 if case in ("self", "causal") else 9
    mha_kw, call_kw, ref_kw = {}, {}, {}
    q_in = pydl.Input((tq, 6))
    inputs, arrays = [q_in], [f32(rng, n, tq, 6)]
    if case in ("self", "causal"):
        v_in, v_arr = q_in, arrays[0]
    else:
        v_in = pydl.Input((tk, 4))
        v_arr = f32(rng, n, tk, 4)
        inputs.append(v_in)
        arrays.append(v_arr)
    if case == "cross_key":
        k_in = pydl.Input((tk, 5))
        inputs.append(k_in)
        arrays.append(f32(rng, n, tk, 5))
        call_kw["key"] = k_in
        ref_kw["key"] = arrays[-1].astype(np.float64)
    if case == "no_bias_value_dim":
        mha_kw = {"use_bias": False, "value_dim": 5}
        ref_kw["use_bias"] = False
    if case == "causal":
        call_kw["use_causal_mask"] = True
        ref_kw["causal"] = True
    if case == "mask":
        m_in = pydl.Input((tq, tk), dtype="bool")
        am = rng.random((n, tq, tk)) > 0.4
        am[1, 2] = False  # a row that attends to nothing
        inputs.append(m_in)
        arrays.append(am)
        call_kw["attention_mask"] = m_in
        ref_kw["attention_mask"] = am
    if case == "output_shape":
        mha_kw = {"output_shape": (2, 3)}
    mha = layers.MultiHeadAttention(3, 4, **mha_kw)
    model = pydl.Model(inputs, mha(q_in, v_in, **call_kw), seed=5)
    w = mha.get_weights()
    rng2 = np.random.default_rng(1)  # nonzero biases, so they are checked too
    mha.set_weights([a + 0.1 * rng2.standard_normal(a.shape).astype(np.float32) for a in w])
    got = model.predict(arrays if len(arrays) > 1 else arrays[0])
    want = mha_ref(mha.get_weights(), arrays[0].astype(np.float64), v_arr.astype(np.float64), **ref_kw)
    if case == "output_shape":
        want = want.reshape(n, tq, 2, 3)
        assert got.shape == (n, tq, 2, 3)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


def assert_grads_close(got, want):
    """rel_err < 1e-4 each; the key bias's gradient is exactly 0 in theory (softmax ignores a
    per-row constant, and q . b_k is one), so there only float32 noise must remain."""
    assert len(got) == len(want)
    for g, wg in zip(got, want):
        if np.linalg.norm(wg) < 1e-9:
            assert np.abs(g).max() < 1e-7
        else:
            assert rel_err(g, wg) < 1e-4


def numeric_weight_grads(loss, weights, h=1e-6):
    """Central differences of loss() in float64 for every element of every array in weights."""
    return [numeric_grad(loss, w, h) for w in weights]


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_gradients_match_finite_differences(causal):
    """Embedding -> MHA(e, e) -> loss: the MHA weights, and the embedding table below it,
    whose gradient flows back through both inputs of the one tensor."""
    rng = np.random.default_rng(2)
    n, t, vocab = 4, 6, 7
    ids = rng.integers(0, vocab, (n, t)).astype(np.int32)
    y = f32(rng, n, t, 5)
    inp = pydl.Input((t,), dtype="int32")
    emb = layers.Embedding(vocab, 5, name="emb")
    e = emb(inp)
    mha = layers.MultiHeadAttention(2, 3, value_dim=2, name="mha")
    model = pydl.Model(inp, mha(e, e, use_causal_mask=causal), seed=1)
    model.compile("sgd", "mse")
    emb.set_weights([f32(rng, vocab, 5)])  # unit-scale inputs: attention far from uniform
    loss32, grads = model.loss_and_gradients(ids, y)
    we = [a.astype(np.float64) for a in emb.get_weights()]
    wm = [a.astype(np.float64) for a in mha.get_weights()]

    def loss():
        hh = we[0][ids]
        return float(np.mean((mha_ref(wm, hh, hh, causal=causal) - y) ** 2))

    assert loss32 == pytest.approx(loss(), rel=1e-5)
    want = numeric_weight_grads(loss, we + wm)
    assert len(grads) == len(want) == 9
    assert_grads_close(grads, want)


def test_cross_attention_with_key_and_mask_gradients_match_finite_differences():
    """Query, value and key from three embeddings (their gradients test each input's dx),
    with a general attention mask holding a fully masked row."""
    rng = np.random.default_rng(3)
    n, tq, tk, vocab = 3, 4, 5, 6
    ia, ib = rng.integers(0, vocab, (n, tq)).astype(np.int32), rng.integers(0, vocab, (n, tk)).astype(np.int32)
    am = rng.random((n, tq, tk)) > 0.3
    am[0, 1] = False
    y = f32(rng, n, tq, 3)
    a, b = pydl.Input((tq,), dtype="int32"), pydl.Input((tk,), dtype="int32")
    m = pydl.Input((tq, tk), dtype="bool")
    ea, ev, ek = (layers.Embedding(vocab, d, name=nm) for d, nm in ((3, "ea"), (2, "ev"), (4, "ek")))
    mha = layers.MultiHeadAttention(2, 2, name="mha")
    model = pydl.Model([a, b, m], mha(ea(a), ev(b), key=ek(b), attention_mask=m), seed=2)
    model.compile("sgd", "mse")
    for layer in (ea, ev, ek):  # unit-scale inputs: attention far from uniform
        layer.set_weights([f32(rng, *layer.get_weights()[0].shape)])
    _, grads = model.loss_and_gradients([ia, ib, am], y)
    tables = {nm: model.get_layer(nm).get_weights()[0].astype(np.float64) for nm in ("ea", "ev", "ek")}
    wm = [w.astype(np.float64) for w in mha.get_weights()]

    def loss():
        out = mha_ref(wm, tables["ea"][ia], tables["ev"][ib], key=tables["ek"][ib], attention_mask=am)
        return float(np.mean((out - y) ** 2))

    order = [l.name for l in model.layers]
    weights = {"mha": wm, **{nm: [tables[nm]] for nm in tables}}
    want = numeric_weight_grads(loss, [w for nm in order for w in weights[nm]])
    assert len(grads) == len(want) == 11
    assert_grads_close(grads, want)


def padded_batch(rng, lengths, steps, vocab):
    ids = np.zeros((len(lengths), steps), np.int32)
    for i, L in enumerate(lengths):
        ids[i, :L] = rng.integers(1, vocab, L)
    return ids


@pytest.mark.parametrize("head", ["sequence", "lstm"])
def test_padded_batches_predict_what_unpadded_sequences_predict(head):
    """Embedding(mask_zero) -> MHA(x, x): padded keys are ignored, and the output carries the
    query's mask on (an LSTM after it skips the padded steps)."""
    rng = np.random.default_rng(4)
    steps, vocab = 9, 12

    def build(t):
        ids = pydl.Input((t,), dtype="int32")
        e = layers.Embedding(vocab, 6, mask_zero=True, name="emb")(ids)
        y = layers.MultiHeadAttention(2, 3, name="mha")(e, e)
        if head == "lstm":
            y = layers.Dense(2, name="out")(layers.LSTM(4, name="lstm")(y))
        return pydl.Model(ids, y, seed=3)

    model = build(steps)
    lengths = [9, 4, 1, 6]
    ids = padded_batch(rng, lengths, steps, vocab)
    got = model.predict(ids)
    for i, L in enumerate(lengths):
        alone = build(L)
        alone.set_weights(model.get_weights())
        want = alone.predict(ids[i:i + 1, :L])
        if head == "lstm":
            np.testing.assert_allclose(got[i], want[0], rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_allclose(got[i, :L], want[0], rtol=1e-5, atol=1e-6)
    # and the reference agrees on the padded batch (query rows of padding average the values)
    if head == "sequence":
        mask = ids != 0
        emb = model.get_layer("emb").get_weights()[0].astype(np.float64)[ids]
        want = mha_ref(model.get_layer("mha").get_weights(), emb, emb, query_mask=mask, value_mask=mask)
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


def test_dropout_applies_in_training_only_and_is_reproducible():
    rng = np.random.default_rng(5)
    x, y = f32(rng, 8, 6, 4), f32(rng, 8, 6, 4)
    inp = pydl.Input((6, 4))
    model = pydl.Model(inp, layers.MultiHeadAttention(2, 4, dropout=0.5)(inp, inp), seed=1)
    model.compile("sgd", "mse")
    l_eval, _ = model.loss_and_gradients(x, y)
    l_train, g1 = model.loss_and_gradients(x, y, training=True)
    l_again, g2 = model.loss_and_gradients(x, y, training=True)
    assert l_train != l_eval
    assert l_train == l_again
    assert len(g1) == len(g2) == 8
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)


def test_training_is_bitwise_identical_for_one_two_three_threads():
    rng = np.random.default_rng(6)
    x, y = f32(rng, 64, 40, 8), f32(rng, 64, 40, 8)
    before = pydl.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            pydl.set_num_threads(threads)
            inp = pydl.Input((40, 8))
            model = pydl.Model(inp, layers.MultiHeadAttention(4, 4, dropout=0.1)(inp, inp, use_causal_mask=True),
                               seed=2)
            model.compile("adam", "mse")
            split = _core.split_regions()
            model.fit(x, y, epochs=2, batch_size=32, verbose=0)
            if threads > 1:
                assert _core.split_regions() > split  # the work really went to several threads
            results.append(model.get_weights())
    finally:
        pydl.set_num_threads(before)
    assert len(results) == 3
    for other in results[1:]:
        assert_weights_equal(other, results[0])


def test_bad_inputs_raise_clear_errors():
    x = pydl.Input((5, 4))
    with pytest.raises(ValueError, match="num_heads"):
        layers.MultiHeadAttention(0, 4)
    with pytest.raises(ValueError, match="key_dim"):
        layers.MultiHeadAttention(2, 0)
    with pytest.raises(TypeError, match="key_dim"):
        layers.MultiHeadAttention(2, 2.5)
    with pytest.raises(ValueError, match="dropout"):
        layers.MultiHeadAttention(2, 2, dropout=1.0)
    with pytest.raises(ValueError, match="attention_mask of shape"):
        m = pydl.Input((5, 6), dtype="bool")
        pydl.Model([x, m], layers.MultiHeadAttention(2, 2)(x, x, attention_mask=m))
    with pytest.raises(TypeError, match="boolean model input"):
        layers.MultiHeadAttention(2, 2)(x, x, attention_mask=pydl.Input((5, 5)))
    v = pydl.Input((7, 4))
    with pytest.raises(ValueError, match="use_causal_mask=True needs as many query steps as key steps"):
        pydl.Model([x, v], layers.MultiHeadAttention(2, 2)(x, v, use_causal_mask=True))
    with pytest.raises(ValueError, match="key and value need the same number of steps"):
        pydl.Model([x, v], layers.MultiHeadAttention(2, 2)(x, v, key=x))
    with pytest.raises(ValueError, match="steps, features"):
        flat = pydl.Input((4,))
        pydl.Model(flat, layers.MultiHeadAttention(2, 2)(flat, flat))
    with pytest.raises(TypeError, match="value is missing"):
        layers.MultiHeadAttention(2, 2)(x)
    shared = layers.MultiHeadAttention(2, 2)
    shared(x, x)
    with pytest.raises(ValueError, match="one set of call arguments"):
        shared(x, x, use_causal_mask=True)
    with pytest.raises(ValueError, match="merges several tensors"):
        pydl.Sequential([layers.Input((5, 4)), layers.MultiHeadAttention(2, 2)])


def test_save_load_round_trip_is_bitwise(tmp_path):
    rng = np.random.default_rng(7)
    a, b, k = pydl.Input((6, 3), name="a"), pydl.Input((6, 2), name="b"), pydl.Input((6, 4), name="k")
    m = pydl.Input((6, 6), dtype="bool", name="m")
    mha = layers.MultiHeadAttention(2, 3, value_dim=4, dropout=0.2, output_shape=5)
    out = layers.Dense(2)(layers.Flatten()(mha(a, b, key=k, attention_mask=m, use_causal_mask=True)))
    model = pydl.Model([a, b, k, m], out, seed=4)
    model.compile("adam", "mse")
    xs = [f32(rng, 16, 6, 3), f32(rng, 16, 6, 2), f32(rng, 16, 6, 4), rng.random((16, 6, 6)) > 0.2]
    model.fit(xs, f32(rng, 16, 2), epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / "mha.pydl")
    model.save(path)
    loaded = pydl.load_model(path)
    assert_weights_equal(loaded.get_weights(), model.get_weights())
    np.testing.assert_array_equal(loaded.predict(xs), model.predict(xs))
    restored = [l for l in loaded.layers if isinstance(l, layers.MultiHeadAttention)][0]
    assert restored.get_config() == mha.get_config()
    assert restored._call_config() == {"use_causal_mask": True, "has_key": True, "has_attention_mask": True}
