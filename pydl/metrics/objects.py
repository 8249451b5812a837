"""Metric objects for ``compile(metrics=[...])`` when a name is not enough: the average of
precision, recall and F1. Each object compiles to one string (its ``spec``), which is what
the model keeps, saves and logs under ``name``:

>>> model.compile("adam", "cross_entropy", metrics=[metrics.F1Score(average="weighted")])
>>> history.history["f1_score"]

``average``: ``"auto"`` (default; the same as the names "precision", "recall", "f1_score")
is the positive class (1) for a binary model (``binary_cross_entropy``) and the unweighted
mean over all the output's classes (``"macro"``) otherwise; ``"binary"`` (binary models
only), ``"micro"``, ``"macro"`` and ``"weighted"`` (by support) are scikit-learn's, with
``labels=range(classes)`` and 0/0 counted as 0.
"""
from __future__ import annotations

from typing import Optional

from .. import _validate

__all__ = ["Metric", "Precision", "Recall", "F1Score", "AVERAGES"]

AVERAGES = ("auto", "binary", "micro", "macro", "weighted")


class Metric:
    """A compiled metric: ``kind`` (what is computed), ``name`` (the log key) and its
    settings; ``spec`` is the string the model stores for it."""

    kind = ""
    default_name = ""

    def __init__(self, average: str = "auto", name: Optional[str] = None):
        owner = type(self).__name__
        self.average = _validate.choice(owner, "average", average, AVERAGES)
        self.name = self.default_name if name is None else _validate.non_empty_str(owner, "name", name)
        if not self.name.replace("_", "").isalnum():
            raise ValueError(f"{owner}: expected name to be letters, digits and '_', got {self.name!r}")

    @property
    def spec(self) -> str:
        """The string form compile keeps: the plain name when it means the same, else
        ``kind[average=...,name=...]`` (parsed back by ``_logs.parse``)."""
        if self.average == "auto" and self.name == self.default_name:
            return self.name
        parts = [f"average={self.average}"] + ([] if self.name == self.kind else [f"name={self.name}"])
        return f"{self.kind}[{','.join(parts)}]"

    def get_config(self):
        return {"average": self.average, "name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}(average={self.average!r}, name={self.name!r})"


class Precision(Metric):
    """tp / (tp + fp), averaged as ``average`` says (module docstring); logs as "precision"."""
    kind = default_name = "precision"


class Recall(Metric):
    """tp / (tp + fn), averaged as ``average`` says (module docstring); logs as "recall"."""
    kind = default_name = "recall"


class F1Score(Metric):
    """2 tp / (2 tp + fp + fn), averaged as ``average`` says (module docstring); logs as
    "f1_score" (Keras's name; the name "f1" logs as "f1")."""
    kind = "f1"
    default_name = "f1_score"
