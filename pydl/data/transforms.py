"""Image transforms (augmentation) for channels-last batches ``(N, H, W, C)``, run by C++ kernels.

Each transform is random per sample and reproducible: with ``seed=s``, sample i of a call
gets the same draws every time. Inside a ``DataLoader`` the draws are keyed by the epoch
and the sample's position in it, so an epoch's batches depend on the loader's seed alone.
Transforms apply in training only (``fit``), never in ``evaluate`` or ``predict``.
Geometry follows Pillow: positive angles rotate counter-clockwise about the image centre;
bilinear samples falling outside the image take ``fill``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from .. import _core, _validate

__all__ = ["Transform", "Compose", "RandomFlip", "RandomRotation", "RandomCrop", "RandomZoom",
           "RandomBrightness", "RandomContrast", "Resize", "CenterCrop"]


def _size(owner: str, size) -> List[int]:
    return _validate.int_pair(owner, "size", size)


def _fraction(owner: str, name: str, v, high: float = 1.0) -> float:
    return _validate.number(owner, name, v, 0.0, high)


class Transform:
    """Base class: ``ops()`` describes the C++ ops; calling applies them to a batch."""

    def ops(self) -> List[dict]:
        raise NotImplementedError

    def __call__(self, x, seed: int = 0) -> np.ndarray:
        """Apply to images ``(N, H, W, C)`` (uint8 or float); returns float32."""
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected images (N, H, W, C), got shape {x.shape}")
        return _core.augment(np.ascontiguousarray(x, dtype=np.float32), self.ops(), int(seed))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Compose(Transform):
    """Applies transforms in order."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = [_validate.instance("Compose", "transforms", t, Transform, "pydl transforms")
                           for t in transforms]

    def ops(self):
        return [op for t in self.transforms for op in t.ops()]


class RandomFlip(Transform):
    """Flips each image with probability 1/2: ``"horizontal"``, ``"vertical"`` or
    ``"horizontal_and_vertical"`` (each axis drawn independently)."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode: str = "horizontal"):
        self.mode = _validate.choice("RandomFlip", "mode", mode, self.MODES)

    def ops(self):
        return [{"kind": "flip", "horizontal": "horizontal" in self.mode, "vertical": "vertical" in self.mode}]


def _range(owner: str, name: str, value, low: float, high: float):
    """A symmetric bound (a number) or an explicit (low, high) range, validated."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return _validate.number_range(owner, name, value, low, high)
    return _fraction(owner, name, value, high)


class RandomRotation(Transform):
    """Rotates by an angle uniform in ``[-degrees, degrees]``, or in ``degrees=(low, high)``
    (equal ends give a fixed rotation); bilinear, ``fill`` outside the image."""

    def __init__(self, degrees, fill: float = 0.0):
        self.degrees = _range("RandomRotation", "degrees", degrees, -180.0, 180.0)
        self.fill = _validate.number("RandomRotation", "fill", fill)

    def ops(self):
        op = {"kind": "rotate", "fill": self.fill}
        if isinstance(self.degrees, tuple):
            op.update(range_set=True, range_low=self.degrees[0], range_high=self.degrees[1])
        else:
            op["degrees"] = self.degrees
        return [op]


class RandomCrop(Transform):
    """Pads by ``padding`` pixels (value ``fill``) and crops ``size`` at a random offset."""

    def __init__(self, size, padding: int = 0, fill: float = 0.0):
        self.size = _size("RandomCrop", size)
        self.padding = _validate.non_negative_int("RandomCrop", "padding", padding)
        self.fill = _validate.number("RandomCrop", "fill", fill)

    def ops(self):
        return [{"kind": "crop", "height": self.size[0], "width": self.size[1], "padding": self.padding,
                 "fill": self.fill}]


class RandomZoom(Transform):
    """Zooms about the centre by a scale uniform in ``[1 - factor, 1 + factor]``, or in
    ``scale=(low, high)`` when given (> 1 zooms in; equal ends give a fixed zoom)."""

    def __init__(self, factor: float = 0.0, fill: float = 0.0, scale=None):
        self.factor = _fraction("RandomZoom", "factor", factor, 0.9)
        self.scale = None if scale is None else _validate.number_range("RandomZoom", "scale", scale, 0.1, 10.0)
        self.fill = _validate.number("RandomZoom", "fill", fill)

    def ops(self):
        op = {"kind": "zoom", "factor": self.factor, "fill": self.fill}
        if self.scale is not None:
            op.update(range_set=True, range_low=self.scale[0], range_high=self.scale[1])
        return [op]


class _ValueJitter(Transform):
    """A random per-image change of pixel values, clipped to ``value_range``."""

    kind = ""

    def __init__(self, factor: float, value_range=(0.0, 255.0)):
        owner = type(self).__name__
        self.factor = _fraction(owner, "factor", factor)
        self.value_range = _validate.number_range(owner, "value_range", value_range, strict=True)

    def ops(self):
        return [{"kind": self.kind, "factor": self.factor, "low": self.value_range[0], "high": self.value_range[1]}]


class RandomBrightness(_ValueJitter):
    """Adds ``delta * (high - low)``, delta uniform in ``[-factor, factor]``, then clips to
    ``value_range`` (Keras's definition; the default range suits uint8 pixels)."""

    kind = "brightness"


class RandomContrast(_ValueJitter):
    """Scales each channel's deviation from its mean by a factor uniform in
    ``[1 - factor, 1 + factor]``, then clips to ``value_range``."""

    kind = "contrast"


class Resize(Transform):
    """Resizes to ``(height, width)``: ``"bilinear"`` (half-pixel centres, no antialiasing, as
    TensorFlow's and OpenCV's) or ``"nearest"`` (as Pillow's NEAREST)."""

    def __init__(self, height: int, width: int, method: str = "bilinear"):
        self.height = _validate.positive_int("Resize", "height", height)
        self.width = _validate.positive_int("Resize", "width", width)
        self.method = _validate.choice("Resize", "method", method, ("bilinear", "nearest"))

    def ops(self):
        return [{"kind": "resize", "height": self.height, "width": self.width, "nearest": self.method == "nearest"}]


class CenterCrop(Transform):
    """Crops ``size`` from the centre (the odd pixel goes to the bottom/right)."""

    def __init__(self, size):
        self.size = _size("CenterCrop", size)

    def ops(self):
        return [{"kind": "center_crop", "height": self.size[0], "width": self.size[1]}]
