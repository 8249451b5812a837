"""Shared set-up of the CUDA tests (tests/cuda): device buffers poisoned with NaN, the `cuda`
marker on every test, and a skip naming why when no GPU can be used.

PYDL_CUDA_POISON is read once, when pydl._core first allocates device memory: it is set here,
at collection of the first CUDA test module and before any test touches the device, so that a
kernel leaving an output element unwritten yields NaN and fails its comparison with the CPU.
"""
import os

os.environ["PYDL_CUDA_POISON"] = "1"

import pytest  # noqa: E402

import pydl  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    reason = pydl.cuda.unavailable_reason()
    for item in items:
        if not str(item.fspath).startswith(_HERE + os.sep):
            continue
        item.add_marker(pytest.mark.cuda)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"CUDA not available: {reason}"))
