"""The training family's CUDA kernels (optimizer steps, gradient norm and clipping, losses,
token weights, custom-loss reduction, accuracy and metric sums) against the CPU kernels, on the
same fresh random inputs, through pydl.kernels inside ``on_device("cuda")``.

Tolerances, per op (the CUDA kernels use the same formulas, from kernels/optim_rules.h and
kernels/loss_terms.h, but may contract multiply-adds differently and sum in another fixed
order):
  - optimizer steps: 1e-6 relative over 3 steps (absolute floor 1e-6 x the array's largest
    value, for elements that cancel to near zero); refused steps and frozen ranges: bitwise;
  - measure_update_bounds: exact (a maximum of magnitudes); global_norm: 1e-10 relative
    (double sums in another order);
  - losses: 1e-5 relative on the loss, gradients within 1e-5 x their largest magnitude;
  - counts (accuracy, top-k, confusion, token weights): exact; metric sums 1e-9 relative.
Every CUDA result is also checked bitwise equal over two runs (determinism), with device
outputs poisoned (PYDL_CUDA_POISON=1), so an element a kernel leaves unwritten fails.
"""
import os

os.environ.setdefault("PYDL_CUDA_POISON", "1")  # read once, when pydl first touches CUDA

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pydl  # noqa: E402
from pydl import kernels  # noqa: E402
from pydl._core import kernels as core_kernels  # noqa: E402

DEVICE = "cuda"
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not pydl.cuda.is_available(), reason="needs a CUDA device")]

SIZES = [1, 31, 33, 1000003]


def on_device(fn, *args, **kwargs):
    with kernels.on_device(DEVICE):
        return fn(*args, **kwargs)


