"""Recurrent kernels: forward against numpy float64 references of the recurrences (PyTorch's
gate orders and GRU formulation), backward through time by central finite differences in
float64 (relative error < 1e-6): masks, reversed order, both return modes, initial states."""
import numpy as np
import pytest

import pydl

from pydl._core import kernels

from conftest import numeric_grad, rel_err


def sig(v):
    return 1 / (1 + np.exp(-v))


def rnn_ref(x, k, r, b, cell, act="tanh", reverse=False, seq=False, mask=None, h0=None, c0=None):
    n, t, _ = x.shape
    u = r.shape[0]
    h = np.zeros((n, u)) if h0 is None else h0.copy()
    c = np.zeros((n, u)) if c0 is None else c0.copy()
    bi = np.zeros(k.shape[1]) if b is None else (b[: k.shape[1]] if cell == "gru" else b)
    bh = b[k.shape[1]:] if (cell == "gru" and b is not None) else np.zeros(k.shape[1])
    out = np.zeros((n, t, u))
    for s in range(t):
        ti = t - 1 - s if reverse else s
        xw = x[:, ti] @ k + bi
        hr = h @ r + (bh if cell == "gru" else 0)
        if cell == "lstm":
            i, f, g, o = sig(xw[:, :u] + hr[:, :u]), sig(xw[:, u:2*u] + hr[:, u:2*u]), \
                np.tanh(xw[:, 2*u:3*u] + hr[:, 2*u:3*u]), sig(xw[:, 3*u:] + hr[:, 3*u:])
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
        elif cell == "gru":
            rg, z = sig(xw[:, :u] + hr[:, :u]), sig(xw[:, u:2*u] + hr[:, u:2*u])
            nn = np.tanh(xw[:, 2*u:] + rg * hr[:, 2*u:])
            h_new, c_new = (1 - z) * nn + z * h, c
        else:
            pre = xw + hr
            h_new, c_new = SIMPLE_ACTS[act](pre), c
        if mask is not None:
            keep = mask[:, ti:ti + 1].astype(bool)
            h_new, c_new = np.where(keep, h_new, h), np.where(keep, c_new, c)
        h, c = h_new, c_new
        out[:, ti] = h
    return out if seq else h


SIMPLE_ACTS = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0), "linear": lambda v: v,
               "leaky_relu": lambda v: np.where(v > 0, v, 0.01 * v), "sigmoid": lambda v: 1 / (1 + np.exp(-v))}


def weights(rng, cell, f, u, bias=True):
    g = {"lstm": 4, "gru": 3, "simple": 1}[cell]
    k = rng.standard_normal((f, g * u)) * 0.5
    r = rng.standard_normal((u, g * u)) * 0.5
    b = rng.standard_normal((2 if cell == "gru" else 1) * g * u) * 0.5 if bias else None
    return k, r, b


CASES = [  # cell, activation, reverse, return_sequences, masked
    ("lstm", "tanh", False, False, False), ("lstm", "tanh", False, True, True), ("lstm", "tanh", True, True, False),
    ("gru", "tanh", False, False, True), ("gru", "tanh", True, True, True), ("gru", "tanh", False, True, False),
    ("simple", "tanh", False, True, True), ("simple", "relu", True, False, False),
    # the derivative from the output h: leaky_relu's negative slope, sigmoid, linear
    ("simple", "leaky_relu", False, True, True), ("simple", "sigmoid", True, True, False),
    ("simple", "linear", False, False, True),
]


@pytest.mark.parametrize("act", ["gelu", "softmax"])
def test_simple_rnn_refuses_activations_its_backward_cannot_differentiate(rng, act):
    k, r, b = weights(rng, "simple", 4, 3)
    with pytest.raises(ValueError, match="expected activation linear, relu, leaky_relu, sigmoid or tanh"):
        kernels.rnn_forward(rng.standard_normal((2, 3, 4)), k, r, b, "simple", act, False, False, None)
    model = pydl.Sequential([pydl.layers.Input((3, 4)), pydl.layers.SimpleRNN(3, activation=act)])
    with pytest.raises(ValueError, match="not supported by SimpleRNN"):  # when the graph is built
        model.predict(np.zeros((2, 3, 4), np.float32))


@pytest.mark.parametrize("cell,act,reverse,seq,masked", CASES)
def test_rnn_forward_and_backward(rng, cell, act, reverse, seq, masked):
    n, t, f, u = 3, 5, 4, 3
    x = rng.standard_normal((n, t, f))
    k, r, b = weights(rng, cell, f, u)
    mask = None
    if masked:  # variable lengths: padding at the end of each row (one row fully valid)
        lengths = np.array([5, 3, 1])
        mask = (np.arange(t)[None, :] < lengths[:, None]).astype(np.uint8)
    if act == "relu":  # keep pre-activations away from the kink
        x = np.abs(x)
        k, r = np.abs(k), np.abs(r) * 0.3
    y, ws = kernels.rnn_forward(x, k, r, b, cell, act, reverse, seq, mask)
    np.testing.assert_allclose(y, rnn_ref(x, k, r, b, cell, act, reverse, seq, mask), rtol=1e-12, atol=1e-12)

    dy = rng.standard_normal(y.shape)

    def loss():
        return float((dy * kernels.rnn_forward(x, k, r, b, cell, act, reverse, seq, mask)[0]).sum())

    dx, dk, dr, db, _, _ = kernels.rnn_backward(dy, x, k, r, b, cell, act, reverse, seq, mask, ws)
    assert rel_err(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_err(dk, numeric_grad(loss, k)) < 1e-6
    assert rel_err(dr, numeric_grad(loss, r)) < 1e-6
    assert rel_err(db, numeric_grad(loss, b)) < 1e-6
    if masked:  # padded steps get no input gradient
        assert np.all(dx[mask == 0] == 0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_initial_state_gradients(rng, cell):
    n, t, f, u = 2, 4, 3, 3
    x = rng.standard_normal((n, t, f))
    k, r, b = weights(rng, cell, f, u)
    h0, c0 = rng.standard_normal((n, u)), rng.standard_normal((n, u))
    y, ws = kernels.rnn_forward(x, k, r, b, cell, h0=h0, c0=c0)
    np.testing.assert_allclose(y, rnn_ref(x, k, r, b, cell, h0=h0, c0=c0), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)

    def loss():
        return float((dy * kernels.rnn_forward(x, k, r, b, cell, h0=h0, c0=c0)[0]).sum())

    _, _, _, _, dh0, dc0 = kernels.rnn_backward(dy, x, k, r, b, cell, "tanh", False, False, None, ws)
    assert rel_err(dh0, numeric_grad(loss, h0)) < 1e-6
    if cell == "lstm":
        assert rel_err(dc0, numeric_grad(loss, c0)) < 1e-6


def test_rnn_float32_close_to_float64(rng):
    x = rng.standard_normal((8, 10, 6))
    k, r, b = weights(rng, "lstm", 6, 16)
    y64, _ = kernels.rnn_forward(x, k, r, b, "lstm")
    y32, _ = kernels.rnn_forward(*(v.astype(np.float32) for v in (x, k, r, b)), "lstm")
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
