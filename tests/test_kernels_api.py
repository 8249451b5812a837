"""pydl.kernels, the public kernel module: each forward against a numpy float64 reference
written here (or in reference.py), each backward against central finite differences of the
forward in float64, float32 against the float64 reference within float32 tolerances, and
every bad dtype / shape as a TypeError / ValueError naming the kernel and the argument."""
import numpy as np
import pytest

import pydl
from pydl import kernels as K

import reference as ref
from conftest import numeric_grad, rel_err


def r(rng, *shape):
    return rng.standard_normal(shape)


def check_grad(forward, dy, wrt, analytic, tol=1e-6):
    """analytic == d sum(dy * forward()) / d wrt, by finite differences (wrt changed in place)."""
    num = numeric_grad(lambda: float((dy * forward()).sum()), wrt)
    assert analytic.shape == wrt.shape
    assert rel_err(analytic, num) < tol


# ---- matrix products, activations, dense, dropout ----------------------------------------------

@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_matches_numpy(rng, trans_a, trans_b):
    a, b, c, bias = r(rng, 7, 5), r(rng, 5, 4), r(rng, 7, 4), r(rng, 4)
    a_in, b_in = (a.T.copy() if trans_a else a), (b.T.copy() if trans_b else b)
    got = K.gemm(a_in, b_in, trans_a, trans_b, alpha=0.5, beta=2.0, c=c, bias=bias, activation="tanh")
    np.testing.assert_allclose(got, np.tanh(0.5 * a @ b + 2.0 * c + bias), rtol=1e-12, atol=1e-12)
    c_before = c.copy()
    K.gemm(a, b, c=c, beta=1.0)
    np.testing.assert_array_equal(c, c_before)  # c is read, not written


def test_gemm_float32_and_noncontiguous(rng):
    a, b = r(rng, 40, 30), r(rng, 30, 20)
    got = K.gemm(a.astype(np.float32), np.asfortranarray(b.astype(np.float32)))
    assert got.dtype == np.float32 and got.shape == (40, 20)
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "linear"])
def test_activation_forward_backward(rng, name):
    x = r(rng, 3, 5) + 0.05  # away from relu's kink at 0 for these draws
    y = K.activation_forward(x, name)
    np.testing.assert_allclose(y, ref.act(x, name), rtol=1e-12, atol=1e-12)
    dy = r(rng, 3, 5)
    dx = K.activation_backward(dy, x, y, name)
    check_grad(lambda: K.activation_forward(x, name), dy, x, dx)


