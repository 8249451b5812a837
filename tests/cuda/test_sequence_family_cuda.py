"""CUDA kernels of the sequence family (recurrent cells, fused attention and its explicit
scores, masked sequence pools, position embeddings, the attention layer's mask plumbing)
against the CPU kernels on the same fresh random inputs, through
``pydl.kernels.on_device("cuda")``. Device outputs start as NaN (PYDL_CUDA_POISON=1), so an
element a CUDA kernel leaves unwritten fails. Every CUDA result is also computed twice and
must be bitwise equal (no atomics; cuBLAS deterministic). Tolerances, stated per op:

- recurrent forward: |gpu - cpu| <= 2e-5 + 1e-4 |cpu| (GEMM summation order; same gate
  formulas, the same fast_exp); backward 1e-4 + 1e-3 |cpu| (sums over every step and row);
- attention forward (o, lse): 2e-5 + 1e-4 |cpu|; backward 1e-4 + 1e-3 |cpu|;
- pools: avg 1e-6 relative, max and argmax exact; position embedding exact (the same order);
- dropout masks: bitwise equal to the CPU's for the same seed (counter-based draws).
"""
import os
import zlib

os.environ["PYDL_CUDA_POISON"] = "1"  # read once, when pydl first stages device memory

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pydl  # noqa: E402
from pydl import _core, kernels  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not pydl.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of pydl"),
]
K = _core.kernels


def on_both(fn, *args, scratch=(), **kw):
    """(cpu result, cuda result); the cuda call runs twice and must repeat bitwise, except
    the results numbered in `scratch` (a workspace, whose unused parts hold anything)."""
    cpu = fn(*args, **kw)
    with kernels.on_device("cuda"):
        gpu = fn(*args, **kw)
        again = fn(*args, **kw)
    flat_g, flat_a = _flat(gpu), _flat(again)
    assert len(flat_g) == len(flat_a)
    for i, (g, a) in enumerate(zip(flat_g, flat_a, strict=True)):
        assert i in scratch or np.array_equal(g, a), f"two CUDA runs differ (result {i})"
    return cpu, gpu


def _flat(r):
    return list(r) if isinstance(r, tuple) else [r]


def close(gpu, cpu, atol, rtol, what=""):
    gpu, cpu = np.asarray(gpu), np.asarray(cpu)
    assert gpu.shape == cpu.shape, what
    assert np.all(np.isfinite(gpu)) == np.all(np.isfinite(cpu)), f"{what}: non-finite values differ"
    np.testing.assert_allclose(gpu, cpu, atol=atol, rtol=rtol, err_msg=what)


def f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------- recurrent cells

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
RNN_CASES = [
    # cell, activation, n, t, f, u
    ("lstm", "tanh", 3, 7, 5, 6),
    ("gru", "tanh", 3, 7, 5, 6),
    ("simple_rnn", "tanh", 3, 7, 5, 6),
    ("simple_rnn", "relu", 2, 5, 3, 4),
    ("lstm", "tanh", 2, 1, 4, 3),       # T = 1
    ("gru", "tanh", 1, 1, 1, 1),        # every size 1
    ("lstm", "tanh", 33, 13, 17, 40),   # nothing a multiple of a block
    ("gru", "tanh", 65, 9, 31, 37),
]


def rnn_inputs(rng, cell, n, t, f, u, masked, dropout):
    g = GATES[cell]
    x = f32(rng, n, t, f)
    kern, rec = f32(rng, f, g * u, scale=0.4), f32(rng, u, g * u, scale=0.4)
    bias = f32(rng, (2 if cell == "gru" else 1) * g * u, scale=0.1)
    mask = None
    if masked:
        mask = (rng.random((n, t)) > 0.3).astype(np.uint8)
        mask[0, :] = 0  # a sequence with no valid step
    drops = (None, None)
    if dropout:
        drops = tuple(np.where(rng.random(s) < 0.25, 0.0, 1 / 0.75).astype(np.float32) for s in ((n, f), (n, u)))
    return x, kern, rec, bias, mask, drops


