"""Evaluation metrics on numpy arrays, numerically matching scikit-learn (1.9).

Classification: :func:`accuracy`, :func:`top_k_accuracy`, :func:`precision`,
:func:`recall`, :func:`f1_score`, :func:`confusion_matrix`,
:func:`metrics_from_confusion`, :func:`precision_recall_f1`,
:func:`classification_report`; scores and probabilities: :func:`roc_auc`,
:func:`log_loss`; regression: :func:`mse`, :func:`mae`, :func:`r2`.

0/0 ratios follow scikit-learn's ``zero_division`` rules: "warn" gives 0.0 and an
:class:`UndefinedMetricWarning`; 0, 1 or ``np.nan`` give that value silently
(``np.nan`` entries are left out of macro/weighted averages)."""
from __future__ import annotations

from itertools import combinations
from typing import Optional, Sequence

import numpy as np

from . import _metric_utils as _u
from ._metric_utils import UndefinedMetricWarning

__all__ = ["UndefinedMetricWarning", "accuracy", "top_k_accuracy", "precision", "recall",
           "f1_score", "confusion_matrix", "metrics_from_confusion", "precision_recall_f1",
           "classification_report", "roc_auc", "log_loss", "mse", "mae", "r2"]


# ------------------------------------------------------------------- label predictions
def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted label equals the true label."""
    y_true, y_pred, _, _ = _u.class_targets(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def _int_labels(y_true, y_pred):
    y_true, y_pred, _, _ = _u.class_targets(y_true, y_pred)
    if y_true.dtype.kind not in "biuf" or y_pred.dtype.kind not in "biuf":
        raise TypeError("confusion_matrix expects integer class ids")
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes: Optional[int] = None) -> np.ndarray:
    """``cm[i, j]`` counts samples of true class i predicted as class j (class ids
    0..num_classes-1; default: the largest id + 1)."""
    y_true, y_pred = _int_labels(y_true, y_pred)
    if min(y_true.min(), y_pred.min()) < 0:
        raise ValueError("confusion_matrix expects class ids >= 0")
    k = int(max(y_true.max(), y_pred.max())) + 1 if num_classes is None else int(num_classes)
    if max(y_true.max(), y_pred.max()) >= k:
        raise ValueError(f"confusion_matrix: a class id is >= num_classes={k}")
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def metrics_from_confusion(cm, zero_division=0.0) -> dict:
    """Precision, recall, F1 and support from a confusion matrix (rows: true class,
    columns: predicted class), e.g. one accumulated by the training engine.

    Returns ``{"precision", "recall", "f1": per-class float arrays, "support": per-class
    counts, "accuracy": float, "micro"/"macro"/"weighted": {"precision", "recall",
    "f1"} floats}``. Every row/column is a class, so the values equal scikit-learn's
    with ``labels=range(len(cm))``. ``zero_division`` defaults to a silent 0.0."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"confusion matrix must be a non-empty square 2-D array, got {cm.shape}")
    if cm.dtype.kind not in "biuf":
        raise TypeError(f"confusion matrix must be numeric, got dtype {cm.dtype}")
    if not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise ValueError("confusion matrix entries must be finite and >= 0")
    tp, pred, true = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    p, r, f, support = _u.prf_from_counts(tp, pred, true, None, zero_division)
    integral = cm.dtype.kind in "biu" or bool(np.all(cm == np.round(cm)))
    out = {"precision": p, "recall": r, "f1": f,
           "support": support.astype(np.int64) if integral else support.astype(np.float64)}
    total = float(cm.sum())
    out["accuracy"] = float(tp.sum()) / total if total else _u.check_zero_division(zero_division)
    for avg in ("micro", "macro", "weighted"):
        ap, ar, af, _ = _u.prf_from_counts(tp, pred, true, avg, zero_division)
        out[avg] = {"precision": ap, "recall": ar, "f1": af}
    return out


def precision_recall_f1(y_true, y_pred, num_classes: Optional[int] = None,
                        zero_division=0.0) -> dict:
    """Per-class precision/recall/F1/support of classes 0..num_classes-1 (plus the
    averages, see :func:`metrics_from_confusion`); 0/0 ratios give 0.0 by default."""
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, num_classes), zero_division)