@pytest.mark.parametrize("activation", ["linear", "relu", "gelu"])
def test_dense_forward_backward(rng, activation):
    x, w, b = r(rng, 4, 3), r(rng, 3, 2), r(rng, 2)
    y, z = K.dense_forward(x, w, b, activation, keep_preactivation=True)
    np.testing.assert_allclose(y, ref.dense(x, w, b, activation), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(z, x @ w + b, rtol=1e-12, atol=1e-12)
    dy = r(rng, 4, 2)
    dx, dw, db = K.dense_backward(dy, x, w, y, z, activation)
    fwd = lambda: K.dense_forward(x, w, b, activation)[0]  # noqa: E731
    check_grad(fwd, dy, x, dx)
    check_grad(fwd, dy, w, dw)
    check_grad(fwd, dy, b, db)


def test_dropout_forward_backward(rng):
    x = r(rng, 200, 50)
    y, mask = K.dropout_forward(x, 0.25, seed=3)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    np.testing.assert_allclose(y, x * mask / 0.75, rtol=1e-12)
    assert abs(mask.mean() - 0.75) < 0.01  # 10,000 draws: 5 standard deviations
    np.testing.assert_array_equal(K.dropout_forward(x, 0.25, seed=3)[1], mask)  # a function of the seed
    assert not np.array_equal(K.dropout_forward(x, 0.25, seed=4)[1], mask)
    dy = r(rng, 200, 50)
    np.testing.assert_allclose(K.dropout_backward(dy, mask, 0.25), dy * mask / 0.75, rtol=1e-12)


# ---- convolution and pooling -------------------------------------------------------------------

def conv2d_ref(x, k, b, stride, pad_hw, dil):
    """Direct loops over zero-padded input: y[n, i, j, f] = sum x[.., i*s + di*d, ..] k[di, dj, c, f]."""
    (pt, pb), (pl, pr) = pad_hw
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    kh, kw, _, f = k.shape
    oh = (xp.shape[1] - (kh - 1) * dil[0] - 1) // stride[0] + 1
    ow = (xp.shape[2] - (kw - 1) * dil[1] - 1) // stride[1] + 1
    y = np.zeros((x.shape[0], oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for di in range(kh):
                for dj in range(kw):
                    y[:, i, j] += xp[:, i * stride[0] + di * dil[0], j * stride[1] + dj * dil[1]] @ k[di, dj]
    return y + (0 if b is None else b)


@pytest.mark.parametrize("padding,strides,dilation,pad_hw", [
    ("valid", (1, 1), (1, 1), ((0, 0), (0, 0))),
    ("same", (2, 1), (1, 1), ((0, 1), (1, 1))),   # TensorFlow's 'same': the odd row at the bottom
    ((1, 2), (1, 2), (2, 1), ((1, 1), (2, 2))),
])
def test_conv2d_forward_backward(rng, padding, strides, dilation, pad_hw):
    x, k, b = r(rng, 2, 6, 5, 3), r(rng, 3, 3, 3, 2), r(rng, 2)
    y = K.conv2d_forward(x, k, b, strides, padding, dilation)
    np.testing.assert_allclose(y, conv2d_ref(x, k, b, strides, pad_hw, dilation), rtol=1e-11, atol=1e-11)
    dy = r(rng, *y.shape)
    dx, dk, db = K.conv2d_backward(dy, x, k, strides, padding, dilation)
    fwd = lambda: K.conv2d_forward(x, k, b, strides, padding, dilation)  # noqa: E731
    check_grad(fwd, dy, x, dx)
    check_grad(fwd, dy, k, dk)
    check_grad(fwd, dy, b, db)


@pytest.mark.parametrize("padding,left_right", [("valid", (0, 0)), ("causal", (4, 0)), ("same", (2, 2)), (1, (1, 1))])
def test_conv1d_forward_backward(rng, padding, left_right):
    x, k, b = r(rng, 2, 7, 3), r(rng, 3, 3, 4), r(rng, 4)
    y = K.conv1d_forward(x, k, b, padding=padding, dilation=2, activation="relu")
    expected = conv2d_ref(x[:, None], k[None], b, (1, 1), ((0, 0), left_right), (1, 2))[:, 0]
    np.testing.assert_allclose(y, np.maximum(expected, 0), rtol=1e-11, atol=1e-11)
    lin = K.conv1d_forward(x, k, b, padding=padding, dilation=2)
    dy = r(rng, *lin.shape)
    dx, dk, db = K.conv1d_backward(dy, x, k, padding=padding, dilation=2)
    fwd = lambda: K.conv1d_forward(x, k, b, padding=padding, dilation=2)  # noqa: E731
    check_grad(fwd, dy, x, dx)
    check_grad(fwd, dy, k, dk)
    check_grad(fwd, dy, b, db)


def pool_ref(x, kind, p, s):
    oh, ow = (x.shape[1] - p[0]) // s[0] + 1, (x.shape[2] - p[1]) // s[1] + 1
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            win = x[:, i * s[0]:i * s[0] + p[0], j * s[1]:j * s[1] + p[1]]
            y[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return y


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d_and_pool1d(rng, kind):
    x = r(rng, 2, 6, 5, 3)
    y, arg = K.pool2d_forward(x, kind, (2, 2), (2, 1))
    np.testing.assert_allclose(y, pool_ref(x, kind, (2, 2), (2, 1)), rtol=1e-12)
    dy = r(rng, *y.shape)
    dx = K.pool2d_backward(dy, arg if kind == "max" else None, x.shape, kind, (2, 2), (2, 1))
    check_grad(lambda: K.pool2d_forward(x, kind, (2, 2), (2, 1))[0], dy, x, dx)

    s = r(rng, 2, 7, 3)
    y1, arg1 = K.pool1d_forward(s, kind, 3, 2)
    np.testing.assert_allclose(y1, pool_ref(s[:, None], kind, (1, 3), (1, 2))[:, 0], rtol=1e-12)
    dy1 = r(rng, *y1.shape)
    dx1 = K.pool1d_backward(dy1, arg1 if kind == "max" else None, s.shape, kind, 3, 2)
    check_grad(lambda: K.pool1d_forward(s, kind, 3, 2)[0], dy1, s, dx1)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 6, 5)])
def test_global_pool(rng, kind, shape):
    x = r(rng, *shape)
    y, arg = K.global_pool_forward(x, kind)
    axes = tuple(range(1, x.ndim - 1))
    np.testing.assert_allclose(y, x.max(axis=axes) if kind == "max" else x.mean(axis=axes), rtol=1e-12)
    dy = r(rng, *y.shape)
    dx = K.global_pool_backward(dy, arg, x.shape, kind)
    check_grad(lambda: K.global_pool_forward(x, kind)[0], dy, x, dx)


# ---- normalization -----------------------------------------------------------------------------

def test_batchnorm_training_and_inference(rng):
    x, gamma, beta = r(rng, 4, 3, 2, 5), r(rng, 5), r(rng, 5)
    mm, mv = np.zeros(5), np.ones(5)
    y, stats = K.batchnorm_forward(x, gamma, beta, mm, mv, training=True, momentum=0.8, epsilon=1e-3)
    flat = x.reshape(-1, 5)
    mean, var = flat.mean(0), flat.var(0)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats, [mean, 1 / np.sqrt(var + 1e-3)], rtol=1e-12)
    np.testing.assert_allclose(mm, 0.2 * mean, rtol=1e-12)  # moving statistics updated in place
    np.testing.assert_allclose(mv, 0.8 + 0.2 * flat.var(0, ddof=1), rtol=1e-12)

    dy = r(rng, *x.shape)
    dx, dg, db = K.batchnorm_backward(dy, x, gamma, stats, mm, mv, training=True, epsilon=1e-3)
    fwd = lambda: K.batchnorm_forward(x, gamma, beta, np.zeros(5), np.ones(5), True, epsilon=1e-3)[0]  # noqa: E731
    check_grad(fwd, dy, x, dx)
    check_grad(fwd, dy, gamma, dg)
    check_grad(fwd, dy, beta, db)

    y_inf, _ = K.batchnorm_forward(x, gamma, beta, mm, mv, training=False, epsilon=1e-3)
    np.testing.assert_allclose(y_inf, (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta, rtol=1e-10, atol=1e-12)


def test_layernorm_and_normalization(rng):
    x, gamma, beta = r(rng, 3, 4, 6), r(rng, 6), r(rng, 6)
    y, stats = K.layernorm_forward(x, gamma, beta, epsilon=1e-5)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * gamma + beta, rtol=1e-10, atol=1e-12)
    dy = r(rng, *x.shape)
    dx, dg, db = K.layernorm_backward(dy, x, gamma, stats)
    fwd = lambda: K.layernorm_forward(x, gamma, beta)[0]  # noqa: E731
    check_grad(fwd, dy, x, dx)
    check_grad(fwd, dy, gamma, dg)
    check_grad(fwd, dy, beta, db)

    m, v = r(rng, 6), rng.uniform(0.5, 2, 6)
    np.testing.assert_allclose(K.normalization_forward(x, m, v), (x - m) / np.sqrt(v), rtol=1e-12)
    np.testing.assert_allclose(K.normalization_backward(dy, v), dy / np.sqrt(v), rtol=1e-12)


