"""Losses. All reduce by the mean, as PyTorch's defaults do.

``cross_entropy`` is softmax cross-entropy from logits with integer labels;
``binary_cross_entropy`` is sigmoid cross-entropy from logits with 0/1 targets;
``mse`` and ``mae`` average over every element.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from . import _validate

__all__ = ["Loss", "CrossEntropy", "BinaryCrossEntropy", "MeanSquaredError", "MeanAbsoluteError", "get"]


def _class_weights(owner: str, weights) -> Optional[list]:
    """None, or a sequence of finite weights >= 0 (one per class) as a list of floats."""
    if weights is None:
        return None
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise TypeError(f"{owner}: expected class_weights to be a sequence of numbers, got {weights!r}")
    return [_validate.non_negative_float(owner, f"class_weights[{i}]", w) for i, w in enumerate(weights)]


class Loss:
    name: str = ""

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class CrossEntropy(Loss):
    """Softmax cross-entropy from logits; labels are class ids ``0..C-1``.

    ``class_weights`` (one per class) weight each sample by its class and divide by the
    sum of those weights; ``label_smoothing`` mixes the one-hot target with the uniform
    distribution. Both follow ``torch.nn.CrossEntropyLoss``.
    """

    name = "cross_entropy"

    def __init__(self, class_weights: Optional[Sequence[float]] = None, label_smoothing: float = 0.0):
        self.class_weights = _class_weights("CrossEntropy", class_weights)
        self.label_smoothing = _validate.number("CrossEntropy", "label_smoothing", label_smoothing, 0.0, 1.0)

    def get_config(self):
        return {"class_weights": self.class_weights, "label_smoothing": self.label_smoothing}


class BinaryCrossEntropy(Loss):
    """Sigmoid cross-entropy from logits; targets in ``[0, 1]``, one per output unit.

    ``class_weights=(w0, w1)`` weight each element by its target's class and divide by
    the sum of the weights."""

    name = "binary_cross_entropy"

    def __init__(self, class_weights: Optional[Sequence[float]] = None):
        self.class_weights = _class_weights("BinaryCrossEntropy", class_weights)
        if self.class_weights is not None and len(self.class_weights) != 2:
            raise ValueError(f"BinaryCrossEntropy: expected 2 class weights, got {len(self.class_weights)}")

    def get_config(self):
        return {"class_weights": self.class_weights}


class MeanSquaredError(Loss):
    name = "mse"


class MeanAbsoluteError(Loss):
    name = "mae"


_BY_NAME = {
    "cross_entropy": CrossEntropy, "sparse_categorical_crossentropy": CrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy, "binary_crossentropy": BinaryCrossEntropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


def get(loss: Union[str, Loss]) -> Loss:
    """A Loss from a name (``"cross_entropy"``, ``"binary_cross_entropy"``, ``"mse"``, ``"mae"``)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _BY_NAME:
        return _BY_NAME[loss]()
    raise ValueError(f"unknown loss {loss!r}: expected one of cross_entropy, binary_cross_entropy, "
                     "mse, mae, or a pydl.losses.Loss")


def from_config(name: str, config: dict) -> Loss:
    return _BY_NAME[name](**config)


def weights_array(loss: Loss) -> np.ndarray:
    w = getattr(loss, "class_weights", None)
    return np.asarray([] if w is None else w, dtype=np.float32)
