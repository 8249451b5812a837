"""Input checks of pydl.kernels: every array a kernel reads is converted or refused here, so
that a wrong dtype, rank or shape raises a TypeError / ValueError naming the kernel and the
argument before the C++ kernel (which reads raw pointers) sees it."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _array(fn: str, name: str, value) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{fn}: {name}: expected a numpy array, got {type(value).__name__} ({e})") from None


def floats(fn: str, **named) -> list:
    """The named float inputs (None passes through) as C-contiguous arrays of one dtype,
    float32 or float64; any other dtype, or a mix of the two, is a TypeError. Non-contiguous
    arrays are copied; nothing is ever cast between float32 and float64 silently."""
    out, dtype, first = [], None, None
    for name, value in named.items():
        if value is None:
            out.append(None)
            continue
        arr = _array(fn, name, value)
        if arr.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"{fn}: {name}: expected a float32 or float64 array, got dtype {arr.dtype} "
                f"(cast it with .astype(np.float32) or .astype(np.float64))"
            )
        if dtype is None:
            dtype, first = arr.dtype, name
        elif arr.dtype != dtype:
            raise TypeError(
                f"{fn}: expected every float input in one dtype, got {first} {dtype} and {name} {arr.dtype}"
            )
        out.append(np.ascontiguousarray(arr))
    return out


def in_place(fn: str, name: str, value, dtype: Optional[np.dtype] = None) -> np.ndarray:
    """An array the kernel updates in place: it must already be a writable C-contiguous
    float32/float64 ndarray (of ``dtype`` when given), since a converted copy would hide the
    update from the caller."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{fn}: {name} is updated in place: expected a numpy array, got {type(value).__name__}")
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{fn}: {name}: expected a float32 or float64 array, got dtype {value.dtype}")
    if dtype is not None and value.dtype != dtype:
        raise TypeError(f"{fn}: {name}: expected dtype {dtype} (as the other inputs), got {value.dtype}")
    if not value.flags.c_contiguous or not value.flags.writeable:
        raise ValueError(
            f"{fn}: {name} is updated in place: expected a writable C-contiguous array "
            f"(np.ascontiguousarray(...) makes one)"
        )
    return value


def integers(fn: str, name: str, value, dtype) -> np.ndarray:
    """Integer ids / labels / indices as a C-contiguous array of ``dtype``; floats are refused
    (a label 2.5 is a bug, not a class)."""
    arr = _array(fn, name, value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{fn}: {name}: expected an integer array, got dtype {arr.dtype}")
    info = np.iinfo(dtype)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise ValueError(f"{fn}: {name}: values outside the range of {np.dtype(dtype)}")
    return np.ascontiguousarray(arr, dtype=dtype)


def mask(fn: str, name: str, value) -> Optional[np.ndarray]:
    """A 0/1 mask (bool, or numbers that are all 0 or 1) as uint8, 1 where the element takes part."""
    if value is None:
        return None
    arr = _array(fn, name, value)
    if arr.dtype != np.bool_ and not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{fn}: {name}: expected a bool or 0/1 mask, got dtype {arr.dtype}")
    if arr.dtype != np.bool_ and arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{fn}: {name}: expected a mask of 0 and 1")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def shape_of(a: np.ndarray) -> str:
    return "(" + ", ".join(map(str, a.shape)) + ("," if a.ndim == 1 else "") + ")"


def rank(fn: str, name: str, a: np.ndarray, r: int, layout: str) -> None:
    """a has rank r; the error names the expected layout, e.g. '(N, H, W, C)'."""
    if a.ndim != r:
        raise ValueError(f"{fn}: {name}: expected an array of shape {layout}, got shape {shape_of(a)}")


def pair(fn: str, name: str, value) -> Tuple[int, int]:
    """An int or a pair of ints, as a pair of positive ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError(f"{fn}: {name}: expected an int or a pair of ints, got {value!r}")
    if min(value) < 1:
        raise ValueError(f"{fn}: {name}: expected positive sizes, got {tuple(value)}")
    return int(value[0]), int(value[1])


def one(fn: str, name: str, value) -> int:
    """A positive int (1-D window sizes)."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{fn}: {name}: expected an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{fn}: {name}: expected a positive int, got {value}")
    return int(value)


def choice(fn: str, name: str, value, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{fn}: {name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value
