"""Data-parallel throughput: the MLP 784-256-256-10 (batch 128 global, Adam) trained by
`mpiexec -n 1` and `-n 2`, one thread per process, on the same data; prints samples/s, the
scaling efficiency (rate_2 / (2 rate_1)) and, when torch is importable, the same model under
torch.distributed DDP (gloo) with the same shards and its ratio to pydl.

    python benches/bench_distributed.py [--samples 16384] [--epochs 3]

A launcher, not a pytest-benchmark suite: each measurement is an MPI job of its own. Run
with the `mpi` extra installed (mpi4py, mpich); the mpiexec beside this interpreter is used.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEATURES, HIDDEN, CLASSES, BATCH = 784, 256, 10, 128


def _data(samples):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.normal(size=(samples, FEATURES)).astype(np.float32), rng.integers(0, CLASSES, samples)


def pydl_rank(samples, epochs, out):
    """One rank of the pydl job: the best epoch's samples/s (every rank passes all the data)."""
    import pydl
    from pydl import distributed as dist, layers

    dist.init()
    pydl.set_num_threads(1)
    x, y = _data(samples)
    model = pydl.Sequential([layers.Input((FEATURES,)), layers.Dense(HIDDEN, activation="relu"),
                             layers.Dense(HIDDEN, activation="relu"), layers.Dense(CLASSES)], seed=0)
    model.compile(optimizer="adam", loss="cross_entropy")
    best = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0, distributed=True)
        best = max(best, samples / (time.perf_counter() - t0))
    if dist.is_main():
        Path(out).write_text(json.dumps({"samples_per_s": best}))


def torch_rank(samples, epochs, out):
    """One rank of torch DDP (gloo), each rank on its contiguous share of every global batch."""
    import torch
    import torch.distributed as tdist

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29511")
    tdist.init_process_group("gloo", rank=rank, world_size=size)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = _data(samples)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, HIDDEN),
                              torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES))
    model = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    best = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        for start in range(0, samples, BATCH):
            rows = min(BATCH, samples - start)
            lo = start + rank * rows // size
            hi = start + (rank + 1) * rows // size
            opt.zero_grad()
            loss_fn(model(x[lo:hi]), y[lo:hi]).backward()
            opt.step()
        best = max(best, samples / (time.perf_counter() - t0))
    if rank == 0:
        Path(out).write_text(json.dumps({"samples_per_s": best}))
    tdist.destroy_process_group()


def _job(kind, n, samples, epochs):
    mpiexec = Path(sys.executable).parent / "mpiexec"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([str(mpiexec), "-n", str(n), sys.executable, __file__, "--rank", kind, "--samples",
                        str(samples), "--epochs", str(epochs), "--out", str(out)], check=True, cwd=tmp, env=env)
        return json.loads(out.read_text())["samples_per_s"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=16384)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rank", choices=["pydl", "torch"])
    p.add_argument("--out")
    a = p.parse_args()
    if a.rank:
        (pydl_rank if a.rank == "pydl" else torch_rank)(a.samples, a.epochs, a.out)
        return
    one, two = _job("pydl", 1, a.samples, a.epochs), _job("pydl", 2, a.samples, a.epochs)
    print(f"pydl  1 process: {one:,.0f} samples/s  2 processes: {two:,.0f} samples/s  "
          f"scaling efficiency {two / (2 * one):.2f}")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch DDP: torch is not importable here (peer skipped)")
        return
    t2 = _job("torch", 2, a.samples, a.epochs)
    print(f"torch DDP (gloo) 2 processes: {t2:,.0f} samples/s  pydl / torch: {two / t2:.2f}")


if __name__ == "__main__":
    main()