def assert_close_scaled(got, want, rtol, floor):
    """|got - want| <= rtol |want| + floor * max |want| elementwise (NaN must match NaN)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    scale = np.nanmax(np.abs(want)) if want.size and np.isfinite(want).any() else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=floor * scale, equal_nan=True)


def bitwise_equal(a, b):
    return np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


# ------------------------------------------------------------------ optimizers
OPTIMIZERS = [
    {"kind": "sgd", "learning_rate": 0.1},
    {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-3},
    {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
    {"kind": "adam", "learning_rate": 1e-2},
    {"kind": "adam", "learning_rate": 1e-2, "weight_decay": 1e-2},
    {"kind": "adamw", "learning_rate": 1e-2, "weight_decay": 0.1},
    {"kind": "rmsprop", "learning_rate": 1e-3},
    {"kind": "rmsprop", "learning_rate": 1e-3, "momentum": 0.9},
    {"kind": "rmsprop", "learning_rate": 1e-3, "centered": True},
    {"kind": "rmsprop", "learning_rate": 1e-3, "momentum": 0.5, "centered": True, "weight_decay": 1e-3},
    {"kind": "adagrad", "learning_rate": 1e-2},
]


def fresh_problem(cfg, n, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    return p, grads, kernels.optimizer_slots(cfg, p)


def run_steps(cfg, p, grads, slots, device):
    p, slots = p.copy(), [s.copy() for s in slots]
    applied = []
    for step, g in enumerate(grads, start=1):
        if device == "cpu":
            applied.append(kernels.optimizer_step(p, g, slots, cfg, step))
        else:
            applied.append(on_device(kernels.optimizer_step, p, g, slots, cfg, step))
    return applied, p, slots


@pytest.mark.parametrize("cfg", OPTIMIZERS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("n", SIZES)
def test_optimizer_steps_match_cpu(cfg, n):
    p, grads, slots = fresh_problem(cfg, n, seed=n)
    cpu = run_steps(cfg, p, grads, slots, "cpu")
    gpu = run_steps(cfg, p, grads, slots, DEVICE)
    assert cpu[0] == gpu[0] == [True, True, True]
    assert_close_scaled(gpu[1], cpu[1], 1e-6, 1e-6)
    assert len(gpu[2]) == len(cpu[2])
    for g_slot, c_slot in zip(gpu[2], cpu[2]):
        assert_close_scaled(g_slot, c_slot, 1e-6, 1e-6)
    again = run_steps(cfg, p, grads, slots, DEVICE)
    assert bitwise_equal(again[1], gpu[1])
    assert all(bitwise_equal(a, b) for a, b in zip(again[2], gpu[2], strict=True))


@pytest.mark.parametrize("cfg", [OPTIMIZERS[1], OPTIMIZERS[3], OPTIMIZERS[9], OPTIMIZERS[10]],
                         ids=lambda c: c["kind"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gradient_refused_and_changes_nothing(cfg, bad):
    n = 1000003
    p, grads, slots = fresh_problem(cfg, n, seed=7)
    kernels.optimizer_step(p, grads[0], slots, cfg, 1)  # some state first
    g = grads[1].copy()
    g[n - 2] = bad
    for device in ("cpu", DEVICE):
        q, s = p.copy(), [x.copy() for x in slots]
        run = kernels.optimizer_step if device == "cpu" else (lambda *a: on_device(kernels.optimizer_step, *a))
        assert run(q, g, s, cfg, 2) is False
        assert bitwise_equal(q, p)
        assert all(bitwise_equal(a, b) for a, b in zip(s, slots, strict=True))


def test_overflowing_update_refused_on_both():
    cfg = {"kind": "sgd", "learning_rate": 1e38}
    p = np.full(33, 1e30, np.float32)
    g = np.full(33, 1e5, np.float32)
    for run in (kernels.optimizer_step, lambda *a: on_device(kernels.optimizer_step, *a)):
        q = p.copy()
        assert run(q, g, [], cfg, 1) is False
        assert bitwise_equal(q, p)


@pytest.mark.parametrize("cfg", [OPTIMIZERS[2], OPTIMIZERS[5], OPTIMIZERS[9]], ids=lambda c: c["kind"])
def test_tracked_bounds_and_frozen_ranges(cfg):
    """The trainer's path: bounds measured once, then kept by each step (the device proof);
    frozen ranges neither read nor written."""
    n = 1000003
    p, grads, slots = fresh_problem(cfg, n, seed=3)
    frozen = [(0, 5), (31, 2), (5000, 40000), (n - 1, 1)]
    results = {}
    for device in ("cpu", DEVICE):
        q, s = p.copy(), [x.copy() for x in slots]
        call = (lambda f, *a, **k: f(*a, **k)) if device == "cpu" else on_device
        bounds = call(core_kernels._measure_update_bounds, q, s, frozen)
        steps = []
        for step, g in enumerate(grads, start=1):
            applied, bounds = call(core_kernels._optimizer_step_tracked, q, g, s, cfg, step, bounds, frozen)
            steps.append(applied)
        results[device] = (steps, bounds, q, s)
    (c_steps, c_bounds, c_p, c_s), (g_steps, g_bounds, g_p, g_s) = results["cpu"], results[DEVICE]
    assert c_steps == g_steps == [True, True, True]
    np.testing.assert_allclose(g_bounds, c_bounds, rtol=1e-6)
    assert_close_scaled(g_p, c_p, 1e-6, 1e-6)
    for a, b in zip(g_s, c_s, strict=True):
        assert_close_scaled(a, b, 1e-6, 1e-6)
    for off, size in frozen:
        assert bitwise_equal(g_p[off:off + size], p[off:off + size])
        for a, b in zip(g_s, slots, strict=True):
            assert bitwise_equal(a[off:off + size], b[off:off + size])


@pytest.mark.parametrize("n", SIZES)
def test_measure_update_bounds_exact(n):
    rng = np.random.default_rng(n)
    arrays = [rng.standard_normal(n).astype(np.float32) * 10.0 ** k for k in range(3)]
    frozen = [(0, 1)] if n > 1 else []
    want = core_kernels._measure_update_bounds(arrays[0], arrays[1:], frozen)
    got = on_device(core_kernels._measure_update_bounds, arrays[0], arrays[1:], frozen)
    assert got == want
    arrays[1][n // 2] = np.nan
    got = on_device(core_kernels._measure_update_bounds, arrays[0], arrays[1:], [])
    assert got[1] == np.inf


@pytest.mark.parametrize("n", SIZES)
def test_global_norm_and_clipping(n):
    g = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    want = kernels.global_norm(g)
    got = on_device(kernels.global_norm, g)
    assert got == pytest.approx(want, rel=1e-10)
    assert on_device(kernels.global_norm, g) == got  # deterministic
    for max_norm in (want * 0.5, want * 2.0):  # clipping active, then inactive
        c, d = g.copy(), g.copy()
        norm_c = kernels.clip_by_global_norm(c, max_norm)
        norm_d = on_device(kernels.clip_by_global_norm, d, max_norm)
        assert norm_d == pytest.approx(norm_c, rel=1e-10)
        if max_norm > want:
            assert bitwise_equal(d, g)
        else:
            assert_close_scaled(d, c, 1e-6, 1e-7)
            assert not bitwise_equal(d, g)
        e = g.copy()
        on_device(kernels.clip_by_global_norm, e, max_norm)
        assert bitwise_equal(e, d)


def test_global_norm_nonfinite():
    g = np.ones(1000003, np.float32)
    g[17] = np.inf
    assert on_device(kernels.global_norm, g) == kernels.global_norm(g) == np.inf
    a, b = g.copy(), g.copy()
    kernels.clip_by_global_norm(a, 1.0)
    on_device(kernels.clip_by_global_norm, b, 1.0)
    np.testing.assert_array_equal(b, a)  # the same NaN / zero pattern


# ------------------------------------------------------------------ losses
def loss_cases(rows, classes, rng):
    z = rng.standard_normal((rows, classes)).astype(np.float32) * 3
    labels = rng.integers(0, classes, rows).astype(np.int32)
    soft = rng.random((rows, classes)).astype(np.float32)
    soft /= soft.sum(1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    probs[0, 0] = 1e-9  # a clipped entry
    bits = (rng.random((rows, classes)) > 0.5).astype(np.float32)
    sw = rng.random(rows).astype(np.float32)
    cw = (rng.random(classes) + 0.5).astype(np.float32)
    sig = (1 / (1 + np.exp(-z))).astype(np.float32)
    return [
        dict(logits=z, labels=labels),
        dict(logits=z, labels=labels, class_weights=cw, label_smoothing=0.1, sample_weights=sw),
        dict(logits=probs.astype(np.float32), labels=labels, from_logits=False, label_smoothing=0.05),
        dict(logits=z, targets=soft, kind="categorical_crossentropy", label_smoothing=0.2),
        dict(logits=probs.astype(np.float32), targets=soft, kind="categorical_crossentropy", from_logits=False),
        dict(logits=z, targets=bits, kind="binary_cross_entropy", sample_weights=sw),
        dict(logits=z, targets=bits, kind="binary_cross_entropy", class_weights=np.array([0.3, 2.0], np.float32),
             pos_weight=(rng.random(classes) + 0.5).astype(np.float32)),
        dict(logits=sig, targets=bits, kind="binary_cross_entropy", from_logits=False),
        dict(logits=z, targets=soft, kind="mse", sample_weights=sw),
        dict(logits=z, targets=np.round(z), kind="mae"),  # ties: sign(0) = 0
    ]


@pytest.mark.parametrize("rows,classes", [(1, 1), (1, 7), (31, 10), (33, 1000), (1000003, 1), (2000, 33)])
def test_losses_match_cpu(rows, classes):
    rng = np.random.default_rng(rows * 7919 + classes)
    for case in loss_cases(rows, classes, rng):
        kind = case.get("kind", "cross_entropy")
        if classes == 1 and kind in ("cross_entropy", "categorical_crossentropy") and "label_smoothing" in case:
            continue  # smoothing over one class is degenerate, not a backend question
        l_cpu, g_cpu = kernels.loss(**case)
        l_gpu, g_gpu = on_device(kernels.loss, **case)
        assert l_gpu == pytest.approx(l_cpu, rel=1e-5, abs=1e-7), case.keys()
        assert_close_scaled(g_gpu, g_cpu, 1e-5, 1e-5)
        l_again, g_again = on_device(kernels.loss, **case)
        assert l_again == l_gpu and bitwise_equal(g_again, g_gpu)


def test_loss_all_weights_zero():
    z = np.random.default_rng(0).standard_normal((33, 5)).astype(np.float32)
    labels = np.arange(33, dtype=np.int32) % 5
    l_gpu, g_gpu = on_device(kernels.loss, z, labels, sample_weights=np.zeros(33, np.float32))
    l_cpu, g_cpu = kernels.loss(z, labels, sample_weights=np.zeros(33, np.float32))
    assert l_gpu == l_cpu == 0.0
    assert bitwise_equal(g_gpu, g_cpu) and not g_gpu.any()


def test_loss_nonfinite_logits_give_nonfinite_loss_on_both():
    z = np.random.default_rng(1).standard_normal((31, 4)).astype(np.float32)
    z[3, 2] = np.nan
    labels = np.zeros(31, np.int32)
    assert np.isnan(on_device(kernels.loss, z, labels)[0]) and np.isnan(kernels.loss(z, labels)[0])


@pytest.mark.parametrize("rows", [1, 31, 33, 500001])
def test_loss_weight_total(rows):
    ws = np.random.default_rng(rows).random(2 * rows)
    assert on_device(core_kernels._loss_weight_total, ws) == pytest.approx(core_kernels._loss_weight_total(ws),
                                                                           rel=1e-12)


@pytest.mark.parametrize("rows,steps", [(1, 1), (31, 3), (33, 64), (1000003, 1)])
def test_token_weights_exact(rows, steps):
    rng = np.random.default_rng(rows + steps)
    sw = rng.random(rows).astype(np.float32)
    mask = (rng.random(rows * steps) > 0.3).astype(np.uint8)
    for args in ((sw, mask), (None, mask), (sw, None)):
        which_c, out_c = core_kernels._token_weights(*args, rows, steps)
        which_g, out_g = on_device(core_kernels._token_weights, *args, rows, steps)
        assert which_g == which_c
        if which_c == "out":
            assert bitwise_equal(out_g, out_c)


@pytest.mark.parametrize("rows", [1, 33, 4099])
def test_custom_loss_reduction(rows):
    rng = np.random.default_rng(rows)
    y_pred = rng.standard_normal((rows, 3)).astype(np.float32)
    y_true = rng.standard_normal((rows, 3)).astype(np.float32)
    sw = rng.random(rows).astype(np.float32)

    def fn(yp, yt):  # squared error per sample and its gradient
        return ((yp.astype(np.float64) - yt) ** 2).sum(1), (2 * (yp - yt)).astype(np.float32)

    for weights in (None, sw, np.zeros(rows, np.float32)):
        want = core_kernels._custom_loss(fn, y_pred, y_true, weights)
        got = on_device(core_kernels._custom_loss, fn, y_pred, y_true, weights)
        assert got[0] == want[0] and got[2] == want[2]  # the same host reduction
        assert bitwise_equal(got[1], want[1]) and bitwise_equal(got[3], want[3])


# ------------------------------------------------------------------ metrics
def metric_inputs(rows, classes, rng):
    z = rng.integers(-3, 4, (rows, classes)).astype(np.float32)  # integer logits: argmax ties
    z[0, 0] = np.nan  # NaN first: the row's argmax is 0
    if rows > 2 and classes > 1:
        z[2, 1] = np.nan  # NaN elsewhere: never the argmax
    labels = rng.integers(0, classes, rows).astype(np.int32)
    onehot = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, rows)]
    bits = (rng.random((rows, classes)) > 0.5).astype(np.float32)
    mask = (rng.random(rows) > 0.2).astype(np.uint8)
    return z, labels, onehot, bits, mask


@pytest.mark.parametrize("rows,classes", [(1, 1), (31, 10), (33, 3), (1000003, 2), (257, 1000)])
def test_accuracy_count_exact(rows, classes):
    z, labels, onehot, bits, _ = metric_inputs(rows, classes, np.random.default_rng(rows))
    for kw in (dict(labels=labels), dict(targets=onehot, kind="categorical_crossentropy"),
               dict(targets=bits, kind="binary_cross_entropy"),
               dict(targets=bits, kind="binary_cross_entropy", from_logits=False), dict(targets=bits, kind="mse")):
        want = kernels.accuracy_count(z, **kw)
        assert on_device(kernels.accuracy_count, z, **kw) == want


@pytest.mark.parametrize("rows,classes", [(1, 1), (31, 10), (33, 3), (100003, 2), (257, 300)])
def test_accumulate_metrics(rows, classes):
    rng = np.random.default_rng(rows * 31 + classes)
    z, labels, onehot, bits, mask = metric_inputs(rows, classes, rng)
    probs = rng.random((rows, classes)).astype(np.float32)
    finite = np.nan_to_num(z)  # log losses of finite outputs (NaN ones are NaN on both)
    cases = [
        dict(logits=finite, labels=labels, targets=None, kind="cross_entropy", confusion=True, top_k=2,
             log_loss=True),
        dict(logits=z, labels=labels, targets=None, kind="cross_entropy", confusion=True, row_mask=mask),
        dict(logits=probs, labels=None, targets=onehot, kind="categorical_crossentropy", from_logits=False,
             confusion=True, top_k=1, log_loss=True),
        dict(logits=finite, labels=None, targets=bits, kind="binary_cross_entropy", confusion=True, log_loss=True,
             regression=True),
        dict(logits=z, labels=None, targets=bits, kind="binary_cross_entropy", confusion=True),
        dict(logits=probs, labels=None, targets=bits, kind="binary_cross_entropy", from_logits=False,
             log_loss=True),
        dict(logits=finite, labels=None, targets=probs, kind="mse", regression=True),
    ]
    for case in cases:
        want = core_kernels._accumulate_metrics(**case)
        got = on_device(core_kernels._accumulate_metrics, **case)
        assert got.keys() == want.keys()
        for key in ("confusion", "top_k_correct", "top_k_total", "count", "nll_count", "correct", "total"):
            assert got[key] == want[key], key
        for key in ("sq_err", "abs_err", "sum_t", "sum_t2", "nll"):
            assert got[key] == pytest.approx(want[key], rel=1e-9, nan_ok=True), key
        assert on_device(core_kernels._accumulate_metrics, **case) == got  # deterministic


def test_every_training_entry_has_a_cuda_version():
    names = set(pydl.cuda.kernel_names())
    want = {"optimizer_step", "measure_update_bounds", "global_norm", "clip_by_global_norm",
            "loss_forward_backward", "loss_weight_total", "token_weights", "custom_loss_forward_backward",
            "custom_loss_weight_total", "accuracy_count", "accumulate_metrics"}
    assert want <= names, sorted(want - names)


def test_float64_refused_on_cuda():
    g = np.ones(33)
    with pytest.raises(RuntimeError, match="float64"):
        on_device(kernels.global_norm, g)
