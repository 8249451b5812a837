"""pydl.kernels.on_device: run the kernels of this thread on a GPU (tests of the CUDA kernels
against the CPU ones, and benches)."""
from __future__ import annotations

import contextlib
from typing import Iterator

from .. import _core
from .. import cuda


@contextlib.contextmanager
def on_device(device: str) -> Iterator[None]:
    """Within the block, the calling thread's ``pydl.kernels`` functions run on ``device``
    (``"cpu"``, ``"cuda"`` or ``"cuda:N"``): the numpy inputs are copied to the device, the
    kernel runs there, and the results come back as numpy arrays. Float32 only on CUDA (the
    float64 kernels are CPU-only: RuntimeError).

    Example:
        ```python
        with pydl.kernels.on_device("cuda"):
            y = pydl.kernels.dense_forward(x, w, b)   # computed on the GPU
        ```
    """
    kind, ordinal = cuda.parse_device(device)
    if kind == "cuda":
        cuda._require(ordinal)
    saved = _core._kernel_device()
    _core._set_kernel_device(kind, ordinal)
    try:
        yield
    finally:
        _core._set_kernel_device(*saved)
