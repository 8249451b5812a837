"""Recurrent benchmarks, pydl vs PyTorch eager at the same thread count (cases in
pydl/benchmarks/rnn.py): lstm_train and gru_train, samples/s."""
import pytest

from pydl.benchmarks import rnn as RNN


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_train_pydl(benchmark, cell):
    benchmark.group = f"{cell}_train"
    benchmark.pedantic(RNN.pydl_train_case(cell), rounds=5, iterations=1, warmup_rounds=1)
    if benchmark.stats:
        benchmark.extra_info["samples_per_s"] = round(RNN.SAMPLES / benchmark.stats["min"], 1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_train_torch(benchmark, torch, cell):
    benchmark.group = f"{cell}_train"
    benchmark.pedantic(RNN.torch_train_case(torch, cell), rounds=5, iterations=1, warmup_rounds=1)
    if benchmark.stats:
        benchmark.extra_info["samples_per_s"] = round(RNN.SAMPLES / benchmark.stats["min"], 1)
