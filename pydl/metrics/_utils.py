"""Private helpers for :mod:`pydl.metrics`: input validation, the precision/recall/F
core that works on per-label counts, ROC AUC of one binary problem and regression
target checks. Semantics follow scikit-learn (see the notes in each function)."""
from __future__ import annotations

import sys
import warnings

import numpy as np


class UndefinedMetricWarning(UserWarning):
    """A metric is ill-defined for the given input (e.g. a 0/0 ratio); a fallback value
    is returned instead. Mirrors ``sklearn.exceptions.UndefinedMetricWarning``."""


UndefinedMetricWarning.__module__ = "pydl.metrics"

AVERAGES = (None, "micro", "macro", "weighted")


def warn(msg, category=UndefinedMetricWarning):
    """Warn, attributing the warning to the first caller outside the metrics modules."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("pydl.metrics"):
        level, frame = level + 1, frame.f_back
    warnings.warn(msg, category, stacklevel=level)


# ----------------------------------------------------------------------------- inputs
def _is_str_labels(y):
    return y.dtype.kind in "US" or (y.dtype.kind == "O" and any(isinstance(v, str) for v in y))


def class_target(y, name="y"):
    """A 1-D array of class labels (a column vector is flattened). Non-integral floats
    ('continuous' targets), non-finite values and multi-column arrays are rejected."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind == "c":
        raise TypeError(f"{name}: complex labels are not supported")
    if y.dtype.kind == "f" and y.size:
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or infinity")
        if np.any(y != np.round(y)):
            raise ValueError(f"{name} holds continuous values; classification metrics need "
                             "discrete class labels")
    return y


def check_same_length(*arrays):
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")


def unique_labels(*ys):
    try:
        return np.unique(np.concatenate(ys))
    except TypeError as exc:
        raise ValueError("Mix of label input types (string and number)") from exc


def class_targets(y_true, y_pred):
    """Validate a (y_true, y_pred) pair of label vectors. Returns both arrays, the sorted
    union of their labels and whether the task is binary (at most two labels in all)."""
    y_true, y_pred = class_target(y_true, "y_true"), class_target(y_pred, "y_pred")
    check_same_length(y_true, y_pred)
    if y_true.size == 0:
        raise ValueError("Found empty input array (y_true / y_pred): at least 1 sample is required")
    if _is_str_labels(y_true) != _is_str_labels(y_pred):
        raise ValueError("Mix of label input types (string and number)")
    present = unique_labels(y_true, y_pred)
    return y_true, y_pred, present, present.size <= 2


def check_zero_division(zero_division):
    """The value that replaces 0/0 ratios: "warn" -> 0.0 (plus a warning), 0, 1 or nan."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, (int, float, np.integer, np.floating)) and not isinstance(
            zero_division, bool):
        if np.isnan(zero_division):
            return np.nan
        if zero_division in (0, 1):
            return float(zero_division)
    raise ValueError(f'zero_division must be "warn", 0.0, 1.0 or np.nan, got {zero_division!r}')


def check_scores(y_score, name="y_score"):
    y_score = np.asarray(y_score)
    if y_score.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {y_score.dtype}")
    if y_score.dtype.kind != "f":
        y_score = y_score.astype(np.float64)
    if y_score.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {y_score.shape}")
    if y_score.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least 1 sample is required")
    if not np.all(np.isfinite(y_score)):
        raise ValueError(f"{name} contains NaN or infinity")
    return y_score


# ------------------------------------------------------------------ precision / recall / F
def label_counts(y_true, y_pred, labels):
    """Per-label true positives, predicted counts and true counts (in the order of
    ``labels``; samples whose label is not listed count nowhere)."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]

    def index(y):
        pos = np.minimum(np.searchsorted(ordered, y), len(ordered) - 1)
        return np.where(ordered[pos] == y, order[pos], -1)

    try:
        it, ip = index(y_true), index(y_pred)
    except TypeError:  # labels and y of incomparable types (e.g. str vs int): slow path
        lookup = {v: i for i, v in enumerate(labels.tolist())}
        it, ip = (np.array([lookup.get(v, -1) for v in y.tolist()], dtype=np.int64)
                  for y in (y_true, y_pred))
    k = len(labels)
    true = np.bincount(it[it >= 0], minlength=k)
    pred = np.bincount(ip[ip >= 0], minlength=k)
    hit = (it == ip) & (it >= 0)
    tp = np.bincount(it[hit], minlength=k)
    return tp, pred, true