def _prf(y_true, y_pred, average, pos_label, zero_division, labels, warn_for):
    """Validated precision/recall/F1 following scikit-learn's label rules: labels are
    the sorted union of y_true and y_pred; average="binary" needs at most two labels
    and scores only ``pos_label``."""
    _u.check_zero_division(zero_division)
    if average not in _u.AVERAGES and average != "binary":
        raise ValueError(f"average has to be one of {_u.AVERAGES + ('binary',)}, got {average!r}")
    y_true, y_pred, present, binary = _u.class_targets(y_true, y_pred)
    if average == "binary":
        if not binary:
            raise ValueError("Target is multiclass but average='binary'. Please choose another "
                             f"average setting, one of {list(_u.AVERAGES)}.")
        if pos_label not in present.tolist() and present.size >= 2:
            raise ValueError(f"pos_label={pos_label!r} is not a valid label. It should be one "
                             f"of {present.tolist()}")
        labels = [pos_label]
    elif pos_label not in (None, 1):
        _u.warn(f"Note that pos_label (set to {pos_label!r}) is ignored when average != "
                f"'binary' (got {average!r}). You may use labels=[pos_label] to specify a "
                "single positive class.", UserWarning)
    labels = present if labels is None else np.asarray(labels)
    counts = _u.label_counts(y_true, y_pred, labels)
    return _u.prf_from_counts(*counts, None if average == "binary" else average,
                              zero_division, warn_for)


def _scalar_or_array(value, average):
    return float(value[0]) if average == "binary" else value


def precision(y_true, y_pred, average="binary", pos_label=1, zero_division="warn", labels=None):
    """tp / (tp + fp), like ``sklearn.metrics.precision_score``. average: "binary"
    (score of ``pos_label``), "micro", "macro", "weighted" or None (per-label array)."""
    p = _prf(y_true, y_pred, average, pos_label, zero_division, labels, ("precision",))[0]
    return _scalar_or_array(p, average)


def recall(y_true, y_pred, average="binary", pos_label=1, zero_division="warn", labels=None):
    """tp / (tp + fn), like ``sklearn.metrics.recall_score`` (see :func:`precision`)."""
    r = _prf(y_true, y_pred, average, pos_label, zero_division, labels, ("recall",))[1]
    return _scalar_or_array(r, average)


def f1_score(y_true, y_pred, average="binary", pos_label=1, zero_division="warn", labels=None):
    """2 tp / (2 tp + fp + fn), like ``sklearn.metrics.f1_score``: only a label with
    neither true nor predicted samples is ill-defined (see :func:`precision`)."""
    f = _prf(y_true, y_pred, average, pos_label, zero_division, labels, ("f-score",))[2]
    return _scalar_or_array(f, average)


