"""Benchmark summary without pytest-benchmark: best-of-N wall time (time.perf_counter, after a
warm-up; pydl and its peers in ROUNDS alternating rounds) of the same cases as bench_gemm.py / bench_mlp.py, printed as a Markdown table.
ratio = pydl speed / peer speed (>1: pydl faster). Usage: python benches/report.py
[words...] (cases whose name holds a word; dist_train launches MPI jobs: the mpi extra)."""
import platform

import numpy as np

from pydl.benchmarks import dense as C
from pydl.benchmarks import cnn as CNN
import _data_cases as D
from pydl.benchmarks import jax_peers as JAX
from pydl.benchmarks import rnn as RNN
from pydl.benchmarks import sequence as SEQ
import _tuning_cases as TUNE
import bench_distributed as DIST
import pydl

ROUNDS = 3  # alternating rounds per case (vs_torch)


def alternating_best(fns, repeat, number=1):
    """Best time of each of fns (None: skipped, gives None) over ROUNDS alternating blocks of
    tries (a, b, c, a, b, c, ...), repeat tries in all: a noisy stretch of this shared VM then
    hits every library alike, where back-to-back blocks let one library take it all."""
    best = [None if f is None else float("inf") for f in fns]
    for _ in range(ROUNDS):
        for i, f in enumerate(fns):
            if f is not None:
                best[i] = min(best[i], C.best_of(f, max(1, -(-repeat // ROUNDS)), number))
    return best


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(only=()):
    """``only``: run just the cases whose name contains one of these words (all by default)."""
    note = C.configure_threads(C.THREADS)

    def wanted(case):
        return not only or any(w in case for w in only)
    torch = C.try_torch()
    jax = JAX.try_jax()
    rows = []  # (case, pydl text, peer text, ratio[, jax text, jax ratio])

    for m, n, k in C.GEMM_SHAPES if wanted("sgemm") else ():
        big = m * n * k >= 4096 ** 3
        repeat, number = (3, 1) if big else (15, max(1, int(1e8 // C.gemm_flop(m, n, k))))
        t = alternating_best([C.gemm_case(lib, m, n, k) for lib in ("pydl", "numpy")], repeat, number)
        g = [C.gemm_flop(m, n, k) / x / 1e9 for x in t]
        rows.append((f"sgemm {m}x{n}x{k} (GFLOP/s)", f"{g[0]:.1f}", f"numpy {g[1]:.1f}", t[1] / t[0]))

    def vs_torch(case, pydl_fn, torch_fn, fmt, repeat=15, number=1, jax_fn=None):
        """pydl against PyTorch eager (and JAX jit when jax_fn is given), same run."""
        if not wanted(case):
            return None, None
        tp, tt, tj = alternating_best([pydl_fn, None if torch is None else torch_fn(),
                                       None if jax_fn is None or jax is None else jax_fn()], repeat, number)
        row = [case, fmt(tp), "torch not installed" if tt is None else "torch " + fmt(tt),
               None if tt is None else tt / tp]
        if jax_fn is not None:
            row += ["jax not installed" if tj is None else "jax " + fmt(tj), None if tj is None else tj / tp]
        rows.append(tuple(row))
        return tp, tt

    n, b = C.MLP_SAMPLES, C.MLP_BATCH
    vs_torch(f"train MLP 784-256-256-10, b={b} (samples/s)", C.pydl_train_case(),
             lambda: C.torch_train_case(torch), lambda t: f"{n / t:,.0f}", repeat=9, jax_fn=JAX.mlp_train_case)
    vs_torch("infer MLP 784-256-256-10, b=1 (us/call)", C.pydl_infer_case(),
             lambda: C.torch_infer_case(torch), lambda t: f"{t * 1e6:.1f}", number=200)
    tn, tb = C.TINY_SAMPLES, C.TINY_BATCH
    per = C.steps(tn, tb) / 1e6
    tp, tt = vs_torch(f"train tiny MLP 10-64-64-2, b={tb} (us/step)",
                      C.pydl_train_case(C.TINY_SIZES, tn, tb),
                      lambda: C.torch_train_case(torch, C.TINY_SIZES, tn, tb), lambda t: f"{t / per:.1f}")

    vs_torch(f"cnn_train 28x28x1, b={CNN.TRAIN_BATCH} (samples/s)", CNN.pydl_train_case(),
             lambda: CNN.torch_train_case(torch), lambda t: f"{CNN.TRAIN_SAMPLES / t:,.0f}", repeat=5,
             jax_fn=JAX.cnn_train_case)
    vs_torch(f"resnet_train (functional, residual block) 28x28x1, b={CNN.TRAIN_BATCH} (samples/s)",
             CNN.pydl_resnet_train_case(), lambda: CNN.torch_resnet_train_case(torch),
             lambda t: f"{CNN.TRAIN_SAMPLES / t:,.0f}", repeat=5, jax_fn=JAX.resnet_train_case)
    vs_torch(f"cnn_infer 28x28x1, b={CNN.INFER_BATCH} (samples/s)", CNN.pydl_infer_case(),
             lambda: CNN.torch_infer_case(torch), lambda t: f"{CNN.INFER_SAMPLES / t:,.0f}", repeat=5,
             jax_fn=JAX.cnn_infer_case)
    for name, shape, filters in CNN.CONV_LAYERS:
        vs_torch(f"{name} fwd+bwd, b={CNN.TRAIN_BATCH} (samples/s)", CNN.pydl_conv_case(shape, filters),
                 lambda: CNN.torch_conv_case(torch, shape, filters), lambda t: f"{CNN.TRAIN_BATCH / t:,.0f}",
                 repeat=9)

    for cell in ("lstm", "gru"):
        vs_torch(f"{cell}_train T=32 F=32 U=128, b={RNN.BATCH} (samples/s)", RNN.pydl_train_case(cell),
                 lambda: RNN.torch_train_case(torch, cell), lambda t: f"{RNN.SAMPLES / t:,.0f}", repeat=5,
                 jax_fn=JAX.lstm_train_case if cell == "lstm" else None)

    for kind, desc in (("encoder", "2-block encoder D=128 h=4 ff=256"), ("conv1d", "Conv1D(128, 5) text classifier")):
        vs_torch(f"{kind}_train {desc}, T={SEQ.STEPS} vocab={SEQ.VOCAB}, b={SEQ.BATCH} (samples/s)",
                 SEQ.pydl_train_case(kind), lambda: SEQ.torch_train_case(torch, kind),
                 lambda t: f"{SEQ.SAMPLES / t:,.0f}", repeat=3)
    if wanted("conv1d"):
        conv, gemm = (C.best_of(f, 9) for f in SEQ.conv1d_vs_gemm_cases())
        rows.append((f"conv1d forward vs same-shape GEMM, b={SEQ.BATCH} (ms)", f"{conv * 1e3:.2f}",
                     f"gemm {gemm * 1e3:.2f}", gemm / conv))

    for shape in D.SHAPES if wanted("loader") else ():
        t = C.best_of(D.loader_case(shape), 3)
        rows.append((f"loader flip+crop+rotation {'x'.join(map(str, shape))} (images/s)",
                     f"{D.LOADER_SAMPLES / t:,.0f}", "torchvision not compared", None))
    if wanted("loader"):
        plain, augmented = (C.best_of(D.cnn_train_case(a), 3) for a in (False, True))
        rows.append(("cnn_train from a DataLoader, augmented vs plain (samples/s)", f"{CNN.TRAIN_SAMPLES / augmented:,.0f}",
                     f"plain {CNN.TRAIN_SAMPLES / plain:,.0f}", plain / augmented))

    for kind in DIST.MODELS if wanted("dist_train") else ():
        spec = DIST.MODELS[kind]
        case = f"dist_train {spec['desc']}, b={spec['batch']}, 2 procs x 1 thread (samples/s, scaling eff.)"
        if not DIST.mpi_available():
            rows.append((case, "n/a", 'mpi4py/mpiexec not installed (pip install "pydl[mpi]")', None))
            continue
        r = DIST.measure(kind, repeat=2, epochs=2)
        peer = ("torch not installed" if ("torch", 2) not in r else
                f"torch DDP {r['torch', 2]:,.0f} (eff {DIST.efficiency(r, 'torch'):.2f})")
        rows.append((case, f"{r['pydl', 2]:,.0f} (eff {DIST.efficiency(r, 'pydl'):.2f})", peer,
                     r["pydl", 2] / r["torch", 2] if ("torch", 2) in r else None))

    base_acc, base_t = TUNE.pydl_search("random") if wanted("tuning") else (None, None)
    for kind in ("random", "bayesian", "hyperband", "optuna") if wanted("tuning") else ():
        try:
            acc, t = TUNE.optuna_search() if kind == "optuna" else TUNE.pydl_search(kind)
        except ImportError:
            rows.append(("tuning digits MLP, 20 trials: optuna TPE", "n/a", "optuna not installed", None))
            continue
        rows.append((f"tuning digits MLP, 20 trials: {kind} (best val accuracy / s)", f"{acc:.4f} / {t:.2f}",
                     f"random {base_acc:.4f} / {base_t:.2f}", None))

    versions = (f"pydl {pydl.__version__}, numpy {np.__version__}, torch " + (torch.__version__ if torch else "n/a")
                + ", jax " + (jax.__version__ if jax else "n/a"))
    print(f"Threads: {C.THREADS} ({note}); CPU: {cpu_model()}; {versions}\n")
    print("| case | pydl | peer | ratio (pydl/peer speed) | JAX jit | ratio (pydl/JAX speed) |")
    print("|---|---:|---:|---:|---:|---:|")
    fmt = lambda r: "n/a" if r is None else f"{r:.2f}"  # noqa: E731
    for row in rows:
        case, a, p, r = row[:4]
        j, rj = row[4:] if len(row) == 6 else ("", None)
        print(f"| {case} | {a} | {p} | {fmt(r)} | {j} | {fmt(rj) if j else ''} |")
    if tt is not None and tp is not None:
        print(f"\nTiny-MLP per-step time: pydl {tp / per:.1f} us, torch {tt / per:.1f} us, "
              f"difference (torch - pydl) {(tt - tp) / per:+.1f} us/step.")


if __name__ == "__main__":
    import sys

    main(tuple(sys.argv[1:]))
