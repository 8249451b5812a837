"""sgemm C = A @ B (float32, row-major): pydl kernels.gemm vs numpy's `a @ b`, for square
1024/4096 and the MLP training shapes; one benchmark group per shape, GFLOP/s in extra_info."""
import pytest

from pydl.benchmarks import dense as _cases


def _shape_id(shape):
    return "x".join(map(str, shape))


@pytest.mark.parametrize("lib", ["pydl", "numpy"])
@pytest.mark.parametrize("shape", _cases.GEMM_SHAPES, ids=_shape_id)
def test_sgemm(benchmark, shape, lib):
    m, n, k = shape
    fn = _cases.gemm_case(lib, m, n, k)
    benchmark.group = f"sgemm M,N,K={m},{n},{k}"
    if m * n * k >= 4096 ** 3:  # ~0.5 s per call: a few fixed rounds
        benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=1)
    else:
        benchmark(fn)
    if benchmark.stats:
        benchmark.extra_info["gflops_best"] = round(_cases.gemm_flop(m, n, k) / benchmark.stats["min"] / 1e9, 2)
        benchmark.extra_info["gflops_mean"] = round(_cases.gemm_flop(m, n, k) / benchmark.stats["mean"] / 1e9, 2)
