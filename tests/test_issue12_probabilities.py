"""Issue 12: an output layer that ends in sigmoid/softmax computes probabilities; the
cross-entropies treat them so (computed from the pre-activation values, fused), instead of
applying the activation a second time. Checked on real data (scikit-learn's breast_cancer
and digits) and bitwise against the same model trained on logits."""
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import pydl
from pydl import layers, losses
from conftest import assert_weights_equal


def _cancer():
    x, y = load_breast_cancer(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    sc = StandardScaler().fit(xtr)
    return (sc.transform(xtr).astype(np.float32), ytr.astype(np.float32)[:, None],
            sc.transform(xte).astype(np.float32), yte.astype(np.float32)[:, None])


def _binary(activation, loss="binary_cross_entropy"):
    m = pydl.Sequential([layers.Input((30,)), layers.Dense(16, activation="relu"),
                         layers.Dense(1, activation=activation)], seed=0)
    m.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return m


def test_sigmoid_output_with_binary_cross_entropy_trains_on_real_data():
    xtr, ytr, xte, yte = _cancer()
    m = _binary("sigmoid")
    m.fit(xtr, ytr, epochs=60, batch_size=32, verbose=0)
    assert m._trainer.fused_heads == [True]
    acc = m.evaluate(xte, yte)["accuracy"]
    from sklearn.linear_model import LogisticRegression
    ref = LogisticRegression(max_iter=1000).fit(xtr, ytr.ravel()).score(xte, yte.ravel())
    assert acc >= ref - 0.01  # scikit-learn 0.959; 0.116 when the sigmoid was applied twice
    p = m.predict(xte)
    assert p.min() >= 0 and p.max() <= 1
    np.testing.assert_array_equal(m.predict_proba(xte), p)
    # the accuracy metric thresholds the probabilities at 0.5
    assert acc == pytest.approx(np.mean((p > 0.5) == (yte > 0.5)), abs=1e-9)


def test_sigmoid_output_trains_bitwise_like_the_logits_model():
    xtr, ytr, xte, _ = _cancer()
    a, b = _binary("sigmoid"), _binary(None)
    ha = a.fit(xtr, ytr, epochs=3, verbose=0)
    hb = b.fit(xtr, ytr, epochs=3, verbose=0)
    assert_weights_equal(a.get_weights(), b.get_weights())
    assert ha.history["loss"] == hb.history["loss"]
    z = b.predict(xte).astype(np.float64)
    np.testing.assert_allclose(a.predict(xte), 1 / (1 + np.exp(-z)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.predict_proba(xte), a.predict(xte), rtol=1e-5, atol=1e-7)


def test_softmax_output_with_cross_entropy_on_digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)

    def model(activation, loss):
        m = pydl.Sequential([layers.Input((64,)), layers.Dense(64, activation="relu"),
                             layers.Dense(10, activation=activation)], seed=0)
        m.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        return m

    a, b = model("softmax", "cross_entropy"), model(None, "cross_entropy")
    a.fit(xtr, ytr, epochs=20, verbose=0)
    b.fit(xtr, ytr, epochs=20, verbose=0)
    assert_weights_equal(a.get_weights(), b.get_weights())
    ea, eb = a.evaluate(xte, yte), b.evaluate(xte, yte)
    assert ea["loss"] == pytest.approx(eb["loss"], rel=1e-5) and ea["loss"] < 0.2  # 0.336 when softmax was applied twice
    assert ea["accuracy"] == eb["accuracy"] >= 0.95
    p = a.predict(xte)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    # categorical_crossentropy with one-hot targets is the same loss
    c = model("softmax", "categorical_crossentropy")
    c.fit(xtr, np.eye(10, dtype=np.float32)[ytr], epochs=20, verbose=0)
    assert_weights_equal(c.get_weights(), a.get_weights())


def test_functional_two_heads_fuse_each_output():
    inp = pydl.Input((30,))
    h = layers.Dense(8, activation="relu")(inp)
    yes = layers.Dense(1, activation="sigmoid", name="yes")(h)
    cls = layers.Dense(2, activation="softmax", name="cls")(h)
    m = pydl.Model(inp, [yes, cls], seed=0)
    m.compile(loss={"yes": "binary_cross_entropy", "cls": "cross_entropy"}, metrics={"yes": ["accuracy"]})
    xtr, ytr, _, _ = _cancer()
    m.fit(xtr, {"yes": ytr, "cls": ytr[:, 0].astype(np.int64)}, epochs=2, verbose=0)
    assert m._trainer.fused_heads == [True, True]
    s = m.summary(print_fn=None)
    assert ":sigmoid" not in s and ":softmax" not in s  # the split-off activations are not layers
    assert [l.name for l in m.layers] == [m.layers[0].name, "yes", "cls"]


def test_from_logits_true_on_a_sigmoid_output_is_refused():
    m = pydl.Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    with pytest.raises(ValueError, match="ends in sigmoid.*from_logits=True"):
        m.compile(loss=losses.BinaryCrossEntropy(from_logits=True))
    m.compile(loss=losses.BinaryCrossEntropy(from_logits=False))  # says what it is: fine


def test_from_logits_false_on_a_linear_output_clips_probabilities():
    # The user says the values are probabilities: loss = mean(-t log clip(p) - (1-t) log(1-clip(p))).
    m = pydl.Sequential([layers.Input((2,)), layers.Dense(1)], seed=0)
    m.compile(loss=losses.BinaryCrossEntropy(from_logits=False))
    m.set_weights([np.array([[0.3], [0.2]], np.float32), np.array([0.1], np.float32)])
    x = np.array([[1, 1], [0.5, 0.5], [0, 0]], np.float32)
    t = np.array([[1], [0], [1]], np.float32)
    p = np.clip(x.astype(np.float64) @ [[0.3], [0.2]] + 0.1, 1e-7, 1 - 1e-7)
    want = np.mean(-t * np.log(p) - (1 - t) * np.log(1 - p))
    assert m.evaluate(x, t)["loss"] == pytest.approx(want, rel=1e-5)
    assert m._trainer.fused_heads == [False]


def test_predict_proba_refuses_regression_outputs():
    m = pydl.Sequential([layers.Input((2,)), layers.Dense(1)], seed=0)
    m.compile(loss="mse")
    with pytest.raises(ValueError, match="not a classification loss"):
        m.predict_proba(np.zeros((2, 2), np.float32))
