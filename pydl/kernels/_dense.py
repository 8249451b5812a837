"""Matrix products, activations, Dense and Dropout kernels (pydl.kernels)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from . import _arrays

_k = _core.kernels


def gemm(
    a: ArrayLike,
    b: ArrayLike,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    c: Optional[ArrayLike] = None,
    bias: Optional[ArrayLike] = None,
    activation: str = "linear",
) -> np.ndarray:
    """``activation(alpha * op(a) @ op(b) + beta * c + bias)``, pydl's one matrix product.

    Args:
        a: ``(M, K)``, or ``(K, M)`` with ``trans_a=True`` (``op(a)`` is ``a.T`` then).
        b: ``(K, N)``, or ``(N, K)`` with ``trans_b=True``.
        trans_a: Read ``a`` transposed.
        trans_b: Read ``b`` transposed.
        alpha: Scale of the product.
        beta: Scale of ``c`` (only read when ``c`` is given).
        c: ``(M, N)`` added as ``beta * c``; it is not modified (the result is a new array).
        bias: ``(N,)``, one value per output column.
        activation: One of ``pydl.layers.ACTIVATIONS`` ("linear", "relu", "softmax", ...),
            applied in the same pass (softmax over each row).

    Returns:
        The ``(M, N)`` product, in the inputs' dtype (float32 or float64, row-major).

    Raises:
        TypeError: An input that is not float32/float64, or inputs of mixed dtypes.
        ValueError: Shapes that do not fit (op(a) is ``(M, K)``, op(b) ``(K, N)``).
    """
    a, b, c, bias = _arrays.floats("gemm", a=a, b=b, c=c, bias=bias)
    _arrays.rank("gemm", "a", a, 2, "(M, K)")
    _arrays.rank("gemm", "b", b, 2, "(K, N)")
    (m, k), (kb, n) = (a.shape[::-1] if trans_a else a.shape), (b.shape[::-1] if trans_b else b.shape)
    if k != kb:
        raise ValueError(f"gemm: op(a) is ({m}, {k}) and op(b) ({kb}, {n}): the inner sizes differ")
    if c is not None and c.shape != (m, n):
        raise ValueError(f"gemm: c: expected shape ({m}, {n}), got {_arrays.shape_of(c)}")
    if bias is not None and bias.shape != (n,):
        raise ValueError(f"gemm: bias: expected shape ({n},), got {_arrays.shape_of(bias)}")
    return _k.gemm(a, b, bool(trans_a), bool(trans_b), float(alpha), float(beta), c, bias, activation)


def activation_forward(x: ArrayLike, activation: str) -> np.ndarray:
    """``activation(x)`` elementwise (``softmax`` over the last axis); any shape.

    ``activation`` is one of ``pydl.layers.ACTIVATIONS``; leaky_relu has slope 0.01 and gelu
    is the exact (erf) form. Returns a new array shaped and typed like ``x``."""
    (x,) = _arrays.floats("activation_forward", x=x)
    return _k.activation_forward(x, activation)


def activation_backward(dy: ArrayLike, x: ArrayLike, y: ArrayLike, activation: str) -> np.ndarray:
    """``d loss / d x`` from ``dy = d loss / d y``, where ``y = activation_forward(x)``.

    ``dy``, ``x`` and ``y`` have one shape; softmax's Jacobian runs over the last axis."""
    dy, x, y = _arrays.floats("activation_backward", dy=dy, x=x, y=y)
    for name, a in (("x", x), ("y", y)):
        if a.shape != dy.shape:
            raise ValueError(
                f"activation_backward: {name}: expected dy's shape {_arrays.shape_of(dy)}, got {_arrays.shape_of(a)}"
            )
    return _k.activation_backward(dy, x, y, activation)