def classification_report(y_true, y_pred, target_names: Optional[Sequence[str]] = None,
                          digits: int = 3, output_dict: bool = False, labels=None,
                          zero_division="warn"):
    """Per-class precision/recall/F1/support with accuracy (or micro avg), macro and
    weighted averages: text like scikit-learn's, or with ``output_dict=True`` the same
    dict as ``sklearn.metrics.classification_report(output_dict=True)``."""
    _u.check_zero_division(zero_division)
    y_true, y_pred, present, _ = _u.class_targets(y_true, y_pred)
    labels_given = labels is not None
    labels = np.asarray(labels) if labels_given else present
    micro_is_accuracy = not labels_given or set(labels.tolist()) >= set(present.tolist())
    if target_names is not None and len(labels) != len(target_names):
        msg = f"labels size, {len(labels)}, does not match size of target_names, {len(target_names)}"
        if not labels_given:
            raise ValueError(f"Number of classes, {len(labels)}, does not match size of "
                             f"target_names, {len(target_names)}. Try specifying the labels parameter")
        _u.warn(msg, UserWarning)
    names = [str(n) for n in labels] if target_names is None else [str(n) for n in target_names]
    counts = _u.label_counts(y_true, y_pred, labels)
    p, r, f, s = _u.prf_from_counts(*counts, None, zero_division)
    rows = list(zip(names, p, r, f, s))
    total = int(np.sum(s))
    averages = []
    for avg in ("micro", "macro", "weighted"):
        heading = "accuracy" if avg == "micro" and micro_is_accuracy else avg + " avg"
        averages.append((heading, *_u.prf_from_counts(*counts, avg, zero_division)[:3], total))

    keys = ("precision", "recall", "f1-score", "support")
    if output_dict:
        report = {name: dict(zip(keys, map(float, vals))) for name, *vals in rows}
        for heading, *vals in averages:
            report[heading] = float(vals[2]) if heading == "accuracy" else dict(zip(keys, map(float, vals)))
        return report
    width = max([len(n) for n in names] + [len("weighted avg"), digits])
    lines = [f"{'':>{width}} " + "".join(f" {k:>9}" for k in keys), ""]
    fmt = lambda name, pv, rv, fv, sv: (f"{name:>{width}}  {pv:>9.{digits}f} {rv:>9.{digits}f} "
                                        f"{fv:>9.{digits}f} {int(sv):>9}")
    lines += [fmt(*row) for row in rows] + [""]
    for heading, ap, ar, af, sup in averages:
        if heading == "accuracy":
            lines.append(f"{heading:>{width}}  {'':>9} {'':>9} {af:>9.{digits}f} {sup:>9}")
        else:
            lines.append(fmt(heading, ap, ar, af, sup))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ scores / probabilities
def _score_classes(y_true, labels, n_columns, what):
    """Sorted classes the score columns refer to: ``labels`` (checked) or y_true's."""
    if labels is None:
        classes = np.unique(y_true)
        if classes.size != n_columns:
            raise ValueError(f"Number of classes in y_true ({classes.size}) not equal to the "
                             f"number of columns in {what} ({n_columns})")
        return classes
    labels = np.asarray(labels).ravel()
    classes = np.unique(labels)
    if classes.size != labels.size:
        raise ValueError("Parameter 'labels' must be unique")
    if not np.array_equal(classes, labels):
        raise ValueError("Parameter 'labels' must be ordered")
    if classes.size != n_columns:
        raise ValueError(f"Number of given labels ({classes.size}) not equal to the number of "
                         f"columns in {what} ({n_columns})")
    if np.setdiff1d(y_true, classes).size:
        raise ValueError("'y_true' contains labels not in parameter 'labels'")
    return classes


def top_k_accuracy(y_true, y_score, k: int = 5, labels=None) -> float:
    """Fraction of samples whose true class is among the k highest scores, like
    ``sklearn.metrics.top_k_accuracy_score``: among tied scores the class with the
    larger index ranks first; binary 1-D scores with k=1 are thresholded at 0.5
    (scores within [0, 1]) or 0."""
    y_true = _u.class_target(y_true, "y_true")
    y_score = _u.check_scores(y_score)
    binary = np.unique(y_true).size <= 2 and (labels is None or len(labels) <= 2)
    if binary:
        if y_score.ndim == 2 and y_score.shape[1] != 1:
            raise ValueError(f"`y_true` is binary while y_score is 2d with {y_score.shape[1]} "
                             "classes. If `y_true` does not contain all the labels, `labels` "
                             "must be provided.")
        y_score = y_score.ravel()
    elif y_score.ndim != 2:
        raise ValueError("`y_score` needs to be of shape (n_samples, n_classes) since y_true "
                         f"contains multiple classes, got {y_score.shape}")
    _u.check_same_length(y_true, y_score)
    classes = _score_classes(y_true, labels, y_score.shape[1] if y_score.ndim == 2 else 2, "y_score")
    if k >= classes.size:
        _u.warn(f"'k' ({k}) greater than or equal to 'n_classes' ({classes.size}) will result "
                "in a perfect score and is therefore meaningless.")
    encoded = np.searchsorted(classes, y_true)
    if binary:
        if k != 1:
            return 1.0
        threshold = 0.5 if y_score.min() >= 0 and y_score.max() <= 1 else 0.0
        return float(np.mean((y_score > threshold).astype(np.int64) == encoded))
    ranked = np.argsort(y_score, axis=1, kind="stable")[:, ::-1][:, :k]
    return float(np.mean(np.any(ranked == encoded[:, None], axis=1)))


