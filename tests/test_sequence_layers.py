"""Sequence layers beyond RNNs (issue 13, part 2): Dense and LayerNormalization on the last
axis of (N, T, D), cross-entropy over sequences with padding excluded, Conv1D and the 1-D
pools, PositionEmbedding and TransformerEncoder. Forward passes against numpy float64
references; gradients (float32 engine) against float64 central differences of those references
(~1e-4 relative); models against a bag-of-tokens baseline on a task where order matters;
padded batches against unpadded sequences one by one; bad inputs."""
import numpy as np
import pytest

import pydl
from pydl import layers

from conftest import numeric_grad, rel_err
from reference import act


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def numeric_grads(loss, weights, h=1e-6):
    """Central differences of loss() in float64 for every element of every array in weights."""
    return [numeric_grad(loss, w, h) for w in weights]


def assert_grads_close(got, want, tol=1e-4):
    assert len(got) == len(want) > 0
    for i, (g, wg) in enumerate(zip(got, want)):
        assert g.shape == wg.shape, f"gradient {i}: {g.shape} vs {wg.shape}"
        assert rel_err(g, wg) < tol, f"gradient {i}: relative error {rel_err(g, wg):.2e}"


def layer_norm_ref(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def seq_cross_entropy_ref(z, labels, mask=None, sample_weight=None):
    """Mean token NLL over the valid tokens: sum(w * nll) / sum(w), w = mask * sample weight."""
    z = z.astype(np.float64)
    m = z.max(-1, keepdims=True)
    lp = z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))
    nll = -np.take_along_axis(lp, labels[..., None].astype(np.int64), -1)[..., 0]
    w = np.ones(labels.shape) if mask is None else mask.astype(np.float64)
    if sample_weight is not None:
        w = w * np.asarray(sample_weight, np.float64)[:, None]
    return float((w * nll).sum() / w.sum())


def padded_ids(rng, lengths, steps, vocab):
    ids = np.zeros((len(lengths), steps), np.int32)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, vocab, n)
    return ids


# --- Dense and LayerNormalization on the last axis -------------------------------------------

def test_dense_applies_to_the_last_axis_of_any_rank():
    rng = np.random.default_rng(0)
    for shape in [(7,), (5, 7), (3, 4, 7)]:
        x = f32(rng, 2, *shape)
        dense = layers.Dense(4, activation="tanh")
        model = pydl.Sequential([layers.Input(shape), dense])
        assert model.output_shape == (*shape[:-1], 4)
        w, b = (a.astype(np.float64) for a in dense.get_weights())
        np.testing.assert_allclose(model.predict(x), np.tanh(x.astype(np.float64) @ w + b), rtol=1e-5, atol=1e-6)


def test_dense_and_layer_norm_on_sequences_gradients_match_finite_differences():
    """(N, T, D) -> Dense(gelu) -> LayerNormalization -> Dense: every weight's gradient."""
    rng = np.random.default_rng(1)
    n, t, d = 3, 4, 5
    x, y = f32(rng, n, t, d), f32(rng, n, t, 2)
    model = pydl.Sequential([layers.Input((t, d)), layers.Dense(6, activation="gelu"),
                             layers.LayerNormalization(epsilon=1e-3), layers.Dense(2)], seed=3)
    model.compile("sgd", "mse")
    ln = model.layers[1]
    ln.set_weights([f32(rng, 6), f32(rng, 6)])  # gamma, beta away from their (1, 0) start
    # inference mode (the default): GELU's backward must still see this forward's inputs
    loss32, grads = model.loss_and_gradients(x, y)
    ws = [w.astype(np.float64) for w in model.get_weights()]

    def loss():
        h = act(x @ ws[0] + ws[1], "gelu")
        h = layer_norm_ref(h, ws[2], ws[3], 1e-3)
        return float(np.mean((h @ ws[4] + ws[5] - y) ** 2))

    assert loss32 == pytest.approx(loss(), rel=1e-5)
    assert_grads_close(grads, numeric_grads(loss, ws))


