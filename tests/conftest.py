"""Shared helpers: float64 finite differences and error measures used across the tests."""
import numpy as np
import pytest

import pydl


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
