"""Sequential end to end: accuracy on digits, gradients against a numpy float64 reference,
training steps against numpy optimizers, bitwise reproducibility across thread counts."""
import numpy as np
import pytest

import pydl
from pydl import layers, optimizers

import reference as ref
from conftest import assert_split_iff_threads, assert_weights_equal, split_regions


@pytest.fixture(scope="module")
def digits_split():
    x, y = pydl.datasets.load_digits()
    return pydl.data.train_test_split(x, y, test_size=0.25, stratify=True, seed=0)


def mlp(seed=0, hidden=128, dropout=0.2, inputs=64):
    return pydl.Sequential([layers.Input((inputs,)), layers.Dense(hidden, activation="relu"),
                            layers.Dropout(dropout), layers.Dense(10)], seed=seed)


def test_mlp_reaches_95_percent_on_digits(digits_split):
    x_train, x_test, y_train, y_test = digits_split
    model = mlp()
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-3), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=40, batch_size=32, validation_split=0.1, verbose=0)
    assert len(history.history["loss"]) == 40
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    scores = model.evaluate(x_test, y_test)
    assert scores["accuracy"] >= 0.95, scores
    # evaluate's accuracy is the argmax of predict's logits, computed independently here
    logits = model.predict(x_test)
    assert logits.dtype == np.float32 and logits.shape == (len(x_test), 10)
    assert scores["accuracy"] == pytest.approx(np.mean(logits.argmax(axis=1) == y_test), abs=1e-12)
    assert scores["loss"] == pytest.approx(ref.cross_entropy(logits.astype(np.float64), y_test), rel=1e-5)


def numpy_mlp_loss_and_grads(x, y, w1, b1, w2, b2, act):
    x = x.astype(np.float64)
    z1 = x @ w1 + b1
    h = ref.act(z1, act)
    z2 = h @ w2 + b2
    n = len(x)
    p = ref.act(z2, "softmax")
    loss = -np.log(p[np.arange(n), y]).mean()
    dz2 = p.copy()
    dz2[np.arange(n), y] -= 1
    dz2 /= n
    dw2, db2 = h.T @ dz2, dz2.sum(0)
    dh = dz2 @ w2.T
    if act == "tanh":
        dz1 = dh * (1 - h ** 2)
    elif act == "sigmoid":
        dz1 = dh * h * (1 - h)
    else:  # relu
        dz1 = dh * (z1 > 0)
    return loss, [x.T @ dz1, dz1.sum(0), dw2, db2]


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu"])
def test_loss_and_gradients_match_numpy_reference(rng, act):
    model = pydl.Sequential([layers.Input((6,)), layers.Dense(8, activation=act), layers.Dense(4)], seed=3)
    model.compile(optimizer="sgd", loss="cross_entropy")
    # non-zero biases so every parameter's gradient is exercised
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape) for w in model.get_weights()])
    x = rng.standard_normal((16, 6)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    loss, grads = model.loss_and_gradients(x, y)
    w = [v.astype(np.float64) for v in model.get_weights()]
    ref_loss, ref_grads = numpy_mlp_loss_and_grads(x, y, *w, act)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert [g.shape for g in grads] == [v.shape for v in model.get_weights()]
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)


def test_sgd_momentum_training_matches_numpy(rng):
    """fit with full batches and no shuffle is plain gradient descent: check 5 steps."""
    x = rng.standard_normal((20, 3)).astype(np.float32)
    t = rng.standard_normal((20, 2)).astype(np.float32)
    model = pydl.Sequential([layers.Input((3,)), layers.Dense(2)], seed=1)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1, momentum=0.9, clipnorm=0.5), loss="mse")
    w, b = [v.astype(np.float64) for v in model.get_weights()]
    model.fit(x, t, epochs=5, batch_size=20, shuffle=False, verbose=0)
    p = np.concatenate([w.ravel(), b])
    buf = np.zeros_like(p)
    xd, td = x.astype(np.float64), t.astype(np.float64)
    for step in range(1, 6):
        w, b = p[:6].reshape(3, 2), p[6:]
        d = 2 * (xd @ w + b - td) / td.size
        g = np.concatenate([(xd.T @ d).ravel(), d.sum(0)])
        g, _ = ref.clip_grad_norm(g, 0.5)
        p, buf = ref.sgd(p, g, buf, 0.1, momentum=0.9, first=step == 1)
    got = np.concatenate([v.ravel() for v in model.get_weights()])
    np.testing.assert_allclose(got, p, rtol=1e-5, atol=1e-6)


def train_weights(x, y, n_threads, epochs=3):
    """Weights after training with n_threads, having checked that 2 threads really split the work."""
    pydl.set_num_threads(n_threads)
    before = split_regions()
    model = mlp(seed=5, hidden=512, dropout=0.3)
    model.compile(optimizer=optimizers.AdamW(learning_rate=1e-3, clipnorm=1.0), loss="cross_entropy")
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0, class_weight="balanced")
    assert_split_iff_threads(n_threads, before)
    return model.get_weights()


def test_same_seed_bitwise_identical_for_1_and_2_threads(digits_split, threads):
    x, _, y, _ = digits_split
    w1 = train_weights(x, y, 1)
    w2 = train_weights(x, y, 2)
    w2b = train_weights(x, y, 2)
    assert_weights_equal(w2, w1)
    assert_weights_equal(w2b, w2)


def test_different_seeds_differ(digits_split):
    x, _, y, _ = digits_split
    a = mlp(seed=1).build().get_weights()
    b = mlp(seed=2).build().get_weights()
    assert not np.array_equal(a[0], b[0])


