"""Classification metrics on arrays: accuracy, confusion matrix, per-class precision,
recall and F1, and a text report. Definitions and zero-division handling (0.0) follow
scikit-learn's defaults."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision_recall_f1", "classification_report"]


def _labels(y_true, y_pred):
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred have different lengths: {y_true.size} vs {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("metrics need at least one sample")
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = _labels(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes: Optional[int] = None) -> np.ndarray:
    """``cm[i, j]`` counts samples of true class i predicted as class j."""
    y_true, y_pred = _labels(y_true, y_pred)
    if min(y_true.min(), y_pred.min()) < 0:
        raise ValueError("confusion_matrix expects class ids >= 0")
    k = int(max(y_true.max(), y_pred.max())) + 1 if num_classes is None else int(num_classes)
    if max(y_true.max(), y_pred.max()) >= k:
        raise ValueError(f"confusion_matrix: a class id is >= num_classes={k}")
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def precision_recall_f1(y_true, y_pred, num_classes: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support (0.0 where a ratio is 0/0)."""
    cm = confusion_matrix(y_true, y_pred, num_classes).astype(np.float64)
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def classification_report(y_true, y_pred, target_names: Optional[Sequence[str]] = None,
                          digits: int = 3) -> str:
    """Per-class precision/recall/F1/support with macro and weighted averages, as text."""
    m = precision_recall_f1(y_true, y_pred)
    k = len(m["support"])
    names = [str(i) for i in range(k)] if target_names is None else list(map(str, target_names))
    width = max(12, max(len(n) for n in names))
    head = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}"
    lines = [head, ""]
    for i in range(k):
        lines.append(f"{names[i]:>{width}} {m['precision'][i]:>9.{digits}f} {m['recall'][i]:>9.{digits}f} "
                     f"{m['f1'][i]:>9.{digits}f} {m['support'][i]:>9d}")
    total = int(m["support"].sum())
    w = m["support"] / total
    lines += ["", f"{'accuracy':>{width}} {'':>9} {'':>9} {accuracy(y_true, y_pred):>9.{digits}f} {total:>9d}"]
    for label, avg in (("macro avg", lambda v: v.mean()), ("weighted avg", lambda v: (v * w).sum())):
        lines.append(f"{label:>{width}} {avg(m['precision']):>9.{digits}f} {avg(m['recall']):>9.{digits}f} "
                     f"{avg(m['f1']):>9.{digits}f} {total:>9d}")
    return "\n".join(lines)
