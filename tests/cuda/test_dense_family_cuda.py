"""The dense family's CUDA kernels against the CPU kernels: GEMM (cuBLASLt, fp32 compute),
Dense, activations, dropout, embedding, merges, normalization.

Each kernel runs through pydl.kernels on the CPU and inside ``on_device("cuda")`` on the same
fresh random inputs; results must agree within the tolerance stated per op, and two CUDA runs
must be bitwise equal (no float atomics, fixed reduction orders, a cached cuBLASLt algorithm).
Device buffers start as NaN (PYDL_CUDA_POISON=1, read once when pydl loads CUDA), so an
element a kernel leaves unwritten fails the comparison. Skipped without a GPU.
"""
import os

os.environ.setdefault("PYDL_CUDA_POISON", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pydl  # noqa: E402
from pydl import _core  # noqa: E402
from pydl import kernels as K  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not pydl.cuda.is_available(), reason="no CUDA device (or pydl built without CUDA)"),
]

# Tolerances (float32 on both sides; the CPU's and cuBLASLt's sums run in different orders):
GEMM_RTOL = 1e-4      # relative to the largest |C| (fp32 compute on both, never TF32)
ELEMENTWISE = 2e-6    # one or two float roundings apart (exp/erf/tanh of CUDA vs libm)
REDUCED = 1e-5        # row / column sums in a different order (double sums for the norms)


def _rng(seed):
    return np.random.default_rng(seed)


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def cpu_and_cuda(fn, *args, **kwargs):
    """(CPU result, CUDA result) as lists of arrays; asserts two CUDA runs are bitwise equal."""
    cpu = _as_list(fn(*args, **kwargs))
    with K.on_device("cuda"):
        first = _as_list(fn(*args, **kwargs))
        second = _as_list(fn(*args, **kwargs))
    assert len(first) == len(second) == len(cpu)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b, equal_nan=False), f"{getattr(fn, '__name__', fn)}: two CUDA runs differ"
    return cpu, first


def assert_close(cpu, gpu, tol, what, scale=None):
    assert len(cpu) == len(gpu)
    for i, (c, g) in enumerate(zip(cpu, gpu, strict=True)):
        c, g = np.asarray(c), np.asarray(g)
        assert c.shape == g.shape and c.dtype == g.dtype, f"{what}[{i}]: {g.shape} {g.dtype} vs {c.shape} {c.dtype}"
        assert np.isfinite(g).all() == np.isfinite(c).all(), f"{what}[{i}]: non-finite values differ (unwritten?)"
        s = scale if scale is not None else max(1.0, float(np.abs(c).max(initial=0.0)))
        err = float(np.abs(c.astype(np.float64) - g.astype(np.float64)).max(initial=0.0))
        assert err <= tol * s, f"{what}[{i}]: max error {err:.3g} > {tol:g} * {s:.3g}"


# ---------------------------------------------------------------- GEMM

GEMM_SHAPES = [(1, 1, 1), (3, 17, 5), (17, 3, 1000), (1000, 17, 3), (33, 1025, 65), (1031, 257, 129)]


@pytest.mark.parametrize("m,n,k", GEMM_SHAPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_transposes(m, n, k, trans_a, trans_b):
    r = _rng(m * 7 + n * 3 + k)
    a = r.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = r.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.gemm, a, b, trans_a=trans_a, trans_b=trans_b)
    ref = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    assert_close([ref.astype(np.float32)], cpu, GEMM_RTOL, "gemm cpu vs float64")
    assert_close(cpu, gpu, GEMM_RTOL, f"gemm {m}x{n}x{k} ta={trans_a} tb={trans_b}")