def roc_auc(y_true, y_score, multi_class: str = "raise", average: Optional[str] = "macro",
            labels=None) -> float:
    """Area under the ROC curve, like ``sklearn.metrics.roc_auc_score``.

    Binary y_true: ``y_score`` holds the scores of the larger label (1-D). Multi-class:
    ``y_score`` is (n, C) probabilities and ``multi_class`` must be "ovr" (one-vs-rest,
    average "macro", "weighted" (by class frequency), "micro" or None) or "ovo"
    (Hand & Till pairs, "macro" or "weighted"). Tied scores count one half. With a
    single class in a binary y_true the AUC is undefined: NaN plus an
    :class:`UndefinedMetricWarning` (what scikit-learn 1.9 does)."""
    y_true = _u.class_target(y_true, "y_true")
    y_score = _u.check_scores(y_score)
    _u.check_same_length(y_true, y_score)
    if np.unique(y_true).size > 2 or (y_score.ndim == 2 and y_score.shape[1] > 2):
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr')")
        return _multiclass_auc(y_true, y_score, multi_class, average, labels)
    if average not in _u.AVERAGES + ("samples",):
        raise ValueError(f"average has to be one of {_u.AVERAGES + ('samples',)}")
    if y_score.ndim == 2:
        if y_score.shape[1] != 1:
            raise ValueError(f"binary y_true needs 1-D scores of the positive class, got shape "
                             f"{y_score.shape}")
        y_score = y_score.ravel()
    classes = np.unique(y_true)
    return _u.binary_auc(y_true == classes[-1], y_score)


def _multiclass_auc(y_true, y_score, multi_class, average, labels):
    if y_score.ndim != 2:
        raise ValueError("`y_score` needs to be of shape (n_samples, n_classes) since y_true "
                         f"contains multiple classes, got {y_score.shape}")
    if not np.allclose(1, y_score.sum(axis=1)):
        raise ValueError("Target scores need to be probabilities for multiclass roc_auc, i.e. "
                         "they should sum up to 1.0 over classes")
    options = ("micro", "macro", "weighted", None) if multi_class == "ovr" else ("macro", "weighted", None)
    if average not in options:
        raise ValueError(f"average must be one of {options} for multiclass problems")
    if multi_class not in ("ovo", "ovr"):
        raise ValueError(f"multi_class={multi_class!r} is not supported for multiclass ROC AUC, "
                         "multi_class must be in ('ovo', 'ovr')")
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    classes = _score_classes(y_true, labels, y_score.shape[1], "'y_score'")
    onehot = y_true[:, None] == classes[None, :]
    if multi_class == "ovr":
        if average == "micro":
            return _u.binary_auc(onehot.ravel(), y_score.ravel())
        scores = np.array([_u.binary_auc(onehot[:, c], y_score[:, c]) for c in range(classes.size)])
        if average is None:
            return scores
        if average == "weighted":
            weights = onehot.sum(axis=0)
            if weights.sum() == 0:
                return 0.0
            scores[weights == 0] = 0.0
            return float(np.average(scores, weights=weights))
        return float(np.mean(scores))
    present = np.unique(y_true)  # Hand & Till: average of both directions per class pair
    index = {c: i for i, c in enumerate(classes.tolist())}
    pair_scores, prevalence = [], []
    for a, b in combinations(present.tolist(), 2):
        mask = (y_true == a) | (y_true == b)
        is_a = y_true[mask] == a
        pair_scores.append((_u.binary_auc(is_a, y_score[mask, index[a]])
                            + _u.binary_auc(~is_a, y_score[mask, index[b]])) / 2)
        prevalence.append(mask.mean())
    return float(np.average(pair_scores, weights=prevalence if average == "weighted" else None))


