"""Bad input: every case raises a clear ValueError/TypeError naming what was expected."""
import numpy as np
import pytest

import pydl
from pydl import layers


@pytest.fixture
def model():
    m = pydl.Sequential([layers.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(3)], seed=0)
    m.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    return m


X = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
Y = np.arange(10) % 3


def test_wrong_feature_count(model):
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 4\), got \(10, 7\)"):
        model.fit(np.zeros((10, 7)), Y, verbose=0)


def test_wrong_rank(model):
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 4\), got \(10, 4, 1\)"):
        model.predict(np.zeros((10, 4, 1)))


def test_dense_on_images_applies_per_pixel_and_cross_entropy_asks_for_flatten():
    """Keras semantics: Dense acts on the last axis; a classifier over that is the mistake."""
    m = pydl.Sequential([layers.Input((8, 8, 1)), layers.Dense(4, name="head")])
    assert m.output_shape == (8, 8, 4)
    with pytest.raises(ValueError, match=r"got \(None, 8, 8, 4\); add a Flatten layer"):
        m.compile("sgd", "cross_entropy")
        m.evaluate(np.zeros((2, 8, 8, 1)), np.zeros(2, int))


def test_labels_out_of_range(model):
    with pytest.raises(ValueError, match=r"label 3 at index 9 is out of range.*\[0, 2\]"):
        model.fit(X, np.r_[Y[:9], 3], verbose=0)
    with pytest.raises(ValueError, match="label -1 at index 0"):
        model.evaluate(X, np.r_[-1, Y[1:]])


def test_non_integer_labels(model):
    with pytest.raises(ValueError, match=r"integer class ids, got 0.5 at index 2"):
        model.fit(X, np.r_[Y[:2], 0.5, Y[3:]].astype(np.float64), verbose=0)
    with pytest.raises(ValueError, match="integer class ids of shape"):
        model.fit(X, np.eye(3)[Y], verbose=0)  # one-hot given to cross_entropy
    with pytest.raises(TypeError, match="dtype"):
        model.fit(X, np.array(["a"] * 10), verbose=0)


def test_length_mismatch(model):
    with pytest.raises(ValueError, match="different lengths: 10 samples vs 9"):
        model.fit(X, Y[:9], verbose=0)


def test_empty_data(model):
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 4)), np.zeros(0, int), verbose=0)


@pytest.mark.parametrize("bs,error", [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_batch_size(model, bs, error):
    with pytest.raises(error, match="fit: expected batch_size to be a positive int"):
        model.fit(X, Y, batch_size=bs, verbose=0)


def test_nan_in_inputs_says_where(model):
    x = X.copy()
    x[6, 2] = np.nan
    with pytest.raises(ValueError, match=r"x contains nan at index \(6, 2\)"):
        model.fit(x, Y, verbose=0)
    with pytest.raises(ValueError, match="inf"):
        model.predict(np.where(X > 1, np.inf, X))


def test_fit_before_compile():
    m = pydl.Sequential([layers.Input((4,)), layers.Dense(3)])
    with pytest.raises(RuntimeError, match=r"call compile\(\) before fit\(\)"):
        m.fit(X, Y)
    with pytest.raises(RuntimeError, match="compile"):
        m.evaluate(X, Y)


def test_float64_and_non_contiguous_inputs_are_converted(model):
    wide = np.zeros((10, 8))
    wide[:, ::2] = X
    view = wide[:, ::2]  # float64, non-contiguous
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(model.predict(view), model.predict(X))
    assert model.evaluate(view, Y.astype(np.float64)) == model.evaluate(X, Y)


def test_bad_layer_and_compile_arguments():
    with pytest.raises(ValueError, match="Dense: expected activation to be one of 'relu', .* got 'swish'"):
        layers.Dense(3, activation="swish")
    with pytest.raises(ValueError, match="units"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.0)
    m = pydl.Sequential([layers.Input((4,)), layers.Dense(3)])
    with pytest.raises(ValueError, match="unknown loss"):
        m.compile(loss="hinge")
    with pytest.raises(ValueError, match="unknown metric"):
        m.compile(loss="mse", metrics=["not_a_metric"])
    with pytest.raises(ValueError, match="accuracy"):
        m.compile(loss="mse", metrics=["accuracy"])


def test_regression_target_shape(model):
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"mse expects targets of shape \(None, 3\)"):
        model.fit(X, np.zeros((10, 2)), verbose=0)


def test_class_weight_errors(model):
    with pytest.raises(ValueError, match="out of range"):
        model.fit(X, Y, class_weight={5: 2.0}, verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="classification"):
        model.fit(X, np.zeros((10, 3)), class_weight="balanced", verbose=0)


def test_nonfinite_loss_stops_before_the_update(model):
    model.compile(optimizer=pydl.optimizers.SGD(learning_rate=1e30), loss="cross_entropy")
    x = X * 1e5
    with pytest.raises(FloatingPointError, match="NaN or Inf at epoch"):
        model.fit(x, Y, epochs=50, batch_size=2, verbose=0)
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)


def test_set_num_threads_rejects_zero(threads):
    with pytest.raises(ValueError, match="n >= 1"):
        pydl.set_num_threads(0)
    pydl.set_num_threads(1)
    assert pydl.get_num_threads() == 1