# ---- recurrent ---------------------------------------------------------------------------------

def sig(v):
    return 1 / (1 + np.exp(-v))


def rnn_ref(x, k, rec, b, cell, h0, c0, mask):
    """The recurrences written out (PyTorch's gate orders: LSTM i, f, g, o; GRU r, z, n)."""
    u = rec.shape[0]
    h, c = h0.copy(), c0.copy()
    bi, bh = (b[:3 * u], b[3 * u:]) if cell == "gru" else (b, 0)
    out = []
    for t in range(x.shape[1]):
        xw, hr = x[:, t] @ k + bi, h @ rec + bh
        if cell == "lstm":
            i, f, g, o = (sig(xw[:, :u] + hr[:, :u]), sig(xw[:, u:2 * u] + hr[:, u:2 * u]),
                          np.tanh(xw[:, 2 * u:3 * u] + hr[:, 2 * u:3 * u]), sig(xw[:, 3 * u:] + hr[:, 3 * u:]))
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
        elif cell == "gru":
            rg, z = sig(xw[:, :u] + hr[:, :u]), sig(xw[:, u:2 * u] + hr[:, u:2 * u])
            h_new, c_new = (1 - z) * np.tanh(xw[:, 2 * u:] + rg * hr[:, 2 * u:]) + z * h, c
        else:
            h_new, c_new = np.tanh(xw + hr), c
        keep = mask[:, t:t + 1].astype(bool)
        h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
        out.append(h)
    return np.stack(out, 1)


