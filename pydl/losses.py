"""Losses. All reduce by the mean, as PyTorch's defaults do.

``cross_entropy`` (``sparse_categorical_crossentropy``) is softmax cross-entropy with
integer labels; ``categorical_crossentropy`` the same with one-hot (or soft) targets shaped
like the output; ``binary_cross_entropy`` is sigmoid cross-entropy with targets in [0, 1];
``mse`` and ``mae`` average over every element.

``from_logits`` (cross-entropies) says what the model's outputs are. The default, None,
decides by the output layer: one that ends in ``sigmoid``/``softmax`` computes
probabilities, and the loss is computed from its pre-activation values (exact and stable:
the trainer fuses the loss with that activation); any other output is taken as logits.
``from_logits=True`` on a sigmoid/softmax output is refused (it would apply the activation
twice); ``from_logits=False`` on another output clips the values to [1e-7, 1 - 1e-7] and
treats them as probabilities, as Keras does. See pydl/engine/heads.py.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from . import _validate

__all__ = ["Loss", "CrossEntropy", "CategoricalCrossEntropy", "BinaryCrossEntropy", "MeanSquaredError",
           "MeanAbsoluteError", "get"]


def _class_weights(owner: str, weights) -> Optional[list]:
    """None, or a sequence of finite weights >= 0 (one per class) as a list of floats."""
    if weights is None:
        return None
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise TypeError(f"{owner}: expected class_weights to be a sequence of numbers, got {weights!r}")
    return [_validate.non_negative_float(owner, f"class_weights[{i}]", w) for i, w in enumerate(weights)]


def _pos_weight(owner: str, value) -> Union[None, float, list]:
    """None, a finite number >= 0, or a non-empty sequence of them (one per output column)."""
    if value is None:
        return None
    if _validate.is_number(value):
        return _validate.non_negative_float(owner, "pos_weight", value)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{owner}: expected pos_weight to be a number or a sequence of numbers, got {value!r}")
    if len(value) == 0:
        raise ValueError(f"{owner}: expected pos_weight to hold one value per output column, got an empty sequence")
    return [_validate.non_negative_float(owner, f"pos_weight[{i}]", w) for i, w in enumerate(value)]


def _optional_bool(owner: str, name: str, value) -> Optional[bool]:
    return None if value is None else _validate.boolean(owner, name, value)


class Loss:
    """Base class of losses. The built-in ones run in C++.

    A custom loss subclasses Loss and defines ``call(y_true, y_pred)``, returning the loss of
    each sample (shape ``(n,)``), and ``gradient(y_true, y_pred)``, returning d loss_i / d
    y_pred_i for each sample (shaped like ``y_pred``); both get float32 numpy arrays,
    ``y_true`` shaped like the output. pydl reduces them as the built-in losses,
    ``sum_i w_i l_i / sum_i w_i`` with sample weights (the mean without). This is a slower
    path: the C++ loop calls the two methods once per batch, holding the GIL for the call.
    Saved models record the class name; ``load_model(path, custom_objects={name: cls})``
    rebuilds it with ``cls(**get_config())``.
    """

    name: str = ""

    def get_config(self):
        return {}

    @property
    def is_custom(self) -> bool:
        return not self.name

    def head_config(self) -> dict:
        """What the C++ trainer's head needs (its ``weight`` aside): the loss name and its
        settings, as ``pydl._core.Trainer`` reads them."""
        if self.is_custom:
            return {"loss": "custom", "object": self}
        cfg = self.get_config()
        head = {"loss": self.name, "class_weights": cfg.get("class_weights") or [],
                "label_smoothing": cfg.get("label_smoothing", 0.0)}
        if cfg.get("from_logits") is not None:
            head["from_logits"] = cfg["from_logits"]
        if cfg.get("pos_weight") is not None:
            head["pos_weight"] = cfg["pos_weight"]
        return head

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class CrossEntropy(Loss):
    """Softmax cross-entropy; labels are class ids ``0..C-1`` (Keras'
    sparse_categorical_crossentropy).

    ``class_weights`` (one per class) weight each sample by its class and divide by the
    sum of those weights; ``label_smoothing`` mixes the one-hot target with the uniform
    distribution. Both follow ``torch.nn.CrossEntropyLoss``. ``from_logits``: what the outputs
    are (default: decided by the output layer; see the module docstring).
    """

    name = "cross_entropy"

    def __init__(self, class_weights: Optional[Sequence[float]] = None, label_smoothing: float = 0.0,
                 from_logits: Optional[bool] = None):
        self.class_weights = _class_weights("CrossEntropy", class_weights)
        self.label_smoothing = _validate.number("CrossEntropy", "label_smoothing", label_smoothing, 0.0, 1.0)
        self.from_logits = _optional_bool("CrossEntropy", "from_logits", from_logits)

    def get_config(self):
        return {"class_weights": self.class_weights, "label_smoothing": self.label_smoothing,
                "from_logits": self.from_logits}


class CategoricalCrossEntropy(Loss):
    """Softmax cross-entropy against one-hot or soft targets shaped like the output
    (Keras' categorical_crossentropy): ``-sum_c t_c log p_c`` per sample.
    ``label_smoothing`` mixes the targets with the uniform distribution. Class weights do not
    apply (weigh samples with ``sample_weight``). ``from_logits``: what the outputs
    are (default: decided by the output layer; see the module docstring)."""

    name = "categorical_crossentropy"

    def __init__(self, label_smoothing: float = 0.0, from_logits: Optional[bool] = None):
        owner = "CategoricalCrossEntropy"
        self.label_smoothing = _validate.number(owner, "label_smoothing", label_smoothing, 0.0, 1.0)
        self.from_logits = _optional_bool(owner, "from_logits", from_logits)

    def get_config(self):
        return {"label_smoothing": self.label_smoothing, "from_logits": self.from_logits}


class BinaryCrossEntropy(Loss):
    """Sigmoid cross-entropy; targets in ``[0, 1]``, one per output unit.

    ``class_weights=(w0, w1)`` weight each element by its target's class and divide by the
    sum of the weights. ``pos_weight`` (a number, or one per output column) multiplies the
    positive term ``-y log p``, as ``torch.nn.BCEWithLogitsLoss(pos_weight=...)``.
    ``from_logits``: what the outputs are (default: decided by the output layer; see the module
    docstring)."""

    name = "binary_cross_entropy"

    def __init__(self, class_weights: Optional[Sequence[float]] = None, from_logits: Optional[bool] = None,
                 pos_weight: Union[None, float, Sequence[float]] = None):
        self.class_weights = _class_weights("BinaryCrossEntropy", class_weights)
        if self.class_weights is not None and len(self.class_weights) != 2:
            raise ValueError(f"BinaryCrossEntropy: expected 2 class weights, got {len(self.class_weights)}")
        self.from_logits = _optional_bool("BinaryCrossEntropy", "from_logits", from_logits)
        self.pos_weight = _pos_weight("BinaryCrossEntropy", pos_weight)

    def get_config(self):
        return {"class_weights": self.class_weights, "from_logits": self.from_logits, "pos_weight": self.pos_weight}


class MeanSquaredError(Loss):
    name = "mse"


class MeanAbsoluteError(Loss):
    name = "mae"


_BY_NAME = {
    "cross_entropy": CrossEntropy, "sparse_categorical_crossentropy": CrossEntropy,
    "categorical_crossentropy": CategoricalCrossEntropy, "categorical_cross_entropy": CategoricalCrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy, "binary_crossentropy": BinaryCrossEntropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


def get(loss: Union[str, Loss]) -> Loss:
    """A Loss from a name (``"cross_entropy"``, ``"categorical_crossentropy"``,
    ``"binary_cross_entropy"``, ``"mse"``, ``"mae"``, or a Keras alias of them), or a Loss
    object (a custom one: see Loss)."""
    if isinstance(loss, Loss):
        if loss.is_custom:
            missing = [m for m in ("call", "gradient") if not callable(getattr(loss, m, None))]
            if missing:
                raise TypeError(f"custom loss {type(loss).__name__}: define {' and '.join(missing)}(y_true, y_pred) "
                                "(per-sample losses, and their gradient with respect to y_pred: pydl has no "
                                "autodiff for Python code)")
        return loss
    if callable(loss) and not isinstance(loss, type):
        raise TypeError(f"loss: a plain function ({getattr(loss, '__name__', loss)!r}) cannot be differentiated "
                        "here; subclass pydl.losses.Loss with call(y_true, y_pred) and gradient(y_true, y_pred)")
    if isinstance(loss, str) and loss in _BY_NAME:
        return _BY_NAME[loss]()
    raise ValueError(f"unknown loss {loss!r}: expected one of cross_entropy, categorical_crossentropy, "
                     "binary_cross_entropy, mse, mae, or a pydl.losses.Loss")


CUSTOM_PREFIX = "custom:"


def saved_name(loss: Loss) -> str:
    """How a file names the loss: its name, or ``custom:<class name>``."""
    return CUSTOM_PREFIX + type(loss).__name__ if loss.is_custom else loss.name


def from_config(name: str, config: dict, custom_objects: Optional[dict] = None) -> Loss:
    if name.startswith(CUSTOM_PREFIX):
        cls_name = name[len(CUSTOM_PREFIX):]
        cls = (custom_objects or {}).get(cls_name)
        if cls is None:
            raise ValueError(f"the model was compiled with the custom loss {cls_name}: pass "
                             f"load_model(path, custom_objects={{{cls_name!r}: {cls_name}}})")
        loss = cls(**config)
        if not isinstance(loss, Loss):
            raise TypeError(f"custom_objects[{cls_name!r}] must make a pydl.losses.Loss, got {type(loss).__name__}")
        return get(loss)
    return _BY_NAME[name](**config)


def weights_array(loss: Loss) -> np.ndarray:
    w = getattr(loss, "class_weights", None)
    return np.asarray([] if w is None else w, dtype=np.float32)
