"""Shared setup for the pydl benchmarks (pytest benches and report.py): thread control,
GEMM operands, MLP data and builders for pydl and PyTorch, and one callable per measured
case. Each ``*_case`` returns a zero-argument function doing one unit of work."""
import os
import time

import numpy as np

import pydl
from pydl import layers, optimizers
from pydl._core import kernels

THREADS = int(os.environ.get("PYDL_BENCH_THREADS", "2"))

# (M, N, K) of C[M,N] = A[M,K] @ B[K,N]; square sizes first, then the training shapes.
SQUARE_SHAPES = [(1024, 1024, 1024), (4096, 4096, 4096)]
TRAINING_SHAPES = [(64, 128, 128), (128, 256, 784), (128, 784, 256), (784, 256, 128),
                   (256, 3136, 128), (64, 128, 3136), (256, 128, 3136), (128, 256, 256)]
GEMM_SHAPES = SQUARE_SHAPES + TRAINING_SHAPES

MLP_SIZES = (784, 256, 256, 10)   # training and batch-1 inference
MLP_SAMPLES, MLP_BATCH = 8192, 128
TINY_SIZES = (10, 64, 64, 2)      # per-step framework overhead
TINY_SAMPLES, TINY_BATCH = 4096, 32
LR = 1e-3


def try_torch():
    """The torch module, or None when it is not importable (it is an optional peer)."""
    try:
        import torch
    except Exception:
        return None
    return torch


def configure_threads(n=THREADS):
    """Give pydl, torch and numpy's BLAS the same thread count; returns a note on numpy.

    pydl's GEMM is its own and runs on pydl's OpenMP threads, so only numpy's BLAS is
    touched through threadpoolctl (not torch's)."""
    pydl.set_num_threads(n)
    torch = try_torch()
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return "numpy BLAS threads not set (threadpoolctl not installed)"
    libs = [c for c in ThreadpoolController().lib_controllers
            if c.user_api == "blas" and "numpy" in c.filepath]
    for c in libs:
        c.set_num_threads(n)
    if not libs:
        return "numpy BLAS threads not set (threadpoolctl found no numpy BLAS)"
    return f"numpy BLAS limited to {n} threads via threadpoolctl"


# ---------------------------------------------------------------------------- GEMM
def gemm_flop(m, n, k):
    return 2.0 * m * n * k


def gemm_operands(m, n, k, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k), dtype=np.float32),
            rng.standard_normal((k, n), dtype=np.float32))


def gemm_case(lib, m, n, k):
    a, b = gemm_operands(m, n, k)
    if lib == "pydl":
        return lambda: kernels.gemm(a, b)
    return lambda: a @ b


# ----------------------------------------------------------------------------- MLP
def mlp_data(sizes=MLP_SIZES, n=MLP_SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=n).astype(np.int64)
    return x, y


def pydl_mlp(sizes=MLP_SIZES, seed=0):
    hidden = [layers.Dense(h, activation="relu") for h in sizes[1:-1]]
    model = pydl.Sequential([layers.Input((sizes[0],)), *hidden, layers.Dense(sizes[-1])], seed=seed)
    model.compile(optimizer=optimizers.Adam(learning_rate=LR), loss="cross_entropy")
    return model


def torch_mlp(torch, sizes=MLP_SIZES, seed=0):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def pydl_train_case(sizes=MLP_SIZES, n=MLP_SAMPLES, batch=MLP_BATCH):
    """One fit epoch (shuffled inside C++) over n samples."""
    x, y = mlp_data(sizes, n)
    model = pydl_mlp(sizes)
    return lambda: model.fit(x, y, epochs=1, batch_size=batch, shuffle=True, verbose=0)


def torch_epoch(torch, model, x, y, batch, lr=LR):
    """One eager PyTorch epoch (Adam, cross-entropy) over x, y pre-shuffled into batches:
    the usual loop (zero_grad, forward, loss, backward, step)."""
    perm = np.random.default_rng(1).permutation(len(x))
    xt, yt = torch.from_numpy(np.ascontiguousarray(x[perm])), torch.from_numpy(y[perm])
    batches = list(zip(xt.split(batch), yt.split(batch)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        for xb, yb in batches:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    return epoch


def torch_train_case(torch, sizes=MLP_SIZES, n=MLP_SAMPLES, batch=MLP_BATCH):
    """One eager epoch over the same data."""
    x, y = mlp_data(sizes, n)
    return torch_epoch(torch, torch_mlp(torch, sizes), x, y, batch)


def pydl_infer_case(sizes=MLP_SIZES):
    x1 = mlp_data(sizes, 1)[0]
    model = pydl_mlp(sizes)
    model.predict(x1, batch_size=1)  # builds the graph
    return lambda: model.predict(x1, batch_size=1)


def torch_infer_case(torch, sizes=MLP_SIZES):
    x1 = torch.from_numpy(mlp_data(sizes, 1)[0])
    model = torch_mlp(torch, sizes).eval()

    def infer():
        with torch.inference_mode():
            return model(x1)
    return infer


def steps(n, batch):
    return -(-n // batch)


# -------------------------------------------------------------------------- timing
def best_of(fn, repeat=5, number=1, warmup=1, settle=0.2):
    """Best wall time of ``number`` calls, over ``repeat`` back-to-back tries, after a pause
    and ``warmup`` calls. Tries of two libraries are not interleaved: the idle worker threads
    of one (OpenBLAS pthreads, OpenMP) keep spinning for a while and steal the 2 cores from
    the other; the pause lets them go to sleep first."""
    time.sleep(settle)
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best