def test_glorot_uniform_initialisation():
    model = pydl.Sequential([layers.Input((300,)), layers.Dense(200)], seed=0)
    kernel, bias = model.get_weights()
    limit = np.sqrt(6 / 500)
    assert np.all(np.abs(kernel) <= limit) and np.all(bias == 0)
    # uniform on [-limit, limit]: variance limit^2 / 3, checked to 5%
    assert kernel.var() == pytest.approx(limit ** 2 / 3, rel=0.05)


def test_dropout_only_in_training(rng):
    model = pydl.Sequential([layers.Input((50,)), layers.Dropout(0.5), layers.Dense(3)], seed=0)
    model.compile(optimizer="sgd", loss="cross_entropy")
    x = rng.standard_normal((40, 50)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    # inference: Dropout is the identity, so predict is the Dense layer alone (numpy float64;
    # float32 sums of 50 products, hence rtol 1e-5). An active dropout would zero half the inputs.
    kernel, bias = model.get_weights()
    logits = ref.dense(x, kernel, bias, "linear")
    np.testing.assert_allclose(model.predict(x), logits, rtol=1e-5, atol=1e-6)
    l_eval, _ = model.loss_and_gradients(x, y, training=False)
    assert l_eval == pytest.approx(ref.cross_entropy(logits, y), rel=1e-5)
    l_train, _ = model.loss_and_gradients(x, y, training=True)
    assert l_train != pytest.approx(l_eval, rel=1e-3)  # training applies a dropout mask
    assert model.evaluate(x, y)["loss"] == pytest.approx(ref.cross_entropy(logits, y), rel=1e-5)


def test_dropout_rate_zero_is_the_identity_in_training_too(rng):
    # Dropout(0.0) (TransformerEncoder's default): training steps and gradients equal those of
    # the same model without it, bitwise; and it may sit beside its input as a second output
    # (it has a buffer of its own, unlike a view such as Flatten).
    x = rng.standard_normal((40, 12)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    with_dropout = pydl.Sequential([layers.Input((12,)), layers.Dense(8, activation="relu"), layers.Dropout(0.0),
                                    layers.Dense(3)], seed=0)
    without = pydl.Sequential([layers.Input((12,)), layers.Dense(8, activation="relu"), layers.Dense(3)], seed=0)
    without.set_weights(with_dropout.get_weights())
    for m in (with_dropout, without):
        m.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="cross_entropy")
    l_with, g_with = with_dropout.loss_and_gradients(x, y, training=True)
    l_without, g_without = without.loss_and_gradients(x, y, training=True)
    assert l_with == l_without
    assert len(g_with) == len(g_without) == 4
    for a, b in zip(g_with, g_without):
        np.testing.assert_array_equal(a, b)
    for m in (with_dropout, without):
        m.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    assert_weights_equal(with_dropout.get_weights(), without.get_weights())
    inp = pydl.Input((12,))
    h = layers.Dense(4)(inp)
    both = pydl.Model(inp, [h, layers.Dropout(0.0)(h)], seed=0)
    a, b = both.predict(x)
    assert a.shape == b.shape == (40, 4)
    np.testing.assert_array_equal(a, b)


def test_flatten_images_and_summary(rng):
    model = pydl.Sequential([layers.Input((8, 8, 1)), layers.Flatten(), layers.Dense(16, activation="gelu"),
                             layers.Dense(10, activation="softmax")])
    text = model.summary(print_fn=None)
    assert "flatten (Flatten)" in text and "(None, 64)" in text
    assert f"Total params: {64 * 16 + 16 + 16 * 10 + 10:,}" in text
    x = rng.random((5, 8, 8, 1)).astype(np.float32)
    probs = model.predict(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    w1, b1, w2, b2 = [v.astype(np.float64) for v in model.get_weights()]
    expected = ref.dense(ref.dense(x.reshape(5, 64), w1, b1, "gelu"), w2, b2, "softmax")
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)


def test_binary_classification_with_class_weight(rng):
    # 95/5 imbalance, overlapping classes: weighting raises minority recall
    n = 2000
    y = (rng.random(n) < 0.05).astype(np.float32)
    x = (rng.standard_normal((n, 2)) + y[:, None] * 1.5).astype(np.float32)
    recalls = {}
    for cw in (None, "balanced"):
        model = pydl.Sequential([layers.Input((2,)), layers.Dense(1)], seed=0)
        model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="binary_cross_entropy",
                      metrics=["accuracy"])
        model.fit(x, y[:, None], epochs=20, batch_size=64, verbose=0, class_weight=cw)
        pred = model.predict(x)[:, 0] > 0
        recalls[cw] = pred[y == 1].mean()
    assert recalls["balanced"] > recalls[None] + 0.2, recalls


def test_history_and_validation_data(digits_split):
    x_train, x_test, y_train, y_test = digits_split
    model = mlp()
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    h = model.fit(x_train, y_train, epochs=2, validation_data=(x_test, y_test), verbose=2)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h.history["val_loss"][-1] == pytest.approx(model.evaluate(x_test, y_test)["loss"], rel=1e-6)


def test_callback_can_stop_training(digits_split):
    x_train, _, y_train, _ = digits_split

    class StopAtTwo(pydl.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    model = mlp()
    model.compile(optimizer="adam", loss="cross_entropy")
    h = model.fit(x_train, y_train, epochs=10, verbose=0, callbacks=[StopAtTwo()])
    assert len(h.history["loss"]) == 2
