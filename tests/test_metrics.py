"""pydl.metrics against scikit-learn (the reference) on random inputs and edge cases:
values to 1e-12, the same exceptions, and a warning exactly when scikit-learn warns."""
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning as SkUndefined

from pydl import metrics as pm

ZERO_DIVISIONS = ["warn", 0.0, 1.0, np.nan]
AVERAGES = ["binary", "micro", "macro", "weighted", None]


def run(fn, *args, **kwargs):
    """(result or the exception type, kinds of warnings raised: 'undefined' / 'user')."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kwargs)
        except (ValueError, TypeError, NotImplementedError) as exc:
            # sklearn's InvalidParameterError is both a ValueError and a TypeError
            result = next(c for c in (ValueError, TypeError, NotImplementedError) if isinstance(exc, c))
    kinds = set()
    for w in caught:
        if issubclass(w.category, (SkUndefined, pm.UndefinedMetricWarning)):
            kinds.add("undefined")
        elif issubclass(w.category, UserWarning):
            kinds.add("user")
    return result, kinds


def close(got, want, atol=1e-12):
    if isinstance(want, type):  # an exception class
        assert got is want, (got, want)
        return
    assert not isinstance(got, type), f"raised {got}, expected {want}"
    assert np.ndim(got) == np.ndim(want), (got, want)
    if np.ndim(want) == 0:
        assert isinstance(got, float), type(got)
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(want, float), rtol=0, atol=atol,
                               equal_nan=True)


def compare(ours, theirs, atol=1e-12):
    """Run both (callables taking no argument); same values and same warning kinds."""
    got, got_w = run(ours)
    want, want_w = run(theirs)
    close(got, want, atol)
    assert got_w == want_w, f"warnings: ours {got_w}, sklearn {want_w}"
    return got


EDGE_SUBSET = ("class never predicted", "class never in y_true", "single class",
               "binary no positives", "binary nothing predicted positive", "string labels")


def label_cases(rng, n_random=3, only=None):
    """(name, y_true, y_pred) covering random data (binary and multiclass, several
    seeds) and the edge cases."""
    cases = []
    for i, k in enumerate((3, 2, 5)[:n_random]):
        r = np.random.default_rng(rng.integers(1 << 30) + i)
        y_true = r.integers(0, k, 40)
        y_pred = np.where(r.random(40) < 0.5, y_true, r.integers(0, k, 40))
        cases.append((f"random k={k} seed={i}", y_true, y_pred))
    y = rng.integers(0, 4, 30)
    never_pred = y.copy()
    never_pred[never_pred == 2] = 0
    never_true = y.copy()
    never_true[never_true == 1] = 3
    cases += [
        ("class never predicted", y, never_pred),
        ("class never in y_true", never_true, y),
        ("perfect multiclass", y, y.copy()),
        ("all wrong multiclass", y, (y + 1) % 4),
        ("single class", np.full(10, 2), np.full(10, 2)),
        ("single class true, 0 predicted", np.full(10, 1), np.r_[np.zeros(3, int), np.ones(7, int)]),
        ("binary no positives", np.zeros(8, int), np.zeros(8, int)),
        ("binary nothing predicted positive", np.r_[0, 0, 1, 1], np.zeros(4, int)),
        ("binary all wrong", np.r_[0, 1, 0, 1], np.r_[1, 0, 1, 0]),
        ("binary perfect", np.r_[0, 1, 1, 0, 1], np.r_[0, 1, 1, 0, 1]),
        ("binary {2, 3} labels", np.r_[2, 3, 3, 2], np.r_[2, 3, 2, 2]),
        ("string labels", np.array(["cat", "dog", "dog", "eel"]), np.array(["cat", "cat", "dog", "eel"])),
    ]
    return [c for c in cases if only is None or c[0] in only or c[0].startswith("random")]


SK_PRF = {"precision": skm.precision_score, "recall": skm.recall_score, "f1_score": skm.f1_score}


def test_precision_recall_f1_match_sklearn(rng):
    for name, y_true, y_pred in label_cases(rng):
        for average in AVERAGES:
            try:
                for sk_zd in ("warn", 1.0, np.nan):
                    # one sklearn call gives all three values; which metrics it warned for is
                    # in the messages ("Precision is", "Recall is", "F-score is" ill-defined)
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        try:
                            want = skm.precision_recall_fscore_support(
                                y_true, y_pred, average=average, zero_division=sk_zd)
                        except ValueError:
                            want = ValueError
                    messages = " ".join(str(w.message) for w in caught)
                    prefixes = ("Precision is", "Recall is", "F-score is")
                    for i, (metric, prefix) in enumerate(zip(SK_PRF, prefixes)):
                        for zd in (("warn", 0.0) if sk_zd == "warn" else (sk_zd,)):
                            got, got_w = run(getattr(pm, metric), y_true, y_pred, average=average,
                                             zero_division=zd)
                            close(got, want if isinstance(want, type) else want[i])
                            warned = zd == "warn" and prefix in messages
                            assert got_w == ({"undefined"} if warned else set()), (metric, zd, got_w)
            except AssertionError as exc:
                raise AssertionError(f"{name} average={average}: {exc}") from exc


def test_warnings_match_sklearn_per_function(rng):
    for _name, y_true, y_pred in label_cases(rng, n_random=1, only=EDGE_SUBSET):
        for average in ("binary", "macro", None):
            for metric, theirs in SK_PRF.items():
                compare(lambda: getattr(pm, metric)(y_true, y_pred, average=average),
                        lambda: theirs(y_true, y_pred, average=average))


def test_pos_label_and_labels(rng):
    y_true, y_pred = np.r_[0, 1, 1, 0, 1, 0], np.r_[0, 1, 0, 0, 1, 1]
    for fn in ("precision", "recall", "f1_score"):
        for kw in (dict(pos_label=0), dict(pos_label=5), dict(average="macro", pos_label=0),
                   dict(average=None, labels=[1, 0, 7]), dict(average="micro", labels=[1])):
            compare(lambda: getattr(pm, fn)(y_true, y_pred, **kw),
                    lambda: SK_PRF[fn](y_true, y_pred, **kw))
    s_true, s_pred = np.array(["a", "b", "b"]), np.array(["a", "a", "b"])
    compare(lambda: pm.precision(s_true, s_pred, pos_label="a"),
            lambda: skm.precision_score(s_true, s_pred, pos_label="a"))
    compare(lambda: pm.recall(["a", "a"], ["a", "a"]), lambda: skm.recall_score(["a", "a"], ["a", "a"]))


@pytest.mark.filterwarnings("ignore:A single label was found")  # sklearn's, single-class case
def test_accuracy_and_confusion_matrix(rng):
    for name, y_true, y_pred in label_cases(rng):
        assert pm.accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred), name
        if y_true.dtype.kind in "iu":
            k = int(max(y_true.max(), y_pred.max())) + 1
            np.testing.assert_array_equal(pm.confusion_matrix(y_true, y_pred, k),
                                          skm.confusion_matrix(y_true, y_pred, labels=list(range(k))))


@pytest.mark.parametrize("zd", ZERO_DIVISIONS[1:])  # "warn" gives the values of 0.0
def test_metrics_from_confusion(rng, zd):
    for _name, y_true, y_pred in label_cases(rng, n_random=1, only=EDGE_SUBSET + ("all wrong multiclass",)):
        if y_true.dtype.kind not in "iu":
            continue
        k = int(max(y_true.max(), y_pred.max())) + 2  # one extra class that never occurs
        labels = list(range(k))
        cm = pm.confusion_matrix(y_true, y_pred, k)
        got, _ = run(pm.metrics_from_confusion, cm, zero_division=zd)
        p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                         zero_division=zd)
        for key, want in (("precision", p), ("recall", r), ("f1", f)):
            close(got[key], want)
        np.testing.assert_array_equal(got["support"], s)
        assert got["accuracy"] == skm.accuracy_score(y_true, y_pred)
        for avg in ("micro", "macro", "weighted"):
            want = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg,
                                                       zero_division=zd)
            for key, value in zip(("precision", "recall", "f1"), want[:3]):
                close(got[avg][key], value)
        # precision_recall_f1 is the same thing straight from labels; float counts work too
        legacy = pm.precision_recall_f1(y_true, y_pred, k, zero_division=zd)
        close(legacy["f1"], got["f1"])
        close(pm.metrics_from_confusion(cm.astype(np.float64), zd)["macro"]["f1"], got["macro"]["f1"])


def test_metrics_from_confusion_warns_only_with_warn():
    cm = np.array([[3, 0, 0], [2, 0, 0], [0, 0, 0]])
    assert run(pm.metrics_from_confusion, cm)[1] == set()
    assert run(pm.metrics_from_confusion, cm, "warn")[1] == {"undefined"}
    with pytest.raises(ValueError):
        pm.metrics_from_confusion(np.ones((2, 3)))
    with pytest.raises(ValueError):
        pm.metrics_from_confusion(-np.ones((2, 2)))


@pytest.mark.parametrize("zd", ZERO_DIVISIONS)
def test_classification_report_dict_matches_sklearn(rng, zd):
    for name, y_true, y_pred in label_cases(rng, n_random=1, only=EDGE_SUBSET):
        got, got_w = run(pm.classification_report, y_true, y_pred, output_dict=True, zero_division=zd)
        want, want_w = run(skm.classification_report, y_true, y_pred, output_dict=True,
                           zero_division=zd)
        assert list(got) == list(want), name
        for key in want:
            if isinstance(want[key], dict):
                assert list(got[key]) == list(want[key])
                for field in want[key]:
                    close(got[key][field], want[key][field])
            else:
                close(got[key], want[key])
        assert got_w == want_w, name


def test_classification_report_text_and_options(rng):
    y_true, y_pred = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    for digits in (2, 4):
        assert pm.classification_report(y_true, y_pred, digits=digits) == \
            skm.classification_report(y_true, y_pred, digits=digits)
    names = ["zero", "one", "a much longer class name"]
    assert pm.classification_report(y_true, y_pred, target_names=names, digits=2) == \
        skm.classification_report(y_true, y_pred, target_names=names)
    got = pm.classification_report(y_true, y_pred, labels=[0, 2], output_dict=True, zero_division=0)
    want = skm.classification_report(y_true, y_pred, labels=[0, 2], output_dict=True, zero_division=0)
    assert list(got) == list(want) and "micro avg" in got
    close(got["micro avg"]["f1-score"], want["micro avg"]["f1-score"])
    with pytest.raises(ValueError):
        pm.classification_report(y_true, y_pred, target_names=["a", "b"])
    assert "macro avg" in pm.classification_report(y_true, y_pred)  # default digits=3 still works


def test_top_k_accuracy(rng):
    for seed in range(3):
        r = np.random.default_rng(seed)
        y = r.integers(0, 5, 50)
        score = np.round(r.random((50, 5)), 1)  # coarse: many ties within a row
        score[:5] = 0.5  # rows that are all ties
        for k in range(1, 6):
            compare(lambda: pm.top_k_accuracy(y, score, k=k),
                    lambda: skm.top_k_accuracy_score(y, score, k=k))
        yb = r.integers(0, 2, 30)
        for sb in (np.round(r.random(30), 1), r.normal(size=30), np.full(30, 0.5)):
            for k in (1, 2):
                compare(lambda: pm.top_k_accuracy(yb, sb, k=k),
                        lambda: skm.top_k_accuracy_score(yb, sb, k=k))
    y3 = np.r_[0, 1, 1]
    compare(lambda: pm.top_k_accuracy(y3, np.eye(3)[:3], k=1, labels=[0, 1, 2]),
            lambda: skm.top_k_accuracy_score(y3, np.eye(3)[:3], k=1, labels=[0, 1, 2]))
    for bad in (np.ones((3, 2)), np.ones(3)):  # binary y with 2 columns; multiclass y with 1-D
        yy = y3 if bad.ndim == 2 else np.r_[0, 1, 2]
        compare(lambda: pm.top_k_accuracy(yy, bad, k=1), lambda: skm.top_k_accuracy_score(yy, bad, k=1))


def test_roc_auc_binary(rng):
    for seed in range(4):
        r = np.random.default_rng(seed)
        y = r.integers(0, 2, 60)
        for score in (r.random(60), np.round(r.random(60), 1), y + r.normal(0, 0.5, 60),
                      y.astype(float), 1.0 - y, np.full(60, 0.3)):  # ties, perfect, all wrong
            compare(lambda: pm.roc_auc(y, score), lambda: skm.roc_auc_score(y, score))
    labels = np.where(rng.random(20) < 0.5, 3, 7)  # positive class is the larger label
    score = rng.random(20)
    compare(lambda: pm.roc_auc(labels, score), lambda: skm.roc_auc_score(labels, score))
    # a single class: undefined (NaN and a warning in scikit-learn 1.9)
    compare(lambda: pm.roc_auc(np.ones(5), rng.random(5)),
            lambda: skm.roc_auc_score(np.ones(5), rng.random(5)))


@pytest.mark.parametrize("multi_class,average", [("ovr", "macro"), ("ovr", "weighted"),
                                                 ("ovr", "micro"), ("ovr", None),
                                                 ("ovo", "macro"), ("ovo", "weighted"),
                                                 ("raise", "macro"), ("ovo", None)])
def test_roc_auc_multiclass(rng, multi_class, average):
    for k in (3, 4):
        y = rng.integers(0, k, 80)
        for ties in (False, True):
            p = rng.random((80, k))
            if ties:
                p = np.round(p, 1) + 0.05
            p /= p.sum(axis=1, keepdims=True)
            compare(lambda: pm.roc_auc(y, p, multi_class=multi_class, average=average),
                    lambda: skm.roc_auc_score(y, p, multi_class=multi_class, average=average))
    perfect = np.eye(3)[y % 3]
    compare(lambda: pm.roc_auc(y % 3, perfect, multi_class=multi_class, average=average),
            lambda: skm.roc_auc_score(y % 3, perfect, multi_class=multi_class, average=average))


def test_roc_auc_errors(rng):
    y = rng.integers(0, 3, 20)
    p = rng.random((20, 3))
    p /= p.sum(axis=1, keepdims=True)
    cases = [(y, p[:, :2], dict(multi_class="ovr")),  # columns != classes
             (y, p * 2, dict(multi_class="ovr")),  # not probabilities
             (y, p[:, 0], dict(multi_class="ovr")),  # 1-D scores for multiclass
             (y % 2, p[:, :2], {}),  # binary y with two columns
             (y % 2, p[:, 0], dict(average="bogus")),
             (y % 2, p[:10, 0], {})]  # length mismatch
    for yy, ss, kw in cases:
        compare(lambda: pm.roc_auc(yy, ss, **kw), lambda: skm.roc_auc_score(yy, ss, **kw))


def test_log_loss(rng):
    for seed in range(3):
        r = np.random.default_rng(seed)
        y = r.integers(0, 4, 50)
        p = r.random((50, 4))
        p /= p.sum(axis=1, keepdims=True)
        compare(lambda: pm.log_loss(y, p), lambda: skm.log_loss(y, p))
        yb, pb = r.integers(0, 2, 50), r.random(50)
        compare(lambda: pm.log_loss(yb, pb), lambda: skm.log_loss(yb, pb))
        compare(lambda: pm.log_loss(yb, pb[:, None]), lambda: skm.log_loss(yb, pb[:, None]))
        compare(lambda: pm.log_loss(yb + 5, np.c_[1 - pb, pb]), lambda: skm.log_loss(yb + 5, np.c_[1 - pb, pb]))
    # clipping of exact 0 / 1, perfect and all-wrong predictions
    y = np.r_[0, 1, 2, 1]
    onehot = np.eye(3)[y]
    for probs in (onehot, np.eye(3)[(y + 1) % 3]):
        compare(lambda: pm.log_loss(y, probs), lambda: skm.log_loss(y, probs))
    # not summing to one: a UserWarning, no renormalisation
    compare(lambda: pm.log_loss(y, onehot * 0.7), lambda: skm.log_loss(y, onehot * 0.7))
    # float32 input is clipped at float32's epsilon and computed in float32
    p32 = np.clip(onehot, 0.0, 1.0).astype(np.float32)
    compare(lambda: pm.log_loss(y, p32), lambda: skm.log_loss(y, p32), atol=1e-5)
    assert abs(pm.log_loss(y, onehot, eps=1e-3) - np.log(1 / (1 - 1e-3))) < 1e-12
    compare(lambda: pm.log_loss(y, onehot[:, :3], labels=[0, 1, 2]),
            lambda: skm.log_loss(y, onehot[:, :3], labels=[0, 1, 2]))
    for yy, pp in ((np.ones(4), rng.random(4)),  # one class only
                   (y, onehot[:, :2]),  # columns != classes
                   (y, onehot * 1.5),  # > 1
                   (y, onehot - 0.5),  # < 0
                   (y[:3], onehot),  # length mismatch
                   (y, np.full((4, 3), np.nan))):
        compare(lambda: pm.log_loss(yy, pp), lambda: skm.log_loss(yy, pp))


def test_regression(rng):
    cases = []
    for seed in range(2):
        r = np.random.default_rng(seed)
        y = r.normal(size=40)
        cases += [(y, y + r.normal(0, 0.3, 40)), (y, y.copy()), (y, -y)]
        y2 = r.normal(size=(30, 3))
        cases += [(y2, y2 + r.normal(0, 0.5, (30, 3)))]
    const = np.full(10, 2.5)
    cases += [(const, const.copy()), (const, const + np.r_[1.0, np.zeros(9)]),
              (np.c_[const, np.arange(10.0)], np.c_[const + 1, np.arange(10.0) * 0.9])]
    for y_true, y_pred in cases:
        for mo in ("uniform_average", "raw_values"):
            compare(lambda: pm.mse(y_true, y_pred, multioutput=mo),
                    lambda: skm.mean_squared_error(y_true, y_pred, multioutput=mo))
            compare(lambda: pm.mae(y_true, y_pred, multioutput=mo),
                    lambda: skm.mean_absolute_error(y_true, y_pred, multioutput=mo))
        for mo in ("uniform_average", "raw_values", "variance_weighted"):
            for ff in (True, False):
                compare(lambda: pm.r2(y_true, y_pred, multioutput=mo, force_finite=ff),
                        lambda: skm.r2_score(y_true, y_pred, multioutput=mo, force_finite=ff))
        if y_true.ndim == 2:
            w = np.arange(1.0, y_true.shape[1] + 1)
            compare(lambda: pm.r2(y_true, y_pred, multioutput=w),
                    lambda: skm.r2_score(y_true, y_pred, multioutput=w))
    compare(lambda: pm.r2([1.0], [2.0]), lambda: skm.r2_score([1.0], [2.0]))  # < 2 samples
    for bad in (([1.0, 2.0], [1.0]), (np.ones((3, 2)), np.ones((3, 3))), ([], [])):
        compare(lambda: pm.mse(*bad), lambda: skm.mean_squared_error(*bad))


def test_bad_inputs_raise_like_sklearn(rng):
    multi = (np.r_[0, 1, 2, 1], np.r_[0, 2, 1, 1])
    compare(lambda: pm.precision(*multi), lambda: skm.precision_score(*multi))  # binary on multiclass
    with pytest.raises(ValueError, match="average='binary'"):
        pm.f1_score(*multi)
    for y_true, y_pred in (([0, 1], [0, 1, 1]), ([], []), ([0.5, 1.0], [0, 1]),
                           (["a", "b"], [0, 1]), ([0, 3], [0, 3]), ([0, 1], [0, 1])):
        for ours, theirs in ((pm.accuracy, skm.accuracy_score), (pm.recall, skm.recall_score)):
            compare(lambda: ours(y_true, y_pred), lambda: theirs(y_true, y_pred))
    with pytest.raises(ValueError, match="average"):
        pm.precision([0, 1], [0, 1], average="samplez")
    with pytest.raises(ValueError, match="zero_division"):
        pm.recall([0, 1], [0, 1], zero_division=0.5)
    with pytest.raises(ValueError):
        pm.accuracy(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="inconsistent"):
        pm.confusion_matrix([0, 1], [1])
    with pytest.raises(TypeError):
        pm.top_k_accuracy([0, 1], np.array(["a", "b"]))


def test_warning_class_and_location():
    assert issubclass(pm.UndefinedMetricWarning, UserWarning)
    with pytest.warns(pm.UndefinedMetricWarning, match="ill-defined") as record:
        pm.precision([0, 0], [0, 0])
    assert record[0].filename == __file__  # attributed to the caller, not to pydl internals
