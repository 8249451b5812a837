"""The named cases of ``pydl bench``, their FLOP counts, and the runner that times pydl beside
the installed peers (PyTorch eager, JAX jit) and the machine's measured peak FLOP/s.

FLOPs are counted as GEMM-equivalent work: 2 per multiply-add of the dense, convolution,
recurrent and attention products; elementwise work (activations, pooling, normalisation, the
loss, the optimizer) is not counted. Training counts 3x the forward products: the forward
product, the input gradient and the weight gradient are one GEMM each, the usual convention.
A case's share of the peak is its counted FLOP/s over ``peak_flops`` on the same threads, so
it reads as how much of the FMA units' ceiling the library reaches, not as an exact efficiency.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import cnn as CNN
from . import dense as C
from . import jax_peers as JAX
from . import rnn as RNN
from . import sequence as SEQ

PEERS = {"torch": "PyTorch eager", "jax": "JAX jit"}
SGEMM = (1024, 1024, 1024)


@dataclass(frozen=True)
class Case:
    """One benchmark: factories of zero-argument callables doing one call's work for pydl and
    each peer (None: no peer version), the units of work per call and FLOPs per call.

    ``unit`` is how results read: ``samples/s`` and ``GFLOP/s`` (higher is better) or
    ``us/step`` (lower is better); ``work`` is the samples or steps one call processes."""
    name: str
    description: str
    unit: str
    work: float
    flop: float
    pydl: Callable[[], Callable[[], object]]
    torch: Optional[Callable[[object], Callable[[], object]]] = None
    jax: Optional[Callable[[], Callable[[], object]]] = None
    repeat: int = 5

    def rate(self, seconds: float) -> float:
        """The result of one call taking ``seconds``, in ``unit``."""
        if self.unit == "us/step":
            return seconds / self.work * 1e6
        if self.unit == "GFLOP/s":
            return self.flop / seconds / 1e9
        return self.work / seconds


# ------------------------------------------------------------------- FLOPs per sample
def dense_flop(sizes: Sequence[int]) -> float:
    """Forward FLOPs of one sample through Dense layers of these widths."""
    return float(sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:])))


def cnn_flop() -> float:
    """Forward FLOPs of one 28x28x1 image through the CNN of cnn.py (3x3 'same' convolutions)."""
    conv = sum(2 * h * w * c * 9 * f for _, (h, w, c), f in CNN.CONV_LAYERS)
    return conv + dense_flop((64 * 7 * 7, 128, 10))


def resnet_flop() -> float:
    """Forward FLOPs of one image through the residual CNN of cnn.py."""
    conv = 2 * 9 * (28 * 28 * 32 * (1 + 32 + 32) + 14 * 14 * 64 * 32)
    return conv + dense_flop((64 * 7 * 7, 10))


def recurrent_flop(gates: int) -> float:
    """Forward FLOPs of one sequence of rnn.py: T steps of x W (F x gU) and h U (U x gU), the head."""
    return 2.0 * RNN.STEPS * (RNN.FEATURES + RNN.UNITS) * gates * RNN.UNITS + dense_flop((RNN.UNITS, 10))


def encoder_flop() -> float:
    """Forward FLOPs of one sequence through sequence.py's 2-block encoder: Q, K, V and output
    projections, the scores and the weighted sum over T x T, the feed-forward pair, the head."""
    t, d = SEQ.STEPS, SEQ.DIM
    block = 4 * 2 * t * d * d + 2 * 2 * t * t * d + 2 * 2 * t * d * SEQ.FF
    return 2.0 * block + dense_flop((d, 2))


def conv1d_flop() -> float:
    """Forward FLOPs of one sequence through sequence.py's Conv1D text classifier ('valid')."""
    steps = SEQ.STEPS - SEQ.CONV_KERNEL + 1
    return 2.0 * steps * SEQ.CONV_KERNEL * SEQ.DIM * SEQ.CONV_FILTERS + dense_flop((SEQ.CONV_FILTERS, 2))


# ---------------------------------------------------------------------------- sgemm
def _sgemm_torch(torch):
    a, b = (torch.from_numpy(x) for x in C.gemm_operands(*SGEMM))
    return lambda: torch.mm(a, b)


def _sgemm_jax():
    import jax
    import jax.numpy as jnp

    a, b = (jax.device_put(x) for x in C.gemm_operands(*SGEMM))
    mm = jax.jit(jnp.matmul)
    return lambda: mm(a, b).block_until_ready()


