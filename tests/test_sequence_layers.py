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

from conftest import rel_err
from reference import act


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def numeric_grads(loss, weights, h=1e-6):
    """Central differences of loss() in float64 for every element of every array in weights."""
    out = []
    for w in weights:
        g = np.zeros_like(w)
        for i in range(w.size):
            old = w.flat[i]
            w.flat[i] = old + h
            fp = loss()
            w.flat[i] = old - h
            fm = loss()
            w.flat[i] = old
            g.flat[i] = (fp - fm) / (2 * h)
        out.append(g)
    return out


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
