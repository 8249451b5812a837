"""The CUDA image kernels (Conv2D / Conv1D, 2-D / 1-D / global pooling, augmentation) against
the CPU kernels on the same fresh random inputs, through pydl.kernels inside
``on_device("cuda")``. Device outputs start as NaN (PYDL_CUDA_POISON=1), so an element a CUDA
kernel leaves unwritten fails. Every CUDA result is computed twice and must be bitwise equal
(no atomics: reproducible run to run).

Tolerances (float32): convolutions 1e-4 relative to the output's scale (cuBLAS SGEMM vs pydl's
GEMM, sums of up to ~600 products in another order); average pools 1e-6 (the same order, fused
multiply-adds may differ); max pools, flips, crops, brightness, nearest resize and the max-pool
gradients exactly (the CUDA kernels visit the CPU's order); bilinear ops (rotate, zoom, resize)
1e-5 (cos / sin may differ in the last bit between the C library and CUDA); contrast 1e-5 (the
channel mean sums in a tree on the GPU).
"""
import os

os.environ.setdefault("PYDL_CUDA_POISON", "1")  # read once, when pydl first allocates on the device

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pydl  # noqa: E402
from pydl import _core, kernels  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not pydl.cuda.is_available(), reason="no CUDA device (pydl.cuda.is_available() is False)"),
]


def on_cuda(fn, *args, **kw):
    with kernels.on_device("cuda"):
        return fn(*args, **kw)


def cpu_and_cuda(fn, *args, **kw):
    """(cpu, cuda) results of fn; the CUDA one computed twice and checked bitwise equal."""
    cpu = fn(*args, **kw)
    first, second = on_cuda(fn, *args, **kw), on_cuda(fn, *args, **kw)
    as_tuple = (lambda r: r if isinstance(r, tuple) else (r,))
    a, b = as_tuple(first), as_tuple(second)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert np.array_equal(u, v), "two CUDA runs differ"
    return cpu, first


def assert_close(gpu, cpu, tol):
    cpu = np.asarray(cpu, np.float64)
    gpu = np.asarray(gpu, np.float64)
    assert gpu.shape == cpu.shape
    assert np.isfinite(gpu).all(), "CUDA output has NaN/Inf (an element left unwritten?)"
    scale = max(1.0, float(np.abs(cpu).max(initial=0.0)))
    np.testing.assert_allclose(gpu, cpu, rtol=tol, atol=tol * scale)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- Conv2D / Conv1D

