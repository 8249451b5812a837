"""Functional models: pydl.Input, layer calls, pydl.Model with several inputs and outputs,
merges, shared layers, sample weights, and the errors of malformed graphs and data."""
import numpy as np
import pytest

import pydl
from pydl import layers

from conftest import assert_weights_equal, rel_err


@pytest.fixture(scope="module")
def digits():
    x, y = pydl.datasets.load_digits(as_images=True)
    return pydl.data.train_test_split(x, y, test_size=0.25, stratify=True, seed=0)


def residual_cnn(two_heads: bool):
    inp = pydl.Input((8, 8, 1), name="image")
    a = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    b = layers.Conv2D(16, 3, padding="same")(a)
    h = layers.Activation("relu")(layers.Add()([a, b]))
    h = layers.Flatten()(layers.MaxPool2D(2)(h))
    digit = layers.Dense(10, name="digit")(h)
    if not two_heads:
        return pydl.Model(inputs=inp, outputs=digit, seed=0)
    parity = layers.Dense(1, name="parity")(h)
    return pydl.Model(inputs=inp, outputs=[digit, parity], seed=0)


def test_residual_cnn_reaches_98_percent_on_digits(digits):
    x_train, x_test, y_train, y_test = digits
    inp = pydl.Input((8, 8, 1), name="image")
    a = layers.BatchNormalization()(layers.Conv2D(16, 3, padding="same", activation="relu")(inp))
    b = layers.Conv2D(16, 3, padding="same")(layers.Conv2D(16, 3, padding="same", activation="relu")(a))
    h = layers.MaxPool2D()(layers.Activation("relu")(layers.Add()([a, b])))  # the residual block
    h = layers.MaxPool2D()(layers.Conv2D(32, 3, padding="same", activation="relu")(h))
    out = layers.Dense(10)(layers.Dropout(0.2)(layers.Flatten()(h)))
    model = pydl.Model(inp, out, seed=0)
    model.compile("adam", "cross_entropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    acc = model.evaluate(x_test, y_test)["accuracy"]
    assert acc >= 0.98, acc


def test_two_head_model_trains_both_heads_with_keras_history_keys(digits):
    x_train, x_test, y_train, y_test = digits
    model = residual_cnn(two_heads=True)
    model.compile(optimizer="adam", loss={"digit": "cross_entropy", "parity": "binary_cross_entropy"},
                  loss_weights={"digit": 1.0, "parity": 0.5}, metrics={"digit": ["accuracy"], "parity": ["accuracy"]})
    parity = (y_train % 2).astype(np.float32)
    h = model.fit(x_train, {"digit": y_train, "parity": parity}, epochs=20, validation_split=0.2, verbose=0)
    assert {"loss", "digit_loss", "parity_loss", "digit_accuracy", "val_digit_accuracy", "val_parity_loss"} <= set(h.history)
    assert len(h.history["loss"]) == 20
    # The total is the weighted sum of the heads (per epoch means of per batch sums).
    total = np.array(h.history["val_digit_loss"]) + 0.5 * np.array(h.history["val_parity_loss"])
    np.testing.assert_allclose(h.history["val_loss"], total, rtol=1e-6)
    logs = model.evaluate(x_test, {"digit": y_test, "parity": (y_test % 2).astype(np.float32)})
    assert logs["digit_accuracy"] >= 0.9 and logs["parity_accuracy"] >= 0.9, logs  # chance: 0.1 and 0.5
    p_digit, p_parity = model.predict(x_test)
    assert p_digit.shape == (len(x_test), 10) and p_parity.shape == (len(x_test), 1)
    assert np.mean(p_digit.argmax(1) == y_test) == pytest.approx(logs["digit_accuracy"])
    assert np.mean((p_parity[:, 0] > 0) == (y_test % 2)) == pytest.approx(logs["parity_accuracy"])
    # A list in output order is the same as the dict.
    assert model.evaluate(x_test, [y_test, (y_test % 2).astype(np.float32)]) == logs


def two_input_model():
    a = pydl.Input((5,), name="a")
    b = pydl.Input((3,), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    ha, hb = shared(layers.Dense(5, name="pa")(a)), shared(layers.Dense(5, name="pb")(b))
    out = layers.Dense(2, name="out")(layers.Concatenate()([ha, hb, layers.Multiply()([ha, hb])]))
    return pydl.Model(inputs=[a, b], outputs=out, seed=3)


def test_a_shared_layer_has_one_set_of_weights_and_the_sum_of_both_gradients():
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(12, 5)).astype(np.float32), rng.normal(size=(12, 3)).astype(np.float32)
    y = rng.normal(size=(12, 2)).astype(np.float32)
    model = two_input_model()
    model.compile("sgd", "mse")
    names = [l.name for l in model.layers]
    assert names.count("shared") == 1 and len(model.get_layer("shared").get_weights()) == 2
    loss, grads = model.loss_and_gradients({"a": xa, "b": xb}, y)
    w = {l: model.get_layer(l).get_weights() for l in ("pa", "pb", "shared", "out")}
    A, B = xa.astype(np.float64), xb.astype(np.float64)
    pa, pb = A @ w["pa"][0] + w["pa"][1], B @ w["pb"][0] + w["pb"][1]
    ha, hb = np.tanh(pa @ w["shared"][0] + w["shared"][1]), np.tanh(pb @ w["shared"][0] + w["shared"][1])
    c = np.concatenate([ha, hb, ha * hb], axis=1)
    out = c @ w["out"][0] + w["out"][1]
    assert abs(loss - np.mean((out - y) ** 2)) < 1e-5 * loss
    d_out = 2 * (out - y) / out.size
    dc = d_out @ w["out"][0].T
    dha, dhb = dc[:, :4] + dc[:, 8:] * hb, dc[:, 4:8] + dc[:, 8:] * ha
    dza, dzb = dha * (1 - ha ** 2), dhb * (1 - hb ** 2)
    want_shared_kernel = pa.T @ dza + pb.T @ dzb  # both calls add up
    order = [(l.name, n) for l in model.layers if l.name in w for n in ("kernel", "bias")]
    assert len(grads) == len(order)
    got = dict(zip(order, grads))
    assert rel_err(got[("shared", "kernel")], want_shared_kernel) < 1e-4
    assert rel_err(got[("out", "kernel")], c.T @ d_out) < 1e-4
    assert rel_err(got[("pa", "kernel")], A.T @ (dza @ w["shared"][0].T)) < 1e-4
    # Inputs by list and by dict are the same data.
    np.testing.assert_array_equal(model.predict([xa, xb]), model.predict({"b": xb, "a": xa}))


def test_sample_weights_equal_repeating_samples():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 6)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    counts = rng.integers(0, 4, 20)

    def model():
        m = pydl.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3)], seed=0)
        m.compile(pydl.optimizers.SGD(0.1), "cross_entropy")
        return m

    weighted = model()
    weighted.fit(x, y, sample_weight=counts, epochs=5, batch_size=20, shuffle=False, verbose=0)
    repeated = model()
    xr, yr = np.repeat(x, counts, axis=0), np.repeat(y, counts)
    repeated.fit(xr, yr, epochs=5, batch_size=len(xr), shuffle=False, verbose=0)
    got, want = weighted.get_weights(), repeated.get_weights()
    assert len(got) == len(want) == 4
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    ev = weighted.evaluate(x, y, sample_weight=counts, batch_size=20)["loss"]
    assert ev == pytest.approx(weighted.evaluate(xr, yr, batch_size=len(xr))["loss"], rel=1e-5)
    with pytest.raises(ValueError, match="sample_weight"):
        weighted.fit(x, y, sample_weight=-np.ones(20), verbose=0)
    with pytest.raises(ValueError, match="one weight per sample"):
        weighted.fit(x, y, sample_weight=np.ones(19), verbose=0)


