"""MLP benchmarks, pydl vs PyTorch eager at the same thread count:
(a) training 784-256-256-10, batch 128, Adam, cross-entropy: samples/s (one epoch per round);
(b) batch-1 inference latency of that net: us/call;
(c) per-step overhead of a tiny 10-64-64-2 MLP, batch 32, Adam: us/step for both, and the
    torch - pydl difference (on the torch entry, when pydl ran first in the same session)."""
from pydl.benchmarks import dense as C

TRAIN = "train mlp 784-256-256-10"
INFER = "infer batch-1 784-256-256-10"
TINY = "step overhead tiny 10-64-64-2"
_tiny_us = {}


def _best(benchmark):
    return benchmark.stats["min"] if benchmark.stats else None  # None under --benchmark-disable


def _train(benchmark, fn, n, batch, group):
    benchmark.group = group
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)
    best = _best(benchmark)
    if best:
        benchmark.extra_info["samples_per_s"] = round(n / best, 1)
        benchmark.extra_info["us_per_step"] = round(best / C.steps(n, batch) * 1e6, 2)
        return benchmark.extra_info["us_per_step"]


def _infer(benchmark, fn):
    benchmark.group = INFER
    benchmark(fn)
    if _best(benchmark):
        benchmark.extra_info["us_per_call"] = round(_best(benchmark) * 1e6, 2)


def test_train_mlp_pydl(benchmark):
    _train(benchmark, C.pydl_train_case(), C.MLP_SAMPLES, C.MLP_BATCH, TRAIN)


def test_train_mlp_torch(benchmark, torch):
    _train(benchmark, C.torch_train_case(torch), C.MLP_SAMPLES, C.MLP_BATCH, TRAIN)


def test_infer_b1_pydl(benchmark):
    _infer(benchmark, C.pydl_infer_case())


def test_infer_b1_torch(benchmark, torch):
    _infer(benchmark, C.torch_infer_case(torch))


def test_step_tiny_pydl(benchmark):
    _tiny_us["pydl"] = _train(benchmark, C.pydl_train_case(C.TINY_SIZES, C.TINY_SAMPLES, C.TINY_BATCH),
                              C.TINY_SAMPLES, C.TINY_BATCH, TINY)


def test_step_tiny_torch(benchmark, torch):
    us = _train(benchmark, C.torch_train_case(torch, C.TINY_SIZES, C.TINY_SAMPLES, C.TINY_BATCH),
                C.TINY_SAMPLES, C.TINY_BATCH, TINY)
    if us and _tiny_us.get("pydl"):
        benchmark.extra_info["us_per_step_minus_pydl"] = round(us - _tiny_us["pydl"], 2)
