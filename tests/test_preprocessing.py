"""Scalers against scikit-learn's, fitted on training data only; the Normalization layer
and model.adapt; statistics saved with the model."""
import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import pydl
from pydl import layers
from pydl.data import MinMaxScale, Normalize, Standardize


def test_standardize_matches_sklearn(rng):
    x_train = rng.standard_normal((200, 5)) * [1, 10, 0.1, 3, 1] + [0, 5, -2, 1, 100]
    x_test = rng.standard_normal((50, 5))
    s = Standardize().fit(x_train)
    ref = StandardScaler().fit(x_train)
    np.testing.assert_allclose(s.transform(x_test), ref.transform(x_test), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.inverse_transform(s.transform(x_test)), x_test, rtol=1e-5, atol=1e-4)


def test_minmax_matches_sklearn(rng):
    x_train, x_test = rng.random((100, 4)) * 50, rng.random((20, 4)) * 60
    s = MinMaxScale((-1, 1)).fit(x_train)
    ref = MinMaxScaler((-1, 1)).fit(x_train)
    np.testing.assert_allclose(s.transform(x_test), ref.transform(x_test), rtol=1e-5, atol=1e-5)


def test_per_channel_statistics_on_images(rng):
    x = rng.random((10, 6, 6, 3)) * [1, 2, 3]
    s = Standardize(per="channel").fit(x)
    y = s.transform(x)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-5)
    n = Normalize(mean=[0.5, 1, 1.5], std=[0.25, 0.5, 0.75])
    np.testing.assert_allclose(n.transform(x), (x - [0.5, 1, 1.5]) / [0.25, 0.5, 0.75], rtol=1e-5)


def test_as_layer_and_adapt_compute_the_transform_in_the_model(rng, tmp_path):
    x_train = (rng.standard_normal((300, 4)) * [1, 5, 2, 0.5] + [3, -1, 0, 8]).astype(np.float32)
    s = Standardize().fit(x_train)
    m1 = pydl.Sequential([layers.Input((4,)), s.as_layer(), layers.Activation("linear")])
    np.testing.assert_allclose(m1.predict(x_train), s.transform(x_train), rtol=1e-4, atol=1e-4)
    m2 = pydl.Sequential([layers.Input((4,)), layers.Normalization(), layers.Dense(2)], seed=0)
    m2.adapt(x_train)
    mean, var = m2.get_weights()[:2]
    np.testing.assert_allclose(mean, x_train.astype(np.float64).mean(0), rtol=1e-5)
    np.testing.assert_allclose(var, x_train.astype(np.float64).var(0), rtol=1e-5)
    m2.compile(optimizer="adam", loss="mse")
    m2.fit(x_train, rng.standard_normal((300, 2)), epochs=1, verbose=0)
    np.testing.assert_allclose(m2.get_weights()[0], mean)  # statistics are not trained
    m2.save(str(tmp_path / "m.pydl"))
    np.testing.assert_array_equal(pydl.load_model(str(tmp_path / "m.pydl")).predict(x_train), m2.predict(x_train))


def test_scaler_errors(rng):
    with pytest.raises(RuntimeError, match="fit"):
        Standardize().transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="per"):
        Standardize(per="pixel")
    s = Standardize().fit(rng.random((10, 3)))
    with pytest.raises(ValueError, match="statistics of shape"):
        s.transform(rng.random((10, 4)))
    with pytest.raises(ValueError, match="adapt"):
        pydl.Sequential([layers.Input((3,)), layers.Dense(2)]).adapt(np.zeros((4, 3)))
