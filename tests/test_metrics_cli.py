"""Metrics against scikit-learn on the same inputs, the split helper, and the demo command."""
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.utils.class_weight import compute_class_weight as sk_class_weight

import pydl
from pydl import metrics


@pytest.mark.parametrize("case", ["random", "missing_class_in_pred", "single_class"])
def test_metrics_match_sklearn(rng, case):
    y_true = rng.integers(0, 5, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 5, 300))
    if case == "missing_class_in_pred":
        y_pred[y_pred == 3] = 0  # class 3 never predicted: precision 0/0 -> 0
    if case == "single_class":
        y_true[:] = 2
    k = int(max(y_true.max(), y_pred.max())) + 1
    labels = list(range(k))
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, k),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    got = metrics.precision_recall_f1(y_true, y_pred, k)
    np.testing.assert_allclose(got["precision"], p, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["recall"], r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["f1"], f, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got["support"], s)
    assert metrics.accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)


def test_balanced_class_weight_matches_sklearn(rng):
    y = rng.choice(4, 500, p=[0.7, 0.2, 0.07, 0.03])
    np.testing.assert_allclose(pydl.data.compute_class_weight("balanced", y),
                               sk_class_weight("balanced", classes=np.arange(4), y=y), rtol=1e-12)


def test_stratified_split_keeps_proportions(rng):
    y = rng.choice(3, 1000, p=[0.6, 0.3, 0.1])
    x = np.arange(1000)
    x_tr, x_te, y_tr, y_te = pydl.data.train_test_split(x, y, test_size=0.25, seed=0)
    assert sorted(np.r_[x_tr, x_te].tolist()) == list(range(1000))  # a partition
    for c in range(3):
        assert abs((y_te == c).sum() - 0.25 * (y == c).sum()) <= 0.5
    again = pydl.data.train_test_split(x, y, test_size=0.25, seed=0)
    np.testing.assert_array_equal(again[1], x_te)


def test_demo_command_trains_and_reports(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pydl.cli", "demo", "--epochs", "25", "--quiet-progress",
                          "--save", str(tmp_path / "demo.pydl")], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)  # not the source tree: import the installed pydl
    assert out.returncode == 0, out.stderr
    acc = float(out.stdout.split("test accuracy ")[1].split()[0])
    assert acc >= 0.97
    assert "macro avg" in out.stdout and "confusion matrix" in out.stdout
    assert "predictions identical: True" in out.stdout
