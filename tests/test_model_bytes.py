"""Models in memory: model_to_bytes / model_from_bytes (the model file without the file),
clone_model (same architecture, fresh weights), and pickle / copy.deepcopy of a model,
which travel through those bytes. References: the model itself, trained on, and save/load."""
import copy
import pickle

import numpy as np
import pytest

import pydl
from pydl import layers, losses
from pydl.engine.saving import clone_model, model_from_bytes, model_to_bytes

from conftest import assert_weights_equal


class HalfSquare(losses.Loss):
    """0.5 * (y - p)^2 summed over outputs: a custom loss, found by pickle by its class."""

    def call(self, y_true, y_pred):
        return 0.5 * ((y_pred - y_true) ** 2).sum(axis=1)

    def gradient(self, y_true, y_pred):
        return y_pred - y_true


def _data(n=64, f=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, f)).astype(np.float32), rng.integers(0, 3, n)


def _trained(seed=1):
    x, y = _data()
    model = pydl.Sequential([layers.Input((5,)), layers.Dense(8, activation="relu"), layers.Dense(3)], seed=seed)
    model.compile("adam", "cross_entropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    return model, x, y


def test_bytes_equal_the_saved_file_and_load_alike(tmp_path):
    model, x, y = _trained()
    data = model_to_bytes(model)
    path = tmp_path / "m.pydl"
    model.save(str(path))
    assert path.read_bytes() == data
    back = model_from_bytes(data)
    assert_weights_equal(back.get_weights(), pydl.load_model(str(path)).get_weights())
    assert_weights_equal(back.get_weights(), model.get_weights())
    assert back.optimizer.iterations == model.optimizer.iterations and back.epochs_trained == 2
    # training on continues exactly as the original does (optimizer state came along)
    back.fit(x, y, epochs=3, verbose=0)
    model.fit(x, y, epochs=3, verbose=0)
    assert_weights_equal(back.get_weights(), model.get_weights())


def test_bad_bytes_are_refused_with_the_loader_checks():
    model, _, _ = _trained()
    data = model_to_bytes(model)
    with pytest.raises(ValueError, match="the model bytes is not a readable pydl model file"):
        model_from_bytes(data[:-10])
    with pytest.raises(ValueError, match="a Python pickle"):
        model_from_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(TypeError, match="expected bytes, got str"):
        model_from_bytes("model.pydl")


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_pickle_and_deepcopy_of_built_models(how):
    move = (lambda m: pickle.loads(pickle.dumps(m))) if how == "pickle" else copy.deepcopy
    model, x, _ = _trained()
    twin = move(model)
    assert twin is not model and type(twin) is pydl.Sequential
    np.testing.assert_array_equal(twin.predict(x), model.predict(x))
    inp = pydl.Input((5,), name="features")
    a = layers.Dense(4, activation="tanh", name="hidden")(inp)
    out = layers.Add()([layers.Dense(4)(a), a])
    functional = pydl.Model(inp, {"y": layers.Dense(2)(out)}, seed=4)
    functional.get_layer("hidden").trainable = False
    functional.compile("sgd", loss=HalfSquare())
    functional.fit(x, {"y": np.ones((len(x), 2), np.float32)}, epochs=1, verbose=0)
    twin = move(functional)
    assert not twin.get_layer("hidden").trainable and isinstance(twin.loss, HalfSquare)
    np.testing.assert_array_equal(twin.predict(x)["y"], functional.predict(x)["y"])


def test_pickle_and_deepcopy_of_an_unbuilt_sequential():
    model = pydl.Sequential([layers.Dense(6, activation="relu"), layers.Dense(2)], seed=9)
    model.compile("adam", "mse")
    x, _ = _data()
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert not twin.built and twin.seed == 9 and all(l._model is twin for l in twin.layers)
        twin.fit(x, np.zeros((len(x), 2)), epochs=1, verbose=0)
    assert not model.built  # the original is untouched
    ref = pydl.Sequential([layers.Dense(6, activation="relu"), layers.Dense(2)], seed=9)
    ref.compile("adam", "mse")
    ref.fit(x, np.zeros((len(x), 2)), epochs=1, verbose=0)
    assert_weights_equal(twin.get_weights(), ref.get_weights())


def test_clone_model_gives_fresh_weights_from_the_seed():
    model, x, y = _trained(seed=1)
    clone = clone_model(model)
    assert clone.optimizer is None and clone.seed == 1
    fresh = pydl.Sequential([layers.Input((5,)), layers.Dense(8, activation="relu"), layers.Dense(3)], seed=1)
    assert_weights_equal(clone.get_weights(), fresh.get_weights())  # initial, not trained weights
    other = clone_model(model, seed=2)
    assert other.seed == 2 and not np.array_equal(other.get_weights()[0], fresh.get_weights()[0])
    unbuilt = clone_model(pydl.Sequential([layers.Dense(3)]))
    assert not unbuilt.built and unbuilt.input_shape is None
    with pytest.raises(TypeError, match="expected a pydl Model or Sequential, got str"):
        clone_model("model")
