"""Normalization kernels (pydl.kernels): batch norm and layer norm over the last axis
(channels-last), and Normalization's fixed-statistics standardization."""

from __future__ import annotations

from typing import Tuple

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from . import _arrays

_k = _core.kernels


def _channels(fn: str, x: np.ndarray, **params) -> int:
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(
            f"{fn}: x: expected an array whose last axis holds the channels, got shape {_arrays.shape_of(x)}"
        )
    c = x.shape[-1]
    for name, p in params.items():
        if p.size != c:
            raise ValueError(
                f"{fn}: {name}: expected {c} values (one per channel of x's last axis), got shape {_arrays.shape_of(p)}"
            )
    return c


def batchnorm_forward(
    x: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    moving_mean: ArrayLike,
    moving_var: ArrayLike,
    training: bool,
    momentum: float = 0.9,
    epsilon: float = 1e-5,
) -> Tuple[np.ndarray, np.ndarray]:
    """Batch normalization over every axis but the last (the channels), as Keras'.

    Args:
        x: ``(..., C)``, e.g. ``(N, C)`` or ``(N, H, W, C)``.
        gamma: ``(C,)`` scale.
        beta: ``(C,)`` offset.
        moving_mean: ``(C,)``; with ``training`` updated in place to
            ``momentum * moving_mean + (1 - momentum) * batch_mean``.
        moving_var: ``(C,)``; updated in place like ``moving_mean``, with the unbiased batch
            variance.
        training: Normalize with the batch statistics (and update the moving ones), else with
            the moving statistics.
        momentum: Keras' momentum of the moving statistics.
        epsilon: Added to the variance.

    Returns:
        ``(y, stats)``: ``y`` shaped like ``x``; ``stats`` (float64 ``(2, C)``) holds the batch
        mean and ``1 / sqrt(var + epsilon)`` (training; unspecified otherwise), which
        batchnorm_backward reads.
    """
    fn = "batchnorm_forward"
    x, gamma, beta = _arrays.floats(fn, x=x, gamma=gamma, beta=beta)
    if training:  # updated in place: a converted copy would lose the update
        moving_mean = _arrays.in_place(fn, "moving_mean", moving_mean, x.dtype)
        moving_var = _arrays.in_place(fn, "moving_var", moving_var, x.dtype)
    else:
        moving_mean, moving_var = _arrays.floats(fn, x=x, moving_mean=moving_mean, moving_var=moving_var)[1:]
    _channels(fn, x, gamma=gamma, beta=beta, moving_mean=moving_mean, moving_var=moving_var)
    return _k.batchnorm_forward(
        x, gamma, beta, moving_mean, moving_var, bool(training), float(momentum), float(epsilon)
    )


def batchnorm_backward(
    dy: ArrayLike,
    x: ArrayLike,
    gamma: ArrayLike,
    stats: ArrayLike,
    moving_mean: ArrayLike,
    moving_var: ArrayLike,
    training: bool,
    epsilon: float = 1e-5,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of batchnorm_forward: ``dy`` and ``x`` ``(..., C)``, ``stats`` the forward's
    (read in training), the moving statistics (read otherwise). Returns ``(dx, dgamma, dbeta)``
    shaped like ``x``, ``(C,)`` and ``(C,)``."""
    fn = "batchnorm_backward"
    dy, x, gamma, moving_mean, moving_var = _arrays.floats(
        fn, dy=dy, x=x, gamma=gamma, moving_mean=moving_mean, moving_var=moving_var
    )
    c = _channels(fn, x, gamma=gamma, moving_mean=moving_mean, moving_var=moving_var)
    if dy.shape != x.shape:
        raise ValueError(f"{fn}: dy: expected x's shape {_arrays.shape_of(x)}, got {_arrays.shape_of(dy)}")
    stats = np.ascontiguousarray(_stats(fn, stats, (2, c)))
    return _k.batchnorm_backward(dy, x, gamma, stats, moving_mean, moving_var, bool(training), float(epsilon))


def _stats(fn: str, stats, shape) -> np.ndarray:
    arr = np.asarray(stats)
    if arr.dtype != np.float64:
        raise TypeError(f"{fn}: stats: expected the float64 array the forward returned, got dtype {arr.dtype}")
    if arr.size != shape[0] * shape[1]:
        raise ValueError(f"{fn}: stats: expected shape {shape}, got {_arrays.shape_of(arr)}")
    return arr


def layernorm_forward(
    x: ArrayLike, gamma: ArrayLike, beta: ArrayLike, epsilon: float = 1e-5
) -> Tuple[np.ndarray, np.ndarray]:
    """Layer normalization over the last axis: each row of ``x`` ``(..., C)`` is standardized,
    then scaled by ``gamma`` ``(C,)`` and shifted by ``beta`` ``(C,)``.

    Returns ``(y, stats)``: ``y`` shaped like ``x``; ``stats`` (float64 ``(2, rows)``, rows =
    ``x.size // C``) holds each row's mean and ``1 / sqrt(var + epsilon)``."""
    fn = "layernorm_forward"
    x, gamma, beta = _arrays.floats(fn, x=x, gamma=gamma, beta=beta)
    _channels(fn, x, gamma=gamma, beta=beta)
    return _k.layernorm_forward(x, gamma, beta, float(epsilon))


def layernorm_backward(
    dy: ArrayLike, x: ArrayLike, gamma: ArrayLike, stats: ArrayLike
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of layernorm_forward: returns ``(dx, dgamma, dbeta)``."""
    fn = "layernorm_backward"
    dy, x, gamma = _arrays.floats(fn, dy=dy, x=x, gamma=gamma)
    c = _channels(fn, x, gamma=gamma)
    if dy.shape != x.shape:
        raise ValueError(f"{fn}: dy: expected x's shape {_arrays.shape_of(x)}, got {_arrays.shape_of(dy)}")
    stats = np.ascontiguousarray(_stats(fn, stats, (2, x.size // c)))
    return _k.layernorm_backward(dy, x, gamma, stats)


def normalization_forward(x: ArrayLike, mean: ArrayLike, variance: ArrayLike) -> np.ndarray:
    """``(x - mean) / sqrt(variance)`` with fixed statistics (the Normalization layer):
    ``mean`` and ``variance`` have one shape, which repeats over ``x`` (``x.size`` must be a
    multiple of ``mean.size``; e.g. ``(C,)`` statistics for ``(N, C)`` data)."""
    fn = "normalization_forward"
    x, mean, variance = _arrays.floats(fn, x=x, mean=mean, variance=variance)
    if mean.shape != variance.shape:
        raise ValueError(f"{fn}: mean {_arrays.shape_of(mean)} and variance {_arrays.shape_of(variance)} differ")
    return _k.normalization_forward(x, mean, variance)


def normalization_backward(dy: ArrayLike, variance: ArrayLike) -> np.ndarray:
    """``dx = dy / sqrt(variance)`` of normalization_forward."""
    dy, variance = _arrays.floats("normalization_backward", dy=dy, variance=variance)
    return _k.normalization_backward(dy, variance)