def test_dense_passes_the_padding_mask_on():
    """Embedding(mask_zero) -> Dense -> LSTM: the LSTM still skips the padded steps."""
    rng = np.random.default_rng(2)

    def build(t):
        ids = pydl.Input((t,), dtype="int32")
        h = layers.Dense(5, activation="relu")(layers.Embedding(9, 4, mask_zero=True)(ids))
        return pydl.Model(ids, layers.Dense(2)(layers.LSTM(3)(layers.LayerNormalization()(h))), seed=4)

    model, lengths = build(6), [6, 2, 4]
    ids = padded_ids(rng, lengths, 6, 9)
    got = model.predict(ids)
    for i, n in enumerate(lengths):
        alone = build(n)
        alone.set_weights(model.get_weights())
        np.testing.assert_allclose(got[i], alone.predict(ids[i:i + 1, :n])[0], rtol=1e-5, atol=1e-6)


# --- cross-entropy over sequences ------------------------------------------------------------

def tagger(t, vocab, classes, mask_zero=True, seed=5):
    ids = pydl.Input((t,), dtype="int32")
    e = layers.Embedding(vocab, 4, mask_zero=mask_zero, name="emb")(ids)
    return pydl.Model(ids, layers.Dense(classes, name="out")(e), seed=seed)


def tagger_logits(model, ids):
    e = model.get_layer("emb").get_weights()[0].astype(np.float64)[ids]
    w, b = (a.astype(np.float64) for a in model.get_layer("out").get_weights())
    return e @ w + b


@pytest.mark.parametrize("mask_zero", [True, False])
def test_sequence_cross_entropy_loss_accuracy_and_gradients_skip_padding(mask_zero):
    rng = np.random.default_rng(6)
    t, vocab, classes = 5, 7, 3
    ids = padded_ids(rng, [5, 2, 3, 1], t, vocab)
    labels = rng.integers(0, classes, ids.shape)
    model = tagger(t, vocab, classes, mask_zero)
    model.compile("sgd", "cross_entropy", metrics=["accuracy"])
    model.get_layer("emb").set_weights([f32(rng, vocab, 4)])
    mask = ids != 0 if mask_zero else None
    z = tagger_logits(model, ids)
    logs = model.evaluate(ids, labels)
    assert logs["loss"] == pytest.approx(seq_cross_entropy_ref(z, labels, mask), rel=1e-5)
    hit = z.argmax(-1) == labels
    want_acc = hit[mask].mean() if mask_zero else hit.mean()
    assert logs["accuracy"] == pytest.approx(want_acc)
    # padded positions change nothing: other labels there give the same loss and gradients
    loss32, grads = model.loss_and_gradients(ids, labels)
    if mask_zero:
        relabelled = np.where(ids == 0, (labels + 1) % classes, labels)
        loss_b, grads_b = model.loss_and_gradients(ids, relabelled)
        assert loss_b == loss32 and all(np.array_equal(a, b) for a, b in zip(grads, grads_b, strict=True))
    table = model.get_layer("emb").get_weights()[0].astype(np.float64)
    w, b = (a.astype(np.float64) for a in model.get_layer("out").get_weights())

    def loss():
        return seq_cross_entropy_ref(table[ids] @ w + b, labels, mask)

    assert loss32 == pytest.approx(loss(), rel=1e-5)
    assert_grads_close(grads, numeric_grads(loss, [table, w, b]))


def test_sequence_cross_entropy_with_sample_weights_and_softmax_output():
    """Sample weights multiply each sample's tokens; a softmax output is fused (logits read)."""
    rng = np.random.default_rng(7)
    t, vocab, classes = 4, 6, 3
    ids = padded_ids(rng, [4, 1, 3], t, vocab)
    labels = rng.integers(0, classes, ids.shape)
    sw = np.array([0.5, 2.0, 1.0])
    inp = pydl.Input((t,), dtype="int32")
    e = layers.Embedding(vocab, 4, mask_zero=True, name="emb")(inp)
    model = pydl.Model(inp, layers.Dense(classes, activation="softmax", name="out")(e), seed=8)
    model.compile("sgd", "cross_entropy")
    z = tagger_logits(model, ids)
    logs = model.evaluate(ids, labels, sample_weight=sw)
    assert logs["loss"] == pytest.approx(seq_cross_entropy_ref(z, labels, ids != 0, sw), rel=1e-5)


