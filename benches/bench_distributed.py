"""Data-parallel scaling: training throughput (samples/s) of the same model with 1 process
and with 2 processes of one thread each (`mpiexec -n 2`), pydl's fit(distributed=True)
beside torch.distributed DDP (gloo) on the same model, global batch and shards. Prints the
scaling efficiency rate_2 / (2 rate_1) of each and pydl's ratio to torch.

    python benches/bench_distributed.py [--models mlp,cnn] [--repeat 3] [--epochs 3]

Models: the MLP 784-256-256-10 (Adam, global batch 128, 8192 samples) and the CNN of
pydl/benchmarks/cnn.py (28x28x1, conv32-pool-conv64-pool-dense128, Adam, global batch 64, 1024
samples). The 1-process rate is a plain fit (pydl without distributed=True, torch without
DDP); with 2 processes rank r trains on its contiguous share of every global batch (the
first rows % size ranks take one more, pydl's rule), in data order on both sides (no
shuffle), one thread per process (OMP_NUM_THREADS=1, set_num_threads(1)). Every epoch is
timed between two MPI barriers, after a warm-up epoch; a job reports its best epoch and each
configuration is run --repeat times, interleaved, keeping the best: the development VM is
shared and noisy, so best-of is the least disturbed run, not a typical one.

A launcher, not a pytest-benchmark suite: each measurement is an MPI job of its own. Needs
the `mpi` extra (mpi4py, mpich; the mpiexec beside this interpreter is used); torch is an
optional peer (its columns say so when it is not importable).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = {
    "mlp": {"desc": "MLP 784-256-256-10", "samples": 8192, "batch": 128},
    "cnn": {"desc": "CNN 28x28x1 conv32-conv64-dense128", "samples": 1024, "batch": 64},
}


def share(rows, rank, size):
    """Rank r's contiguous share (start, stop) of a global batch of rows: pydl's batch_share."""
    base, extra = divmod(rows, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def _data(kind):
    from pydl.benchmarks import dense as C
    from pydl.benchmarks import cnn as CNN

    n = MODELS[kind]["samples"]
    return C.mlp_data(n=n) if kind == "mlp" else CNN.images(n)


def _pydl_epoch(kind, size):
    """One epoch of pydl: a plain fit in one process, fit(distributed=True) in several."""
    from pydl.benchmarks import dense as C
    from pydl.benchmarks import cnn as CNN
    import pydl
    from pydl import distributed as dist

    pydl.set_num_threads(1)
    if size > 1:
        dist.init()
    x, y = _data(kind)
    model = C.pydl_mlp() if kind == "mlp" else CNN.pydl_cnn()
    batch = MODELS[kind]["batch"]
    return lambda: model.fit(x, y, epochs=1, batch_size=batch, shuffle=False, verbose=0, distributed=size > 1)


def _torch_epoch(kind, rank, size):
    """One epoch of torch: the usual eager loop, wrapped in DDP (gloo) with several processes."""
    import numpy as np
    import torch

    from pydl.benchmarks import dense as C
    from pydl.benchmarks import cnn as CNN

    torch.set_num_threads(1)
    x, y = _data(kind)
    if kind == "cnn":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # torch's NCHW
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    net = C.torch_mlp(torch) if kind == "mlp" else CNN.torch_cnn(torch)
    if size > 1:
        import warnings

        import torch.distributed as tdist

        # The first conv's weight (1 input channel) gets gradients whose stride of that size-1
        # axis differs from DDP's bucket view: harmless (nothing to copy differently), noisy.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")

        tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{os.environ['PYDL_BENCH_PORT']}",
                                 rank=rank, world_size=size)
        net = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.Adam(net.parameters(), lr=C.LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    samples, batch = MODELS[kind]["samples"], MODELS[kind]["batch"]
    shards = []
    for start in range(0, samples, batch):
        lo, hi = share(min(batch, samples - start), rank, size)
        shards.append((x[start + lo:start + hi], y[start + lo:start + hi]))

    def epoch():
        for xb, yb in shards:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
    return epoch


def rank_main(framework, kind, epochs, out):
    """One rank of a job: writes the best epoch's samples/s (rank 0)."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    epoch = _pydl_epoch(kind, size) if framework == "pydl" else _torch_epoch(kind, rank, size)
    epoch()  # warm-up: buffers planned, allocator and caches warm
    best = 0.0
    for _ in range(epochs):
        comm.Barrier()
        t0 = time.perf_counter()
        epoch()
        comm.Barrier()  # the job's epoch ends with its slowest rank
        best = max(best, MODELS[kind]["samples"] / (time.perf_counter() - t0))
    if rank == 0:
        Path(out).write_text(json.dumps({"samples_per_s": best}))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job(framework, kind, n, epochs):
    """Samples/s of one MPI job of n processes (its best epoch)."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYDL_BENCH_PORT": str(_free_port()),
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        subprocess.run([str(mpiexec), "-n", str(n), sys.executable, str(Path(__file__).resolve()), "--rank",
                        framework, "--models", kind, "--epochs", str(epochs), "--out", str(out)],
                       check=True, cwd=tmp, env=env)
        return json.loads(out.read_text())["samples_per_s"]


def mpi_available():
    """Whether the jobs can run: mpi4py importable and an mpiexec beside this interpreter."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None and (Path(sys.executable).parent / "mpiexec").exists()


def torch_available():
    try:
        import torch.distributed  # noqa: F401
    except ImportError:
        return False
    return True


def measure(kind, repeat=3, epochs=3):
    """{(framework, processes): best samples/s} over `repeat` interleaved jobs each."""
    frameworks = ["pydl"] + (["torch"] if torch_available() else [])
    best = {}
    for _ in range(repeat):
        for fw in frameworks:
            for n in (1, 2):
                best[fw, n] = max(best.get((fw, n), 0.0), job(fw, kind, n, epochs))
    return best


def efficiency(rates, fw):
    return rates[fw, 2] / (2 * rates[fw, 1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    p.add_argument("--repeat", type=int, default=3, help="jobs per configuration (best kept)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per job (best kept)")
    p.add_argument("--rank", choices=["pydl", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    a = p.parse_args()
    kinds = a.models.split(",")
    if unknown := [k for k in kinds if k not in MODELS]:
        p.error(f"unknown model {unknown[0]!r}; expected some of {', '.join(MODELS)}")
    if a.rank:
        rank_main(a.rank, kinds[0], a.epochs, a.out)
        return
    print(f"best of {a.repeat} jobs x {a.epochs} epochs; 1 thread per process; samples/s")
    print("| model | pydl 1 proc | pydl 2 procs | pydl scaling eff. | torch 1 proc | torch DDP 2 procs "
          "| torch scaling eff. | pydl/torch 1 proc | pydl/torch 2 procs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in kinds:
        r = measure(kind, a.repeat, a.epochs)
        spec = MODELS[kind]
        cells = [f"{spec['desc']}, b={spec['batch']}", f"{r['pydl', 1]:,.0f}", f"{r['pydl', 2]:,.0f}",
                 f"{efficiency(r, 'pydl'):.2f}"]
        if ("torch", 1) in r:
            cells += [f"{r['torch', 1]:,.0f}", f"{r['torch', 2]:,.0f}", f"{efficiency(r, 'torch'):.2f}",
                      f"{r['pydl', 1] / r['torch', 1]:.2f}", f"{r['pydl', 2] / r['torch', 2]:.2f}"]
        else:
            cells += ["torch not importable"] + [""] * 4
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