# (n, h, w, c, f, (kh, kw), strides, padding, dilation)
CONV_CASES = [
    (1, 7, 9, 3, 5, (3, 3), (1, 1), "valid", (1, 1)),     # batch 1
    (2, 10, 9, 3, 16, (3, 3), (1, 1), "same", (1, 1)),    # CPU's direct path (c <= 4, f >= 8)
    (2, 11, 13, 7, 33, (3, 5), (2, 1), "same", (1, 2)),   # odd sizes, strides, dilation
    (3, 8, 8, 5, 12, (3, 3), (2, 2), (1, 2), (1, 1)),     # explicit padding
    (3, 5, 6, 17, 9, (1, 1), (1, 1), "valid", (1, 1)),    # pointwise: no columns
    (2, 9, 7, 6, 10, (1, 1), (2, 2), "valid", (1, 1)),    # 1x1 with stride: columns
    (3, 32, 32, 64, 70, (3, 3), (1, 1), "same", (1, 1)),  # one image per column group: 3 groups
    (70, 32, 32, 3, 4, (1, 1), (1, 1), "valid", (1, 1)),  # > 65535 output rows
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_and_backward(rng, case):
    n, h, w, c, f, k, s, pad, d = case
    x, kern, b = f32(rng, n, h, w, c), f32(rng, *k, c, f), f32(rng, f)
    cpu, gpu = cpu_and_cuda(kernels.conv2d_forward, x, kern, b, s, pad, d)
    assert_close(gpu, cpu, 1e-4)
    dy = f32(rng, *cpu.shape)
    cpu_grads, gpu_grads = cpu_and_cuda(kernels.conv2d_backward, dy, x, kern, s, pad, d, True)
    for name, g, r in zip(("dx", "dkernel", "dbias"), gpu_grads, cpu_grads, strict=True):
        assert g.shape == r.shape, name
        assert_close(g, r, 1e-4)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax"])
def test_conv2d_fused_activation(rng, activation):
    x, kern, b = f32(rng, 2, 9, 8, 5), f32(rng, 3, 3, 5, 37), f32(rng, 37)
    cpu, gpu = cpu_and_cuda(kernels.conv2d_forward, x, kern, b, (1, 1), "same", (1, 1), activation)
    assert_close(gpu, cpu, 1e-4)
    # without a bias too (the epilogue's other branch)
    cpu, gpu = cpu_and_cuda(kernels.conv2d_forward, x, kern, None, (2, 1), "valid", (1, 1), activation)
    assert_close(gpu, cpu, 1e-4)


def test_conv2d_backward_without_bias_leaves_db_zero(rng):
    x, kern = f32(rng, 2, 6, 7, 4), f32(rng, 2, 3, 4, 6)
    dy = f32(rng, 2, 5, 5, 6)
    _, (dx, dk, db) = cpu_and_cuda(kernels.conv2d_backward, dy, x, kern, (1, 1), "valid", (1, 1), False)
    assert np.array_equal(db, np.zeros(6, np.float32))


@pytest.mark.parametrize(
    "t,c,f,k,strides,padding,dilation",
    [(1, 3, 4, 1, 1, "valid", 1), (17, 5, 9, 3, 1, "causal", 2), (20, 6, 33, 4, 2, "same", 1),
     (13, 7, 8, 5, 3, 2, 1)],
)
def test_conv1d(rng, t, c, f, k, strides, padding, dilation):
    x, kern, b = f32(rng, 3, t, c), f32(rng, k, c, f), f32(rng, f)
    cpu, gpu = cpu_and_cuda(kernels.conv1d_forward, x, kern, b, strides, padding, dilation, "tanh")
    assert_close(gpu, cpu, 1e-4)
    dy = f32(rng, *cpu.shape)
    cpu_grads, gpu_grads = cpu_and_cuda(kernels.conv1d_backward, dy, x, kern, strides, padding, dilation)
    for g, r in zip(gpu_grads, cpu_grads, strict=True):
        assert_close(g, r, 1e-4)


def test_float64_is_refused_on_cuda(rng):
    x, kern = rng.standard_normal((1, 4, 4, 2)), rng.standard_normal((3, 3, 2, 2))
    with pytest.raises(RuntimeError, match="float64"):
        on_cuda(kernels.conv2d_forward, x, kern)


# ---------------------------------------------------------------- pooling

# (shape, pool, strides, padding)
POOL_CASES = [
    ((1, 4, 4, 1), (2, 2), None, "valid"),
    ((2, 7, 9, 5), (3, 3), (2, 2), "same"),    # overlapping windows, padding
    ((3, 9, 8, 33), (3, 2), (1, 2), "same"),   # channels past a warp
    ((2, 5, 11, 3), (2, 4), (3, 1), "valid"),
    ((4, 6, 6, 2), (1, 1), None, "valid"),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool2d_exact(rng, case, ties):
    shape, pool, strides, padding = case
    # ties: few distinct values, so most windows hold several maxima (the first one wins)
    x = rng.integers(0, 3, shape).astype(np.float32) if ties else f32(rng, *shape)
    (y, arg), (gy, garg) = cpu_and_cuda(kernels.pool2d_forward, x, "max", pool, strides, padding)
    assert np.array_equal(gy, y) and np.array_equal(garg, arg)
    dy = f32(rng, *y.shape)
    dx, gdx = cpu_and_cuda(kernels.pool2d_backward, dy, arg, shape, "max", pool, strides, padding)
    assert np.array_equal(gdx, dx)  # the gather adds in the CPU scatter's order


@pytest.mark.parametrize("case", POOL_CASES)
def test_avg_pool2d(rng, case):
    shape, pool, strides, padding = case
    x = f32(rng, *shape)
    (y, _), (gy, _) = cpu_and_cuda(kernels.pool2d_forward, x, "avg", pool, strides, padding)
    assert_close(gy, y, 1e-6)
    dy = f32(rng, *y.shape)
    dx, gdx = cpu_and_cuda(kernels.pool2d_backward, dy, None, shape, "avg", pool, strides, padding)
    assert_close(gdx, dx, 1e-6)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("t,size,strides,padding", [(9, 2, None, "valid"), (10, 3, 2, "same"), (1, 1, None, "valid")])
def test_pool1d(rng, kind, t, size, strides, padding):
    x = f32(rng, 3, t, 7)
    (y, arg), (gy, garg) = cpu_and_cuda(kernels.pool1d_forward, x, kind, size, strides, padding)
    assert_close(gy, y, 1e-6)
    if kind == "max":
        assert np.array_equal(garg, arg)
    dy = f32(rng, *y.shape)
    dx, gdx = cpu_and_cuda(kernels.pool1d_backward, dy, arg if kind == "max" else None, x.shape, kind, size,
                           strides, padding)
    assert_close(gdx, dx, 1e-6)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 7, 5, 33), (70000, 2, 2, 3), (2, 13, 3)])