def log_loss(y_true, y_prob, eps="auto", labels=None) -> float:
    """Mean cross-entropy -mean(sum_c [y == c] log p_c), like ``sklearn.metrics.log_loss``
    (1.9): probabilities are clipped to [eps, 1 - eps] with eps="auto" the machine
    epsilon of y_prob's float dtype, rows not summing to one trigger a UserWarning (no
    renormalisation), 1-D y_prob is the probability of the larger of two classes and the
    columns follow the sorted classes of ``labels`` or y_true."""
    y_prob = _u.check_scores(y_prob, "y_prob")
    if y_prob.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {y_prob.max()}")
    if y_prob.min() < 0:
        raise ValueError(f"y_prob contains values lower than 0: {y_prob.min()}")
    y_true = _u.class_target(y_true, "y_true")
    _u.check_same_length(y_true, y_prob)
    classes = np.unique(y_true if labels is None else np.asarray(labels).ravel())
    if labels is not None and np.setdiff1d(y_true, classes).size:
        raise ValueError(f"y_true contains values not belonging to the passed labels {classes.tolist()}")
    if classes.size < 2:
        raise ValueError(f"y_true contains only one label ({classes.tolist()}). Please provide "
                         "the list of all expected class labels explicitly through `labels`.")
    if y_prob.ndim == 1:
        y_prob = y_prob[:, None]
    if y_prob.shape[1] == 1:
        y_prob = np.concatenate([1 - y_prob, y_prob], axis=1)
    fin = np.finfo(y_prob.dtype)
    if not np.all(np.isclose(y_prob.sum(axis=1), 1, rtol=np.sqrt(fin.eps), atol=1e-8)):
        _u.warn("The y_prob values do not sum to one. Make sure to pass probabilities.", UserWarning)
    if classes.size != y_prob.shape[1]:
        raise ValueError(f"y_true and y_prob contain different number of classes: {classes.size} "
                         f"vs {y_prob.shape[1]}. Classes found: {classes.tolist()}")
    eps = fin.eps if isinstance(eps, str) and eps == "auto" else eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    onehot = (y_true[:, None] == classes[None, :]).astype(y_prob.dtype)
    return float(np.mean(-np.sum(onehot * np.log(y_prob), axis=1)))


# ---------------------------------------------------------------------------- regression
def mse(y_true, y_pred, multioutput="uniform_average"):
    """Mean squared error (per output averaged as ``multioutput`` says)."""
    y_true, y_pred, multioutput = _u.reg_targets(y_true, y_pred, multioutput,
                                                 ("raw_values", "uniform_average"))
    return _u.combine_outputs(np.mean((y_true - y_pred) ** 2, axis=0), multioutput)


def mae(y_true, y_pred, multioutput="uniform_average"):
    """Mean absolute error (per output averaged as ``multioutput`` says)."""
    y_true, y_pred, multioutput = _u.reg_targets(y_true, y_pred, multioutput,
                                                 ("raw_values", "uniform_average"))
    return _u.combine_outputs(np.mean(np.abs(y_pred - y_true), axis=0), multioutput)


def r2(y_true, y_pred, multioutput="uniform_average", force_finite: bool = True):
    """Coefficient of determination 1 - SS_res / SS_tot, like ``sklearn.metrics.r2_score``.

    Constant y_true (SS_tot = 0): 1.0 for perfect predictions, else 0.0 with
    ``force_finite`` (NaN / -inf without). Fewer than two samples: NaN and an
    :class:`UndefinedMetricWarning`."""
    y_true, y_pred, multioutput = _u.reg_targets(
        y_true, y_pred, multioutput, ("raw_values", "uniform_average", "variance_weighted"))
    if y_true.shape[0] < 2:
        _u.warn("R^2 score is not well-defined with less than two samples.")
        return float("nan")
    residual = np.sum((y_true - y_pred) ** 2, axis=0)
    total = np.sum((y_true - np.mean(y_true, axis=0)) ** 2, axis=0)
    if force_finite:
        scores = np.ones(y_true.shape[1], dtype=residual.dtype)
        ok = (total != 0) & (residual != 0)
        scores[ok] = 1 - residual[ok] / total[ok]
        scores[(residual != 0) & (total == 0)] = 0.0
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1 - residual / total
    return _u.combine_outputs(scores, multioutput, total)
