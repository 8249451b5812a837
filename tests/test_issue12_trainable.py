"""Issue 12: ``layer.trainable = False`` was accepted and ignored. Now the frozen layer's
weights and optimizer state stay bitwise unchanged, the rest trains exactly as a model
whose frozen part is a constant, BatchNormalization frozen uses its moving statistics, the
summary counts frozen weights as non-trainable, and the flag saves and loads."""
import numpy as np
import pytest

import pydl
from pydl import layers
from conftest import assert_weights_equal


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] - x[:, 2] > 0).astype(np.int64)


def _model(optimizer="adam"):
    m = pydl.Sequential([layers.Input((5,)), layers.Dense(8, activation="tanh", name="base"),
                         layers.Dense(2, name="head")], seed=0)
    m.compile(optimizer=optimizer, loss="cross_entropy")
    return m


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_frozen_layer_keeps_weights_and_optimizer_state(optimizer):
    x, y = _data()
    m = _model(optimizer)
    before = m.get_layer("base").get_weights()
    m.get_layer("base").trainable = False
    m.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert_weights_equal(m.get_layer("base").get_weights(), before)
    assert not np.array_equal(m.get_layer("head").get_weights()[0], _model(optimizer).get_layer("head").get_weights()[0])
    # the frozen range's optimizer slots never moved from their initial values
    specs = {s["path"]: s for s in m.weight_specs()}
    fresh = _model(optimizer)
    fresh.get_layer("base").trainable = False
    fresh._ensure_trainer()
    n_base = sum(int(np.prod(s["shape"])) for p, s in specs.items() if p.startswith("base/"))
    for got, init in zip(m.optimizer.variables(), fresh.optimizer.variables()):
        np.testing.assert_array_equal(got[:n_base], init[:n_base])


def test_training_with_a_frozen_base_equals_training_the_head_on_its_features():
    # Reference: the head alone, trained on the frozen base's features (float32 engine, same
    # batches): the same weights bitwise.
    x, y = _data()
    m = _model("sgd")
    m.get_layer("base").trainable = False
    w_base = m.get_layer("base").get_weights()
    w_head = m.get_layer("head").get_weights()
    m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    feats = np.tanh(x.astype(np.float64) @ w_base[0] + w_base[1]).astype(np.float32)
    ref = pydl.Sequential([layers.Input((8,)), layers.Dense(2, name="head")], seed=0)
    ref.compile(optimizer="sgd", loss="cross_entropy")
    ref.set_weights(w_head)
    ref.fit(feats, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(m.get_layer("head").get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_unfreezing_trains_again_and_summary_counts():
    x, y = _data()
    m = _model()
    base = m.get_layer("base")
    base.trainable = False
    s = m.summary(print_fn=None)
    assert "Trainable params: 18" in s and "Non-trainable params: 48" in s
    m.fit(x, y, epochs=1, verbose=0)
    frozen = base.get_weights()
    base.trainable = True
    m.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(base.get_weights()[0], frozen[0])
    assert "Trainable params: 66" in m.summary(print_fn=None)
    with pytest.raises(TypeError, match="trainable"):
        base.trainable = "no"


def test_frozen_batch_norm_uses_moving_statistics():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(64, 4)) * 3 + 2).astype(np.float32)
    y = rng.normal(size=(64, 1)).astype(np.float32)
    m = pydl.Sequential([layers.Input((4,)), layers.BatchNormalization(name="bn"), layers.Dense(1, name="out")],
                        seed=0)
    m.compile(optimizer="sgd", loss="mse")
    bn = m.get_layer("bn")
    bn.trainable = False
    before = bn.get_weights()
    # training-mode loss equals inference-mode loss: the moving statistics normalise both
    loss_train, _ = m.loss_and_gradients(x, y, training=True)
    assert loss_train == pytest.approx(m.evaluate(x, y)["loss"], rel=1e-6)
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert_weights_equal(bn.get_weights(), before)  # gamma, beta and the moving statistics
    bn.trainable = True
    loss_train, _ = m.loss_and_gradients(x, y, training=True)
    assert loss_train != pytest.approx(m.evaluate(x, y)["loss"], rel=1e-3)  # batch statistics again


def test_trainable_flag_saves_and_loads(tmp_path):
    x, y = _data()
    m = _model()
    m.get_layer("base").trainable = False
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.pydl")
    r = pydl.load_model(tmp_path / "m.pydl")
    assert r.get_layer("base").trainable is False and r.get_layer("head").trainable is True
    before = r.get_layer("base").get_weights()
    r.fit(x, y, epochs=1, verbose=0)
    assert_weights_equal(r.get_layer("base").get_weights(), before)


def test_functional_shared_frozen_layer():
    x, _ = _data()
    inp = pydl.Input((5,))
    shared = layers.Dense(4, name="shared")
    out = layers.Dense(1, name="out")(layers.Add()([shared(inp), shared(inp)]))
    m = pydl.Model(inp, out, seed=0)
    m.compile(optimizer="adam", loss="mse")
    shared.trainable = False
    before = shared.get_weights()
    m.fit(x, x[:, :1], epochs=2, verbose=0)
    assert_weights_equal(shared.get_weights(), before)
