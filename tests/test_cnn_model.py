"""CNN models end to end: digits accuracy, gradients of a whole conv net against finite
differences of a numpy float64 reference, BatchNormalization train vs inference."""
import numpy as np
import pytest

import pydl
from pydl import layers, optimizers

import reference as ref
from conftest import assert_split_iff_threads, assert_weights_equal, numeric_grad, split_regions
from test_conv_pool_norm import conv_ref, pool_ref


def cnn(seed=0):
    """Two conv blocks (the demo's model)."""
    from pydl.cli import demo_model

    return demo_model(seed)


def test_cnn_reaches_97_percent_on_digits():
    x, y = pydl.datasets.load_digits(as_images=True)
    x_train, x_test, y_train, y_test = pydl.data.train_test_split(x, y, test_size=0.25, stratify=True, seed=0)
    model = cnn()
    model.compile(optimizer=optimizers.Adam(learning_rate=2e-3), loss="cross_entropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=25, batch_size=32, verbose=0)
    scores = model.evaluate(x_test, y_test)
    assert scores["accuracy"] >= 0.97, scores


def numpy_forward(x, w, act):
    k1, b1, k2, b2 = w
    h = ref.act(conv_ref(x, k1, b1, (1, 1), "same", (1, 1)), act)
    h = pool_ref(h, "avg", (2, 2), (2, 2), "valid")
    h = conv_ref(h, k2, b2, (2, 2), "valid", (1, 1))
    return h.reshape(len(x), -1)


def test_conv_net_gradients_match_numpy_finite_differences(rng):
    model = pydl.Sequential([layers.Input((6, 5, 2)), layers.Conv2D(3, (3, 2), padding="same", activation="tanh"),
                             layers.AvgPool2D(), layers.Conv2D(4, 1, strides=2), layers.Flatten()], seed=2)
    model.compile(optimizer="sgd", loss="cross_entropy")
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape) for w in model.get_weights()])
    x = rng.standard_normal((3, 6, 5, 2)).astype(np.float32)
    y = rng.integers(0, 4, 3)
    loss, grads = model.loss_and_gradients(x, y)
    w64 = [v.astype(np.float64) for v in model.get_weights()]
    x64 = x.astype(np.float64)

    def ref_loss():
        return ref.cross_entropy(numpy_forward(x64, w64, "tanh"), y)

    assert loss == pytest.approx(ref_loss(), rel=1e-5)
    assert [g.shape for g in grads] == [w.shape for w in w64]
    for g, w in zip(grads, w64):  # float32 model against float64 finite differences
        np.testing.assert_allclose(g, numeric_grad(ref_loss, w), rtol=1e-3, atol=1e-5)


def test_batchnorm_uses_batch_stats_in_training_and_moving_stats_in_inference(rng):
    model = pydl.Sequential([layers.Input((3, 3, 2)), layers.BatchNormalization(momentum=0.5), layers.Flatten(),
                             layers.Dense(2)], seed=0)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="cross_entropy")  # weights stay put
    x = (rng.standard_normal((8, 3, 3, 2)) * 3 + 2).astype(np.float32)
    y = rng.integers(0, 2, 8)
    gamma, beta, mm, mv, k, b = model.get_weights()
    assert np.all(mm == 0) and np.all(mv == 1)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)  # one step: one update
    _, _, mm1, mv1, _, _ = model.get_weights()
    flat = x.reshape(-1, 2).astype(np.float64)
    np.testing.assert_allclose(mm1, 0.5 * 0 + 0.5 * flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(mv1, 0.5 * 1 + 0.5 * flat.var(0, ddof=1), rtol=1e-5)
    # predict normalises with the moving statistics
    expected = ((x - mm1) / np.sqrt(mv1 + 1e-5) * gamma + beta).reshape(8, -1) @ k + b
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-5)
    # the training-mode loss uses the batch statistics instead
    train_logits = ((x - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5) * gamma + beta).reshape(8, -1) @ k + b
    loss_train, grads = model.loss_and_gradients(x, y, training=True)
    assert loss_train == pytest.approx(ref.cross_entropy(train_logits, y), rel=1e-4)
    assert np.all(grads[2] == 0) and np.all(grads[3] == 0)  # moving statistics have no gradient