def dense_forward(
    x: ArrayLike,
    w: ArrayLike,
    b: Optional[ArrayLike] = None,
    activation: str = "linear",
    keep_preactivation: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """A Dense layer's forward: ``y = activation(x @ w + b)``.

    Args:
        x: ``(N, in)`` inputs.
        w: ``(in, units)`` kernel (Keras' layout).
        b: ``(units,)`` bias, or None.
        activation: One of ``pydl.layers.ACTIVATIONS``.
        keep_preactivation: Also return ``z = x @ w + b`` (what backward needs for
            activations whose derivative reads the input, such as gelu).

    Returns:
        ``(y, z)``: ``y`` is ``(N, units)``; ``z`` is ``(N, units)`` with
        ``keep_preactivation``, else an empty ``(0, units)`` array.
    """
    x, w, b = _arrays.floats("dense_forward", x=x, w=w, b=b)
    _arrays.rank("dense_forward", "x", x, 2, "(N, in)")
    _arrays.rank("dense_forward", "w", w, 2, "(in, units)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"dense_forward: x has {x.shape[1]} features but w is {_arrays.shape_of(w)} (in, units)")
    if b is not None and b.shape != (w.shape[1],):
        raise ValueError(f"dense_forward: b: expected shape ({w.shape[1]},), got {_arrays.shape_of(b)}")
    return _k.dense_forward(x, w, b, activation, bool(keep_preactivation))


def dense_backward(
    dy: ArrayLike,
    x: ArrayLike,
    w: ArrayLike,
    y: ArrayLike,
    z: Optional[ArrayLike] = None,
    activation: str = "linear",
    use_bias: bool = True,
    need_dx: bool = True,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Dense layer's backward.

    Args:
        dy: ``(N, units)``, ``d loss / d y``.
        x: ``(N, in)``, the forward's input.
        w: ``(in, units)``, the kernel.
        y: ``(N, units)``, the forward's output.
        z: ``(N, units)``, the pre-activation (``keep_preactivation=True``); needed for gelu.
        activation: The forward's activation.
        use_bias: Compute ``db`` (else it is returned as zeros).
        need_dx: Compute ``dx`` (else its content is unspecified: skip it for a first layer).

    Returns:
        ``(dx, dw, db)`` shaped ``(N, in)``, ``(in, units)``, ``(units,)``.
    """
    dy, x, w, y, z = _arrays.floats("dense_backward", dy=dy, x=x, w=w, y=y, z=z)
    _arrays.rank("dense_backward", "x", x, 2, "(N, in)")
    _arrays.rank("dense_backward", "w", w, 2, "(in, units)")
    out = (x.shape[0], w.shape[1])
    for name, a in (("dy", dy), ("y", y), ("z", z)):
        if a is not None and a.shape != out:
            raise ValueError(f"dense_backward: {name}: expected shape {out}, got {_arrays.shape_of(a)}")
    return _k.dense_backward(dy, x, w, y, z, activation, bool(use_bias), bool(need_dx))


def dropout_forward(
    x: ArrayLike, rate: float, seed: int, stream: int = 0, counter: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Inverted dropout: each element kept with probability ``1 - rate`` and scaled by
    ``1 / (1 - rate)``.

    The keep mask is a pure function of ``(seed, stream, counter + flat index)``, the same for
    any thread count. Returns ``(y, mask)``: ``y`` shaped like ``x``, ``mask`` a uint8 array
    (1 = kept) of the same shape. ``rate`` must be in ``[0, 1)``.
    """
    (x,) = _arrays.floats("dropout_forward", x=x)
    if x.ndim < 1:
        raise ValueError("dropout_forward: x: expected an array of rank >= 1, got a scalar")
    return _k.dropout_forward(x, float(rate), int(seed), int(stream), int(counter))


def dropout_backward(dy: ArrayLike, mask: ArrayLike, rate: float) -> np.ndarray:
    """``dx = dy * mask / (1 - rate)``, with ``mask`` as dropout_forward returned it."""
    (dy,) = _arrays.floats("dropout_backward", dy=dy)
    m = _arrays.mask("dropout_backward", "mask", mask)
    if m.shape != dy.shape:
        raise ValueError(
            f"dropout_backward: mask: expected dy's shape {_arrays.shape_of(dy)}, got {_arrays.shape_of(m)}"
        )
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout_backward: rate: expected 0 <= rate < 1, got {rate!r}")
    return _k.dropout_backward(dy, m, float(rate))
