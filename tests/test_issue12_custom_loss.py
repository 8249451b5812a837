"""Issue 12: a custom ``losses.Loss`` subclass was refused as "unknown loss". Now one with
call/gradient (per-sample numpy losses and their gradients) trains, called once per batch
from the C++ loop, reduced as the built-in losses; it saves and loads with custom_objects."""
import numpy as np
import pytest

import pydl
from pydl import layers, losses
from conftest import assert_weights_equal


class SquaredError(losses.Loss):
    """The built-in mse, per sample: mean over the output's values."""

    def __init__(self):
        self.calls = 0

    def call(self, y_true, y_pred):
        self.calls += 1
        return ((y_pred - y_true) ** 2).reshape(len(y_pred), -1).mean(axis=1)

    def gradient(self, y_true, y_pred):
        return 2 * (y_pred - y_true) / y_pred[0].size


class Huber(losses.Loss):
    def __init__(self, delta=1.0):
        self.delta = delta

    def get_config(self):
        return {"delta": self.delta}

    def call(self, y_true, y_pred):
        r = np.abs(y_pred - y_true)
        q = np.where(r <= self.delta, 0.5 * r ** 2, self.delta * (r - 0.5 * self.delta))
        return q.reshape(len(q), -1).mean(axis=1)

    def gradient(self, y_true, y_pred):
        d = y_pred - y_true
        return np.clip(d, -self.delta, self.delta) / y_pred[0].size


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.stack([x[:, 0] * 2 - x[:, 1], x[:, 2] + 0.5], axis=1).astype(np.float32)
    return x, y


def _model(loss, metrics=None):
    m = pydl.Sequential([layers.Input((4,)), layers.Dense(8, activation="tanh"), layers.Dense(2)], seed=0)
    m.compile(optimizer="sgd", loss=loss, metrics=metrics or [])
    return m


def test_custom_squared_error_trains_like_the_builtin_mse():
    x, y = _data()
    loss = SquaredError()
    a, b = _model(loss, ["mae"]), _model("mse", ["mae"])
    ha = a.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    hb = b.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    assert loss.calls == 3 * 4  # once per batch (60 samples, batches of 16)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(ha.history["mae"], hb.history["mae"], rtol=1e-5)


def test_custom_huber_with_sample_weights_matches_numpy():
    x, y = _data()
    w = np.linspace(0.1, 2.0, len(x)).astype(np.float32)
    m = _model(Huber(0.5))
    p = m.predict(x).astype(np.float64)
    r = np.abs(p - y)
    per = np.where(r <= 0.5, 0.5 * r ** 2, 0.5 * (r - 0.25)).mean(axis=1)
    want = np.sum(w * per) / np.sum(w)
    loss, _ = m.loss_and_gradients(x, y, sample_weight=w)
    assert loss == pytest.approx(want, rel=1e-5)
    assert m.evaluate(x, y, sample_weight=w, batch_size=len(x))["loss"] == pytest.approx(want, rel=1e-5)


def test_custom_loss_errors():
    class NoGradient(losses.Loss):
        def call(self, y_true, y_pred):
            return y_pred.sum(axis=1)

    with pytest.raises(TypeError, match="gradient"):
        _model(NoGradient())
    with pytest.raises(TypeError, match="plain function"):
        _model(lambda t, p: (p - t) ** 2)
    with pytest.raises(ValueError, match="regression"):
        _model(SquaredError(), ["accuracy"])

    class Raises(SquaredError):
        def call(self, y_true, y_pred):
            raise ZeroDivisionError("boom")

    x, y = _data()
    m = _model(Raises())
    before = m.get_weights()
    with pytest.raises(ZeroDivisionError, match="boom"):
        m.fit(x, y, epochs=1, verbose=0)
    assert_weights_equal(m.get_weights(), before)


def test_custom_loss_saves_and_loads_with_custom_objects(tmp_path):
    x, y = _data()
    m = _model(Huber(0.25))
    m.fit(x, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.pydl")
    with pytest.raises(ValueError, match="custom_objects"):
        pydl.load_model(tmp_path / "m.pydl")
    r = pydl.load_model(tmp_path / "m.pydl", custom_objects={"Huber": Huber})
    assert isinstance(r.loss, Huber) and r.loss.delta == 0.25
    assert_weights_equal(r.get_weights(), m.get_weights())
    m.fit(x, y, epochs=1, verbose=0)
    r.fit(x, y, epochs=1, verbose=0)
    assert_weights_equal(r.get_weights(), m.get_weights())
