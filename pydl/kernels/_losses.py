"""Loss and accuracy kernels (pydl.kernels): the loss and its gradient in one pass."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from . import _arrays

_k = _core.kernels
KINDS = (
    "cross_entropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_cross_entropy",
    "binary_crossentropy",
    "mse",
    "mean_squared_error",
    "mae",
    "mean_absolute_error",
)
_LABELS = ("cross_entropy", "sparse_categorical_crossentropy")


def _inputs(fn: str, logits, labels, targets, kind: str, **weights):
    _arrays.choice(fn, "kind", kind, KINDS)
    logits, targets, *weights = _arrays.floats(fn, logits=logits, targets=targets, **weights)
    _arrays.rank(fn, "logits", logits, 2, "(N, C)")
    if kind in _LABELS:
        if labels is None:
            raise ValueError(f"{fn}: {kind} reads integer labels: pass labels=(N,) class ids")
        labels = _arrays.integers(fn, "labels", labels, np.int32)
        if labels.shape != (logits.shape[0],):
            raise ValueError(f"{fn}: labels: expected shape ({logits.shape[0]},), got {_arrays.shape_of(labels)}")
        if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            raise ValueError(
                f"{fn}: labels: expected class ids in [0, {logits.shape[1]}), got {labels.min()}..{labels.max()}"
            )
    elif targets is None or targets.shape != logits.shape:
        got = "none" if targets is None else _arrays.shape_of(targets)
        raise ValueError(f"{fn}: {kind} reads targets shaped like logits {_arrays.shape_of(logits)}, got {got}")
    return logits, labels, targets, weights


def loss(
    logits: ArrayLike,
    labels: Optional[ArrayLike] = None,
    targets: Optional[ArrayLike] = None,
    kind: str = "cross_entropy",
    class_weights: Optional[ArrayLike] = None,
    label_smoothing: float = 0.0,
    sample_weights: Optional[ArrayLike] = None,
    from_logits: bool = True,
    pos_weight: Optional[ArrayLike] = None,
) -> Tuple[float, np.ndarray]:
    """A loss and its gradient in one pass, reduced by the mean as PyTorch's defaults.

    Args:
        logits: ``(N, C)`` model outputs (logits; probabilities with ``from_logits=False``).
        labels: ``(N,)`` integer class ids, for ``"cross_entropy"`` (sparse).
        targets: ``(N, C)``, for the other kinds (one-hot or soft targets for
            ``"categorical_crossentropy"``, 0/1 for ``"binary_cross_entropy"``, values for
            ``"mse"`` / ``"mae"``).
        kind: ``"cross_entropy"``, ``"categorical_crossentropy"``, ``"binary_cross_entropy"``,
            ``"mse"`` or ``"mae"`` (Keras' spellings are accepted too).
        class_weights: ``(C,)`` for cross-entropy; ``(2,)`` (negatives, positives) for binary.
        label_smoothing: Cross-entropy's label smoothing, in ``[0, 1)``.
        sample_weights: ``(N,)``; the loss becomes ``sum(w * l) / sum(w)``.
        from_logits: False: the inputs are probabilities (clipped to ``[1e-7, 1 - 1e-7]``).
        pos_weight: Binary only: one weight, or one per column, on the positive term (as
            ``torch.nn.BCEWithLogitsLoss``).

    Returns:
        ``(loss, dlogits)``: the float loss and its gradient ``(N, C)``.
    """
    fn = "loss"
    logits, labels, targets, (class_weights, sample_weights, pos_weight) = _inputs(
        fn,
        logits,
        labels,
        targets,
        kind,
        class_weights=class_weights,
        sample_weights=sample_weights,
        pos_weight=pos_weight,
    )
    if sample_weights is not None and sample_weights.size != logits.shape[0]:
        raise ValueError(
            f"{fn}: sample_weights: expected {logits.shape[0]} values (one per row), got shape "
            f"{_arrays.shape_of(sample_weights)}"
        )
    return _k.loss(
        logits,
        labels,
        targets,
        kind,
        class_weights,
        float(label_smoothing),
        sample_weights,
        bool(from_logits),
        pos_weight,
    )


def accuracy_count(
    logits: ArrayLike,
    labels: Optional[ArrayLike] = None,
    targets: Optional[ArrayLike] = None,
    kind: str = "cross_entropy",
    from_logits: bool = True,
) -> Tuple[int, int]:
    """``(correct, total)`` predictions of a batch.

    Cross-entropy: ``argmax(logits) == label`` per row (categorical: ``== argmax(target)``);
    binary: ``(logit > 0) == (target > 0.5)`` per element (``> 0.5`` for probabilities);
    regression kinds have no accuracy (``(0, 0)``). Arguments as in `loss`."""
    logits, labels, targets, _ = _inputs("accuracy_count", logits, labels, targets, kind)
    return _k.accuracy_count(logits, labels, targets, kind, bool(from_logits))