def test_sequence_labels_bad_inputs():
    model = tagger(5, 7, 3)
    model.compile("sgd", "cross_entropy")
    ids = np.ones((2, 5), np.int32)
    with pytest.raises(ValueError, match=r"expects integer class ids of shape \(2, 5\), one per step, got shape \(2,\)"):
        model.evaluate(ids, np.zeros(2, int))
    with pytest.raises(ValueError, match=r"label 3 at index 7 is out of range.*\[0, 2\]"):
        model.fit(ids, np.r_[np.zeros(7, int), 3, np.zeros(2, int)].reshape(2, 5), verbose=0)
    img = pydl.Sequential([layers.Input((4, 4, 2)), layers.Dense(3)])
    with pytest.raises(ValueError, match=r"\(None, classes\) or \(None, steps, classes\), got \(None, 4, 4, 3\); add a Flatten"):
        img.compile("sgd", "cross_entropy")
        img.evaluate(np.zeros((2, 4, 4, 2)), np.zeros((2, 4, 4)))


# --- Conv1D and the 1-D pools ----------------------------------------------------------------

def conv1d_ref(x, k, b, strides, padding, dilation):
    """Keras' Conv1D in float64 loops: x (N, T, C), k (K, C, F)."""
    n, t, c = x.shape
    kk, _, f = k.shape
    span = (kk - 1) * dilation + 1
    if padding == "valid":
        left, out = 0, (t - span) // strides + 1
    elif padding == "same":
        out = -(-t // strides)
        left = max(0, (out - 1) * strides + span - t) // 2
    else:  # causal
        left, out = span - 1, -(-t // strides)
    y = np.zeros((n, out, f)) + (0 if b is None else b)
    for o in range(out):
        for j in range(kk):
            s = o * strides - left + j * dilation
            if 0 <= s < t:
                y[:, o] += x[:, s].astype(np.float64) @ k[j].astype(np.float64)
    return y


@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("valid", 2, 1), ("same", 1, 2),
                                                      ("same", 3, 1), ("causal", 1, 2), ("causal", 2, 1)])
