"""pydl's standard benchmark cases, the ones ``pydl bench`` runs and ``benches/`` reports:
one module per family, each ``*_case`` function returning a zero-argument callable that does
one unit of work (an epoch, a batch of predictions, a GEMM) for pydl or a peer.

- ``dense``: sgemm, the MLPs (training, batch-1 inference, the tiny per-step MLP), thread
  control and timing (``best_of``).
- ``cnn``, ``rnn``, ``sequence``: the CNN and residual CNN, LSTM/GRU, the Transformer encoder
  and Conv1D text classifiers, pydl beside PyTorch eager.
- ``jax_peers``: the same nets as jitted JAX training steps (optax Adam).
- ``suite``: the named cases of ``pydl bench``, their FLOP counts, the runner and the table.

Example:
    ```python
    from pydl import benchmarks

    peak = benchmarks.peak_flops(seconds=0.1, threads=1)   # FLOP/s of one core's FMA units
    rows = benchmarks.run(benchmarks.select(["tiny_mlp_step"]), threads=1, repeat=1, peers={})
    print(rows[0]["pydl"], rows[0]["unit"])                # microseconds per training step
    ```
"""
from .suite import CASES, Case, format_table, installed_peers, peak_flops, run, select

__all__ = ["CASES", "Case", "format_table", "installed_peers", "peak_flops", "run", "select"]