def test_global_pool(rng, kind, shape):
    x = rng.integers(0, 4, shape).astype(np.float32) if kind == "max" else f32(rng, *shape)
    (y, arg), (gy, garg) = cpu_and_cuda(kernels.global_pool_forward, x, kind)
    if kind == "max":
        assert np.array_equal(gy, y) and np.array_equal(garg, arg)  # ties: the first maximum
    else:
        assert_close(gy, y, 1e-6)
    dy = f32(rng, *y.shape)
    dx, gdx = cpu_and_cuda(kernels.global_pool_backward, dy, arg if kind == "max" else None, x.shape, kind)
    if kind == "max":
        assert np.array_equal(gdx, dx)
    else:
        assert_close(gdx, dx, 1e-6)


# ---------------------------------------------------------------- augmentation

# (op, tolerance: 0 = bitwise equal to the CPU)
AUGMENT_OPS = [
    ({"kind": "flip", "horizontal": True, "vertical": True}, 0.0),
    ({"kind": "crop", "height": 7, "width": 9, "padding": 2, "fill": 0.25}, 0.0),
    ({"kind": "center_crop", "height": 5, "width": 4}, 0.0),
    ({"kind": "brightness", "factor": 0.3, "low": -1.0, "high": 1.5}, 0.0),
    ({"kind": "resize", "height": 13, "width": 5, "nearest": True}, 0.0),
    ({"kind": "resize", "height": 13, "width": 17}, 1e-5),
    ({"kind": "resize", "height": 4, "width": 3}, 1e-5),
    ({"kind": "rotate", "degrees": 40.0, "fill": 0.5}, 1e-5),
    ({"kind": "zoom", "factor": 0.4, "fill": -1.0}, 1e-5),
    ({"kind": "contrast", "factor": 0.6, "low": -1.0, "high": 1.0}, 1e-5),
]


def _check(gpu, cpu, tol):
    if tol == 0.0:
        assert np.array_equal(gpu, cpu)
    else:
        assert_close(gpu, cpu, tol)


@pytest.mark.parametrize("op,tol", AUGMENT_OPS, ids=[o["kind"] + str(i) for i, (o, _) in enumerate(AUGMENT_OPS)])
def test_augment_op_matches_cpu(rng, op, tol):
    x = f32(rng, 5, 9, 11, 3)
    keys = rng.integers(0, 2**40, 5).astype(np.uint64)
    cpu, gpu = cpu_and_cuda(_core.kernels.augment_forward, x, op, 17, 3, keys)
    _check(gpu, cpu, tol)
    # the draws are the CPU's: with default keys (0..N-1) too, and another seed
    cpu, gpu = cpu_and_cuda(_core.kernels.augment_forward, x, op, 99)
    _check(gpu, cpu, tol)
    dy = f32(rng, *cpu.shape)
    dx, gdx = cpu_and_cuda(_core.kernels.augment_backward, dy, x, op, 17, 3, keys)
    _check(gdx, dx, tol)


def test_augment_batch_1_and_one_channel(rng):
    x = f32(rng, 1, 6, 5, 1)
    for op, tol in AUGMENT_OPS[:4] + AUGMENT_OPS[7:]:
        cpu, gpu = cpu_and_cuda(_core.kernels.augment_forward, x, op, 5)
        _check(gpu, cpu, tol)


def test_random_flips_and_crops_draw_as_on_cpu(rng):
    """Many samples: the per-sample draws (which flip, which offset) are the CPU's exactly,
    and they really vary over the samples (the comparison is not of a constant)."""
    x = f32(rng, 64, 8, 8, 2)
    flip = {"kind": "flip", "horizontal": True, "vertical": False}
    cpu, gpu = cpu_and_cuda(_core.kernels.augment_forward, x, flip, 2024)
    assert np.array_equal(gpu, cpu)
    flipped = np.array([np.array_equal(cpu[i], x[i, :, ::-1]) for i in range(64)])
    assert 10 < flipped.sum() < 54
    crop = {"kind": "crop", "height": 8, "width": 8, "padding": 3}
    cpu, gpu = cpu_and_cuda(_core.kernels.augment_forward, x, crop, 2024)
    assert np.array_equal(gpu, cpu)
    assert len({cpu[i].tobytes() for i in range(64)}) > 32


def test_augment_pipeline_on_cuda(rng):
    x = f32(rng, 6, 12, 10, 3)
    ops = [{"kind": "flip", "horizontal": True}, {"kind": "crop", "height": 10, "width": 8, "padding": 1},
           {"kind": "brightness", "factor": 0.2, "low": -3.0, "high": 3.0}]
    keys = np.arange(100, 106, dtype=np.uint64)
    cpu, gpu = cpu_and_cuda(_core.augment, x, ops, 7, keys)
    assert np.array_equal(gpu, cpu)
