"""Metrics on scores and probabilities: top-k accuracy, ROC AUC (binary, one-vs-rest,
one-vs-one) and log loss, as scikit-learn computes them."""
from __future__ import annotations

from itertools import combinations
from typing import Optional

import numpy as np

from . import _utils as _u

__all__ = ["top_k_accuracy", "roc_auc", "log_loss"]


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