@pytest.mark.parametrize("act", ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax"])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("m,n,k", [(1, 3, 17), (17, 1000, 3), (257, 33, 1001)])
def test_gemm_epilogues(act, with_bias, m, n, k):
    r = _rng(11 + m + n + k)
    a = r.standard_normal((m, k)).astype(np.float32)
    b = r.standard_normal((k, n)).astype(np.float32) / np.sqrt(k)
    c = r.standard_normal((m, n)).astype(np.float32)
    bias = r.standard_normal(n).astype(np.float32) if with_bias else None
    cpu, gpu = cpu_and_cuda(K.gemm, a, b, alpha=0.75, beta=0.5, c=c, bias=bias, activation=act)
    assert_close(cpu, gpu, GEMM_RTOL, f"gemm epilogue {act} bias={with_bias}")


def test_gemm_degenerate_and_non_contiguous_inputs():
    r = _rng(5)
    a = r.standard_normal((9, 7)).astype(np.float32)
    b = r.standard_normal((7, 13)).astype(np.float32)
    bias = r.standard_normal(14).astype(np.float32)[1:]  # a view at an odd offset (staged as a copy)
    cpu, gpu = cpu_and_cuda(K.gemm, a, b, bias=bias, activation="relu")
    assert_close(cpu, gpu, GEMM_RTOL, "gemm offset bias")
    cpu, gpu = cpu_and_cuda(K.gemm, a[:, ::2], b[::2, 1:], activation="sigmoid")  # strided: copied contiguous
    assert_close(cpu, gpu, GEMM_RTOL, "gemm strided inputs")
    c = r.standard_normal((9, 13)).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.gemm, a, b, alpha=0.0, beta=2.0, c=c, bias=bias[:13], activation="tanh")
    assert_close(cpu, gpu, ELEMENTWISE, "gemm alpha=0")
    cpu, gpu = cpu_and_cuda(K.gemm, np.zeros((4, 0), np.float32), np.zeros((0, 6), np.float32), bias=bias[:6])
    assert_close(cpu, gpu, 0.0, "gemm K=0")


# ---------------------------------------------------------------- activations and Dense

ACTS = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax"]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (70000, 3), (5, 1000)])
def test_activation_forward_backward(act, shape):
    r = _rng(len(act) + shape[0])
    x = (r.standard_normal(shape) * 4).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.activation_forward, x, act)
    assert_close(cpu, gpu, ELEMENTWISE if act != "softmax" else REDUCED, f"{act} forward")
    y = cpu[0]
    dy = r.standard_normal(shape).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.activation_backward, dy, x, y, act)
    assert_close(cpu, gpu, ELEMENTWISE if act != "softmax" else REDUCED, f"{act} backward")


@pytest.mark.parametrize("act", ["relu", "gelu", "softmax", "linear"])
@pytest.mark.parametrize("n,fin,units", [(1, 3, 1), (17, 1000, 33), (1030, 17, 65)])
def test_dense_forward_backward(act, n, fin, units):
    r = _rng(n + fin + units)
    x = r.standard_normal((n, fin)).astype(np.float32)
    w = (r.standard_normal((fin, units)) / np.sqrt(fin)).astype(np.float32)
    b = r.standard_normal(units).astype(np.float32)
    keep = act == "gelu"
    cpu, gpu = cpu_and_cuda(K.dense_forward, x, w, b, act, keep)
    assert_close(cpu, gpu, GEMM_RTOL, f"dense_forward {act}")
    y, z = cpu
    dy = r.standard_normal((n, units)).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.dense_backward, dy, x, w, y, z if keep else None, act)
    assert_close(cpu, gpu, GEMM_RTOL, f"dense_backward {act}")


# ---------------------------------------------------------------- dropout

@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (1000, 1031)])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_dropout_masks_equal_cpu(shape, rate):
    x = _rng(3).standard_normal(shape).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.dropout_forward, x, rate, seed=1234, stream=7, counter=(5 << 32) + 11)
    assert np.array_equal(cpu[1], gpu[1]), "dropout masks differ between CPU and CUDA for the same seed"
    assert np.array_equal(cpu[0], gpu[0]), "dropout outputs differ (same mask, same scale)"
    dy = _rng(4).standard_normal(shape).astype(np.float32)
    cpu_b, gpu_b = cpu_and_cuda(K.dropout_backward, dy, cpu[1], rate)
    assert np.array_equal(cpu_b[0], gpu_b[0])


