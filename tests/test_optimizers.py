"""Optimizers: several steps of the fused C++ update against numpy implementations of
PyTorch's SGD, Adam and AdamW rules, and global-norm clipping as clip_grad_norm_."""
import numpy as np
import pytest

from pydl import optimizers
from pydl._core import kernels

import reference as ref

CASES = [
    {"kind": "sgd", "learning_rate": 0.1},
    {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"kind": "adam", "learning_rate": 0.01},
    {"kind": "adam", "learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "weight_decay": 0.1},
    {"kind": "adamw", "learning_rate": 0.01, "weight_decay": 0.05},
]


def numpy_steps(cfg, p, grads):
    buf = np.zeros_like(p)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for step, g in enumerate(grads, start=1):
        if cfg["kind"] == "sgd":
            p, buf = ref.sgd(p, g, buf, cfg["learning_rate"], cfg.get("momentum", 0.0), cfg.get("nesterov", False),
                             cfg.get("weight_decay", 0.0), first=step == 1)
        else:
            p, m, v = ref.adam(p, g, m, v, step, cfg["learning_rate"], cfg.get("beta_1", 0.9),
                               cfg.get("beta_2", 0.999), cfg.get("epsilon", 1e-8), cfg.get("weight_decay", 0.0),
                               decoupled=cfg["kind"] == "adamw")
    return p


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_steps_match_pytorch_rules(rng, cfg, dtype, rtol):
    n = 100_000 if dtype == np.float32 else 1000  # the float32 case crosses the parallel threshold
    p0 = rng.standard_normal(n)
    grads = [rng.standard_normal(n) for _ in range(5)]
    p = p0.astype(dtype)
    s0, s1 = np.zeros(n, dtype), np.zeros(n, dtype)
    for step, g in enumerate(grads, start=1):
        kernels.optimizer_step(p, g.astype(dtype), s0, s1, cfg, step)
    expected = numpy_steps(cfg, p0, grads)
    np.testing.assert_allclose(p, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subnormal_moments_flush_to_zero(rng, dtype):
    """The update runs with subnormals flushed (core/flush_subnormals.h): a decaying first
    moment that would turn subnormal becomes 0, a subnormal one read is 0; everything else,
    and the parameters, follow the rule as before. One thread and several (100,000 values)."""
    tiny = np.finfo(dtype).tiny
    for n in (1000, 100_000):
        p0, g = rng.standard_normal(n), rng.standard_normal(n)
        dead = rng.choice(n, 64, replace=False)  # units whose gradient stopped
        g[dead] = 0
        m = rng.standard_normal(n) * 1e-3
        m[dead[:32]] = tiny * 1.05  # 0.9 * m (+ 0) falls below tiny: flushed
        m[dead[32:]] = tiny / 4   # read as 0
        v = rng.random(n) * 1e-3
        p, s0, s1 = p0.astype(dtype), m.astype(dtype), v.astype(dtype)
        kernels.optimizer_step(p, g.astype(dtype), s0, s1, {"kind": "adam", "learning_rate": 0.01}, 3)
        assert (s0[dead] == 0).all()
        live = np.setdiff1d(np.arange(n), dead)
        want_p, want_m, _ = ref.adam(p0, g, m, v, 3, 0.01)
        np.testing.assert_allclose(s0[live], want_m[live], rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(p, want_p, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_by_global_norm(rng, max_norm):
    g = rng.standard_normal(50_000)
    expected, norm = ref.clip_grad_norm(g, max_norm)
    got = g.copy()
    assert kernels.clip_by_global_norm(got, max_norm) == pytest.approx(norm, rel=1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert kernels.global_norm(g) == pytest.approx(np.linalg.norm(g), rel=1e-12)


def test_optimizer_specs_validate():
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate=-1)
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="nesterov"):
        optimizers.SGD(nesterov=True)
    with pytest.raises(TypeError, match="learning_rate"):
        optimizers.Adam(learning_rate="fast")
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizers.get("rmsprop2")
    assert optimizers.AdamW().weight_decay == 0.01