def test_sample_weight_and_class_weight_multiply():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    sw = rng.uniform(0.5, 2.0, 16)
    m = pydl.Sequential([layers.Input((4,)), layers.Dense(2)], seed=0)
    m.compile("sgd", "cross_entropy")
    z = m.predict(x).astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    cw = {0: 1.0, 1: 3.0}
    w = sw * np.array([cw[int(c)] for c in y])
    want = np.sum(w * -np.log(p[np.arange(16), y])) / w.sum()
    m._trainer.class_weights = [1.0, 3.0]
    assert m.evaluate(x, y, sample_weight=sw, batch_size=16)["loss"] == pytest.approx(want, rel=1e-6)


def test_summary_shows_connections_and_activation_memory():
    model = two_input_model()
    text = model.summary(print_fn=None, batch_size=64)
    line = next(l for l in text.splitlines() if l.startswith("concatenate"))
    assert "shared, shared, multiply" in line
    assert "0 (shared)" in text and "Activation memory for batch_size=64" in text


def test_bad_graphs_raise_clear_errors():
    a, b = pydl.Input((4,), name="a"), pydl.Input((4,), name="b")
    other = pydl.Input((4,), name="other")
    with pytest.raises(ValueError, match="not among the model's inputs"):
        pydl.Model(inputs=a, outputs=layers.Add()([a, other]))
    with pytest.raises(ValueError, match="'b' is not used"):
        pydl.Model(inputs=[a, b], outputs=layers.Dense(2)(a))
    with pytest.raises(ValueError, match="two layers are named 'd'"):
        pydl.Model(inputs=a, outputs=layers.Dense(2, name="d")(layers.Dense(3, name="d")(a)))
    x = pydl.Input((8, 16))
    y = pydl.Input((8, 15))
    with pytest.raises(ValueError, match=r"\(None, 8, 16\) and \(None, 8, 15\)"):
        pydl.Model(inputs=[x, y], outputs=layers.Add()([x, y]))
    with pytest.raises(ValueError, match="list of at least 2"):
        layers.Add()(a)
    with pytest.raises(TypeError, match="symbolic tensors"):
        layers.Dense(2)(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="give both inputs"):
        pydl.Model()


