"""Classification metrics on predicted labels: accuracy, the confusion matrix,
precision / recall / F1 (with scikit-learn's averages) and the classification report.

0/0 ratios follow scikit-learn's ``zero_division`` rules: "warn" gives 0.0 and an
:class:`UndefinedMetricWarning`; 0, 1 or ``np.nan`` give that value silently
(``np.nan`` entries are left out of macro/weighted averages)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import _utils as _u

__all__ = ["accuracy", "confusion_matrix", "metrics_from_confusion", "precision_recall_f1", "precision", "recall",
           "f1_score", "classification_report"]


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
    p, r, f, s = _u.prf_from_counts(*counts, None, zero_division)  # type: ignore[call-arg]
    rows = list(zip(names, p, r, f, s))
    total = int(np.sum(s))
    averages = []
    for avg in ("micro", "macro", "weighted"):
        heading = "accuracy" if avg == "micro" and micro_is_accuracy else avg + " avg"
        averages.append((heading, *_u.prf_from_counts(*counts, avg, zero_division)[:3], total))  # type: ignore[call-arg]

    keys = ("precision", "recall", "f1-score", "support")
    if output_dict:
        report = {name: dict(zip(keys, map(float, vals))) for name, *vals in rows}
        for heading, *vals in averages:
            report[heading] = float(vals[2]) if heading == "accuracy" else dict(zip(keys, map(float, vals)))  # type: ignore[assignment]
        return report
    width = max([len(n) for n in names] + [len("weighted avg"), digits])
    lines = [f"{'':>{width}} " + "".join(f" {k:>9}" for k in keys), ""]
    fmt = lambda name, pv, rv, fv, sv: (f"{name:>{width}}  {pv:>9.{digits}f} {rv:>9.{digits}f} "  # noqa: E731
                                        f"{fv:>9.{digits}f} {int(sv):>9}")
    lines += [fmt(*row) for row in rows] + [""]
    for heading, ap, ar, af, sup in averages:
        if heading == "accuracy":
            lines.append(f"{heading:>{width}}  {'':>9} {'':>9} {af:>9.{digits}f} {sup:>9}")
        else:
            lines.append(fmt(heading, ap, ar, af, sup))
    return "\n".join(lines) + "\n"
