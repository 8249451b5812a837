"""Renamed arguments and attributes: the old name keeps working for one release, with a
DeprecationWarning that names the new one (the Keras 3 / PyTorch name for the same concept).

Renamed in pydl 0.2 (old -> new): ``Resize(method=)`` -> ``interpolation``,
``ModelCheckpoint(path=)`` -> ``filepath``, ``CSVLogger(path=)`` -> ``filename``,
``DataLoader(prefetch=)`` -> ``prefetch_factor`` (arguments and attributes alike).
"""
from __future__ import annotations

import warnings
from typing import Any

__all__ = ["UNSET", "renamed_argument", "renamed_attribute"]


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()  # the default of an old name: tells "not given" apart from None


def _warn(message: str, stacklevel: int) -> None:
    warnings.warn(message + "; the old name will be removed in the next release", DeprecationWarning,
                  stacklevel=stacklevel + 1)


def renamed_argument(owner: str, old: str, new: str, old_value: Any, new_value: Any, new_default: Any,
                     stacklevel: int = 3) -> Any:
    """The value of argument ``new``, also when the caller used its old name ``old``
    (DeprecationWarning). Both given: TypeError. ``stacklevel`` 3 points at the caller of the
    function that calls this one."""
    if old_value is UNSET:
        return new_value
    if new_value is not new_default:
        raise TypeError(f"{owner}: got both {new}= and its deprecated name {old}=; pass {new}= only")
    _warn(f"{owner}: {old}= is renamed {new}=", stacklevel)
    return old_value


def renamed_attribute(owner: str, old: str, new: str) -> property:
    """A property ``old`` reading and writing attribute ``new`` (DeprecationWarning)."""

    def get(self):
        _warn(f"{owner}.{old} is renamed {owner}.{new}", 2)
        return getattr(self, new)

    def set_(self, value):
        _warn(f"{owner}.{old} is renamed {owner}.{new}", 2)
        setattr(self, new, value)

    return property(get, set_, doc=f"Deprecated name of ``{new}``.")