@pytest.mark.parametrize("cell,gates", [("lstm", 4), ("gru", 3), ("simple_rnn", 1)])
def test_rnn_forward_backward(rng, cell, gates):
    n, t, f, u = 2, 4, 3, 2
    x, k, rec = r(rng, n, t, f), r(rng, f, gates * u) * 0.5, r(rng, u, gates * u) * 0.5
    b = r(rng, (2 if cell == "gru" else 1) * gates * u) * 0.5
    h0, c0 = r(rng, n, u), (r(rng, n, u) if cell == "lstm" else np.zeros((n, u)))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    y, ws = K.rnn_forward(x, k, rec, b, cell, return_sequences=True, mask=mask, h0=h0,
                          c0=c0 if cell == "lstm" else None)
    np.testing.assert_allclose(y, rnn_ref(x, k, rec, b, cell, h0, c0, mask), rtol=1e-11, atol=1e-12)
    dy = r(rng, *y.shape)
    dx, dk, dr, db, dh0, _ = K.rnn_backward(dy, x, k, rec, b, ws, cell, return_sequences=True, mask=mask)
    fwd = lambda: K.rnn_forward(x, k, rec, b, cell, return_sequences=True, mask=mask, h0=h0,  # noqa: E731
                                c0=c0 if cell == "lstm" else None)[0]
    for wrt, grad in ((x, dx), (k, dk), (rec, dr), (b, db), (h0, dh0)):
        check_grad(fwd, dy, wrt, grad)


@pytest.mark.parametrize("mode", ["concat", "sum", "ave", "mul"])
def test_bidirectional_merge(rng, mode):
    a, b = r(rng, 2, 3, 4), r(rng, 2, 3, 4)
    expected = {"concat": np.concatenate([a, b], -1), "sum": a + b, "ave": (a + b) / 2, "mul": a * b}[mode]
    y = K.bidirectional_merge_forward(mode, a, b)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    dy = r(rng, *y.shape)
    da, db = K.bidirectional_merge_backward(mode, dy, a, b)
    check_grad(lambda: K.bidirectional_merge_forward(mode, a, b), dy, a, da)
    check_grad(lambda: K.bidirectional_merge_forward(mode, a, b), dy, b, db)


