"""Image transforms (augmentation) for channels-last batches ``(N, H, W, C)``, run by C++ kernels.

Each transform is random per sample and reproducible. ``seed=`` in the constructor (as in
Keras: ``RandomFlip("horizontal", seed=4)``) fixes a transform's draws wherever it runs;
without it the surrounding seed decides: the ``seed`` of a direct call (default 0), the
``DataLoader``'s seed, or the model's (``fit(seed=)``). Inside a ``DataLoader`` the draws are
keyed by the epoch and the sample's position in it.

The same objects are Keras-style preprocessing layers: ``Sequential([Input((28, 28, 1)),
RandomFlip("horizontal", seed=1), Conv2D(...), ...])`` or ``RandomFlip()(inputs)`` in a
functional model. There they run in C++ as graph layers, random in ``fit`` only and the
identity in ``evaluate``/``predict`` (``RandomCrop`` then takes the centre crop of the padded
image, so the shape stays); ``Resize`` and ``CenterCrop`` always apply. Gradients flow
through them (each is a linear map of its input for given draws), so they may sit after
trainable layers. They save and load with the model.

Geometry follows Pillow: positive angles rotate counter-clockwise about the image centre;
bilinear samples falling outside the image take ``fill``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .. import _core, _deprecation, _validate
from ..layers.base import Layer

__all__ = ["Transform", "Compose", "RandomFlip", "RandomRotation", "RandomCrop", "RandomZoom",
           "RandomBrightness", "RandomContrast", "Resize", "CenterCrop"]

_MAX_SEED = (1 << 63) - 1  # the C++ layer config holds int64


def _size(owner: str, size) -> List[int]:
    return _validate.int_pair(owner, "size", size)


def _fraction(owner: str, name: str, v, high: float = 1.0) -> float:
    return _validate.number(owner, name, v, 0.0, high)


def _seed(owner: str, seed) -> Optional[int]:
    seed = _validate.optional_int(owner, "seed", seed, minimum=0)
    if seed is not None and seed > _MAX_SEED:
        raise ValueError(f"{owner}: expected seed to be None or an int in [0, 2**63), got {seed}")
    return seed


class Transform:
    """Base class: ``ops()`` describes the C++ ops; calling applies them to a batch."""

    def ops(self) -> List[dict]:
        """The C++ ops this transform runs, as dicts (what ``DataLoader`` hands the loader)."""
        raise NotImplementedError(f"{type(self).__name__} must define ops()")

    def __call__(self, x, seed: Optional[int] = None) -> np.ndarray:
        """Apply to images ``(N, H, W, C)`` (uint8 or float); returns float32. ``seed``
        replaces every op's own seed; without either the draws use seed 0."""
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected images (N, H, W, C), got shape {x.shape}")
        ops = self.ops()
        if seed is not None:
            seed = _seed(type(self).__name__, seed)
            ops = [{k: v for k, v in op.items() if k != "seed"} for op in ops]
        return _core.augment(np.ascontiguousarray(x, dtype=np.float32), ops, 0 if seed is None else seed)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Compose(Transform):
    """Applies transforms in order (in a ``DataLoader``; inside a model, list the layers)."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = [_validate.instance("Compose", "transforms", t, Transform, "pydl transforms")
                           for t in transforms]

    def ops(self):
        return [op for t in self.transforms for op in t.ops()]


class _ImageLayer(Transform, Layer):
    """A transform that is also a graph layer (one op; the C++ layer ``core_type``)."""

    random = True  # Resize and CenterCrop are not: they take no seed

    def __call__(self, inputs, seed: Optional[int] = None):
        """On a symbolic tensor (building a functional model): the layer's output. On images
        ``(N, H, W, C)``: the transformed images (see ``Transform.__call__``)."""
        from ..engine.functional import SymbolicTensor  # lazy: the engine imports the data package

        if isinstance(inputs, SymbolicTensor):
            if seed is not None:
                raise TypeError(f"{type(self).__name__}: seed goes to the constructor when used as a layer")
            return Layer.__call__(self, inputs)
        return Transform.__call__(self, inputs, seed)

    def _op(self) -> Dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must define _op()")

    def ops(self):
        op = self._op()
        if self.random:
            op["seed"] = self.seed
        return [op]

    def core_config(self) -> Dict[str, Any]:
        """The C++ layer's config: its name and the op's keys (never the op's ``kind``)."""
        op = {k: v for k, v in self.ops()[0].items() if k != "kind"}
        return {"type": self.core_type, "name": self.name, **op}

    def __repr__(self):
        return Layer.__repr__(self)


class RandomFlip(_ImageLayer):
    """Flips each image with probability 1/2: ``"horizontal"``, ``"vertical"`` or
    ``"horizontal_and_vertical"`` (each axis drawn independently)."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")
    core_type = "random_flip"

    def __init__(self, mode: str = "horizontal", seed: Optional[int] = None, name: Optional[str] = None):
        Layer.__init__(self, name)
        self.mode = _validate.choice("RandomFlip", "mode", mode, self.MODES)
        self.seed = _seed("RandomFlip", seed)

    def get_config(self):
        return {"mode": self.mode, "seed": self.seed, "name": self.name}

    def _op(self):
        return {"kind": "flip", "horizontal": "horizontal" in self.mode, "vertical": "vertical" in self.mode}


def _range(owner: str, name: str, value, low: float, high: float):
    """A symmetric bound (a number) or an explicit (low, high) range, validated."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return _validate.number_range(owner, name, value, low, high)
    return _fraction(owner, name, value, high)


def _ranged(op: Dict[str, Any], key: str, value) -> Dict[str, Any]:
    """An op's explicit range (a (low, high) tuple) or its symmetric bound under ``key``."""
    if isinstance(value, tuple):
        op.update(range_set=True, range_low=value[0], range_high=value[1])
    else:
        op.update(range_set=False, **{key: value})
    return op


class RandomRotation(_ImageLayer):
    """Rotates by an angle uniform in ``[-degrees, degrees]``, or in ``degrees=(low, high)``
    (equal ends give a fixed rotation); bilinear, ``fill`` outside the image. (Degrees, as
    torchvision's ``RandomRotation``; Keras' ``factor`` is a fraction of a full turn.)"""

    core_type = "random_rotation"

    def __init__(self, degrees, fill: float = 0.0, seed: Optional[int] = None, name: Optional[str] = None):
        Layer.__init__(self, name)
        self.degrees = _range("RandomRotation", "degrees", degrees, -180.0, 180.0)
        self.fill = _validate.number("RandomRotation", "fill", fill)
        self.seed = _seed("RandomRotation", seed)

    def get_config(self):
        degrees = list(self.degrees) if isinstance(self.degrees, tuple) else self.degrees
        return {"degrees": degrees, "fill": self.fill, "seed": self.seed, "name": self.name}

    def _op(self):
        return _ranged({"kind": "rotate", "fill": self.fill}, "degrees", self.degrees)


class RandomCrop(_ImageLayer):
    """Pads by ``padding`` pixels (value ``fill``) and crops ``size`` at a random offset (as
    torchvision's). As a layer in evaluate/predict: the centre crop of the padded image."""

    core_type = "random_crop"

    def __init__(self, size, padding: int = 0, fill: float = 0.0, seed: Optional[int] = None,
                 name: Optional[str] = None):
        Layer.__init__(self, name)
        self.size = _size("RandomCrop", size)
        self.padding = _validate.non_negative_int("RandomCrop", "padding", padding)
        self.fill = _validate.number("RandomCrop", "fill", fill)
        self.seed = _seed("RandomCrop", seed)

    def get_config(self):
        return {"size": list(self.size), "padding": self.padding, "fill": self.fill, "seed": self.seed,
                "name": self.name}

    def _op(self):
        return {"kind": "crop", "height": self.size[0], "width": self.size[1], "padding": self.padding,
                "fill": self.fill}


class RandomZoom(_ImageLayer):
    """Zooms about the centre by a scale uniform in ``[1 - factor, 1 + factor]``, or in
    ``scale=(low, high)`` when given (> 1 zooms in; equal ends give a fixed zoom)."""

    core_type = "random_zoom"

    def __init__(self, factor: float = 0.0, fill: float = 0.0, scale=None, seed: Optional[int] = None,
                 name: Optional[str] = None):
        Layer.__init__(self, name)
        self.factor = _fraction("RandomZoom", "factor", factor, 0.9)
        self.scale = None if scale is None else _validate.number_range("RandomZoom", "scale", scale, 0.1, 10.0)
        self.fill = _validate.number("RandomZoom", "fill", fill)
        self.seed = _seed("RandomZoom", seed)

    def get_config(self):
        return {"factor": self.factor, "fill": self.fill, "scale": None if self.scale is None else list(self.scale),
                "seed": self.seed, "name": self.name}

    def _op(self):
        op = {"kind": "zoom", "factor": self.factor, "fill": self.fill, "range_set": False}
        return op if self.scale is None else _ranged(op, "factor", tuple(self.scale))


class _ValueJitter(_ImageLayer):
    """A random per-image change of pixel values, clipped to ``value_range``."""

    kind = ""

    def __init__(self, factor: float, value_range=(0.0, 255.0), seed: Optional[int] = None,
                 name: Optional[str] = None):
        Layer.__init__(self, name)
        owner = type(self).__name__
        self.factor = _fraction(owner, "factor", factor)
        self.value_range = _validate.number_range(owner, "value_range", value_range, strict=True)
        self.seed = _seed(owner, seed)

    def get_config(self):
        return {"factor": self.factor, "value_range": list(self.value_range), "seed": self.seed, "name": self.name}

    def _op(self):
        return {"kind": self.kind, "factor": self.factor, "low": self.value_range[0], "high": self.value_range[1]}


class RandomBrightness(_ValueJitter):
    """Adds ``delta * (high - low)``, delta uniform in ``[-factor, factor]``, then clips to
    ``value_range`` (Keras's definition; the default range suits uint8 pixels)."""

    kind = "brightness"
    core_type = "random_brightness"


class RandomContrast(_ValueJitter):
    """Scales each channel's deviation from its mean by a factor uniform in
    ``[1 - factor, 1 + factor]``, then clips to ``value_range``."""

    kind = "contrast"
    core_type = "random_contrast"


class Resize(_ImageLayer):
    """Resizes to ``(height, width)``: ``interpolation="bilinear"`` (half-pixel centres, no
    antialiasing, as TensorFlow's and OpenCV's) or ``"nearest"`` (as Pillow's NEAREST).
    Deterministic: as a layer it applies in evaluate/predict too (Keras' ``Resizing``).
    ``method=`` is the deprecated name of ``interpolation`` (pydl 0.1)."""

    random = False
    core_type = "resize"

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", name: Optional[str] = None,
                 method=_deprecation.UNSET):
        Layer.__init__(self, name)
        # stacklevel 4: the caller, past Layer's input_shape= wrapper of __init__
        interpolation = _deprecation.renamed_argument("Resize", "method", "interpolation", method, interpolation,
                                                      "bilinear", stacklevel=4)
        self.height = _validate.positive_int("Resize", "height", height)
        self.width = _validate.positive_int("Resize", "width", width)
        self.interpolation = _validate.choice("Resize", "interpolation", interpolation, ("bilinear", "nearest"))

    method = _deprecation.renamed_attribute("Resize", "method", "interpolation")

    def get_config(self):
        return {"height": self.height, "width": self.width, "interpolation": self.interpolation, "name": self.name}

    def _op(self):
        return {"kind": "resize", "height": self.height, "width": self.width,
                "nearest": self.interpolation == "nearest"}


class CenterCrop(_ImageLayer):
    """Crops ``size`` from the centre (the odd pixel goes to the bottom/right). Deterministic:
    as a layer it applies in evaluate/predict too."""

    random = False
    core_type = "center_crop"

    def __init__(self, size, name: Optional[str] = None):
        Layer.__init__(self, name)
        self.size = _size("CenterCrop", size)

    def get_config(self):
        return {"size": list(self.size), "name": self.name}

    def _op(self):
        return {"kind": "center_crop", "height": self.size[0], "width": self.size[1]}
