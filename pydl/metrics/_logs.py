"""Metric names accepted by compile/evaluate, and their values computed from what the C++
trainer accumulated over an epoch (counts and sums, never per-batch Python).

A compiled metric is a string: a name (``"accuracy"``), an alias of one (``"acc"``), or the
``spec`` of a metric object (``"f1[average=weighted,name=f1_score]"``, see
:mod:`.objects`). Each logs under its own spelling, as Keras does (``"acc"`` logs "acc"),
except ``"auc"``: ROC AUC needs every output score, which the C++ sums do not keep; the
engine computes it from the model's predictions on the validation / evaluation data at the
end (exact, scikit-learn's ``roc_auc_score``), under the name it was compiled with
(``"roc_auc"``, or Keras' ``"auc"``).
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from .classification import metrics_from_confusion
from .objects import AVERAGES, Metric

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc")
REGRESSION = ("mse", "mae", "r2", "rmse")
_PRF = ("precision", "recall", "f1")
# alias -> (the metric it computes, the loss it needs or None)
ALIASES = {"acc": ("accuracy", None), "sparse_categorical_accuracy": ("accuracy", "cross_entropy"),
           "binary_accuracy": ("accuracy", "binary_cross_entropy"), "f1_score": ("f1", None),
           "auc": ("roc_auc", None), "root_mean_squared_error": ("rmse", None),
           "mean_squared_error": ("mse", None), "mean_absolute_error": ("mae", None)}
_TOP_K = re.compile(r"^top_(\d+)_accuracy$")
_SPEC = re.compile(r"^(precision|recall|f1)\[average=(\w+)(?:,name=(\w+))?\]$")


class Entry(NamedTuple):
    key: str                 # the log key
    kind: str                # what is computed: a CLASSIFICATION / REGRESSION name or "top_k"
    average: str = "auto"    # precision / recall / f1 only
    k: int = 0               # top_k only
    needs: Optional[str] = None  # the loss an alias requires


def top_k_of(name: str) -> int:
    """k of "top_k_accuracy" (k = 5) or "top_3_accuracy"; 0 for other names."""
    if name == "top_k_accuracy":
        return 5
    m = _TOP_K.match(name)
    return int(m.group(1)) if m else 0


def parse(metric: str) -> Entry:
    """What a compiled metric string computes and logs under; ValueError for unknown ones."""
    k = top_k_of(metric)
    if k:
        return Entry(metric, "top_k", k=k)
    if metric in CLASSIFICATION + REGRESSION:
        return Entry(metric, metric)
    if metric in ALIASES:
        kind, needs = ALIASES[metric]
        return Entry(metric, kind, needs=needs)
    m = _SPEC.match(metric)
    if m and m.group(2) in AVERAGES:
        return Entry(m.group(3) or m.group(1), m.group(1), average=m.group(2))
    raise ValueError(f"unknown metric {metric!r}: expected one of {', '.join(CLASSIFICATION + REGRESSION)}, "
                     f"top_k_accuracy / top_<k>_accuracy, an alias ({', '.join(ALIASES)}) or a metric object "
                     "(metrics.Precision / Recall / F1Score(average=...))")


def validate(metrics: Sequence, loss_name: str) -> list:
    """The compiled strings of ``metrics`` (names, aliases, metric objects), checked against
    the loss; two metrics logging under one key are refused."""
    out, keys = [], {}  # type: ignore[var-annotated]
    for m in metrics:
        if isinstance(m, Metric):
            m = m.spec
        elif not isinstance(m, str):
            raise TypeError(f"metrics: expected metric names or pydl.metrics objects (F1Score, Precision, Recall), "
                            f"got {m!r}")
        e = parse(m)
        if e.needs and loss_name != e.needs:
            raise ValueError(f"metric {m!r} needs the {e.needs} loss, not {loss_name}; use 'accuracy'")
        if e.kind in CLASSIFICATION + ("top_k",) and loss_name in ("mse", "mae"):
            raise ValueError(f"unknown metric {m!r} for a regression loss ({loss_name}): it needs a classification "
                             f"loss; regression metrics are {', '.join(REGRESSION)}")
        if e.kind == "top_k" and loss_name != "cross_entropy":
            raise ValueError(f"metric {m!r} needs the cross_entropy loss")
        if e.kind in REGRESSION and loss_name not in ("mse", "mae"):
            raise ValueError(f"metric {m!r} is for regression losses (mse, mae), not {loss_name}")
        if e.average == "binary" and loss_name != "binary_cross_entropy":
            raise ValueError(f"metric {m!r}: average='binary' scores the positive class of a binary model "
                             f"(binary_cross_entropy), not a {loss_name} one; use 'macro', 'micro' or 'weighted'")
        if e.key in keys:
            raise ValueError(f"metrics {keys[e.key]!r} and {m!r} would both log as {e.key!r}; give one a name=")
        keys[e.key] = m
        out.append(m)
    return out


def auc_keys(metrics: Sequence[str]) -> List[str]:
    """The log keys of the ROC AUC metrics ("roc_auc", or Keras' "auc"): computed from the
    model's outputs, not from C++ sums."""
    return [parse(m).key for m in metrics if parse(m).kind == "roc_auc"]


def spec(metrics: Sequence[str]) -> dict:
    """What the C++ trainer must accumulate for these metrics."""
    entries = [parse(m) for m in metrics]
    return {"confusion": any(e.kind in _PRF for e in entries),
            "top_k": max([e.k for e in entries] + [0]),
            "regression": any(e.kind in REGRESSION for e in entries),
            "log_loss": any(e.kind == "log_loss" for e in entries)}


def _prf(m: dict, kind: str, average: str, binary: bool) -> float:
    """One of precision / recall / F1 from metrics_from_confusion's dict: "auto" is the
    positive class for binary models and the macro mean over classes otherwise."""
    if average == "auto":
        average = "binary" if binary else "macro"
    if average == "binary":
        return float(m[kind][1])
    return float(m[average][kind])


def logs_from_stats(stats: dict, metrics: Sequence[str], loss_name: str) -> Dict[str, float]:
    logs = {"loss": float(stats["loss"])}
    cm = np.asarray(stats.get("confusion") or [], dtype=np.int64)
    if cm.size:
        k = int(round(np.sqrt(cm.size)))
        prf = metrics_from_confusion(cm.reshape(k, k))
    binary = loss_name == "binary_cross_entropy"
    for m in metrics:
        e = parse(m)
        if e.kind == "accuracy" and stats["counted"]:
            logs[e.key] = stats["correct"] / stats["counted"]
        elif e.kind == "top_k" and stats["top_k_total"]:
            logs[e.key] = stats["top_k_correct"] / stats["top_k_total"]
        elif e.kind in _PRF and cm.size:
            logs[e.key] = _prf(prf, e.kind, e.average, binary)
        elif e.kind == "log_loss" and stats["nll_count"]:
            logs[e.key] = stats["nll"] / stats["nll_count"]
        elif e.kind in REGRESSION and stats["count"]:
            n = stats["count"]
            if e.kind == "mse":
                logs[e.key] = stats["sq_err"] / n
            elif e.kind == "rmse":
                logs[e.key] = math.sqrt(stats["sq_err"] / n)
            elif e.kind == "mae":
                logs[e.key] = stats["abs_err"] / n
            else:  # r2 over all target values
                sst = stats["sum_t2"] - stats["sum_t"] ** 2 / n
                logs[e.key] = 1.0 - stats["sq_err"] / sst if sst > 0 else (1.0 if stats["sq_err"] == 0 else 0.0)
    return logs
