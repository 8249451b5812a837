"""``find_label_issues``: the samples most likely mislabeled, by confident learning.

Out-of-fold predicted probabilities come from pydl models (one per fold of a stratified
K-fold split, each trained on the other folds, so no sample is scored by a model that saw
its label); cleanlab (``pip install "pydl[cleanlab]"``) then compares them with the given
labels and ranks the disagreements.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .. import _validate

__all__ = ["find_label_issues", "LabelIssues"]

_INSTALL_HINT = 'find_label_issues needs cleanlab: pip install "pydl[cleanlab]"'


@dataclass
class LabelIssues:
    """What :func:`find_label_issues` found: ``indices`` (the samples most likely mislabeled,
    most suspect first), ``pred_probs`` (the out-of-fold probabilities they were judged by,
    (n, classes)), ``labels`` (the given labels), ``quality`` (cleanlab's label-quality score of
    every sample, low = suspect) and ``suggested`` (the class the model believes, per sample).
    It behaves as the array of indices: ``len``, iteration, indexing, ``np.asarray``."""

    indices: np.ndarray
    pred_probs: np.ndarray
    labels: np.ndarray
    quality: np.ndarray
    suggested: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self):
        return iter(self.indices.tolist())

    def __getitem__(self, item):
        return self.indices[item]

    def __array__(self, dtype=None, copy=None):
        return self.indices if dtype is None else self.indices.astype(dtype)

    def __str__(self) -> str:
        head = f"{len(self.indices):,} of {len(self.labels):,} samples look mislabeled"
        rows = [f"  sample {i}: labelled {self.labels[i]}, the model says {self.suggested[i]} "
                f"(p={self.pred_probs[i, self.suggested[i]]:.2f}; label quality {self.quality[i]:.3g})"
                for i in self.indices[:10].tolist()]
        more = [f"  ... and {len(self.indices) - 10:,} more"] if len(self.indices) > 10 else []
        return "\n".join([head + (", most suspect first:" if rows else "")] + rows + more)


def _cleanlab():
    try:
        from cleanlab.filter import find_label_issues as cl_find_label_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        raise ImportError(_INSTALL_HINT) from None
    return cl_find_label_issues, get_label_quality_scores


def _class_ids(y, n: Optional[int] = None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"find_label_issues: y must be a 1-D array of class ids, got shape {y.shape}")
    if y.dtype.kind == "f" and np.isfinite(y).all() and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise TypeError(f"find_label_issues: y must hold integer class ids 0..classes-1, got dtype {y.dtype}")
    if len(y) == 0:
        raise ValueError("find_label_issues: y is empty")
    if y.min() < 0:
        raise ValueError(f"find_label_issues: class ids must be >= 0, got {int(y.min())}")
    if n is not None and len(y) != n:
        raise ValueError(f"find_label_issues: x and y have different lengths ({n} samples, {len(y)} labels)")
    return y.astype(np.int64)


def _probabilities(p, n: int, classes: int, what: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:  # one sigmoid output: P(class 1)
        p = np.concatenate([1.0 - p, p], axis=1)
    if p.ndim != 2 or p.shape[0] != n:
        raise ValueError(f"find_label_issues: {what} must have shape ({n}, classes), got {p.shape}")
    if p.shape[1] < classes:
        raise ValueError(f"find_label_issues: {what} has {p.shape[1]} classes but y holds class {classes - 1}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"find_label_issues: {what} must hold finite probabilities >= 0")
    total = p.sum(axis=1, keepdims=True)
    if np.any(np.abs(total - 1.0) > 1e-3):
        raise ValueError(f"find_label_issues: each row of {what} must sum to 1 (probabilities, not logits)")
    return p / total  # float32 outputs sum to 1 only to ~1e-7


def _builder(build: Callable, hp):
    if not callable(build):
        raise TypeError(f"find_label_issues: build must be a function returning a compiled model, got "
                        f"{type(build).__name__}")
    try:
        inspect.signature(build).bind() if hp is None else inspect.signature(build).bind(hp)
    except TypeError:
        raise TypeError("find_label_issues: build must be callable as build()" + (
            "; a tuner's build(hp) needs hp=..." if hp is None else " or build(hp)")) from None
    except ValueError:  # no signature (a builtin): just call it
        pass

    def make():
        import pydl

        model = build() if hp is None else build(hp)
        if not isinstance(model, pydl.Model) or model.optimizer is None:
            raise TypeError("find_label_issues: build() must return a compiled pydl model, got "
                            f"{type(model).__name__}" + (" (not compiled)" if isinstance(model, pydl.Model) else ""))
        return model
    return make


def out_of_fold_probabilities(make: Callable, x, y: np.ndarray, cv: int, epochs: int, seed: int, batch_size: int,
                              verbose: int) -> np.ndarray:
    """(n, classes) probabilities, each row from the model of the fold that held the sample out."""
    from .splits import StratifiedKFold

    pred = None
    for fold, (train, test) in enumerate(StratifiedKFold(cv, shuffle=True, seed=seed).split(x, y)):
        model = make()
        model.fit(x[train], y[train], epochs=epochs, batch_size=batch_size, seed=seed + fold, verbose=verbose)
        p = np.asarray(model.predict_proba(x[test]), dtype=np.float64)
        if p.ndim == 2 and p.shape[1] == 1:
            p = np.concatenate([1.0 - p, p], axis=1)
        if pred is None:
            pred = np.zeros((len(y), p.shape[1]))
        if p.shape != (len(test), pred.shape[1]):
            raise ValueError(f"find_label_issues: fold {fold}'s model predicts shape {p.shape}, expected "
                             f"({len(test)}, {pred.shape[1]}); build() must return the same architecture")
        pred[test] = p
    return pred


def find_label_issues(build: Optional[Callable], x, y, cv: int = 5, epochs: int = 10, seed: int = 0,
                      pred_probs=None, *, hp=None, batch_size: int = 32, filter_by: str = "prune_by_noise_rate",
                      rank_by: str = "self_confidence", verbose: int = 0) -> LabelIssues:
    """The samples whose label is most likely wrong, most suspect first (a :class:`LabelIssues`).

    ``build()`` makes a fresh compiled classifier (the builder the tuners in :mod:`pydl.tuning`
    take; with ``hp=``, it is called as ``build(hp)``). For each of ``cv`` stratified folds
    (``StratifiedKFold(cv, shuffle=True, seed=seed)``) a model is trained ``epochs`` epochs on the
    other folds (``fit(seed=seed + fold)``) and predicts the fold's class probabilities. cleanlab's
    confident learning (``cleanlab.filter.find_label_issues(labels, pred_probs,
    filter_by=filter_by, return_indices_ranked_by=rank_by)``) then picks the samples whose given
    label disagrees with what the held-out model is confident of. ``pred_probs`` (out-of-fold
    probabilities the user already has, shape (n, classes)) skips the training: ``build`` and
    ``x`` may then be None. ``y``: integer class ids 0..classes-1.
    """
    cl_find, quality_scores = _cleanlab()
    labels = _class_ids(y)
    classes = int(labels.max()) + 1
    if pred_probs is None:
        if x is None:
            raise ValueError("find_label_issues: give x (and build) to train on, or pred_probs")
        x = np.asarray(x)
        labels = _class_ids(y, len(x))
        cv = _validate.integer("find_label_issues", "cv", cv, minimum=2)
        epochs = _validate.positive_int("find_label_issues", "epochs", epochs)
        seed = _validate.non_negative_int("find_label_issues", "seed", seed)
        batch_size = _validate.positive_int("find_label_issues", "batch_size", batch_size)
        make = _builder(build, hp)
        counts = np.bincount(labels)
        present = np.flatnonzero(counts)
        thin = present[counts[present] < cv]
        if thin.size:
            c = int(thin[np.argmin(counts[thin])])
            raise ValueError(f"find_label_issues: class {c} has {counts[c]} samples, fewer than cv={cv} folds "
                             "(each fold needs every class); lower cv or collect more samples of that class")
        pred_probs = out_of_fold_probabilities(make, x, labels, cv, epochs, seed, batch_size, verbose)
    elif x is not None and len(x) != len(labels):
        raise ValueError(f"find_label_issues: x and y have different lengths ({len(x)} samples, {len(labels)} labels)")
    pred_probs = _probabilities(pred_probs, len(labels), classes, "pred_probs")
    indices = cl_find(labels=labels, pred_probs=pred_probs, filter_by=filter_by, return_indices_ranked_by=rank_by)
    quality = quality_scores(labels, pred_probs, method=rank_by)
    return LabelIssues(indices=np.asarray(indices, dtype=np.int64), pred_probs=pred_probs, labels=labels,
                       quality=np.asarray(quality, dtype=np.float64), suggested=pred_probs.argmax(axis=1))