def test_cnn_layers_summary_and_errors():
    model = cnn()
    text = model.summary(print_fn=None)
    assert "batch_normalization (BatchNormalization)" in text and "(None, 4, 4, 16)" in text
    with pytest.raises(ValueError, match=r"Conv2D 'c': expected images \(None, height, width, channels\), got \(None, 64\)"):
        pydl.Sequential([layers.Input((64,)), layers.Conv2D(4, 3, name="c")]).build()
    with pytest.raises(ValueError, match="does not fit"):
        pydl.Sequential([layers.Input((4, 4, 1)), layers.Conv2D(4, 5)]).build()
    with pytest.raises(ValueError, match="cannot reshape"):
        pydl.Sequential([layers.Input((4, 4, 1)), layers.Reshape((5, -1))]).build()
    with pytest.raises(TypeError, match="padding"):  # pools take 'valid' or 'same' only
        layers.MaxPool2D(padding=1)


def test_cnn_save_load_round_trip_keeps_moving_stats(tmp_path, rng):
    model = cnn()
    model.compile(optimizer="adam", loss="cross_entropy")
    x, y = pydl.datasets.load_digits(as_images=True)
    model.fit(x[:200], y[:200], epochs=1, verbose=0)
    model.save(str(tmp_path / "cnn.pydl"))
    loaded = pydl.load_model(str(tmp_path / "cnn.pydl"))
    assert_weights_equal(loaded.get_weights(), model.get_weights())
    np.testing.assert_array_equal(model.predict(x[:50]), loaded.predict(x[:50]))


def test_global_pooling_and_layernorm_model_trains(rng):
    x, y = pydl.datasets.load_digits(as_images=True)
    model = pydl.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(16, 3, activation="relu"),
                             layers.LayerNormalization(), layers.GlobalAvgPool2D(), layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_cnn_bitwise_identical_for_1_2_3_threads(threads):
    x, y = pydl.datasets.load_digits(as_images=True)
    x = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)  # 16x16: large enough to split work over threads
    weights = []
    for n_threads in (1, 2, 3):  # the second Conv2D's forward: whole images per thread, 25 at a time
        pydl.set_num_threads(n_threads)
        model = pydl.Sequential([layers.Input((16, 16, 1)), layers.Conv2D(16, 3, padding="same", activation="relu"),
                                 layers.BatchNormalization(), layers.MaxPool2D(), layers.Conv2D(32, 3, activation="relu"),
                                 layers.GlobalAvgPool2D(), layers.Dense(10)], seed=3)
        model.compile(optimizer="adam", loss="cross_entropy")
        before = split_regions()
        model.fit(x[:600], y[:600], epochs=2, batch_size=128, verbose=0)
        assert_split_iff_threads(n_threads, before)
        weights.append(model.get_weights())
    assert len(weights) == 3
    for w in weights[1:]:
        assert_weights_equal(w, weights[0])


def test_window_conv_and_max_pool_model_against_float64_after_inference(rng):
    """A conv layer on the window-tile path (16 channels in, 32 filters) into MaxPool2D:
    predict (no argmax kept: no backward follows) against numpy float64, then the gradients
    of a training step after it (the pool records its argmax again) against the gradients
    of the same float64 forward, routed by hand through pool, ReLU and convolution."""
    from test_conv_window import conv_grads_ref

    model = pydl.Sequential([layers.Input((6, 8, 16)), layers.Conv2D(32, 3, padding="same", activation="relu"),
                             layers.MaxPool2D(), layers.Flatten()], seed=1)
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((3, 6, 8, 16)).astype(np.float32)
    t = rng.standard_normal((3, 3 * 4 * 32)).astype(np.float32)
    k, b = (w.astype(np.float64) for w in model.get_weights())
    x64 = x.astype(np.float64)
    z = conv_ref(x64, k, b, (1, 1), "same", (1, 1))
    a = np.maximum(z, 0)
    p = pool_ref(a, "max", (2, 2), (2, 2), "valid")
    np.testing.assert_allclose(model.predict(x), p.reshape(3, -1), rtol=1e-5, atol=1e-5)

    loss, (dk, db) = model.loss_and_gradients(x, t)
    assert loss == pytest.approx(ref.mse(p.reshape(3, -1), t), rel=1e-5)
    dp = 2 * (p.reshape(3, -1) - t).reshape(p.shape) / t.size
    da = np.zeros_like(a)  # each window's gradient to its first maximum
    for i in range(p.shape[1]):
        for j in range(p.shape[2]):
            win = a[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2, :].reshape(3, 4, -1)
            first = win.argmax(axis=1)
            for q in range(4):
                sel = first == q
                da[:, 2 * i + q // 2, 2 * j + q % 2, :] += np.where(sel, dp[:, i, j, :], 0)
    _, dk_want, db_want = conv_grads_ref(da * (z > 0), x64, k, (1, 1), "same", (1, 1))
    np.testing.assert_allclose(dk, dk_want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(db, db_want, rtol=1e-4, atol=1e-6)
