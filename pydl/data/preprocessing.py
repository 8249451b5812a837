"""Preprocessing fitted on training data only: ``Standardize``, ``MinMaxScale`` and
``Normalize`` (each with ``fit``, ``transform``, ``inverse_transform``, ``fit_transform`` and
``as_layer()`` for use as a model's first layer, saved with the model). The image
augmentation transforms live in ``pydl.data.transforms`` (import them from ``pydl.data``)."""
from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

from .. import _validate
from . import transforms as _transforms

__all__ = ["Standardize", "MinMaxScale", "Normalize"]


def __getattr__(name: str):
    # pydl 0.1 re-exported the augmentation transforms here; old code keeps working, pointed
    # at the one place they live.
    if name in _transforms.__all__:
        warnings.warn(f"pydl.preprocessing.{name} is pydl.data.{name}; import it from pydl.data",
                      DeprecationWarning, stacklevel=2)
        return getattr(_transforms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _stats_axes(x: np.ndarray, per: str):
    """Axes reduced when fitting: the batch axis for per-feature statistics, every axis but
    the last (channels) for per-channel ones."""
    if per == "feature":
        return (0,)
    if per == "channel":
        return tuple(range(x.ndim - 1))
    raise ValueError(f"per must be 'feature' or 'channel', got {per!r}")


def _resolve_per(per: str, ndim: int) -> str:
    """per="auto": "channel" for sequence windows (N, T, F), "feature" otherwise. Statistics
    per time step would make a window's scaling depend on where in the window a step sits
    (and refuse windows of another length), so features are the only sensible unit there;
    for (N, F) data the two are the same; images keep per-pixel statistics unless asked."""
    if per != "auto":
        return per
    return "channel" if ndim == 3 else "feature"


class _Scaler:
    """y = (x - offset_) / scale_ with statistics learned by fit. 1-D data is one feature
    (a series): its statistics have shape (1,) and transforms return 1-D arrays."""

    def __init__(self, per: str = "auto"):
        self.per = _validate.choice(type(self).__name__, "per", per, ("auto", "feature", "channel"))

    def _data(self, x, fitting: bool = False) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]  # one feature
        if x.ndim < 2 or len(x) == 0:
            raise ValueError(f"{type(self).__name__}: expected a batch of samples (N, ...) or a 1-D series, "
                             f"got shape {x.shape}")
        if fitting:
            self.per_ = _resolve_per(self.per, x.ndim)
        else:
            if not hasattr(self, "offset_"):
                raise RuntimeError(f"{type(self).__name__}: call fit() first")
            expected = self.offset_.shape
            got = x.shape[-1:] if self.per_ == "channel" else x.shape[1:]
            if tuple(got) != tuple(expected):
                raise ValueError(f"{type(self).__name__}: fitted on samples with statistics of shape {expected}, "
                                 f"got data of shape {x.shape}")
        return x

    def _apply(self, x, f) -> np.ndarray:
        one_d = np.ndim(x) == 1
        out = f(self._data(x)).astype(np.float32)
        return out[:, 0] if one_d else out

    def transform(self, x) -> np.ndarray:
        return self._apply(x, lambda v: (v - self.offset_) / self.scale_)  # type: ignore[attr-defined]

    def inverse_transform(self, y) -> np.ndarray:
        return self._apply(y, lambda v: v * self.scale_ + self.offset_)  # type: ignore[attr-defined]

    def fit_transform(self, x) -> np.ndarray:
        return self.fit(x).transform(x)  # type: ignore[attr-defined]

    def as_layer(self, name: Optional[str] = None):
        """A ``layers.Normalization`` computing this transform inside the model."""
        from ..layers import Normalization  # lazy: layers -> engine -> training -> data

        if not hasattr(self, "offset_"):
            raise RuntimeError(f"{type(self).__name__}: call fit() first")
        return Normalization(mean=self.offset_.tolist(), variance=(self.scale_ ** 2).tolist(), per=self.per_,  # type: ignore[attr-defined]
                             name=name)


class Standardize(_Scaler):
    """Zero mean, unit variance per feature (``per="feature"``: each position of a sample)
    or per channel (``per="channel"``: the last axis, statistics over every other axis).
    ``per="auto"`` (default) picks "channel" for sequence windows ``(N, T, F)`` (one
    statistic per feature over samples and time steps: the only sensible choice, see
    ``_resolve_per``) and "feature" otherwise; the choice made is ``per_``. A 1-D array is
    one feature. Constant features are left centred."""

    def fit(self, x) -> "Standardize":
        x = self._data(x, fitting=True)
        axes = _stats_axes(x, self.per_)
        self.offset_ = x.mean(axis=axes)
        std = x.std(axis=axes)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self


class MinMaxScale(_Scaler):
    """Maps the training range of each feature (or channel) onto ``feature_range``; ``per``
    as in :class:`Standardize` (default: per feature of sequence windows ``(N, T, F)``)."""

    def __init__(self, feature_range: Sequence[float] = (0.0, 1.0), per: str = "auto"):
        super().__init__(per)
        self.feature_range = _validate.number_range("MinMaxScale", "feature_range", feature_range, strict=True)

    def fit(self, x) -> "MinMaxScale":
        x = self._data(x, fitting=True)
        axes = _stats_axes(x, self.per_)
        lo, hi = self.feature_range
        xmin, xmax = x.min(axis=axes), x.max(axis=axes)
        span = np.where(xmax > xmin, xmax - xmin, 1.0)
        self.scale_ = span / (hi - lo)
        self.offset_ = xmin - lo * self.scale_
        return self


class Normalize(_Scaler):
    """``(x - mean) / std`` with given statistics (e.g. ImageNet's per-channel values);
    ``fit`` only checks the shapes. A 1-D array is one feature (``mean=[m], std=[s]``)."""

    def __init__(self, mean, std, per: str = "channel"):
        # Given statistics have a fixed shape: no "auto", the caller says what they are per.
        super().__init__(_validate.choice("Normalize", "per", per, ("feature", "channel")))
        self.per_ = self.per
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        if self.mean.shape != self.std.shape or np.any(self.std <= 0):
            raise ValueError("Normalize: mean and std must have the same shape and std must be > 0")
        self.offset_, self.scale_ = self.mean, self.std

    def fit(self, x=None) -> "Normalize":
        if x is not None:
            self._data(x)
        return self
