"""Input checks shared by fit, evaluate, predict and loss_and_gradients: every bad input
becomes a ValueError or TypeError that says what was expected and what came."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from . import _core, _validate


def as_float32(x, what: str = "x") -> np.ndarray:
    """x as a C-contiguous float32 array (converted, never refused, when numeric)."""
    if type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous and x.ndim and len(x):
        return x  # the common case, kept cheap for batch-1 inference
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"{what}: expected a numeric array, got {type(x).__name__} ({e})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{what}: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{what}: expected an array with a batch axis, got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"{what}: the data is empty (0 samples)")
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_finite(arr: np.ndarray, what: str = "x") -> None:
    """arr is C-contiguous float32 (as as_float32 returns)."""
    flat = _core.find_nonfinite(arr)
    if flat >= 0:
        bad = np.unravel_index(flat, arr.shape)
        value = arr[tuple(bad)].item()
        raise ValueError(f"{what} contains {value} at index {tuple(int(i) for i in bad)}; "
                         "clean or impute the data first")


def check_input_shape(x: np.ndarray, input_shape: Tuple[int, ...], model_name: str) -> None:
    if tuple(x.shape[1:]) != tuple(input_shape):
        expected = ", ".join(["None", *map(str, input_shape)])
        hint = ""
        if tuple(x.shape) == tuple(input_shape):  # one sample without its batch axis
            hint = "; this looks like one sample: add the batch axis, e.g. x[None] or x.reshape(1, *x.shape)"
        raise ValueError(f"{model_name}: expected input of shape ({expected}), got {tuple(x.shape)}{hint}")


def class_labels(y, n: int, num_classes: int, what: str = "y") -> np.ndarray:
    """Integer class ids in [0, num_classes), one per sample, as int32."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what}: cross_entropy expects integer class ids of shape ({n},), "
                         f"got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"x and {what} have different lengths: {n} samples vs {arr.shape[0]} labels")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
            or arr.dtype == np.bool_):
        raise TypeError(f"{what}: expected integer class ids, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            i = int(np.argwhere(~np.isfinite(arr) | (arr != np.round(arr)))[0][0])
            raise ValueError(f"{what}: cross_entropy expects integer class ids, got {arr[i].item()!r} at "
                             f"index {i}")
    bad = (arr < 0) | (arr >= num_classes)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{what}: label {arr[i].item()!r} at index {i} is out of range; the model has "
                         f"{num_classes} outputs, so labels must be in [0, {num_classes - 1}]")
    return np.ascontiguousarray(arr, dtype=np.int32)


def sequence_labels(y, n: int, steps: int, num_classes: int, what: str = "y") -> np.ndarray:
    """Integer class ids ``(n, steps)`` for cross-entropy over a sequence output
    ``(None, steps, classes)``, as int32. Padded steps (masked by Embedding(mask_zero=True))
    are left out of the loss and metrics, but their labels must still be valid class ids
    (0 is the usual filler)."""
    arr = np.asarray(y)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2 or arr.shape[1:] != (steps,):
        raise ValueError(f"{what}: cross_entropy over a sequence output (None, {steps}, {num_classes}) expects "
                         f"integer class ids of shape ({n}, {steps}), one per step, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"x and {what} have different lengths: {n} samples vs {arr.shape[0]} label rows")
    flat = class_labels(arr.reshape(-1), arr.size, num_classes, what)
    return flat.reshape(n, steps)


def targets(y, n: int, output_shape: Tuple[int, ...], loss_name: str, what: str = "y") -> np.ndarray:
    """Float targets shaped like the model's output, for binary_cross_entropy/mse/mae."""
    arr = as_float32(y, what)
    if arr.shape[0] != n:
        raise ValueError(f"x and {what} have different lengths: {n} samples vs {arr.shape[0]} targets")
    size = int(np.prod(output_shape))
    if arr.size != n * size:
        expected = ", ".join(["None", *map(str, output_shape)])
        raise ValueError(f"{what}: {loss_name} expects targets of shape ({expected}), got {arr.shape}")
    check_finite(arr, what)
    if loss_name == "binary_cross_entropy" and ((arr < 0) | (arr > 1)).any():
        i = tuple(int(v) for v in np.argwhere((arr < 0) | (arr > 1))[0])
        raise ValueError(f"{what}: binary_cross_entropy expects targets in [0, 1], got {arr[i].item()} at {i}")
    return arr.reshape((n, *output_shape))


def batch_size(value, owner: str) -> int:
    return _validate.positive_int(owner, "batch_size", value)
