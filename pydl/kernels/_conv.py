"""Convolution and pooling kernels (pydl.kernels), channels-last: images ``(N, H, W, C)``,
sequences ``(N, T, C)``. The 1-D kernels run on the 2-D ones over images of height 1, as
the Conv1D / MaxPool1D layers do."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from . import _arrays

_k = _core.kernels
_POOLS = ("max", "avg")


def _padding2d(fn: str, padding):
    if isinstance(padding, str):
        return _arrays.choice(fn, "padding", padding, ("valid", "same"))
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"{fn}: padding: expected >= 0, got {padding}")
        return int(padding)
    if (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0 for p in padding)
    ):
        return int(padding[0]), int(padding[1])
    raise ValueError(
        f"{fn}: padding: expected 'valid', 'same', an int or a pair (ph, pw) of ints >= 0, got {padding!r}"
    )


def _conv_inputs(fn: str, x, kernel):
    _arrays.rank(fn, "x", x, 4, "(N, H, W, C)")
    _arrays.rank(fn, "kernel", kernel, 4, "(kh, kw, C, filters)")
    if kernel.shape[2] != x.shape[3]:
        raise ValueError(
            f"{fn}: kernel {_arrays.shape_of(kernel)} is for {kernel.shape[2]} channels, x has {x.shape[3]}"
        )


def conv2d_forward(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: Optional[ArrayLike] = None,
    strides: Union[int, Tuple[int, int]] = (1, 1),
    padding: Union[str, int, Tuple[int, int]] = "valid",
    dilation: Union[int, Tuple[int, int]] = (1, 1),
    activation: str = "linear",
) -> np.ndarray:
    """2-D convolution (cross-correlation, as Keras' Conv2D), channels-last.

    Args:
        x: ``(N, H, W, C)`` images.
        kernel: ``(kh, kw, C, filters)`` (Keras' layout).
        bias: ``(filters,)`` or None.
        strides: An int or ``(sh, sw)``.
        padding: ``"valid"``, ``"same"`` (TensorFlow's: the odd pixel at the bottom / right),
            or explicit zero padding: an int or ``(ph, pw)`` on each side.
        dilation: An int or ``(dh, dw)``.
        activation: One of ``pydl.layers.ACTIVATIONS``, fused into the same pass.

    Returns:
        ``(N, OH, OW, filters)``.
    """
    fn = "conv2d_forward"
    x, kernel, bias = _arrays.floats(fn, x=x, kernel=kernel, bias=bias)
    _conv_inputs(fn, x, kernel)
    if bias is not None and bias.shape != (kernel.shape[3],):
        raise ValueError(f"{fn}: bias: expected shape ({kernel.shape[3]},), got {_arrays.shape_of(bias)}")
    return _k.conv2d_forward(
        x,
        kernel,
        bias,
        _arrays.pair(fn, "strides", strides),
        _padding2d(fn, padding),
        _arrays.pair(fn, "dilation", dilation),
        activation,
    )


def conv2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    kernel: ArrayLike,
    strides: Union[int, Tuple[int, int]] = (1, 1),
    padding: Union[str, int, Tuple[int, int]] = "valid",
    dilation: Union[int, Tuple[int, int]] = (1, 1),
    use_bias: bool = True,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a linear conv2d_forward (apply an activation's backward to ``dy`` first).

    ``dy`` is ``(N, OH, OW, filters)``; ``x``, ``kernel``, ``strides``, ``padding`` and
    ``dilation`` as in the forward. Returns ``(dx, dkernel, dbias)`` shaped like ``x``,
    ``kernel`` and ``(filters,)`` (zeros without ``use_bias``)."""
    fn = "conv2d_backward"
    dy, x, kernel = _arrays.floats(fn, dy=dy, x=x, kernel=kernel)
    _conv_inputs(fn, x, kernel)
    _arrays.rank(fn, "dy", dy, 4, "(N, OH, OW, filters)")
    return _k.conv2d_backward(
        dy,
        x,
        kernel,
        _arrays.pair(fn, "strides", strides),
        _padding2d(fn, padding),
        _arrays.pair(fn, "dilation", dilation),
        bool(use_bias),
    )


def _conv1d_setup(fn: str, x, kernel, strides, padding, dilation):
    _arrays.rank(fn, "x", x, 3, "(N, T, C)")
    _arrays.rank(fn, "kernel", kernel, 3, "(kernel_size, C, filters)")
    if kernel.shape[1] != x.shape[2]:
        raise ValueError(
            f"{fn}: kernel {_arrays.shape_of(kernel)} is for {kernel.shape[1]} channels, x has {x.shape[2]}"
        )
    s, d = _arrays.one(fn, "strides", strides), _arrays.one(fn, "dilation", dilation)
    left = 0
    if isinstance(padding, str):
        _arrays.choice(fn, "padding", padding, ("valid", "same", "causal"))
        if padding == "causal":  # (kernel_size - 1) * dilation zeros on the left only
            left, padding = (kernel.shape[0] - 1) * d, "valid"
    elif isinstance(padding, (int, np.integer)) and not isinstance(padding, bool) and padding >= 0:
        padding = (0, int(padding))
    else:
        raise ValueError(f"{fn}: padding: expected 'valid', 'same', 'causal' or an int >= 0, got {padding!r}")
    return (1, s), padding, (1, d), left


def conv1d_forward(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: Optional[ArrayLike] = None,
    strides: int = 1,
    padding: Union[str, int] = "valid",
    dilation: int = 1,
    activation: str = "linear",
) -> np.ndarray:
    """1-D convolution over time (as Keras' Conv1D), channels-last.

    Args:
        x: ``(N, T, C)`` sequences.
        kernel: ``(kernel_size, C, filters)``.
        bias: ``(filters,)`` or None.
        strides: An int.
        padding: ``"valid"``, ``"same"``, ``"causal"`` (``(kernel_size - 1) * dilation``
            zeros before the first step: output step t sees input steps <= t), or an int of
            zeros on each side.
        dilation: An int.
        activation: One of ``pydl.layers.ACTIVATIONS``.

    Returns:
        ``(N, OT, filters)``.
    """
    fn = "conv1d_forward"
    x, kernel, bias = _arrays.floats(fn, x=x, kernel=kernel, bias=bias)
    strides, padding, dilation, left = _conv1d_setup(fn, x, kernel, strides, padding, dilation)
    if bias is not None and bias.shape != (kernel.shape[2],):
        raise ValueError(f"{fn}: bias: expected shape ({kernel.shape[2]},), got {_arrays.shape_of(bias)}")
    if left:
        x = np.pad(x, ((0, 0), (left, 0), (0, 0)))
    y = _k.conv2d_forward(x[:, None], kernel[None], bias, strides, padding, dilation, activation)
    return y[:, 0]


def conv1d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    kernel: ArrayLike,
    strides: int = 1,
    padding: Union[str, int] = "valid",
    dilation: int = 1,
    use_bias: bool = True,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a linear conv1d_forward: ``dy`` is ``(N, OT, filters)``; returns
    ``(dx, dkernel, dbias)`` shaped like ``x``, ``kernel`` and ``(filters,)``."""
    fn = "conv1d_backward"
    dy, x, kernel = _arrays.floats(fn, dy=dy, x=x, kernel=kernel)
    strides, padding, dilation, left = _conv1d_setup(fn, x, kernel, strides, padding, dilation)
    _arrays.rank(fn, "dy", dy, 3, "(N, OT, filters)")
    if left:
        x = np.pad(x, ((0, 0), (left, 0), (0, 0)))
    dx, dk, db = _k.conv2d_backward(dy[:, None], x[:, None], kernel[None], strides, padding, dilation, bool(use_bias))
    return np.ascontiguousarray(dx[:, 0, left:]), dk[0], db


def pool2d_forward(
    x: ArrayLike,
    kind: str,
    pool_size: Union[int, Tuple[int, int]] = (2, 2),
    strides: Optional[Union[int, Tuple[int, int]]] = None,
    padding: str = "valid",
) -> Tuple[np.ndarray, np.ndarray]:
    """Max or average pooling of ``(N, H, W, C)`` images over windows of ``pool_size``.

    ``kind``: ``"max"`` or ``"avg"``; ``strides`` defaults to ``pool_size``; ``padding``
    ``"valid"`` or ``"same"`` (padded cells are left out of a window, never counted as 0).
    Returns ``(y, argmax)``: ``y`` is ``(N, OH, OW, C)``; ``argmax`` (int32, same shape) holds
    for max pooling the flat index of each maximum within its image (``(h * W + w) * C + c``),
    which pool2d_backward reads."""
    fn = "pool2d_forward"
    (x,) = _arrays.floats(fn, x=x)
    _arrays.rank(fn, "x", x, 4, "(N, H, W, C)")
    pool = _arrays.pair(fn, "pool_size", pool_size)
    return _k.pool2d_forward(
        x,
        _arrays.choice(fn, "kind", kind, _POOLS),
        pool,
        pool if strides is None else _arrays.pair(fn, "strides", strides),
        _arrays.choice(fn, "padding", padding, ("valid", "same")),
    )


def pool2d_backward(
    dy: ArrayLike,
    argmax: ArrayLike,
    x_shape: Sequence[int],
    kind: str,
    pool_size: Union[int, Tuple[int, int]] = (2, 2),
    strides: Optional[Union[int, Tuple[int, int]]] = None,
    padding: str = "valid",
) -> np.ndarray:
    """``d loss / d x`` of pool2d_forward: ``dy`` is ``(N, OH, OW, C)``, ``argmax`` the
    forward's (read for max pooling only; None for avg), ``x_shape`` the input's
    ``(N, H, W, C)``. Returns an array of ``x_shape``."""
    fn = "pool2d_backward"
    (dy,) = _arrays.floats(fn, dy=dy)
    kind = _arrays.choice(fn, "kind", kind, _POOLS)
    arg = (
        np.zeros(0, np.int32) if argmax is None and kind == "avg" else _arrays.integers(fn, "argmax", argmax, np.int32)
    )
    pool = _arrays.pair(fn, "pool_size", pool_size)
    return _k.pool2d_backward(
        dy,
        arg,
        [int(s) for s in x_shape],
        kind,
        pool,
        pool if strides is None else _arrays.pair(fn, "strides", strides),
        _arrays.choice(fn, "padding", padding, ("valid", "same")),
    )


def pool1d_forward(
    x: ArrayLike, kind: str, pool_size: int = 2, strides: Optional[int] = None, padding: str = "valid"
) -> Tuple[np.ndarray, np.ndarray]:
    """Max or average pooling of ``(N, T, C)`` sequences over ``pool_size`` steps (as
    MaxPool1D / AvgPool1D). Returns ``(y, argmax)``, ``y`` of shape ``(N, OT, C)``, ``argmax``
    the flat index ``t * C + c`` of each maximum within its sequence."""
    fn = "pool1d_forward"
    (x,) = _arrays.floats(fn, x=x)
    _arrays.rank(fn, "x", x, 3, "(N, T, C)")
    p = _arrays.one(fn, "pool_size", pool_size)
    s = p if strides is None else _arrays.one(fn, "strides", strides)
    y, arg = _k.pool2d_forward(
        x[:, None],
        _arrays.choice(fn, "kind", kind, _POOLS),
        (1, p),
        (1, s),
        _arrays.choice(fn, "padding", padding, ("valid", "same")),
    )
    return y[:, 0], arg[:, 0]


def pool1d_backward(
    dy: ArrayLike,
    argmax: ArrayLike,
    x_shape: Sequence[int],
    kind: str,
    pool_size: int = 2,
    strides: Optional[int] = None,
    padding: str = "valid",
) -> np.ndarray:
    """``d loss / d x`` of pool1d_forward: ``dy`` ``(N, OT, C)``, ``argmax`` the forward's
    (None for avg), ``x_shape`` ``(N, T, C)``."""
    fn = "pool1d_backward"
    (dy,) = _arrays.floats(fn, dy=dy)
    if len(x_shape) != 3:
        raise ValueError(f"{fn}: x_shape: expected (N, T, C), got {tuple(x_shape)}")
    _arrays.rank(fn, "dy", dy, 3, "(N, OT, C)")
    kind = _arrays.choice(fn, "kind", kind, _POOLS)
    if argmax is None and kind == "avg":
        arg = np.zeros(0, np.int32)
    else:
        arg = _arrays.integers(fn, "argmax", argmax, np.int32)
        if arg.shape != dy.shape:
            raise ValueError(f"{fn}: argmax: expected dy's shape {_arrays.shape_of(dy)}, got {_arrays.shape_of(arg)}")
        arg = arg[:, None]
    p = _arrays.one(fn, "pool_size", pool_size)
    s = p if strides is None else _arrays.one(fn, "strides", strides)
    n, t, c = (int(v) for v in x_shape)
    dx = _k.pool2d_backward(
        dy[:, None], arg, [n, 1, t, c], kind, (1, p), (1, s), _arrays.choice(fn, "padding", padding, ("valid", "same"))
    )
    return dx[:, 0]


def global_pool_forward(x: ArrayLike, kind: str) -> Tuple[np.ndarray, np.ndarray]:
    """Max or mean over all positions: ``(N, H, W, C)`` images or ``(N, T, C)`` sequences to
    ``(N, C)``. Returns ``(y, argmax)``; ``argmax`` (int32 ``(N, C)``) is the position
    (``h * W + w``, or ``t``) of each maximum."""
    fn = "global_pool_forward"
    (x,) = _arrays.floats(fn, x=x)
    if x.ndim == 3:
        x = x[:, None]
    _arrays.rank(fn, "x", x, 4, "(N, H, W, C) or (N, T, C)")
    return _k.global_pool_forward(x, _arrays.choice(fn, "kind", kind, _POOLS))


def global_pool_backward(dy: ArrayLike, argmax: ArrayLike, x_shape: Sequence[int], kind: str) -> np.ndarray:
    """``d loss / d x`` of global_pool_forward: ``dy`` ``(N, C)``, ``argmax`` the forward's
    (None for avg), ``x_shape`` the input's shape (rank 3 or 4)."""
    fn = "global_pool_backward"
    (dy,) = _arrays.floats(fn, dy=dy)
    kind = _arrays.choice(fn, "kind", kind, _POOLS)
    shape = [int(s) for s in x_shape]
    if len(shape) not in (3, 4):
        raise ValueError(f"{fn}: x_shape: expected (N, H, W, C) or (N, T, C), got {tuple(x_shape)}")
    arg = (
        np.zeros(0, np.int32) if argmax is None and kind == "avg" else _arrays.integers(fn, "argmax", argmax, np.int32)
    )
    image = shape if len(shape) == 4 else [shape[0], 1, shape[1], shape[2]]
    return _k.global_pool_backward(dy, arg, image, kind).reshape(shape)
