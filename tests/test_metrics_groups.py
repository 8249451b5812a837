"""pydl.metrics.by_group equals fairlearn's MetricFrame (with scikit-learn's metric functions)
to 1e-12; model.evaluate(groups=) and diagnose(groups=, data=) report the groups."""
import functools
import json

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn import metrics as skm

import pydl
from pydl import layers


def metric_frame(y_true, y_pred, groups, average):
    sk = {"accuracy": skm.accuracy_score,
          "precision": functools.partial(skm.precision_score, average=average, zero_division=0),
          "recall": functools.partial(skm.recall_score, average=average, zero_division=0),
          "f1": functools.partial(skm.f1_score, average=average, zero_division=0)}
    return MetricFrame(metrics=sk, y_true=y_true, y_pred=y_pred, sensitive_features=groups)


def assert_equal_to_fairlearn(report, mf):
    assert list(report.by_group) == list(mf.by_group.index)
    for m in report.metrics:
        np.testing.assert_allclose(report.overall[m], mf.overall[m], rtol=0, atol=1e-12)
        np.testing.assert_allclose([report.by_group[g][m] for g in report.by_group], mf.by_group[m].to_numpy(),
                                   rtol=0, atol=1e-12)
        for method in ("between_groups", "to_overall"):
            np.testing.assert_allclose(report.difference(method)[m], mf.difference(method=method)[m], atol=1e-12)
            np.testing.assert_allclose(report.ratio(method)[m], mf.ratio(method=method)[m], atol=1e-12)


@pytest.mark.parametrize("classes", [2, 4])
def test_by_group_equals_fairlearn_metric_frame(classes):
    rng = np.random.default_rng(classes)
    n = 600
    y_true = rng.integers(0, classes, n)
    # a model that is worse on group "c", with one tiny group "d" that may lack classes
    groups = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.35, 0.24, 0.01])
    wrong = rng.random(n) < np.where(groups == "c", 0.45, 0.15)
    y_pred = np.where(wrong, (y_true + rng.integers(1, classes, n)) % classes, y_true)
    report = pydl.metrics.by_group(y_true, y_pred, groups)
    assert report.average == ("binary" if classes == 2 else "macro")
    assert report.sizes == {g: int(np.sum(groups == g)) for g in "abcd"}
    assert_equal_to_fairlearn(report, metric_frame(y_true, y_pred, groups, report.average))
    if classes == 2:
        sel = pydl.metrics.by_group(y_true, y_pred, groups, metrics=("selection_rate",))
        mf = MetricFrame(metrics={"selection_rate": selection_rate}, y_true=y_true, y_pred=y_pred,
                         sensitive_features=groups)
        assert_equal_to_fairlearn(sel, mf)
    custom = pydl.metrics.by_group(y_true, y_pred, groups, metrics={"balanced": skm.balanced_accuracy_score})
    mf = MetricFrame(metrics={"balanced": skm.balanced_accuracy_score}, y_true=y_true, y_pred=y_pred,
                     sensitive_features=groups)
    assert_equal_to_fairlearn(custom, mf)
    text = str(report)
    assert text.splitlines()[1].split()[:2] == ["overall", str(n)] and "difference" in text and "ratio" in text
    json.dumps(report.to_dict(), allow_nan=False)


def test_by_group_plot(tmp_path):
    y = np.array([0, 1, 1, 0, 1, 0])
    report = pydl.metrics.by_group(y, np.array([0, 1, 0, 0, 1, 1]), np.array([1, 1, 1, 2, 2, 2]))
    fig = report.plot(tmp_path / "groups.png")
    assert (tmp_path / "groups.png").stat().st_size > 0
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == report.metrics