# ---- attention ---------------------------------------------------------------------------------

def attention_ref(q, k, v, allowed, scale):
    s = np.einsum("nqhd,nkhd->nhqk", q, k) * scale
    s = np.where(allowed[:, None], s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    return np.einsum("nhqk,nkhd->nqhd", w / w.sum(-1, keepdims=True), v)


def test_attention_forward_backward(rng):
    n, t, h, d = 2, 5, 2, 3
    q, k, v = r(rng, n, t, h, d), r(rng, n, t, h, d), r(rng, n, t, h, 4)
    key_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    o, lse = K.attention_forward(q, k, v, key_mask=key_mask, causal=True)
    allowed = np.tril(np.ones((t, t), bool))[None] & key_mask[:, None, :]
    np.testing.assert_allclose(o, attention_ref(q, k, v, allowed, 1 / np.sqrt(d)), rtol=1e-11, atol=1e-12)
    dout = r(rng, *o.shape)
    dq, dk, dv = K.attention_backward(dout, q, k, v, o, lse, key_mask=key_mask, causal=True)
    fwd = lambda: K.attention_forward(q, k, v, key_mask=key_mask, causal=True)[0]  # noqa: E731
    check_grad(fwd, dout, q, dq)
    check_grad(fwd, dout, k, dk)
    check_grad(fwd, dout, v, dv)
    o2, _ = K.attention_forward(q, k, v, scale=0.25)
    np.testing.assert_allclose(o2, attention_ref(q, k, v, np.ones((n, t, t), bool), 0.25), rtol=1e-11)


# ---- losses, metrics ---------------------------------------------------------------------------

def test_losses_against_references(rng):
    z, labels = r(rng, 6, 4), np.array([0, 3, 1, 2, 2, 0])
    cw = np.array([1.0, 2.0, 0.5, 1.5])
    value, grad = K.loss(z, labels, kind="cross_entropy", class_weights=cw, label_smoothing=0.1)
    assert value == pytest.approx(ref.cross_entropy(z, labels, cw, 0.1), rel=1e-12)
    check_grad(lambda: np.array(K.loss(z, labels, kind="cross_entropy", class_weights=cw,
                                       label_smoothing=0.1)[0]), np.array(1.0), z, grad)
    t = (r(rng, 6, 4) > 0).astype(np.float64)
    assert K.loss(z, targets=t, kind="binary_cross_entropy")[0] == pytest.approx(ref.binary_cross_entropy(z, t),
                                                                                  rel=1e-12)
    tv = r(rng, 6, 4)
    value, grad = K.loss(z, targets=tv, kind="mse")
    assert value == pytest.approx(ref.mse(z, tv), rel=1e-12)
    np.testing.assert_allclose(grad, 2 * (z - tv) / z.size, rtol=1e-12)
    assert K.loss(z, targets=tv, kind="mae")[0] == pytest.approx(ref.mae(z, tv), rel=1e-12)


def test_accuracy_count(rng):
    z, labels = r(rng, 50, 3), rng.integers(0, 3, 50)
    assert K.accuracy_count(z, labels) == (int((z.argmax(1) == labels).sum()), 50)
    t = (r(rng, 50, 3) > 0).astype(np.float64)
    assert K.accuracy_count(z, targets=t, kind="binary_cross_entropy") == (int(((z > 0) == (t > 0.5)).sum()), 150)


# ---- optimizers --------------------------------------------------------------------------------

def test_optimizer_steps_match_torch_rules(rng):
    p0, grads = r(rng, 30), [r(rng, 30) for _ in range(3)]
    opt = pydl.optimizers.Adam(learning_rate=0.01, weight_decay=0.1)
    p, slots = p0.copy(), K.optimizer_slots(opt, p0)
    assert len(slots) == 2
    m, v, expected = np.zeros(30), np.zeros(30), p0.copy()
    for step, g in enumerate(grads, 1):
        assert K.optimizer_step(p, g, slots, opt, step)
        expected, m, v = ref.adam(expected, g, m, v, step, 0.01, weight_decay=0.1)
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_allclose(slots[0], m, rtol=1e-12)

    cfg = {"kind": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True}
    p, slots = p0.copy(), K.optimizer_slots(cfg, p0)
    expected, buf = p0.copy(), None
    for step, g in enumerate(grads, 1):
        K.optimizer_step(p, g, slots, cfg, step)
        expected, buf = ref.sgd(expected, g, buf, 0.1, 0.9, nesterov=True, first=step == 1)
    np.testing.assert_allclose(p, expected, rtol=1e-12)

    ada = pydl.optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.3)
    slots = K.optimizer_slots(ada, p0)
    np.testing.assert_array_equal(slots[0], np.full(30, 0.3))
    p = p0.copy()
    K.optimizer_step(p, grads[0], slots, ada, 1)
    acc = 0.3 + grads[0] ** 2  # torch.optim.Adagrad, one step
    np.testing.assert_allclose(p, p0 - 0.1 * grads[0] / (np.sqrt(acc) + 1e-7), rtol=1e-12)