# ---------------------------------------------------------------- embedding

@pytest.mark.parametrize("count,vocab,dim", [(1, 1, 1), (17, 3, 5), (4099, 50, 33), (70000, 7, 3)])
def test_embedding_repeated_ids(count, vocab, dim):
    r = _rng(count + vocab)
    ids = r.integers(0, vocab, size=count).astype(np.int64)  # many repeats
    table = r.standard_normal((vocab, dim)).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.embedding_forward, table, ids)
    assert np.array_equal(cpu[0], gpu[0])
    dy = r.standard_normal((count, dim)).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.embedding_backward, dy, ids, vocab)
    # Each id's rows are added in token order on both backends: the very same float sums.
    assert np.array_equal(cpu[0], gpu[0]), "embedding_backward: CUDA sums differ from the CPU's"
    ref = np.zeros((vocab, dim))
    np.add.at(ref, ids, dy.astype(np.float64))
    assert np.abs(gpu[0] - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_embedding_ids_and_bad_id():
    x = np.array([[0, 3, 2], [1, 0, 4]], np.float32)
    cpu, gpu = cpu_and_cuda(_core.kernels.embedding_ids, x, 5)
    assert np.array_equal(cpu[0], gpu[0]) and np.array_equal(cpu[1], gpu[1])
    bad = np.array([0, 1, 2.5, 7], np.float32)
    with K.on_device("cuda"), pytest.raises(ValueError, match="flat position 2"):
        _core.kernels.embedding_ids(bad, 5)


# ---------------------------------------------------------------- merges

@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "average", "maximum", "minimum"])
@pytest.mark.parametrize("shape", [(1,), (3, 17), (1000, 67)])
def test_merge(op, shape):
    r = _rng(len(op))
    k = 2 if op == "subtract" else 3
    xs = [r.standard_normal(shape).astype(np.float32) for _ in range(k)]
    if op in ("maximum", "minimum"):
        xs[1].flat[::5] = xs[0].flat[::5]  # ties: the first input gets the gradient on both
    cpu, gpu = cpu_and_cuda(K.merge_forward, op, xs)
    assert_close(cpu, gpu, 0.0, f"merge {op} forward")
    dy = r.standard_normal(shape).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.merge_backward, op, dy, xs)
    assert_close(cpu, gpu, 0.0, f"merge {op} backward")


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    r = _rng(axis + 10)
    widths = [1, 0, 17, 3]
    shapes = [[5, 7, 4] for _ in widths]
    for s, w in zip(shapes, widths, strict=True):
        s[axis] = w
    xs = [r.standard_normal(s).astype(np.float32) for s in shapes]
    cpu, gpu = cpu_and_cuda(K.concat_forward, xs, axis)
    assert_close(cpu, gpu, 0.0, "concat forward")
    cpu_b, gpu_b = cpu_and_cuda(K.concat_backward, cpu[0], widths, axis)
    assert_close(cpu_b, gpu_b, 0.0, "concat backward")


@pytest.mark.parametrize("mode", ["concat", "sum", "ave", "mul"])
def test_bidirectional_merge(mode):
    r = _rng(len(mode))
    a, b = (r.standard_normal((13, 7, 33)).astype(np.float32) for _ in range(2))
    cpu, gpu = cpu_and_cuda(K.bidirectional_merge_forward, mode, a, b)
    assert_close(cpu, gpu, 0.0, f"bidirectional {mode} forward")
    dy = r.standard_normal(cpu[0].shape).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.bidirectional_merge_backward, mode, dy, a, b)
    assert_close(cpu, gpu, 0.0, f"bidirectional {mode} backward")