def _ratio(num, den, zero_value, zero_division, metric, modifier, warn_for):
    """num/den with 0/0 (den == 0) replaced by ``zero_value``; warns (only when
    zero_division == "warn" and metric is in warn_for) the way scikit-learn does."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    empty = den == 0
    out = num / np.where(empty, 1.0, den)
    if empty.any():
        out[empty] = zero_value
        if isinstance(zero_division, str) and metric in warn_for:
            where = "due to" if out.size == 1 else "in labels with"
            name = "F-score" if metric == "f-score" else metric.capitalize()
            warn(f"{name} is ill-defined and being set to 0.0 {where} no {modifier} samples. "
                 "Use `zero_division` parameter to control this behavior.")
    return out


def nan_average(values, weights=None):
    """Average ignoring NaNs; all-NaN -> NaN; all-zero weights -> plain mean."""
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    if weights is None:
        return float(np.mean(values[keep]))
    w = np.asarray(weights, dtype=np.float64)[keep]
    if w.sum() == 0:
        return float(np.mean(values[keep]))
    return float(np.sum(values[keep] * w) / w.sum())


def prf_from_counts(tp, pred, true, average=None, zero_division="warn",
                    warn_for=("precision", "recall", "f-score")):
    """Precision, recall, F1 and support from per-label counts.

    Rules (as scikit-learn): precision = tp/pred, recall = tp/true and
    F1 = 2 tp / (true + pred), each replaced by the zero_division value where its
    denominator is 0 (so F1 is 0, not undefined, when tp = 0 but the label occurs).
    "micro" pools the counts first; "macro"/"weighted" average the per-label values
    ignoring NaNs ("weighted" by support, falling back to a plain mean when every
    kept support is 0). Averages return floats and support None."""
    if average not in AVERAGES and average != "binary":
        raise ValueError(f"average has to be one of {AVERAGES + ('binary',)}, got {average!r}")
    zero_value = check_zero_division(zero_division)
    tp, pred, true = (np.atleast_1d(np.asarray(a)) for a in (tp, pred, true))
    if average == "micro":
        tp, pred, true = (np.array([a.sum()]) for a in (tp, pred, true))
    args = (zero_value, zero_division)
    precision = _ratio(tp, pred, *args, "precision", "predicted", warn_for)
    recall = _ratio(tp, true, *args, "recall", "true", warn_for)
    f1 = _ratio(2.0 * tp, np.asarray(true, np.float64) + pred, *args, "f-score",
                "true nor predicted", warn_for)
    if average is None:
        return precision, recall, f1, true
    weights = true if average == "weighted" else None
    return (nan_average(precision, weights), nan_average(recall, weights),
            nan_average(f1, weights), None)


# ---------------------------------------------------------------------------- ranking
def binary_auc(positive, score):
    """Area under the ROC curve of one binary problem. Samples are sorted by decreasing
    score, tied scores form one step of the curve (so a tie between a positive and a
    negative counts one half), and the curve is integrated with the trapezoid rule.
    Only one class present -> NaN and an UndefinedMetricWarning (scikit-learn >= 1.8)."""
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos = int(positive.sum())
    if n_pos == 0 or n_pos == positive.size:
        warn("Only one class is present in y_true. ROC AUC score is not defined in that case.")
        return float("nan")
    order = np.argsort(-score, kind="stable")
    s, t = score[order], positive[order].astype(np.float64)
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]  # end of each tie group
    tps = np.cumsum(t)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


# ------------------------------------------------------------------------- regression
def reg_targets(y_true, y_pred, multioutput, allowed):
    """2-D float (n, outputs) versions of both arrays, checked like scikit-learn."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be numeric, got dtype {y.dtype}")
        if y.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D, got shape {y.shape}")
    check_same_length(y_true, y_pred)
    if y_true.shape[0] == 0:
        raise ValueError("Found empty input array: at least 1 sample is required")
    dtype = np.result_type(y_true.dtype, y_pred.dtype, np.float32)
    if dtype.kind != "f" or dtype.itemsize < 4:
        dtype = np.float64
    y_true = y_true.reshape(len(y_true), -1).astype(dtype)
    y_pred = y_pred.reshape(len(y_pred), -1).astype(dtype)
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise ValueError("Input contains NaN or infinity")
    if y_true.shape[1] != y_pred.shape[1]:
        raise ValueError(f"y_true and y_pred have different number of output "
                         f"({y_true.shape[1]}!={y_pred.shape[1]})")
    if isinstance(multioutput, str):
        if multioutput not in allowed:
            raise ValueError(f"multioutput must be one of {allowed} or an array of weights, "
                             f"got {multioutput!r}")
    else:
        multioutput = np.asarray(multioutput, dtype=np.float64).ravel()
        if y_true.shape[1] == 1:
            raise ValueError("Custom weights are useful only in multi-output cases.")
        if multioutput.size != y_true.shape[1]:
            raise ValueError(f"There must be equally many custom weights ({multioutput.size}) "
                             f"as outputs ({y_true.shape[1]}).")
    return y_true, y_pred, multioutput


def combine_outputs(per_output, multioutput, variance=None):
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return per_output
        weights = None
        if multioutput == "variance_weighted" and np.any(variance != 0):
            weights = variance
    else:
        weights = multioutput
    return float(np.average(per_output, weights=weights))