def test_optimizer_step_refuses_a_nonfinite_update():
    p, g = np.ones(4), np.array([1.0, np.inf, 0.0, 0.0])
    slots = K.optimizer_slots({"kind": "sgd", "learning_rate": 0.1}, p)
    assert not K.optimizer_step(p, g, slots, {"kind": "sgd", "learning_rate": 0.1}, 1)
    np.testing.assert_array_equal(p, np.ones(4))


@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_global_norm_and_clipping(rng, max_norm):
    g = r(rng, 1000)
    expected, norm = ref.clip_grad_norm(g, max_norm)
    assert K.global_norm(g) == pytest.approx(np.linalg.norm(g), rel=1e-12)
    got = g.copy()
    assert K.clip_by_global_norm(got, max_norm) == pytest.approx(norm, rel=1e-12)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# ---- merges, concatenation, embeddings ---------------------------------------------------------

@pytest.mark.parametrize("op,fn", [("add", lambda a, b: a + b), ("subtract", np.subtract), ("multiply", np.multiply),
                                   ("average", lambda a, b: (a + b) / 2), ("maximum", np.maximum),
                                   ("minimum", np.minimum)])
def test_merge(rng, op, fn):
    a, b = r(rng, 3, 4), r(rng, 3, 4)
    np.testing.assert_allclose(K.merge_forward(op, [a, b]), fn(a, b), rtol=1e-12)
    dy = r(rng, 3, 4)
    da, db = K.merge_backward(op, dy, [a, b])
    check_grad(lambda: K.merge_forward(op, [a, b]), dy, a, da)
    check_grad(lambda: K.merge_forward(op, [a, b]), dy, b, db)


def test_concat_and_embedding(rng):
    xs = [r(rng, 2, 3, 1), r(rng, 2, 3, 4)]
    y = K.concat_forward(xs, axis=-1)
    np.testing.assert_array_equal(y, np.concatenate(xs, -1))
    parts = K.concat_backward(y, [1, 4], axis=2)
    assert len(parts) == 2
    np.testing.assert_array_equal(parts[0], xs[0])
    np.testing.assert_array_equal(parts[1], xs[1])

    table, ids = r(rng, 6, 3), np.array([[0, 5, 2], [2, 2, 1]])
    np.testing.assert_array_equal(K.embedding_forward(table, ids), table[ids])
    dy = r(rng, 2, 3, 3)
    expected = np.zeros((6, 3))
    np.add.at(expected, ids, dy)
    np.testing.assert_allclose(K.embedding_backward(dy, ids, 6), expected, rtol=1e-12)


# ---- float32, and bad inputs -------------------------------------------------------------------

