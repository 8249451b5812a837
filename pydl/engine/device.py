"""Where a model runs: device strings checked against what this machine has.

``resolve("cuda:1")`` is ``("cuda", 1)`` when CUDA can be used and has a second device.
CUDA counts as usable when pydl's CUDA runtime (``pydl._cuda``) is loaded and sees a GPU, or
when the test-only emulation is on (``pydl.cuda._emulated()``: host memory posing as one
device, for the CPU test suite; never a public feature).
"""
from __future__ import annotations

from typing import Tuple

from .. import cuda as cuda_mod


def resolve(device) -> Tuple[str, int]:
    """(kind, ordinal) for a device string; RuntimeError when it names CUDA and CUDA cannot
    be used here, ValueError for a malformed string or a device ordinal beyond the count."""
    kind, ordinal = cuda_mod.parse_device(device)
    if kind == "cpu":
        return kind, 0
    # The emulation first: it is only ever on in tests, and checking it loads nothing.
    if cuda_mod._emulated():
        count = 1
    elif cuda_mod.is_available():
        count = cuda_mod.device_count()
    else:
        raise RuntimeError(f"device {device!r}: CUDA is not available: {cuda_mod.unavailable_reason()}")
    if not 0 <= ordinal < count:
        raise ValueError(f"device {device!r}: expected a CUDA device ordinal in [0, {count}), got {ordinal} "
                         f"(this machine has {count} CUDA device{'s' if count != 1 else ''})")
    return kind, ordinal