def test_bad_data_and_settings_raise_clear_errors():
    model = two_input_model()
    model.compile("adam", "mse")
    xa, xb, y = np.zeros((6, 5), np.float32), np.zeros((6, 3), np.float32), np.zeros((6, 2), np.float32)
    with pytest.raises(ValueError, match="missing"):
        model.fit({"a": xa}, y, verbose=0)
    with pytest.raises(ValueError, match="unknown"):
        model.fit({"a": xa, "b": xb, "c": xb}, y, verbose=0)
    with pytest.raises(ValueError, match="expected 2 x arrays"):
        model.fit([xa], y, verbose=0)
    with pytest.raises(ValueError, match="different lengths"):
        model.fit([xa, xb[:5]], y, verbose=0)
    two = residual_cnn(two_heads=True)
    with pytest.raises(ValueError, match="does not have"):
        two.compile("adam", loss={"digit": "cross_entropy", "nope": "mse"})
    with pytest.raises(ValueError, match="no loss for the outputs"):
        two.compile("adam", loss={"digit": "cross_entropy"})
    with pytest.raises(ValueError, match="give loss as a dict"):
        two.compile("adam", loss="cross_entropy")
    two.compile("adam", loss=["cross_entropy", "binary_cross_entropy"])
    with pytest.raises(ValueError, match="single output"):
        two.fit(np.zeros((4, 8, 8, 1), np.float32), [np.zeros(4, int), np.zeros((4, 1), np.float32)],
                class_weight="balanced", verbose=0)


def test_dag_training_is_bitwise_identical_for_1_and_2_threads(digits, threads):
    from conftest import assert_split_iff_threads, split_regions

    x_train, _, y_train, _ = digits
    runs = []
    for n in (1, 2):
        pydl.set_num_threads(n)
        model = residual_cnn(two_heads=True)
        model.compile("adam", loss=["cross_entropy", "binary_cross_entropy"], loss_weights=[1.0, 0.5])
        before = split_regions()
        model.fit(x_train, [y_train, (y_train % 2).astype(np.float32)], epochs=2, verbose=0)
        assert_split_iff_threads(n, before)
        runs.append(model.get_weights())
    assert_weights_equal(runs[0], runs[1])


def test_optimizer_learning_rate_and_iterations_are_the_trainers():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 4)).astype(np.float32), rng.integers(0, 2, 30)
    model = pydl.Sequential([layers.Input((4,)), layers.Dense(2)], seed=0)
    opt = pydl.optimizers.SGD(0.1)
    model.compile(opt, "cross_entropy")
    assert opt.iterations == 0
    seen = []

    class Probe(pydl.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((self.params["steps"], self.params["epochs"], self.model.optimizer.iterations))
            self.model.optimizer.learning_rate = 0.1 / (epoch + 1)

    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[Probe()])
    assert seen == [(4, 3, 0), (4, 3, 4), (4, 3, 8)]
    assert opt.iterations == 12 and opt.learning_rate == pytest.approx(0.1 / 3)
    assert opt.get_config()["learning_rate"] == pytest.approx(0.1 / 3)  # what a checkpoint saves
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = float("nan")