def _cases() -> Dict[str, Case]:
    m, n, k = SGEMM
    ts, tb = C.TINY_SAMPLES, C.TINY_BATCH
    mlp, tiny = "-".join(map(str, C.MLP_SIZES)), "-".join(map(str, C.TINY_SIZES))
    cases = [
        Case("sgemm", f"float32 GEMM {m}x{n}x{k}", "GFLOP/s", 1, C.gemm_flop(m, n, k),
             lambda: C.gemm_case("pydl", m, n, k), _sgemm_torch, _sgemm_jax, repeat=10),
        Case("mlp_train", f"MLP {mlp}, Adam, b={C.MLP_BATCH}, one epoch", "samples/s", C.MLP_SAMPLES,
             3 * dense_flop(C.MLP_SIZES) * C.MLP_SAMPLES, C.pydl_train_case, C.torch_train_case,
             JAX.mlp_train_case),
        Case("tiny_mlp_step", f"MLP {tiny}, Adam, b={tb}: per-step overhead", "us/step", C.steps(ts, tb),
             3 * dense_flop(C.TINY_SIZES) * ts, lambda: C.pydl_train_case(C.TINY_SIZES, ts, tb),
             lambda torch: C.torch_train_case(torch, C.TINY_SIZES, ts, tb),
             lambda: JAX.mlp_train_case(C.TINY_SIZES, ts, tb)),
        Case("cnn_train", f"CNN 28x28x1 conv32-conv64-dense128, Adam, b={CNN.TRAIN_BATCH}", "samples/s",
             CNN.TRAIN_SAMPLES, 3 * cnn_flop() * CNN.TRAIN_SAMPLES, CNN.pydl_train_case, CNN.torch_train_case,
             JAX.cnn_train_case, repeat=3),
        Case("resnet_train", f"residual CNN 28x28x1 (functional), Adam, b={CNN.TRAIN_BATCH}", "samples/s",
             CNN.TRAIN_SAMPLES, 3 * resnet_flop() * CNN.TRAIN_SAMPLES, CNN.pydl_resnet_train_case,
             CNN.torch_resnet_train_case, JAX.resnet_train_case, repeat=3),
        Case("cnn_infer", f"CNN 28x28x1 predict, b={CNN.INFER_BATCH}", "samples/s", CNN.INFER_SAMPLES,
             cnn_flop() * CNN.INFER_SAMPLES, CNN.pydl_infer_case, CNN.torch_infer_case, JAX.cnn_infer_case,
             repeat=3),
        Case("lstm_train", f"LSTM({RNN.UNITS}) T={RNN.STEPS} F={RNN.FEATURES}, Adam, b={RNN.BATCH}", "samples/s",
             RNN.SAMPLES, 3 * recurrent_flop(4) * RNN.SAMPLES, lambda: RNN.pydl_train_case("lstm"),
             lambda torch: RNN.torch_train_case(torch, "lstm"), JAX.lstm_train_case, repeat=3),
        Case("gru_train", f"GRU({RNN.UNITS}) T={RNN.STEPS} F={RNN.FEATURES}, Adam, b={RNN.BATCH}", "samples/s",
             RNN.SAMPLES, 3 * recurrent_flop(3) * RNN.SAMPLES, lambda: RNN.pydl_train_case("gru"),
             lambda torch: RNN.torch_train_case(torch, "gru"), repeat=3),
        Case("encoder_train", f"2-block Transformer encoder D={SEQ.DIM} h={SEQ.HEADS} T={SEQ.STEPS}, "
             f"b={SEQ.BATCH}", "samples/s", SEQ.SAMPLES, 3 * encoder_flop() * SEQ.SAMPLES,
             lambda: SEQ.pydl_train_case("encoder"), lambda torch: SEQ.torch_train_case(torch, "encoder"), repeat=3),
        Case("conv1d_train", f"Conv1D({SEQ.CONV_FILTERS}, {SEQ.CONV_KERNEL}) text classifier T={SEQ.STEPS}, "
             f"b={SEQ.BATCH}", "samples/s", SEQ.SAMPLES, 3 * conv1d_flop() * SEQ.SAMPLES,
             lambda: SEQ.pydl_train_case("conv1d"), lambda torch: SEQ.torch_train_case(torch, "conv1d"), repeat=3),
    ]
    return {c.name: c for c in cases}


CASES: Dict[str, Case] = _cases()


def select(words: Sequence[str]) -> List[Case]:
    """The cases named by ``words`` (an exact name, or a part of names: ``train`` selects every
    training case), in the suite's order; all of them when ``words`` is empty."""
    unknown = [w for w in words if not any(w in name for name in CASES)]
    if unknown:
        raise ValueError(f"unknown bench case {unknown[0]!r}; known cases: {', '.join(CASES)}")
    return [c for name, c in CASES.items() if not words or name in words or any(w in name for w in words)]


