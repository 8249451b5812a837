"""Sequence benchmarks, pydl vs PyTorch eager at the same thread count (cases in
pydl/benchmarks/sequence.py): a 2-block Transformer encoder and a Conv1D text classifier, samples/s;
Conv1D forward next to one GEMM of the same shape."""
import pytest

from pydl.benchmarks import sequence as SEQ


@pytest.mark.parametrize("kind", ["encoder", "conv1d"])
def test_sequence_train_pydl(benchmark, kind):
    benchmark.group = f"{kind}_train"
    benchmark.pedantic(SEQ.pydl_train_case(kind), rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.stats:
        benchmark.extra_info["samples_per_s"] = round(SEQ.SAMPLES / benchmark.stats["min"], 1)


@pytest.mark.parametrize("kind", ["encoder", "conv1d"])
def test_sequence_train_torch(benchmark, torch, kind):
    benchmark.group = f"{kind}_train"
    benchmark.pedantic(SEQ.torch_train_case(torch, kind), rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.stats:
        benchmark.extra_info["samples_per_s"] = round(SEQ.SAMPLES / benchmark.stats["min"], 1)


@pytest.mark.parametrize("which", [0, 1], ids=["conv1d_forward", "same_shape_gemm"])
def test_conv1d_against_gemm(benchmark, which):
    benchmark.group = "conv1d_vs_gemm"
    benchmark.pedantic(SEQ.conv1d_vs_gemm_cases()[which], rounds=10, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_attention_kernel(benchmark, direction):
    """The fused attention kernels alone at the encoder's shape (batch 32, T=64, 4 heads of 32)."""
    import numpy as np
    from pydl import kernels
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((SEQ.BATCH, SEQ.STEPS, SEQ.HEADS, SEQ.DIM // SEQ.HEADS), dtype=np.float32)
               for _ in range(3))
    o, lse = kernels.attention_forward(q, k, v)
    dout = rng.standard_normal(o.shape, dtype=np.float32)
    benchmark.group = "attention_kernel"
    if direction == "forward":
        benchmark.pedantic(lambda: kernels.attention_forward(q, k, v), rounds=20, iterations=1, warmup_rounds=2)
    else:
        benchmark.pedantic(lambda: kernels.attention_backward(dout, q, k, v, o, lse), rounds=20, iterations=1,
                           warmup_rounds=2)
