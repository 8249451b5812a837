"""Issue 12, metrics: Keras's metric names and objects in compile. Each alias equals its
canonical spelling, and every value equals scikit-learn's on the model's real predictions;
history keys are Keras's ("acc", "f1_score", "precision", ...)."""
import math

import numpy as np
import pytest
from sklearn import metrics as skm

import pydl
from pydl import layers, metrics


@pytest.fixture(scope="module")
def digits_model():
    x, y = pydl.datasets.load_digits()
    x_tr, x_te, y_tr, y_te = pydl.data.train_test_split(x, y, test_size=0.3, seed=0)
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(8, activation="tanh"), layers.Dense(10)], seed=0)
    model.compile("adam", "cross_entropy", metrics=["accuracy"])
    model.fit(x_tr, y_tr, epochs=1, batch_size=64, verbose=0)  # a weak model: classes are confused
    return model, x_te, y_te


@pytest.fixture(scope="module")
def binary_model():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 4)).astype(np.float32)
    y = (x[:, 0] + rng.standard_normal(400) > 0).astype(np.float32)[:, None]
    model = pydl.Sequential([layers.Input((4,)), layers.Dense(1)], seed=0)
    model.compile("adam", "binary_cross_entropy")
    model.fit(x, y, epochs=3, verbose=0)
    return model, x, y


def test_multiclass_aliases_equal_canonical_and_sklearn(digits_model):
    model, x, y = digits_model
    names = ["accuracy", "acc", "sparse_categorical_accuracy", "precision", "recall", "f1", "f1_score"]
    got = model.evaluate(x, y, batch_size=100, metrics=names)
    pred = model.predict(x).argmax(1)
    labels = np.arange(10)
    assert 0.2 < got["accuracy"] < 0.95  # neither trivial nor perfect: averages differ
    assert got["acc"] == got["sparse_categorical_accuracy"] == got["accuracy"] == skm.accuracy_score(y, pred)
    assert got["f1_score"] == got["f1"]
    for key, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert got[key] == pytest.approx(fn(y, pred, average="macro", labels=labels, zero_division=0), abs=1e-12)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_metric_objects_average_like_sklearn(digits_model, average):
    model, x, y = digits_model
    objs = [metrics.Precision(average=average), metrics.Recall(average=average), metrics.F1Score(average=average)]
    got = model.evaluate(x, y, batch_size=64, metrics=objs)
    assert set(got) == {"loss", "precision", "recall", "f1_score"}
    pred = model.predict(x).argmax(1)
    kw = dict(average=average, labels=np.arange(10), zero_division=0)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, **kw), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, **kw), abs=1e-12)
    assert got["f1_score"] == pytest.approx(skm.f1_score(y, pred, **kw), abs=1e-12)


def test_binary_aliases_precision_is_the_positive_class(binary_model):
    model, x, y = binary_model
    got = model.evaluate(x, y, metrics=["accuracy", "acc", "binary_accuracy", "precision", "recall", "f1_score",
                                        "auc"])
    scores = model.predict(x)[:, 0]
    pred = (scores > 0).astype(int)
    assert 0.5 < got["accuracy"] < 1.0
    assert got["acc"] == got["binary_accuracy"] == got["accuracy"] == skm.accuracy_score(y[:, 0], pred)
    assert got["precision"] == pytest.approx(skm.precision_score(y[:, 0], pred), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y[:, 0], pred), abs=1e-12)
    assert got["f1_score"] == pytest.approx(skm.f1_score(y[:, 0], pred), abs=1e-12)
    assert "roc_auc" not in got and got["auc"] == pytest.approx(skm.roc_auc_score(y[:, 0], scores), abs=1e-12)
    macro = model.evaluate(x, y, metrics=[metrics.Precision(average="macro"), metrics.Recall(average="binary")])
    assert macro["precision"] == pytest.approx(skm.precision_score(y[:, 0], pred, average="macro"), abs=1e-12)
    assert macro["recall"] == got["recall"]


def test_rmse_and_regression_aliases():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 3)).astype(np.float32)
    t = (x @ np.array([1.0, -1.0, 2.0], np.float32))[:, None]
    model = pydl.Sequential([layers.Input((3,)), layers.Dense(1)], seed=0)
    model.compile("adam", "mse", metrics=["rmse"])
    model.fit(x, t, epochs=2, verbose=0)
    got = model.evaluate(x, t, metrics=["mse", "rmse", "root_mean_squared_error", "mean_squared_error",
                                        "mean_absolute_error", "mae"])
    out = model.predict(x)[:, 0].astype(np.float64)
    assert got["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(t[:, 0], out)), rel=1e-6)
    assert got["rmse"] == got["root_mean_squared_error"] == math.sqrt(got["mse"])
    assert got["mean_squared_error"] == got["mse"] and got["mean_absolute_error"] == got["mae"]


def test_history_keys_are_kerass(digits_model):
    model, x, y = digits_model
    m = pydl.Sequential([layers.Input((64,)), layers.Dense(10)], seed=0)
    m.compile("adam", "cross_entropy", metrics=["acc", metrics.F1Score(), metrics.Precision(average="micro"), "auc"])
    h = m.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    for key in ("acc", "val_acc", "f1_score", "val_f1_score", "precision", "val_precision", "val_auc"):
        assert len(h.history[key]) == 2, (key, list(h.history))
    assert h.history["precision"] == h.history["acc"]  # micro precision of single-label data is accuracy


def test_metric_objects_survive_save_and_load(digits_model, tmp_path):
    model, x, y = digits_model
    m = pydl.Sequential([layers.Input((64,)), layers.Dense(10)], seed=0)
    m.compile("adam", "cross_entropy", metrics=[metrics.F1Score(average="weighted", name="f1_w"), "acc"])
    m.save(str(tmp_path / "m.pydl"))
    back = pydl.load_model(str(tmp_path / "m.pydl"))
    a, b = m.evaluate(x, y), back.evaluate(x, y)
    assert set(a) == {"loss", "f1_w", "acc"} and a == b
    pred = m.predict(x).argmax(1)
    assert a["f1_w"] == pytest.approx(skm.f1_score(y, pred, average="weighted", labels=np.arange(10),
                                                   zero_division=0), abs=1e-12)


def test_metric_errors():
    m = pydl.Sequential([layers.Input((4,)), layers.Dense(3)], seed=0)
    with pytest.raises(ValueError, match="both log as 'precision'"):
        m.compile("adam", "cross_entropy", metrics=["precision", metrics.Precision(average="micro")])
    with pytest.raises(ValueError, match="average='binary'"):
        m.compile("adam", "cross_entropy", metrics=[metrics.F1Score(average="binary")])
    with pytest.raises(ValueError, match="needs the cross_entropy loss"):
        pydl.Sequential([layers.Input((4,)), layers.Dense(1)]).compile(
            "adam", "binary_cross_entropy", metrics=["sparse_categorical_accuracy"])
    with pytest.raises(ValueError, match="regression"):
        m.compile("adam", "cross_entropy", metrics=["rmse"])
    with pytest.raises(ValueError, match="unknown metric 'accuracyy'"):
        m.compile("adam", "cross_entropy", metrics=["accuracyy"])
    with pytest.raises(TypeError, match="metric names or pydl.metrics objects"):
        m.compile("adam", "cross_entropy", metrics=[len])
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="samples")
    with pytest.raises(ValueError, match="name"):
        metrics.Recall(name="my recall")