@pytest.mark.parametrize("cell,act,n,t,f,u", RNN_CASES)
@pytest.mark.parametrize("reverse,seq", [(False, False), (True, True)])
@pytest.mark.parametrize("masked,dropout", [(False, False), (True, True)])
def test_rnn_forward_backward_match_cpu(cell, act, n, t, f, u, reverse, seq, masked, dropout):
    rng = np.random.default_rng([n, t, f, u, reverse, masked])
    x, kern, rec, bias, mask, (din, drec) = rnn_inputs(rng, cell, n, t, f, u, masked, dropout)
    h0 = f32(rng, n, u)
    c0 = f32(rng, n, u) if cell == "lstm" else None
    fwd = dict(cell=cell, activation=act, reverse=reverse, return_sequences=seq, mask=mask,
               input_dropout=din, recurrent_dropout=drec)
    (y_c, ws_c), (y_g, ws_g) = on_both(kernels.rnn_forward, x, kern, rec, bias, h0=h0, c0=c0, scratch=(1,), **fwd)
    close(y_g, y_c, 2e-5, 1e-4, f"{cell} forward")
    dy = f32(rng, *y_c.shape)
    bwd = dict(fwd)
    bwd.pop("input_dropout"), bwd.pop("recurrent_dropout")
    grads_c = kernels.rnn_backward(dy, x, kern, rec, bias, ws_c, input_dropout=din, recurrent_dropout=drec, **bwd)
    with kernels.on_device("cuda"):
        grads_g = kernels.rnn_backward(dy, x, kern, rec, bias, ws_g, input_dropout=din, recurrent_dropout=drec,
                                       **bwd)
        again = kernels.rnn_backward(dy, x, kern, rec, bias, ws_g, input_dropout=din, recurrent_dropout=drec,
                                     **bwd)
    names = ("dx", "dkernel", "drecurrent", "dbias", "dh0", "dc0")
    assert len(grads_g) == len(grads_c) == len(again) == len(names)
    for name, g, c, a in zip(names, grads_g, grads_c, again, strict=True):
        assert np.array_equal(g, a), f"{cell} {name}: two CUDA runs differ"
        close(g, c, 1e-4, 1e-3, f"{cell} {name}")


def test_rnn_dropout_scales_equal_the_cpu_draws():
    for rate, counter in ((0.3, 0), (0.5, (7 << 32) + (1 << 31))):
        cpu, gpu = on_both(K._rnn_dropout_scales, 100_003, rate, 42, 0x7d0d0001, counter)
        assert np.array_equal(gpu, cpu)
        assert 0 < np.count_nonzero(cpu == 0) < cpu.size  # the draws really drop some


# ---------------------------------------------------------------- fused attention

ATTN_SHAPES = [
    # n, tq, tk, heads, dk, dv
    (2, 1, 1, 1, 8, 8),          # T = 1
    (2, 70, 70, 3, 16, 24),      # T not a multiple of the tile
    (3, 33, 65, 2, 5, 7),        # odd everything, Tq != Tk
    (1, 130, 97, 2, 64, 64),
    (1, 40, 40, 1, 256, 256),    # wide heads: a smaller tile
]


def attn_masks(kind, rng, n, tq, tk):
    if kind == "none":
        return {}
    if kind == "causal":
        return {"causal": True}
    km = (rng.random((n, tk)) > 0.3).astype(np.uint8)
    qm = (rng.random((n, tq)) > 0.2).astype(np.uint8)
    am = (rng.random((n, tq, tk)) > 0.4).astype(np.uint8)
    km[0] = 0  # sample 0 attends to no key: every row uniform
    out = {"key_mask": km, "query_mask": qm, "attention_mask": am}
    if kind == "all+causal":
        out["causal"] = True
    return out


def attention_case(shape, kind, seed):
    n, tq, tk, h, dk, dv = shape
    if "causal" in kind:
        tk = tq
    rng = np.random.default_rng(seed)
    q, k, v = f32(rng, n, tq, h, dk), f32(rng, n, tk, h, dk), f32(rng, n, tk, h, dv)
    return rng, q, k, v, attn_masks(kind, rng, n, tq, tk)


@pytest.mark.parametrize("shape", ATTN_SHAPES)
@pytest.mark.parametrize("kind", ["none", "causal", "all", "all+causal"])
@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_attention_matches_cpu(shape, kind, dropout):
    rng, q, k, v, m = attention_case(shape, kind, zlib.crc32(repr((shape, kind)).encode()))
    kw = dict(m, dropout=dropout, seed=1234)
    (o_c, lse_c), (o_g, lse_g) = on_both(kernels.attention_forward, q, k, v, **kw)
    close(o_g, o_c, 2e-5, 1e-4, "o")
    assert np.array_equal(np.isinf(lse_g), np.isinf(lse_c)), "uniform rows differ"
    fin = np.isfinite(lse_c)
    close(lse_g[fin], lse_c[fin], 2e-5, 1e-4, "lse")
    dout = f32(rng, *o_c.shape)
    cpu = kernels.attention_backward(dout, q, k, v, o_c, lse_c, **kw)
    with kernels.on_device("cuda"):
        gpu = kernels.attention_backward(dout, q, k, v, o_g, lse_g, **kw)
        again = kernels.attention_backward(dout, q, k, v, o_g, lse_g, **kw)
    assert len(cpu) == len(gpu) == len(again) == 3
    for name, g, c, a in zip(("dq", "dk", "dv"), gpu, cpu, again, strict=True):
        assert np.array_equal(g, a), f"{name}: two CUDA runs differ"
        close(g, c, 1e-4, 1e-3, name)


