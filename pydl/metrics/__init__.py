"""Evaluation metrics on numpy arrays, numerically matching scikit-learn (1.9).

Classification (:mod:`.classification`): accuracy, confusion_matrix, metrics_from_confusion,
precision_recall_f1, precision, recall, f1_score, classification_report; scores and
probabilities (:mod:`.scores`): top_k_accuracy, roc_auc, log_loss; regression
(:mod:`.regression`): mse, mae, r2; metric objects for ``compile(metrics=[...])``
(:mod:`.objects`): Precision, Recall, F1Score with an ``average``; metrics per group of samples
(:mod:`.groups`): by_group, GroupReport. Import them from ``pydl.metrics``.
"""
from ._utils import UndefinedMetricWarning
from .classification import (accuracy, classification_report, confusion_matrix, f1_score, metrics_from_confusion,
                             precision, precision_recall_f1, recall)
from .groups import GroupReport, by_group
from .objects import F1Score, Metric, Precision, Recall
from .regression import mae, mse, r2
from .scores import log_loss, roc_auc, top_k_accuracy

__all__ = ["UndefinedMetricWarning", "accuracy", "top_k_accuracy", "precision", "recall",
           "f1_score", "confusion_matrix", "metrics_from_confusion", "precision_recall_f1",
           "classification_report", "roc_auc", "log_loss", "mse", "mae", "r2", "Metric", "Precision", "Recall",
           "F1Score", "by_group", "GroupReport"]