def test_float32_results_follow_the_float64_reference(rng):
    x, k = r(rng, 2, 6, 6, 3), r(rng, 3, 3, 3, 4)
    y32 = K.conv2d_forward(x.astype(np.float32), k.astype(np.float32), padding="same")
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, conv2d_ref(x, k, None, (1, 1), ((1, 1), (1, 1)), (1, 1)), rtol=1e-4, atol=1e-5)
    q = r(rng, 1, 8, 2, 4).astype(np.float32)
    o, _ = K.attention_forward(q, q, q)
    assert o.dtype == np.float32
    ref64 = attention_ref(q.astype(np.float64), q.astype(np.float64), q.astype(np.float64),
                          np.ones((1, 8, 8), bool), 0.5)
    np.testing.assert_allclose(o, ref64, rtol=1e-4, atol=1e-5)


F = np.ones((4, 3))
IMG = np.ones((2, 5, 5, 3))


@pytest.mark.parametrize("call,error,match", [
    (lambda: K.gemm(F.astype(np.int64), F.T), TypeError,
     "gemm: a: expected a float32 or float64 array, got dtype int64"),
    (lambda: K.gemm(F.astype(np.float32), F.T), TypeError, "gemm: expected every float input in one dtype"),
    (lambda: K.gemm(F, F), ValueError, r"gemm: op\(a\) is \(4, 3\) and op\(b\) \(4, 3\)"),
    (lambda: K.gemm(F, F.T, bias=np.ones(3)), ValueError, r"gemm: bias: expected shape \(4,\)"),
    (lambda: K.gemm(np.ones(3), F), ValueError, r"gemm: a: expected an array of shape \(M, K\)"),
    (lambda: K.activation_forward(F, "swish"), ValueError, "unknown activation 'swish'"),
    (lambda: K.dense_forward(F, np.ones((4, 2))), ValueError, "dense_forward: x has 3 features"),
    (lambda: K.conv2d_forward(np.ones((5, 5, 3)), np.ones((3, 3, 3, 2))), ValueError,
     r"conv2d_forward: x: expected an array of shape \(N, H, W, C\)"),
    (lambda: K.conv2d_forward(IMG, np.ones((3, 3, 2, 2))), ValueError, "is for 2 channels, x has 3"),
    (lambda: K.conv2d_forward(IMG, np.ones((3, 3, 3, 2)), padding="full"), ValueError, "padding"),
    (lambda: K.conv1d_forward(np.ones((2, 5, 3)), np.ones((2, 3, 4)), strides=0), ValueError, "strides"),
    (lambda: K.pool2d_forward(IMG, "median"), ValueError, "pool2d_forward: kind: expected one of 'max', 'avg'"),
    (lambda: K.pool2d_backward(np.ones((2, 2, 2, 3)), np.zeros((2, 2, 2, 3), np.float64), IMG.shape, "max"),
     TypeError, "argmax: expected an integer array"),
    (lambda: K.pool1d_backward(np.ones((2, 2, 3)), np.zeros((2, 3, 3), np.int32), (2, 5, 3), "max"), ValueError,
     r"pool1d_backward: argmax: expected dy's shape \(2, 2, 3\)"),
    (lambda: K.batchnorm_forward(IMG, np.ones(3), np.ones(3), np.zeros(3, np.float32), np.ones(3), True),
     TypeError, "moving_mean: expected dtype float64"),
    (lambda: K.batchnorm_forward(IMG, np.ones(2), np.ones(3), np.zeros(3), np.ones(3), False), ValueError,
     "gamma: expected 3 values"),
    (lambda: K.layernorm_backward(F, F, np.ones(3), np.zeros((2, 4), np.float32)), TypeError, "stats"),
    (lambda: K.rnn_forward(np.ones((2, 3, 4)), np.ones((4, 8)), np.ones((2, 6)), cell="lstm"), ValueError,
     r"rnn_forward: recurrent: expected shape \(2, 8\) for lstm with 2 units"),
    (lambda: K.rnn_forward(np.ones((2, 3, 4)), np.ones((4, 8)), np.ones((2, 6)), cell="gru"), ValueError,
     r"rnn_forward: kernel: expected shape \(4, 6\)"),
    (lambda: K.rnn_forward(np.ones((2, 3, 4)), np.ones((4, 8)), np.ones((2, 8)), cell="lstm2"), ValueError, "cell"),
    (lambda: K.rnn_forward(np.ones((2, 3, 4)), np.ones((4, 2)), np.ones((2, 2)), cell="simple_rnn",
                           mask=np.full((2, 3), 2)), ValueError, "mask of 0 and 1"),
    (lambda: K.attention_forward(np.ones((1, 4, 2, 3)), np.ones((1, 4, 2, 5)), np.ones((1, 4, 2, 3))), ValueError,
     r"attention_forward: k: expected \(N, Tk, heads, dk\)"),
    (lambda: K.attention_forward(*[np.ones((1, 4, 2, 3))] * 3, key_mask=np.ones((1, 3))), ValueError,
     r"key_mask: expected shape \(1, 4\)"),
    (lambda: K.loss(F, np.array([0, 1, 3, 0])), ValueError, r"labels: expected class ids in \[0, 3\)"),
    (lambda: K.loss(F, np.array([0.0, 1, 2, 0])), TypeError, "labels: expected an integer array"),
    (lambda: K.loss(F, targets=np.ones((4, 2)), kind="mse"), ValueError, "targets shaped like logits"),
    (lambda: K.loss(F, np.zeros(4, int), kind="hinge"), ValueError, "kind"),
    (lambda: K.optimizer_step(np.ones(3), np.ones(3), [], {"kind": "adam"}, 1), ValueError, "keeps 2 state"),
    (lambda: K.optimizer_step([1.0, 2.0], np.ones(2), [], {"kind": "sgd"}, 1), TypeError, "updated in place"),
    (lambda: K.optimizer_step(np.ones(3), np.ones(3, np.float32), [], {"kind": "sgd"}, 1), TypeError, "grads"),
    (lambda: K.optimizer_step(np.ones(3), np.ones(3), [], {"kind": "sgd"}, 0), ValueError, "step"),
    (lambda: K.optimizer_step(np.ones(3), np.ones(3), [], {"kind": "lion"}, 1), ValueError, "kind"),
    (lambda: K.optimizer_step(np.ones(3), np.ones(3), [], {"kind": "sgd", "lr": 0.1}, 1), ValueError, "lr"),
    (lambda: K.optimizer_step(np.ones(3), np.ones(3), [], pydl.optimizers.SGD(clipnorm=1.0), 1), ValueError,
     "clip_by_global_norm"),
    (lambda: K.clip_by_global_norm(np.ones((4, 4))[:, 0], 1.0), ValueError, "C-contiguous"),
    (lambda: K.merge_forward("add", [F]), ValueError, "at least 2"),
    (lambda: K.merge_forward("add", [F, np.ones((3, 4))]), ValueError, r"xs\[1\]"),
    (lambda: K.embedding_forward(F, np.array([0, 4])), ValueError, "id 4"),
])
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_masks_are_bool_or_exact_zero_one():
    q = np.ones((1, 2, 1, 2))
    with pytest.raises(TypeError, match="key_mask: expected a bool or 0/1 mask, got dtype <U1"):
        K.attention_forward(q, q, q, key_mask=np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="key_mask: expected a mask of 0 and 1"):
        K.attention_forward(q, q, q, key_mask=np.array([[1.0, 0.5]]))
    o_float, _ = K.attention_forward(q, q, q, key_mask=np.array([[1.0, 0.0]]))
    o_bool, _ = K.attention_forward(q, q, q, key_mask=np.array([[True, False]]))
    np.testing.assert_array_equal(o_float, o_bool)