def test_attention_dropout_masks_equal_the_cpu_masks():
    """With dropout the output depends on every keep bit: equal outputs mean equal masks, and
    the dropout must really change the output (else the test could not fail)."""
    _, q, k, v, _ = attention_case((2, 50, 50, 2, 16, 16), "none", 7)
    (o_c, _), (o_g, _) = on_both(kernels.attention_forward, q, k, v, dropout=0.4, seed=99)
    (o_plain, _), _ = on_both(kernels.attention_forward, q, k, v)
    assert np.max(np.abs(o_c - o_plain)) > 0.05
    close(o_g, o_c, 2e-5, 1e-4, "o with dropout")
    (o_other, _), _ = on_both(kernels.attention_forward, q, k, v, dropout=0.4, seed=100)
    assert np.max(np.abs(o_other - o_c)) > 0.05  # another seed: other masks


@pytest.mark.parametrize("shape", [(2, 1, 1, 1, 4, 4), (2, 37, 29, 3, 9, 9), (1, 70, 70, 2, 32, 32)])
@pytest.mark.parametrize("kind", ["none", "all", "causal"])
def test_attention_scores_match_cpu(shape, kind):
    rng, q, k, _, m = attention_case(shape, kind, 31)
    p_c, p_g = on_both(K.attention_scores_forward, q, k, **m)
    close(p_g, p_c, 1e-6, 1e-5, "scores")
    dp = f32(rng, *p_c.shape)
    cpu, gpu = on_both(K.attention_scores_backward, dp, p_c, q, k, **m)
    assert len(cpu) == len(gpu) == 2
    for name, g, c in zip(("dq", "dk"), gpu, cpu, strict=True):
        close(g, c, 1e-5, 1e-4, name)


def test_attention_mask_plumbing_matches_cpu():
    rng = np.random.default_rng(5)
    a = (rng.random((70_001,)) > 0.5).astype(np.uint8)
    b = (rng.random((70_001,)) > 0.5).astype(np.uint8)
    cpu, gpu = on_both(K._attention_key_mask_forward, a, b)
    assert np.array_equal(gpu, cpu) and np.array_equal(cpu, a & b)
    m = rng.random((3, 17, 19)).astype(np.float32)
    cpu, gpu = on_both(K._attention_mask_forward, m)
    assert np.array_equal(gpu, cpu) and np.array_equal(cpu, (m > 0.5).astype(np.uint8))
    cpu, gpu = on_both(K._attention_zero_backward, f32(rng, 5, 7))
    assert np.array_equal(gpu, cpu) and not np.any(cpu)


# ---------------------------------------------------------------- pools, position embedding

@pytest.mark.parametrize("n,t,c", [(1, 1, 1), (5, 13, 7), (70_000, 3, 2)])
@pytest.mark.parametrize("masked", [False, True])
def test_masked_pools_match_cpu(n, t, c, masked):
    rng = np.random.default_rng([n, t, c])
    x = f32(rng, n, t, c)
    mask = None
    if masked:
        mask = (rng.random((n, t)) > 0.4).astype(np.uint8)
        mask[0] = 0  # no valid step: 0 and no gradient
    y_c, y_g = on_both(K.masked_avg_pool1d_forward, x, mask)
    close(y_g, y_c, 0, 1e-6, "avg forward")
    dy = f32(rng, n, c)
    dx_c, dx_g = on_both(K.masked_avg_pool1d_backward, dy, t, mask)
    close(dx_g, dx_c, 0, 1e-6, "avg backward")
    (m_c, a_c), (m_g, a_g) = on_both(K.masked_max_pool1d_forward, x, mask)
    assert np.array_equal(m_g, m_c) and np.array_equal(a_g, a_c)
    dx_c, dx_g = on_both(K.masked_max_pool1d_backward, dy, a_c, t)
    assert np.array_equal(dx_g, dx_c)


@pytest.mark.parametrize("n,t,length,d", [(1, 1, 1, 1), (7, 13, 20, 9), (300, 5, 5, 3)])
def test_position_embedding_matches_cpu(n, t, length, d):
    rng = np.random.default_rng([n, t, d])
    table = f32(rng, length, d)
    y_c, y_g = on_both(K.position_embedding_forward, table, n, t)
    assert np.array_equal(y_g, y_c)
    dy = f32(rng, n, t, d)
    g_c, g_g = on_both(K.position_embedding_backward, dy, length)
    assert np.array_equal(g_g, g_c)  # batch order on both: the very same sums