# ---------------------------------------------------------------- normalization

@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (4, 9, 9, 5), (70000, 3), (2050, 129)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm(shape, training):
    r = _rng(shape[0] + shape[-1])
    c = shape[-1]
    x = (r.standard_normal(shape) * 3 + 1).astype(np.float32)
    gamma, beta = r.standard_normal(c).astype(np.float32), r.standard_normal(c).astype(np.float32)
    mm0, mv0 = r.standard_normal(c).astype(np.float32), r.random(c).astype(np.float32) + 0.5

    def forward():  # fresh moving statistics each run: they are updated in place
        mm, mv = mm0.copy(), mv0.copy()
        y, stats = K.batchnorm_forward(x, gamma, beta, mm, mv, training, momentum=0.9, epsilon=1e-3)
        return (y, stats, mm, mv) if training else (y, mm, mv)

    cpu, gpu = cpu_and_cuda(forward)
    assert_close(cpu, gpu, REDUCED, f"batchnorm forward training={training}")
    stats = cpu[1] if training else np.zeros((2, c))
    dy = r.standard_normal(shape).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.batchnorm_backward, dy, x, gamma, stats, mm0, mv0, training, 1e-3)
    assert_close(cpu, gpu, REDUCED, f"batchnorm backward training={training}")


@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (70000, 5), (7, 4099)])
def test_layernorm(shape):
    r = _rng(shape[-1])
    c = shape[-1]
    x = (r.standard_normal(shape) * 2 - 1).astype(np.float32)
    gamma, beta = r.standard_normal(c).astype(np.float32), r.standard_normal(c).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.layernorm_forward, x, gamma, beta, 1e-5)
    assert_close(cpu, gpu, REDUCED, "layernorm forward")
    dy = r.standard_normal(shape).astype(np.float32)
    cpu, gpu = cpu_and_cuda(K.layernorm_backward, dy, x, gamma, cpu[1])
    assert_close(cpu, gpu, REDUCED, "layernorm backward")


def test_normalization_fixed_statistics():
    r = _rng(9)
    x = r.standard_normal((1001, 7)).astype(np.float32)
    mean = r.standard_normal(7).astype(np.float32)
    var = np.array([0.5, 2.0, 0.0, 1.0, 3.0, -1.0, 0.25], np.float32)  # <= 0: divides by 1
    cpu, gpu = cpu_and_cuda(K.normalization_forward, x, mean, var)
    assert_close(cpu, gpu, ELEMENTWISE, "normalization forward")
    cpu, gpu = cpu_and_cuda(K.normalization_backward, x, var)
    assert_close(cpu, gpu, ELEMENTWISE, "normalization backward")


def test_float64_refused_on_cuda():
    x = np.ones((2, 3))
    with K.on_device("cuda"), pytest.raises(RuntimeError, match="float64"):
        K.activation_forward(x, "relu")


def test_every_dense_family_entry_registered():
    names = set(pydl.cuda.kernel_names())
    expected = {
        "gemm", "dense_forward", "dense_backward", "bias_backward", "activation_forward", "activation_backward",
        "dropout_forward", "dropout_backward", "embedding_ids", "embedding_forward", "embedding_backward",
        "merge_forward", "merge_backward", "concat_forward", "concat_backward", "bidirectional_merge_forward",
        "bidirectional_merge_backward", "batchnorm_sum", "batchnorm_centered_squares", "batchnorm_statistics",
        "batchnorm_normalize", "batchnorm_forward_train", "batchnorm_forward_infer", "batchnorm_grad_sums",
        "batchnorm_param_grads", "batchnorm_input_grad", "batchnorm_backward_train", "batchnorm_backward_infer",
        "layernorm_forward", "layernorm_backward", "normalization_forward", "normalization_backward",
    }
    assert expected <= names, f"missing CUDA kernels: {sorted(expected - names)}"
