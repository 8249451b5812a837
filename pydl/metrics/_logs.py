"""Metric names accepted by compile/evaluate, and their values computed from what the C++
trainer accumulated over an epoch (counts and sums, never per-batch Python)."""
from __future__ import annotations

import re
from typing import Dict, Sequence

import numpy as np

from .classification import metrics_from_confusion

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc")
REGRESSION = ("mse", "mae", "r2")
_TOP_K = re.compile(r"^top_(\d+)_accuracy$")


def top_k_of(name: str) -> int:
    """k of "top_k_accuracy" (k = 5) or "top_3_accuracy"; 0 for other names."""
    if name == "top_k_accuracy":
        return 5
    m = _TOP_K.match(name)
    return int(m.group(1)) if m else 0


def validate(metrics: Sequence[str], loss_name: str) -> list:
    out = []
    for m in metrics:
        if not isinstance(m, str):
            raise TypeError(f"metrics: expected metric names, got {m!r}")
        k = top_k_of(m)
        if m not in CLASSIFICATION + REGRESSION and not k:
            raise ValueError(f"unknown metric {m!r}: expected one of {', '.join(CLASSIFICATION + REGRESSION)} "
                             "or top_k_accuracy / top_<k>_accuracy")
        if (m in CLASSIFICATION or k) and loss_name in ("mse", "mae"):
            raise ValueError(f"metric {m!r} needs a classification loss, not {loss_name}")
        if k and loss_name != "cross_entropy":
            raise ValueError(f"metric {m!r} needs the cross_entropy loss")
        if m in REGRESSION and loss_name not in ("mse", "mae"):
            raise ValueError(f"metric {m!r} is for regression losses (mse, mae), not {loss_name}")
        out.append(m)
    return out


def spec(metrics: Sequence[str]) -> dict:
    """What the C++ trainer must accumulate for these metrics."""
    return {"confusion": any(m in ("precision", "recall", "f1") for m in metrics),
            "top_k": max([top_k_of(m) for m in metrics] + [0]),
            "regression": any(m in REGRESSION for m in metrics),
            "log_loss": "log_loss" in metrics}


def _prf(cm: np.ndarray, binary: bool) -> Dict[str, float]:
    """Precision, recall, F1 from a confusion matrix: the positive class for binary models,
    the unweighted mean over classes (macro) otherwise; 0/0 counts as 0."""
    m = metrics_from_confusion(cm)
    if binary:
        return {k: float(m[k][1]) for k in ("precision", "recall", "f1")}
    return {k: float(v) for k, v in m["macro"].items()}


def logs_from_stats(stats: dict, metrics: Sequence[str], loss_name: str) -> Dict[str, float]:
    logs = {"loss": float(stats["loss"])}
    cm = np.asarray(stats.get("confusion") or [], dtype=np.int64)
    if cm.size:
        k = int(round(np.sqrt(cm.size)))
        prf = _prf(cm.reshape(k, k), binary=loss_name == "binary_cross_entropy")
    for m in metrics:
        if m == "accuracy" and stats["counted"]:
            logs[m] = stats["correct"] / stats["counted"]
        elif top_k_of(m) and stats["top_k_total"]:
            logs[m] = stats["top_k_correct"] / stats["top_k_total"]
        elif m in ("precision", "recall", "f1") and cm.size:
            logs[m] = prf[m]
        elif m == "log_loss" and stats["nll_count"]:
            logs[m] = stats["nll"] / stats["nll_count"]
        elif m in REGRESSION and stats["count"]:
            n = stats["count"]
            if m == "mse":
                logs[m] = stats["sq_err"] / n
            elif m == "mae":
                logs[m] = stats["abs_err"] / n
            else:  # r2 over all target values
                sst = stats["sum_t2"] - stats["sum_t"] ** 2 / n
                logs[m] = 1.0 - stats["sq_err"] / sst if sst > 0 else (1.0 if stats["sq_err"] == 0 else 0.0)
    return logs
