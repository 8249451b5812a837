"""pydl on NVIDIA GPUs: whether CUDA can be used here, on which devices, and how much memory
they have.

The CUDA kernels live in their own extension module, ``pydl._cuda``, built when pydl is
compiled with CUDA (``PYDL_CUDA=ON``, or AUTO on a machine with nvcc and a driver) and loaded
on first use, so that ``import pydl`` stays fast and a CUDA-built pydl runs on a machine
without a GPU. Its libraries (the CUDA runtime, cuBLAS and cuBLASLt) come from the
``nvidia-*`` CUDA 13 wheels: ``pip install "pydl[cuda]"``.

Example:
    ```python
    import pydl

    if pydl.cuda.is_available():
        print(pydl.cuda.device_count(), pydl.cuda.get_device_name(0))
    else:
        print("no CUDA:", pydl.cuda.unavailable_reason())
    ```
"""
from __future__ import annotations

import importlib
import importlib.util
import threading
from types import ModuleType
from typing import Optional, Tuple, Union

from . import _core

__all__ = ["is_available", "device_count", "get_device_name", "memory_info", "synchronize",
           "unavailable_reason", "kernel_names", "parse_device"]

_lock = threading.Lock()
_loaded: Optional[Tuple[Optional[ModuleType], Optional[str]]] = None  # (module, why not)


def _load() -> Tuple[Optional[ModuleType], Optional[str]]:
    """pydl._cuda imported once (it registers its runtime and kernels with pydl._core), or
    None and the reason it cannot be used."""
    global _loaded
    with _lock:
        if _loaded is None:
            if importlib.util.find_spec("pydl._cuda") is None:
                _loaded = (None, "this pydl was built without CUDA (pydl._cuda is missing); build it with "
                                 "PYDL_CUDA=ON on a machine with nvcc")
            else:
                try:
                    _loaded = (importlib.import_module("pydl._cuda"), None)
                except ImportError as e:  # the nvidia-* wheels' libraries could not be loaded
                    _loaded = (None, f"pydl._cuda could not be loaded ({e}); install the CUDA libraries "
                                     "with: pip install \"pydl[cuda]\"")
        return _loaded


def unavailable_reason() -> Optional[str]:
    """Why CUDA cannot be used here (no CUDA build, missing libraries, no driver or no GPU),
    or None when it can."""
    module, why = _load()
    if module is None:
        return why
    return module.driver_error()


def is_available() -> bool:
    """True when pydl has CUDA kernels and at least one GPU can run them."""
    return unavailable_reason() is None


def device_count() -> int:
    """Number of CUDA devices pydl can use (0 without a CUDA build, a driver or a GPU)."""
    module, _ = _load()
    if module is None or module.driver_error() is not None:
        return 0
    return int(module.device_count())


def _require(device: Union[str, int, None]) -> Tuple[ModuleType, int]:
    why = unavailable_reason()
    if why is not None:
        raise RuntimeError(f"CUDA is not available: {why}")
    module, _ = _load()
    assert module is not None
    ordinal = 0 if device is None else (device if isinstance(device, int) and not isinstance(device, bool)
                                        else parse_device(device)[1])
    count = int(module.device_count())
    if not 0 <= ordinal < count:
        raise ValueError(f"expected a CUDA device ordinal in [0, {count}), got {ordinal}")
    return module, ordinal


def get_device_name(device: Union[str, int, None] = None) -> str:
    """The GPU's name, e.g. ``"NVIDIA H200"`` (device: an ordinal, ``"cuda"`` or ``"cuda:1"``)."""
    module, ordinal = _require(device)
    return str(module.device_name(ordinal))


def memory_info(device: Union[str, int, None] = None) -> Tuple[int, int]:
    """(free, total) bytes of the device's memory."""
    module, ordinal = _require(device)
    free, total = module.memory_info(ordinal)
    return int(free), int(total)


def synchronize(device: Union[str, int, None] = None) -> None:
    """Waits until the device has finished pydl's queued work; raises its errors."""
    module, ordinal = _require(device)
    module.synchronize(ordinal)


def kernel_names() -> list:
    """Names of the kernel entries that have a CUDA version (empty when CUDA is not loaded)."""
    _load()
    return list(_core.device_kernels())


def _emulated() -> bool:
    """Whether the test-only CUDA emulation is on (``pydl._core._emulate_cuda(True)``): the
    engine then accepts "cuda" and places buffers on an emulated device made of host memory,
    running the CPU kernels. ``is_available()`` and ``device_count()`` keep answering for the
    real runtime only."""
    return bool(_core._emulated_cuda())


def parse_device(device) -> Tuple[str, int]:
    """``"cpu"``, ``"cuda"`` and ``"cuda:N"`` as (kind, ordinal); anything else is a ValueError.
    Whether that device exists is checked where it is used."""
    if not isinstance(device, str):
        raise TypeError(f"expected a device string 'cpu', 'cuda' or 'cuda:N', got {type(device).__name__}")
    text = device.strip().lower()
    if text == "cpu":
        return "cpu", 0
    if text == "cuda":
        return "cuda", 0
    if text.startswith("cuda:") and text[5:].isdigit():
        return "cuda", int(text[5:])
    raise ValueError(f"expected a device 'cpu', 'cuda' or 'cuda:N', got {device!r}")
