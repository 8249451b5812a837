"""Shared helpers: float64 finite differences, error measures, bitwise weight comparison and
the count of thread-split regions, used across the tests; and the set-up of the CUDA tests
(tests/cuda).

CUDA tests: every test under tests/cuda gets the `cuda` marker and, when no GPU can be used,
a skip naming why. PYDL_CUDA_POISON=1 (read once, at the first device allocation) makes
device buffers start as NaN, so that a kernel leaving an output element unwritten fails its
comparison with the CPU kernel, and engine code that relies on zeroed device memory fails the
emulated-device tests (tests/test_engine_device.py). (Kept here, not in tests/cuda/conftest.py:
a second conftest module would shadow this one for the tests' `from conftest import ...`.)
"""
import os

os.environ["PYDL_CUDA_POISON"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pydl  # noqa: E402
from pydl import _core  # noqa: E402

_CUDA_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda") + os.sep


def pytest_collection_modifyitems(config, items):
    reason = None
    for item in items:
        if not str(item.fspath).startswith(_CUDA_TESTS):
            continue
        item.add_marker(pytest.mark.cuda)
        if reason is None:
            reason = pydl.cuda.unavailable_reason() or ""
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"CUDA not available: {reason}"))


def numeric_grad(f, x, h=1e-6):
    """Central finite differences of the scalar f() with respect to every element of x
    (modified in place and restored)."""
    g = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return g


def rel_err(a, b):
    """Norm-wise relative error ||a - b|| / max(||a||, ||b||)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)
    return np.linalg.norm(a - b) / den


def assert_weights_equal(got, want):
    """Two lists of weight arrays are bitwise equal: same length (never empty, which would
    make any comparison pass), and each pair the same shape, dtype and values."""
    got, want = list(got), list(want)
    assert len(got) == len(want), f"{len(got)} weight arrays, expected {len(want)}"
    assert len(want) > 0, "no weights to compare"
    for i, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, f"weight {i}: {a.dtype}{a.shape}, expected {b.dtype}{b.shape}"
        assert np.array_equal(a, b), f"weight {i}: {np.count_nonzero(a != b)} of {a.size} values differ"


def split_regions():
    """Parallel regions that ran on more than one thread so far (monotonic, process-wide)."""
    return pydl._core.split_regions()


def assert_split_iff_threads(n_threads, before):
    """After a run with n_threads that began when split_regions() was `before`: the work was
    split over threads exactly when n_threads > 1 (fails on purpose when the shapes are too
    small to split, which would make a "1 vs 2 threads" comparison meaningless)."""
    after = split_regions()
    if n_threads == 1:
        assert after == before, f"{after - before} regions ran on several threads with set_num_threads(1)"
    else:
        assert after > before, f"nothing was split over {n_threads} threads: the comparison shows nothing"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def one_thread():
    """One pydl thread for modules of tiny models: on a busy 2-core machine a second thread
    only waits for the first. Results are identical whatever the count."""
    before = pydl.get_num_threads()
    pydl.set_num_threads(1)
    yield
    pydl.set_num_threads(before)


@pytest.fixture
def threads():
    """Restore the thread count after a test that changes it."""
    before = pydl.get_num_threads()
    yield
    pydl.set_num_threads(before)


# The GEMM micro-kernel families (pydl._core.kernels.set_gemm_isa); the convolutions'
# window tiles come from the same family.
ISAS = ["avx512", "avx2", "portable"]


def gemm_isa_available(isa):
    """Whether this CPU (and build) has the family: set_gemm_isa refuses it otherwise."""
    try:
        _core.kernels.set_gemm_isa(isa)
    except ValueError:
        return False
    finally:
        _core.kernels.set_gemm_isa("auto")
    return True


@pytest.fixture(params=ISAS)
def isa(request):
    """Each family in turn; restores the CPU's best afterwards. A family the CPU lacks must be
    refused with a ValueError naming it (checked, then the test has nothing more to run)."""
    name = request.param
    if not gemm_isa_available(name):
        with pytest.raises(ValueError, match=name):
            _core.kernels.set_gemm_isa(name)
        pytest.skip(f"this CPU has no {name} instructions (refusal checked)")
    _core.kernels.set_gemm_isa(name)
    assert _core.kernels.gemm_isa() == name
    yield name
    _core.kernels.set_gemm_isa("auto")