def peak_flops(seconds: float = 0.2, threads: Optional[int] = None) -> float:
    """This machine's measured peak float32 FLOP/s on ``threads`` threads (pydl's thread count
    by default): independent FMA chains in registers for about ``seconds``, on the best SIMD
    instruction set the CPU has. An FMA counts 2 FLOPs."""
    import pydl
    from pydl._core import kernels

    threads = pydl.get_num_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"peak_flops: expected an integer number of threads, got {threads!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.floating)):
        raise TypeError(f"peak_flops: expected seconds as a number, got {seconds!r}")
    return kernels.peak_flops(float(seconds), int(threads))


def installed_peers() -> Dict[str, Any]:
    """{"torch": module, "jax": module} for the peers that import (JAX needs optax too)."""
    peers = {"torch": C.try_torch(), "jax": JAX.try_jax()}
    return {k: v for k, v in peers.items() if v is not None}


def run(cases: Sequence[Case], threads: int, repeat: Optional[int] = None, peak_seconds: float = 0.2,
        peers: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Times every case with pydl and each peer (best of ``repeat`` calls after a warm-up; the
    case's own count by default) on ``threads`` threads; one row per case. A row holds the
    case, its unit and FLOPs per call, ``pydl`` (the result in ``unit``), ``pydl_seconds``,
    ``pydl_peak_share``, and for each installed peer ``<peer>``, ``<peer>_seconds``,
    ``<peer>_peak_share`` and ``pydl/<peer>`` (pydl's speed over the peer's: > 1, pydl is
    faster), None where the case has no version for that peer; ``peak_gflops`` is the higher of
    two probes of ``peak_seconds``, before and after the cases."""
    if repeat is not None and repeat < 1:
        raise ValueError(f"repeat: expected at least 1, got {repeat}")
    C.configure_threads(threads)
    peers = installed_peers() if peers is None else peers
    # The peak is probed before and after the cases and the higher kept: on a shared machine
    # one probe can land while another process holds a core.
    peak = peak_flops(peak_seconds, threads)
    rows = []
    for case in cases:
        n = repeat or case.repeat
        row: Dict[str, Any] = {"case": case.name, "description": case.description, "unit": case.unit,
                                  "flop_per_call": case.flop, "threads": threads}
        t_pydl = C.best_of(case.pydl(), n)
        row.update(pydl=case.rate(t_pydl), pydl_seconds=t_pydl)
        for name, module in peers.items():
            factory = getattr(case, name)
            t = None
            if factory is not None:
                t = C.best_of(factory(module) if name == "torch" else factory(), n)
            row[name] = None if t is None else case.rate(t)
            row[f"{name}_seconds"] = t
            row[f"pydl/{name}"] = None if t is None else t / t_pydl
        rows.append(row)
    peak = max(peak, peak_flops(peak_seconds, threads))
    for row in rows:
        row["peak_gflops"] = peak / 1e9
        for lib in ("pydl", *peers):
            t = row[f"{lib}_seconds"]
            row[f"{lib}_peak_share"] = None if t is None else row["flop_per_call"] / t / peak
    return rows

def _cell(value, fmt):
    return "n/a" if value is None else fmt(value)


def format_table(rows: List[Dict[str, Any]], peers: Sequence[str]) -> str:
    """The rows as a Markdown table: results, pydl/peer speed ratios, shares of the peak."""
    names = [PEERS[p] for p in peers]
    head = ["case", "unit", "pydl", *names, *[f"pydl/{n}" for n in names], "pydl % peak",
            *[f"{n} % peak" for n in names]]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    value = lambda v: f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"  # noqa: E731
    for r in rows:
        cells = [f"{r['case']} ({r['description']})", str(r["unit"]), value(r["pydl"])]
        cells += [_cell(r[p], value) for p in peers]
        cells += [_cell(r[f"pydl/{p}"], lambda v: f"{v:.2f}") for p in peers]
        cells += [_cell(r[f"{k}_peak_share"], lambda v: f"{100 * v:.1f}%") for k in ("pydl", *peers)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(threads: int, peak: float, peers: Dict[str, Any]) -> str:
    """The line above the table: threads, the measured peak, the ISA, the versions."""
    import pydl
    from pydl import _sysinfo

    isa = _sysinfo.simd_level(_sysinfo.cpu_flags())["isa"]
    versions = [f"pydl {pydl.__version__}"] + [f"{PEERS[k]} {m.__version__}" for k, m in peers.items()]
    note = "; JAX runs on XLA's own thread pool (all cores)" if "jax" in peers else ""
    return (f"{threads} threads; measured peak {peak / 1e9:,.1f} GFLOP/s float32 ({isa}, {platform.machine()}); "
            f"{', '.join(versions)}{note}. pydl/peer > 1: pydl faster; us/step: lower is better.")