def test_conv1d_forward_and_gradients_match_reference(padding, strides, dilation):
    rng = np.random.default_rng(10)
    n, t, c = 2, 7, 3
    x = f32(rng, n, t, c)
    conv = layers.Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation, activation="tanh")
    model = pydl.Sequential([layers.Input((t, c)), conv], seed=11)
    k, b = (w.astype(np.float64) for w in conv.get_weights())
    assert k.shape == (3, c, 4)
    want = np.tanh(conv1d_ref(x, k, b, strides, padding, dilation))
    got = model.predict(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    y = f32(rng, *want.shape)
    model.compile("sgd", "mse")
    loss32, grads = model.loss_and_gradients(x, y)
    xs = x.astype(np.float64)

    def loss():
        return float(np.mean((np.tanh(conv1d_ref(xs, k, b, strides, padding, dilation)) - y) ** 2))

    assert loss32 == pytest.approx(loss(), rel=1e-5)
    assert_grads_close(grads, numeric_grads(loss, [k, b]))


def pool1d_ref(x, size, strides, padding, op):
    n, t, c = x.shape
    if padding == "valid":
        out, left = (t - size) // strides + 1, 0
    else:
        out = -(-t // strides)
        left = max(0, (out - 1) * strides + size - t) // 2
    y = np.zeros((n, out, c))
    for o in range(out):
        lo, hi = max(0, o * strides - left), min(t, o * strides - left + size)
        y[:, o] = op(x[:, lo:hi].astype(np.float64), axis=1)
    return y


@pytest.mark.parametrize("cls,op", [(layers.MaxPool1D, np.max), (layers.AvgPool1D, np.mean)])
@pytest.mark.parametrize("padding,size,strides", [("valid", 2, None), ("same", 3, 2), ("valid", 3, 1)])
def test_pool1d_forward_and_gradients(cls, op, padding, size, strides):
    rng = np.random.default_rng(12)
    x = f32(rng, 2, 7, 3)
    model = pydl.Sequential([layers.Input((7, 3)), layers.Dense(3, name="d"), cls(size, strides, padding)], seed=2)
    w, b = (a.astype(np.float64) for a in model.get_layer("d").get_weights())
    want = pool1d_ref(x @ w + b, size, strides or size, padding, op)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)
    y = f32(rng, *want.shape)
    model.compile("sgd", "mse")
    _, grads = model.loss_and_gradients(x, y)

    def loss():
        return float(np.mean((pool1d_ref(x @ w + b, size, strides or size, padding, op) - y) ** 2))

    assert_grads_close(grads, numeric_grads(loss, [w, b]))


@pytest.mark.parametrize("cls,op", [(layers.GlobalMaxPool1D, np.max), (layers.GlobalAvgPool1D, np.mean)])
def test_global_pools_skip_masked_steps_forward_and_gradients(cls, op):
    rng = np.random.default_rng(13)
    t, vocab = 6, 9
    ids = padded_ids(rng, [6, 2, 4, 1], t, vocab)
    ids[3] = 0  # a sequence of padding alone: output 0, no gradient
    inp = pydl.Input((t,), dtype="int32")
    emb = layers.Embedding(vocab, 4, mask_zero=True, name="emb")
    model = pydl.Model(inp, cls()(emb(inp)), seed=3)
    table = rng.standard_normal((vocab, 4))
    emb.set_weights([table.astype(np.float32)])
    table = emb.get_weights()[0].astype(np.float64)

    def ref(tab):
        e = tab[ids]
        return np.stack([op(e[i][ids[i] != 0], axis=0) if (ids[i] != 0).any() else np.zeros(4)
                         for i in range(len(ids))])

    np.testing.assert_allclose(model.predict(ids), ref(table), rtol=1e-6, atol=1e-6)
    y = f32(rng, len(ids), 4)
    model.compile("sgd", "mse")
    _, grads = model.loss_and_gradients(ids, y)
    assert_grads_close(grads, numeric_grads(lambda: float(np.mean((ref(table) - y) ** 2)), [table]))


# --- PositionEmbedding and TransformerEncoder ------------------------------------------------

def test_position_embedding_gives_the_first_rows_and_sums_their_gradient():
    rng = np.random.default_rng(14)
    x = f32(rng, 3, 4, 5)
    pos = layers.PositionEmbedding(6)
    inp = pydl.Input((4, 5))
    model = pydl.Model(inp, layers.Add()([inp, pos(inp)]))
    table = pos.get_weights()[0].astype(np.float64)
    assert table.shape == (6, 5)
    np.testing.assert_allclose(model.predict(x), x + table[:4], rtol=1e-6, atol=1e-7)
    y = f32(rng, 3, 4, 5)
    model.compile("sgd", "mse")
    _, grads = model.loss_and_gradients(x, y)
    assert_grads_close(grads, numeric_grads(lambda: float(np.mean((x + table[:4] - y) ** 2)), [table]))


def encoder_ref(ws, x, normalize_first, eps, heads, mask=None):
    """KerasHub's TransformerEncoder in float64 on the sublayers' weights in call order (relu
    feed-forward)."""
    from test_attention import mha_ref

    if normalize_first:
        (g1, b1), attn, (g2, b2, w1, c1, w2, c2) = ws[:2], ws[2:10], ws[10:]
        h = layer_norm_ref(x, g1, b1, eps)
        h = x + mha_ref(attn, h, h, query_mask=mask, value_mask=mask)
        f = np.maximum(layer_norm_ref(h, g2, b2, eps) @ w1 + c1, 0) @ w2 + c2
        return h + f
    attn, (g1, b1, w1, c1, w2, c2, g2, b2) = ws[:8], ws[8:]
    h = layer_norm_ref(x + mha_ref(attn, x, x, query_mask=mask, value_mask=mask), g1, b1, eps)
    return layer_norm_ref(h + np.maximum(h @ w1 + c1, 0) @ w2 + c2, g2, b2, eps)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_transformer_encoder_matches_reference_forward_and_gradients(normalize_first):
    rng = np.random.default_rng(15)
    n, t, d = 2, 5, 4
    x, y = f32(rng, n, t, d), f32(rng, n, t, d)
    enc = layers.TransformerEncoder(6, 2, layer_norm_epsilon=1e-3, normalize_first=normalize_first, name="enc")
    inp = pydl.Input((t, d))
    model = pydl.Model(inp, enc(inp), seed=5)
    assert model.get_layer("enc") is enc
    ws = [w.astype(np.float64) for w in enc.get_weights()]
    key_bias = 5 if normalize_first else 3  # after the first LayerNormalization's two in pre-norm
    assert len(ws) == 16 and ws[key_bias - 3].shape == (d, 2, 2)
    np.testing.assert_allclose(model.predict(x), encoder_ref(ws, x, normalize_first, 1e-3, 2), rtol=2e-5, atol=2e-5)
    model.compile("sgd", "mse")
    loss32, grads = model.loss_and_gradients(x, y)
    order = [w for layer in model.layers for w in ([] if not layer.get_weights() else [layer])]
    by_layer = {id(l): i for i, l in enumerate(enc.sublayers)}
    assert sorted(by_layer[id(l)] for l in order) == [by_layer[id(l)] for l in order]  # model order = call order

    def loss():
        return float(np.mean((encoder_ref(ws, x, normalize_first, 1e-3, 2) - y) ** 2))

    assert loss32 == pytest.approx(loss(), rel=1e-5)
    want = numeric_grads(loss, ws)
    # the key bias has no effect on softmax (a per-row constant): only float noise there
    assert np.abs(grads[key_bias]).max() < 1e-6
    drop = lambda a: a[:key_bias] + a[key_bias + 1:]  # noqa: E731
    assert_grads_close(drop(grads), drop(want))


def test_transformer_encoder_save_load_and_summary(tmp_path):
    inp = pydl.Input((6,), dtype="int32")
    e = layers.Embedding(10, 8, mask_zero=True)(inp)
    enc = layers.TransformerEncoder(16, 2, name="block")
    model = pydl.Model(inp, layers.Dense(2)(layers.GlobalAvgPool1D()(enc(e))), seed=1)
    model.compile("adam", "cross_entropy")
    ids = np.random.default_rng(0).integers(0, 10, (16, 6))
    model.fit(ids, ids[:, 0] % 2, epochs=1, verbose=0)
    names = [l.name for l in model.layers]  # what summary() lists
    assert "block/self_attention" in names and "block/feedforward_layer_norm" in names
    model.save(str(tmp_path / "m.pydl"))
    loaded = pydl.load_model(str(tmp_path / "m.pydl"))
    np.testing.assert_array_equal(loaded.predict(ids), model.predict(ids))
    group = loaded.get_layer("block")
    got, want = group.get_weights(), enc.get_weights()
    assert len(got) == len(want) == 16 and all(np.array_equal(a, b) for a, b in zip(got, want))


# --- models: order matters -------------------------------------------------------------------

def order_task(rng, n, t, vocab):
    """Label 1 when token A=1 occurs before token B=2 (both occur once in every sequence): counts
    reveal nothing, so a bag of tokens is at chance."""
    ids = rng.integers(3, vocab, (n, t))
    pos = np.argsort(rng.random((n, t)), axis=1)[:, :2]
    ids[np.arange(n), pos[:, 0]] = 1
    ids[np.arange(n), pos[:, 1]] = 2
    return ids.astype(np.int32), (pos[:, 0] < pos[:, 1]).astype(np.int32)


def bag_of_tokens(t, vocab):
    inp = pydl.Input((t,), dtype="int32")
    h = layers.GlobalAvgPool1D()(layers.Embedding(vocab, 16)(inp))
    return pydl.Model(inp, layers.Dense(2)(layers.Dense(32, activation="relu")(h)), seed=0)


def conv_classifier(t, vocab):
    inp = pydl.Input((t,), dtype="int32")
    h = layers.Embedding(vocab, 16, mask_zero=True)(inp)
    h = layers.Conv1D(32, 3, padding="causal", activation="relu")(h)
    h = layers.Conv1D(32, 3, padding="causal", dilation_rate=2, activation="relu")(h)
    h = layers.Conv1D(32, 3, padding="causal", dilation_rate=4, activation="relu")(h)
    return pydl.Model(inp, layers.Dense(2)(layers.GlobalMaxPool1D()(h)), seed=0)


def transformer_classifier(t, vocab):
    inp = pydl.Input((t,), dtype="int32")
    h = layers.Embedding(vocab, 32, mask_zero=True)(inp)
    h = layers.Add()([h, layers.PositionEmbedding(t)(h)])
    for _ in range(2):
        h = layers.TransformerEncoder(64, 4)(h)
    return pydl.Model(inp, layers.Dense(2)(layers.GlobalAvgPool1D()(h)), seed=0)


@pytest.mark.parametrize("build", [conv_classifier, transformer_classifier])
def test_order_aware_models_beat_a_bag_of_tokens(build):
    rng = np.random.default_rng(16)
    t, vocab = 12, 12
    x, y = order_task(rng, 1500, t, vocab)
    xv, yv = order_task(rng, 500, t, vocab)
    scores = {}
    for name, make in (("bag", bag_of_tokens), ("model", build)):
        model = make(t, vocab)
        model.compile(pydl.optimizers.Adam(3e-3), "cross_entropy", metrics=["accuracy"])
        model.fit(x, y, epochs=25, batch_size=64, verbose=0)
        scores[name] = model.evaluate(xv, yv)["accuracy"]
    assert scores["bag"] < 0.62, scores  # chance: counts are the same in both classes
    assert scores["model"] > 0.9, scores


@pytest.mark.parametrize("build", [conv_classifier, transformer_classifier])
def test_padded_batches_predict_what_unpadded_sequences_predict(build):
    rng = np.random.default_rng(17)
    steps, vocab = 10, 12
    model = build(steps, vocab)
    lengths = [10, 3, 7, 1]
    ids = padded_ids(rng, lengths, steps, vocab)
    got = model.predict(ids)
    for i, n in enumerate(lengths):
        alone = build(n, vocab) if build is conv_classifier else None
        if alone is None:  # the position table's length is part of the weights: keep it at `steps`
            inp = pydl.Input((n,), dtype="int32")
            h = layers.Embedding(vocab, 32, mask_zero=True)(inp)
            h = layers.Add()([h, layers.PositionEmbedding(steps)(h)])
            for _ in range(2):
                h = layers.TransformerEncoder(64, 4)(h)
            alone = pydl.Model(inp, layers.Dense(2)(layers.GlobalAvgPool1D()(h)), seed=0)
        alone.set_weights(model.get_weights())
        np.testing.assert_allclose(got[i], alone.predict(ids[i:i + 1, :n])[0], rtol=1e-4, atol=1e-5)


# --- bad inputs ------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"Conv1D 'c': kernel_size 5 \(dilated span 9\) is longer than the input's 6 steps"):
        pydl.Sequential([layers.Input((6, 2)), layers.Conv1D(3, 5, dilation_rate=2, name="c")]).build()
    with pytest.raises(ValueError, match=r"expected sequences \(None, steps, channels\), got \(None, 4, 4, 2\)"):
        pydl.Sequential([layers.Input((4, 4, 2)), layers.Conv1D(3, 2)]).build()
    with pytest.raises(ValueError, match="padding"):
        layers.Conv1D(3, 2, padding="full")
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv1D(3, 0)
    with pytest.raises(ValueError, match="strides > 1 with dilation_rate > 1"):
        layers.Conv1D(3, 2, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="pool_size 4 is longer than the input's 3 steps"):
        pydl.Sequential([layers.Input((3, 2)), layers.MaxPool1D(4)]).build()
    with pytest.raises(ValueError, match=r"PositionEmbedding 'p': the input has 9 steps, more than sequence_length=8"):
        inp = pydl.Input((9, 4))
        pydl.Model(inp, layers.PositionEmbedding(8, name="p")(inp)).build()
    with pytest.raises(ValueError, match="sequence_length"):
        layers.PositionEmbedding(0)
    with pytest.raises(ValueError, match="5 features do not split into num_heads=2"):
        layers.TransformerEncoder(8, 2)(pydl.Input((3, 5)))
    with pytest.raises(ValueError, match="num_heads"):
        layers.TransformerEncoder(8, 0)
    enc, inp = layers.TransformerEncoder(8, 2), pydl.Input((3, 4))
    enc(inp)
    with pytest.raises(ValueError, match="already called"):
        enc(inp)


@pytest.mark.parametrize("before_call", [True, False])
def test_frozen_transformer_encoder_freezes_every_sublayer(before_call, tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 20, size=(16, 6)).astype(np.int32)
    y = rng.integers(0, 2, size=16)
    enc = layers.TransformerEncoder(8, 2, name="enc")
    if before_call:
        enc.trainable = False
    inp = pydl.Input((6,), dtype="int32")
    h = enc(layers.Embedding(20, 8)(inp))
    m = pydl.Model(inp, layers.Dense(2)(layers.GlobalAvgPool1D()(h)), seed=0)
    m.compile(optimizer="adam", loss="cross_entropy")
    if not before_call:
        enc.trainable = False
    assert enc.trainable is False and all(not l.trainable for l in enc.sublayers)
    before = enc.get_weights()
    m.fit(ids, y, epochs=2, verbose=0)
    assert len(before) > 0 and all(np.array_equal(a, b) for a, b in zip(enc.get_weights(), before))
    m.save(tmp_path / "m.pydl")
    assert pydl.load_model(tmp_path / "m.pydl").get_layer("enc").trainable is False
    enc.trainable = True
    m.fit(ids, y, epochs=1, verbose=0)
    assert not np.array_equal(enc.get_weights()[0], before[0])
