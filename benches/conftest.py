"""Benchmark setup: one thread count (env PYDL_BENCH_THREADS, default 2) for pydl, torch
and numpy's BLAS, and a `torch` fixture that skips when torch is not installed.
Run with: pytest benches/bench_gemm.py benches/bench_mlp.py --benchmark-only"""
import pytest

from pydl.benchmarks import dense as _cases

_NUMPY_NOTE = _cases.configure_threads(_cases.THREADS)


def pytest_report_header(config):
    return f"pydl benches: {_cases.THREADS} threads; {_NUMPY_NOTE}"


@pytest.fixture(scope="session")
def torch():
    mod = _cases.try_torch()
    if mod is None:
        pytest.skip("torch not installed")
    return mod
