"""Metrics accumulated in C++ during evaluate and fit equal the standalone pydl.metrics
functions (themselves checked against scikit-learn) on the model's own outputs."""
import numpy as np
import pytest
from sklearn import metrics as skm

import pydl
from pydl import layers


@pytest.fixture(scope="module")
def trained():
    x, y = pydl.datasets.load_digits()
    x_tr, x_te, y_tr, y_te = pydl.data.train_test_split(x, y, test_size=0.3, seed=0)
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(16, activation="tanh"), layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="cross_entropy",
                  metrics=["accuracy", "precision", "recall", "f1", "top_3_accuracy", "log_loss", "roc_auc"])
    history = model.fit(x_tr, y_tr, epochs=2, batch_size=64, validation_data=(x_te, y_te), verbose=0)
    return model, history, x_te, y_te


def test_evaluate_metrics_equal_sklearn_on_the_outputs(trained):
    model, _, x, y = trained
    scores = model.evaluate(x, y, batch_size=100)  # several batches: sums cross batch boundaries
    logits = model.predict(x).astype(np.float64)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    pred = logits.argmax(1)
    assert scores["accuracy"] == skm.accuracy_score(y, pred)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert scores[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0), abs=1e-12)
    assert scores["top_3_accuracy"] == skm.top_k_accuracy_score(y, logits, k=3, labels=np.arange(10))
    assert scores["log_loss"] == pytest.approx(skm.log_loss(y, probs, labels=np.arange(10)), rel=1e-6)
    assert scores["roc_auc"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"), abs=1e-9)


def test_metrics_in_fit_logs(trained):
    _, history, _, _ = trained
    for key in ("precision", "val_f1", "top_3_accuracy", "val_roc_auc", "log_loss"):
        assert key in history.history and len(history.history[key]) == 2
    assert "roc_auc" not in history.history  # needs all outputs: reported on validation data only


def test_evaluate_with_other_metrics_and_binary_and_regression(rng):
    x = rng.standard_normal((300, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.standard_normal(300) > 0).astype(np.float32)
    model = pydl.Sequential([layers.Input((4,)), layers.Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="binary_cross_entropy")
    model.fit(x, y[:, None], epochs=5, verbose=0)
    scores = model.evaluate(x, y[:, None], metrics=["precision", "recall", "f1", "accuracy", "roc_auc"])
    pred = (model.predict(x)[:, 0] > 0).astype(int)
    assert scores["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert scores["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert scores["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert scores["roc_auc"] == pytest.approx(skm.roc_auc_score(y, model.predict(x)[:, 0]), abs=1e-12)
    t = x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32) + 0.1 * rng.standard_normal(300).astype(np.float32)
    reg = pydl.Sequential([layers.Input((4,)), layers.Dense(1)], seed=0)
    reg.compile(optimizer="adam", loss="mse", metrics=["mae", "r2"])
    reg.fit(x, t[:, None], epochs=3, verbose=0)
    scores = reg.evaluate(x, t[:, None], metrics=["mse", "mae", "r2"])
    out = reg.predict(x)[:, 0].astype(np.float64)
    assert scores["mse"] == pytest.approx(skm.mean_squared_error(t, out), rel=1e-6)
    assert scores["mae"] == pytest.approx(skm.mean_absolute_error(t, out), rel=1e-6)
    assert scores["r2"] == pytest.approx(skm.r2_score(t, out), rel=1e-6)
    with pytest.raises(ValueError, match="regression"):
        model.evaluate(x, y[:, None], metrics=["r2"])