def test_by_group_bad_inputs():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="groups has 3 values but y_true has 4 samples"):
        pydl.metrics.by_group(y, y, ["a", "b", "a"])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        pydl.metrics.by_group(y, y[:3], ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        pydl.metrics.by_group(y, y, ["a", "b", "a", "b"], metrics=("auc",))
    with pytest.raises(ValueError, match="groups holds NaN"):
        pydl.metrics.by_group(y, y, [0.0, np.nan, 1.0, 1.0])
    with pytest.raises(ValueError, match="method must be"):
        pydl.metrics.by_group(y, y, ["a", "b", "a", "b"]).difference("largest")


@pytest.fixture(scope="module")
def digits_model():
    x, y = pydl.datasets.load_digits()
    x_tr, x_te, y_tr, y_te = pydl.data.train_test_split(x, y, test_size=0.3, stratify=True, seed=0)
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(16, activation="relu"), layers.Dense(10)], seed=0)
    model.compile(optimizer=pydl.optimizers.Adam(learning_rate=3e-3), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x_tr, y_tr, epochs=4, batch_size=32, validation_split=0.1, verbose=0, seed=0)
    return model, history, x_te, y_te


def test_evaluate_with_groups_adds_the_per_group_metrics(digits_model):
    model, _, x_te, y_te = digits_model
    groups = np.where(np.arange(len(y_te)) % 3 == 0, "odd-site", "main-site")
    logs = model.evaluate(x_te, y_te, groups=groups)
    plain = model.evaluate(x_te, y_te)
    assert set(logs) == set(plain) | {"groups"} and logs["loss"] == plain["loss"]
    y_pred = model.predict(x_te).argmax(1)
    mf = metric_frame(y_te, y_pred, groups, "macro")
    assert list(logs["groups"]) == ["main-site", "odd-site"]
    for g, values in logs["groups"].items():
        for m in ("accuracy", "precision", "recall", "f1"):
            np.testing.assert_allclose(values[m], mf.by_group.loc[g, m], atol=1e-12)
    with pytest.raises(ValueError, match="groups has 10 values but y_true has"):
        model.evaluate(x_te, y_te, groups=groups[:10])
    with pytest.raises(ValueError, match="needs return_dict=True"):
        model.evaluate(x_te, y_te, groups=groups, return_dict=False)


def test_diagnose_adds_data_and_group_findings(digits_model):
    model, history, x_te, y_te = digits_model
    y_pred = model.predict(x_te).argmax(1)
    groups = np.where(np.arange(len(y_te)) % 4 == 0, "hard", "easy")  # a group made harder on purpose
    y_pred = np.where((groups == "hard") & (np.arange(len(y_te)) % 8 == 0), (y_te + 1) % 10, y_pred)
    report = pydl.metrics.by_group(y_te, y_pred, groups)
    x, y = pydl.datasets.load_digits()
    data = pydl.data.check(np.concatenate([x, x[:5]]), np.concatenate([y, y[:5]]), x_test=x[:20], y_test=y[:20])
    d = pydl.diagnose(history, data=data, groups=report, group_margin=0.05)
    plain = pydl.diagnose(history)
    assert d.verdict == plain.verdict and d.finding == plain.finding
    gap = report.overall["recall"] - report.by_group["hard"]["recall"]
    assert gap > 0.05 and d.evidence["worst_group_recall_gap"] == pytest.approx(gap)
    assert d.evidence["leaks"] == 20 and d.evidence["duplicates"] == 5
    assert d.data[:len(data.warnings)] == data.warnings
    assert len(d.data) == len(data.warnings) + 1
    assert d.data[-1].startswith(f"group 'hard' has recall {report.by_group['hard']['recall']:.3f}, {gap:.3f} below")
    assert "data findings:" in str(d) and str(d).startswith(str(plain))
    with pytest.raises(TypeError, match="data must be a pydl.data.check report"):
        pydl.diagnose(history, data={"leaks": []})
    with pytest.raises(ValueError, match="has no 'recall'"):
        pydl.diagnose(history, groups=pydl.metrics.by_group(y_te, y_pred, groups, metrics=("accuracy",)))
