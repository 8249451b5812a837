"""Argument checks for constructors and setters: one rule for every owner.

An int is a Python int or a numpy integer, never a bool (``units=True`` is a slip); a number
is an int or a Python/numpy float; a flag is True/False or a numpy bool. The wrong kind is a
TypeError, a value of the right kind out of range a ValueError, and every message names the
owner, what was expected and what came::

    Dense: expected units to be a positive int, got 0

Each helper returns the value as a plain Python int, float or bool, so that configs built
from numpy scalars stay JSON-serialisable and equal to those built from Python ones.
"""
from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["is_int", "is_number", "integer", "positive_int", "non_negative_int", "optional_int", "number",
           "positive_float", "non_negative_float", "boolean", "choice", "int_pair", "int_list", "number_range",
           "non_empty_str", "instance"]


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fail(error: type, owner: str, name: str, expected: str, value: Any):
    raise error(f"{owner}: expected {name} to be {expected}, got {_show(value)}")


def is_int(value: Any) -> bool:
    """A Python int or numpy integer, but not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """An int (as is_int) or a Python/numpy float."""
    return is_int(value) or isinstance(value, (float, np.floating))


def _int_words(minimum: Optional[int], maximum: Optional[int]) -> str:
    if minimum is not None and maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    if maximum is not None:
        return f"an int <= {maximum}"
    return {None: "an int", 0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")


def integer(owner: str, name: str, value: Any, minimum: Optional[int] = None,
            maximum: Optional[int] = None) -> int:
    """value as an int within [minimum, maximum] (each bound optional)."""
    expected = _int_words(minimum, maximum)
    if not is_int(value):
        _fail(TypeError, owner, name, expected, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        _fail(ValueError, owner, name, expected, value)
    return int(value)


def positive_int(owner: str, name: str, value: Any) -> int:
    return integer(owner, name, value, minimum=1)


def non_negative_int(owner: str, name: str, value: Any) -> int:
    return integer(owner, name, value, minimum=0)


def optional_int(owner: str, name: str, value: Any, minimum: Optional[int] = None) -> Optional[int]:
    """None, or an int >= minimum (seeds, optional counts)."""
    if value is None:
        return None
    expected = f"None or {_int_words(minimum, None)}"
    if not is_int(value):
        _fail(TypeError, owner, name, expected, value)
    if minimum is not None and value < minimum:
        _fail(ValueError, owner, name, expected, value)
    return int(value)


def _plural(words: str) -> str:
    """'a positive int' -> 'positive ints', 'an int >= 2' -> 'ints >= 2'."""
    return words.split(" ", 1)[1].replace("int", "ints", 1)


def _number_words(low, high, low_open, high_open, finite) -> str:
    if low is not None and high is not None:
        return f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    word = "a finite number" if finite else "a number"
    if low is not None:
        return f"{word} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{word} {'<' if high_open else '<='} {high}"
    return word


def number(owner: str, name: str, value: Any, low: Optional[float] = None, high: Optional[float] = None, *,
           low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """value as a float within the bounds (closed unless *_open); NaN is always refused,
    and so are infinities unless finite=False."""
    expected = _number_words(low, high, low_open, high_open, finite)
    if not is_number(value):
        _fail(TypeError, owner, name, expected, value)
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range
        _fail(ValueError, owner, name, expected, value)
    bad = math.isnan(v) or (finite and math.isinf(v))
    if low is not None:
        bad = bad or (v <= low if low_open else v < low)
    if high is not None:
        bad = bad or (v >= high if high_open else v > high)
    if bad:
        _fail(ValueError, owner, name, expected, value)
    return v


def positive_float(owner: str, name: str, value: Any) -> float:
    return number(owner, name, value, low=0.0, low_open=True)


def non_negative_float(owner: str, name: str, value: Any) -> float:
    return number(owner, name, value, low=0.0)


def boolean(owner: str, name: str, value: Any) -> bool:
    """True or False (numpy bools too); never a truthy stand-in such as 1 or "yes"."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(TypeError, owner, name, "True or False", value)
    return bool(value)


def _options(options: Sequence[Any]) -> str:
    shown = [_show(o) for o in options]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def choice(owner: str, name: str, value: Any, options: Sequence[Any], expected: Optional[str] = None):
    """One of options. A value of another kind than every option (e.g. 1 for a string
    choice) is a TypeError; an unknown value of the right kind a ValueError."""
    expected = expected or (f"one of {_options(options)}" if len(options) > 2 else _options(options))
    for o in options:
        if value is o or (o is not None and isinstance(value, type(o)) and value == o):
            return o
    if not any(isinstance(value, type(o)) for o in options if o is not None):
        _fail(TypeError, owner, name, expected, value)
    _fail(ValueError, owner, name, expected, value)


def int_pair(owner: str, name: str, value: Any, minimum: int = 1, expected: Optional[str] = None) -> List[int]:
    """An int (used twice) or a pair of ints, each >= minimum, as a list of two ints."""
    if expected is None:
        each = _int_words(minimum, None)
        expected = f"{each} or a pair of {_plural(each)}"
    if is_int(value):
        value_pair = [value, value]
    elif isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2 and all(is_int(v) for v in value):
        value_pair = list(value)
    else:
        _fail(TypeError, owner, name, expected, value)
    if any(v < minimum for v in value_pair):
        _fail(ValueError, owner, name, expected, value)
    return [int(v) for v in value_pair]


def int_list(owner: str, name: str, value: Any, minimum: Optional[int] = None, scalar: bool = False) -> List[int]:
    """A non-empty sequence of ints, each >= minimum (with scalar=True an int stands for
    a sequence of one), as a list."""
    expected = f"a non-empty tuple of {_plural(_int_words(minimum, None))}"
    if scalar and is_int(value):
        value = [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, np.ndarray)) \
            or not all(is_int(v) for v in value):
        _fail(TypeError, owner, name, expected, value)
    if len(value) == 0 or (minimum is not None and any(v < minimum for v in value)):
        _fail(ValueError, owner, name, expected, value)
    return [int(v) for v in value]


def number_range(owner: str, name: str, value: Any, low: Optional[float] = None, high: Optional[float] = None,
                 strict: bool = False) -> Tuple[float, float]:
    """A (low, high) pair of finite numbers with low <= high (low < high when strict),
    both inside [low, high] when those bounds are given."""
    order = "<" if strict else "<="
    expected = f"a (low, high) pair with {'' if low is None else f'{low} <= '}low {order} high" \
               f"{'' if high is None else f' <= {high}'}"
    if not isinstance(value, (tuple, list, np.ndarray)) or len(value) != 2 or not all(is_number(v) for v in value):
        _fail(TypeError, owner, name, expected, value)
    lo, hi = float(value[0]), float(value[1])
    bad = not (math.isfinite(lo) and math.isfinite(hi)) or (lo >= hi if strict else lo > hi)
    bad = bad or (low is not None and lo < low) or (high is not None and hi > high)
    if bad:
        _fail(ValueError, owner, name, expected, value)
    return lo, hi


def non_empty_str(owner: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        _fail(TypeError, owner, name, "a non-empty string", value)
    if not value:
        _fail(ValueError, owner, name, "a non-empty string", value)
    return value


def instance(owner: str, name: str, value: Any, classes, expected: str):
    """value if it is an instance of classes; a TypeError naming its type otherwise."""
    if not isinstance(value, classes):
        raise TypeError(f"{owner}: expected {name} to be {expected}, got {type(value).__name__}")
    return value
