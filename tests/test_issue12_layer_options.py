"""Issue 12, layer options Keras users type: RNN dropout / recurrent_dropout, initializers,
regularizers, variable-length sequences (Input((None, F))). Each is checked against an
independent reference: numpy float64 loops, finite differences, the initializers' formulas."""
import math

import numpy as np
import pytest

import pydl
from pydl import layers, optimizers, regularizers

from conftest import assert_split_iff_threads, assert_weights_equal, numeric_grad, rel_err, split_regions

kernels = pydl._core.kernels


def sig(v):
    return 1 / (1 + np.exp(-v))


def dropped_rnn_ref(x, k, r, b, cell, in_scale=None, rec_scale=None, reverse=False, seq=False, mask=None):
    """The recurrent cells in float64 with Keras' per-sequence dropout: x_t * in_scale at every
    step, and h_{t-1} * rec_scale where the recurrent kernel reads it (the cell update reads
    the undropped state)."""
    n, t, _ = x.shape
    u = r.shape[0]
    gu = k.shape[1]
    h, c = np.zeros((n, u)), np.zeros((n, u))
    bi = b[:gu] if cell == "gru" else b
    bh = b[gu:] if cell == "gru" else np.zeros(gu)
    out = np.zeros((n, t, u))
    for s in range(t):
        ti = t - 1 - s if reverse else s
        xin = x[:, ti] * (1 if in_scale is None else in_scale)
        hin = h * (1 if rec_scale is None else rec_scale)
        xw, hr = xin @ k + bi, hin @ r + bh
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
        if mask is not None:
            keep = mask[:, ti:ti + 1].astype(bool)
            h_new, c_new = np.where(keep, h_new, h), np.where(keep, c_new, c)
        h, c = h_new, c_new
        out[:, ti] = h
    return out if seq else h


def scales(rng, shape, rate):
    return np.where(rng.random(shape) >= rate, 1 / (1 - rate), 0.0)


# ----------------------------------------------------------------- 1. RNN dropout
@pytest.mark.parametrize("cell,reverse,seq,masked", [("lstm", False, False, False), ("lstm", True, True, True),
                                                     ("gru", False, True, False), ("gru", True, False, True),
                                                     ("simple", False, True, True)])
def test_rnn_kernel_dropout_matches_reference_and_finite_differences(rng, cell, reverse, seq, masked):
    n, t, f, u = 3, 5, 4, 3
    g = {"lstm": 4, "gru": 3, "simple": 1}[cell]
    x = rng.standard_normal((n, t, f))
    k, r = rng.standard_normal((f, g * u)) * 0.5, rng.standard_normal((u, g * u)) * 0.5
    b = rng.standard_normal((2 if cell == "gru" else 1) * g * u) * 0.5
    din, drec = scales(rng, (n, f), 0.4), scales(rng, (n, u), 0.3)
    assert 0 < np.count_nonzero(din) < din.size and 0 < np.count_nonzero(drec) < drec.size
    mask = (np.arange(t)[None, :] < np.array([5, 3, 2])[:, None]).astype(np.uint8) if masked else None
    args = (cell, "tanh", reverse, seq, mask)

    def run():
        return kernels.rnn_forward(x, k, r, b, *args, input_dropout=din, recurrent_dropout=drec)

    y, ws = run()
    np.testing.assert_allclose(y, dropped_rnn_ref(x, k, r, b, cell, din, drec, reverse, seq, mask),
                               rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)

    def loss():
        return float((dy * run()[0]).sum())

    dx, dk, dr, db, _, _ = kernels.rnn_backward(dy, x, k, r, b, *args, ws, input_dropout=din,
                                                 recurrent_dropout=drec)
    for got, wrt in ((dx, x), (dk, k), (dr, r), (db, b)):
        assert rel_err(got, numeric_grad(loss, wrt)) < 1e-6
    for i in range(n):  # a dropped input feature gets no gradient at any step
        assert np.all(dx[i][:, din[i] == 0] == 0)


def seq_data(rng, n=12, t=6, f=5):
    return rng.standard_normal((n, t, f)).astype(np.float32), rng.integers(0, 3, n)


@pytest.mark.parametrize("make", [lambda **o: layers.LSTM(8, **o), lambda **o: layers.GRU(8, **o),
                                  lambda **o: layers.SimpleRNN(8, **o),
                                  lambda **o: layers.Bidirectional(layers.LSTM(8, **o))])
def test_rnn_dropout_is_identity_in_inference_and_random_in_training(rng, make):
    x, y = seq_data(rng)

    def model(**opts):
        m = pydl.Sequential([layers.Input((6, 5)), make(**opts), layers.Dense(3)], seed=3)
        m.compile(optimizer="sgd", loss="cross_entropy")
        return m

    plain, dropped = model(), model(dropout=0.4, recurrent_dropout=0.3)
    assert_weights_equal(dropped.get_weights(), plain.get_weights())  # dropout changes no weight
    assert np.array_equal(dropped.predict(x), plain.predict(x))
    assert dropped.evaluate(x, y)["loss"] == plain.evaluate(x, y)["loss"]
    train_plain, _ = plain.loss_and_gradients(x, y, training=True)
    loss_a, grads_a = dropped.loss_and_gradients(x, y, training=True)
    loss_b, grads_b = dropped.loss_and_gradients(x, y, training=True)
    assert loss_a != train_plain  # training mode drops something
    assert loss_a == loss_b  # the same (seed, step): the same masks
    assert_weights_equal(grads_b, grads_a)


@pytest.mark.parametrize("cell", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_rnn_dropout_gradients_match_finite_differences_with_the_mask_fixed(rng, cell):
    """loss_and_gradients(training=True) draws the masks from (seed, step): unchanged between
    calls, so central differences of the training loss check the backward through them."""
    x, y = seq_data(rng, n=6, t=4, f=3)
    m = pydl.Sequential([layers.Input((4, 3)), cell(4, dropout=0.3, recurrent_dropout=0.4), layers.Dense(3)], seed=1)
    m.compile(optimizer="sgd", loss="cross_entropy")
    _, grads = m.loss_and_gradients(x, y, training=True)
    weights = [w.astype(np.float64) for w in m.get_weights()]
    for i in range(3):  # kernel, recurrent_kernel, bias
        def loss():
            m.set_weights(weights)
            return m.loss_and_gradients(x, y, training=True)[0]
        num = numeric_grad(loss, weights[i], h=1e-3)
        assert rel_err(grads[i], num) < 2e-3, i
        assert np.count_nonzero(num) > 0


def test_input_dropout_mask_is_the_same_at_every_step():
    """SimpleRNN with kernel I, recurrent 0, linear: h_t = x_t * m. With x = 1 the bias
    gradient of mse against 0 is 2 * mean_t(m_t) / U: one mask per sequence gives exactly 0 or
    2 / U * 1 / (1 - rate) per unit; masks drawn per step would average to values between."""
    t, u = 10, 64
    m = pydl.Sequential([layers.Input((t, u)), layers.SimpleRNN(u, activation="linear", return_sequences=True,
                                                                  dropout=0.5)], seed=0)
    m.compile(optimizer="sgd", loss="mse")
    m.set_weights([np.eye(u), np.zeros((u, u)), np.zeros(u)])
    _, grads = m.loss_and_gradients(np.ones((1, t, u), np.float32), np.zeros((1, t, u)), training=True)
    per_unit = grads[2] * u / 2  # mean over steps of each unit's scale
    np.testing.assert_allclose(per_unit[per_unit != 0], 2.0, rtol=1e-6)
    assert 0.3 * u < np.count_nonzero(per_unit) < 0.7 * u


def test_recurrent_dropout_mask_is_the_same_at_every_step():
    """kernel I, recurrent I, linear, x = 1 at step 0 only: h_{T-1} = m^(T-1) elementwise with
    one mask (units kept: about half); masks drawn per step would keep about 0.5^(T-1)."""
    t, u = 5, 64
    m = pydl.Sequential([layers.Input((t, u)), layers.SimpleRNN(u, activation="linear", recurrent_dropout=0.5)],
                        seed=0)
    m.compile(optimizer="sgd", loss="mse")
    m.set_weights([np.eye(u), np.eye(u), np.zeros(u)])
    x = np.zeros((1, t, u), np.float32)
    x[0, 0] = 1
    loss, _ = m.loss_and_gradients(x, np.zeros((1, u)), training=True)
    kept = loss * u / 4.0 ** (t - 1)  # each kept unit ends at 2^(t-1)
    assert abs(kept - round(kept)) < 1e-6
    assert 0.3 * u < kept < 0.7 * u
    assert m.predict(x)[0].tolist() == [1.0] * u  # inference: nothing dropped


def test_rnn_dropout_fit_bitwise_identical_for_1_2_3_threads(rng, threads):
    x = rng.standard_normal((128, 12, 32)).astype(np.float32)
    y = rng.integers(0, 4, 128)
    runs = []
    for n_threads in (1, 2, 3):
        pydl.set_num_threads(n_threads)
        before = split_regions()
        m = pydl.Sequential([layers.Input((12, 32)),
                             layers.Bidirectional(layers.GRU(64, dropout=0.3, recurrent_dropout=0.2)),
                             layers.Dense(4)], seed=5)
        m.compile(optimizer="adam", loss="cross_entropy")
        m.fit(x, y, epochs=1, batch_size=64, verbose=0)
        assert_split_iff_threads(n_threads, before)
        runs.append(m.get_weights())
    assert_weights_equal(runs[1], runs[0])
    assert_weights_equal(runs[2], runs[0])
    other = pydl.Sequential([layers.Input((12, 32)), layers.Bidirectional(layers.GRU(64, dropout=0.3,
                                                                                     recurrent_dropout=0.2)),
                             layers.Dense(4)], seed=5)
    other.compile(optimizer="adam", loss="cross_entropy")
    other.fit(x, y, epochs=1, batch_size=64, verbose=0, seed=6)  # another fit seed: other masks
    assert not np.array_equal(other.get_weights()[0], runs[0][0])


@pytest.mark.parametrize("kwargs,error", [({"dropout": 1.0}, ValueError), ({"recurrent_dropout": -0.1}, ValueError),
                                          ({"dropout": "0.5"}, TypeError)])
def test_rnn_dropout_bad_values_raise(kwargs, error):
    with pytest.raises(error, match="dropout"):
        layers.LSTM(4, **kwargs)


# ----------------------------------------------------------------- 2. initializers
def weights_of(layer, input_shape, seed=0):
    m = pydl.Sequential([layers.Input(input_shape), layer], seed=seed)
    return m.get_weights()


KERAS_SCALING = {  # name: (scale, n from (fan_in, fan_out), uniform)
    "glorot_uniform": (1, lambda i, o: (i + o) / 2, True), "glorot_normal": (1, lambda i, o: (i + o) / 2, False),
    "he_uniform": (2, lambda i, o: i, True), "he_normal": (2, lambda i, o: i, False),
    "lecun_uniform": (1, lambda i, o: i, True), "lecun_normal": (1, lambda i, o: i, False),
}


def check_scaling(w, name, fan_in, fan_out):
    scale, n_of, uniform = KERAS_SCALING[name]
    var = scale / n_of(fan_in, fan_out)
    w = w.astype(np.float64).ravel()
    assert abs(w.mean()) < 4 * math.sqrt(var / w.size)
    assert abs(w.var() / var - 1) < 0.03, (name, w.var(), var)
    if uniform:
        limit = math.sqrt(3 * var)
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    else:  # truncated at two standard deviations of the untruncated normal
        bound = 2 * math.sqrt(var) / 0.87962566103423978
        assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(w).max() > 0.97 * bound


@pytest.mark.parametrize("name", sorted(KERAS_SCALING))
def test_dense_and_conv_initializers_follow_keras_variance_scaling(name):
    kernel, bias = weights_of(layers.Dense(300, kernel_initializer=name, bias_initializer="ones"), (200,))
    check_scaling(kernel, name, 200, 300)
    assert np.all(bias == 1)
    conv, _ = weights_of(layers.Conv2D(64, 3, kernel_initializer=name), (8, 8, 16))
    check_scaling(conv, name, 3 * 3 * 16, 3 * 3 * 64)  # Keras' fans: receptive field times channels


def test_simple_initializers():
    k, b = weights_of(layers.Dense(400, kernel_initializer="random_normal", bias_initializer="random_uniform"), (300,))
    assert abs(k.std() / 0.05 - 1) < 0.01 and abs(k.mean()) < 1e-3
    e, = weights_of(layers.Embedding(1000, 50), (7,))  # Keras' default: random_uniform
    assert 0.0499 < np.abs(e).max() <= 0.05 and abs(e.var() / (0.05 ** 2 / 3) - 1) < 0.02
    assert np.abs(b).max() <= 0.05 and np.count_nonzero(b) == b.size
    z, o = weights_of(layers.Dense(5, kernel_initializer="zeros", bias_initializer="ones"), (3,))
    assert np.all(z == 0) and np.all(o == 1)
    e, = weights_of(layers.Embedding(400, 300, embeddings_initializer="he_normal"), (7,))
    check_scaling(e, "he_normal", 400, 300)


@pytest.mark.parametrize("shape", [(60, 200), (200, 60)])
def test_orthogonal_initializer(shape):
    k, _ = weights_of(layers.Dense(shape[1], kernel_initializer="orthogonal"), (shape[0],))
    k = k.astype(np.float64)
    gram = k @ k.T if shape[0] <= shape[1] else k.T @ k  # the fewer of rows / columns are orthonormal
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-5)


def test_recurrent_initializers_and_unit_forget_bias():
    k, r, b = weights_of(layers.LSTM(32, kernel_initializer="orthogonal", recurrent_initializer="glorot_uniform",
                                     bias_initializer="random_normal"), (5, 16))
    np.testing.assert_allclose(k.astype(np.float64) @ k.T, np.eye(16), atol=1e-5)  # (16, 128): rows orthonormal
    check_scaling(r, "glorot_uniform", 32, 128)
    assert np.all(b[32:64] == 1)  # unit_forget_bias: the forget gate's quarter
    rest = np.concatenate([b[:32], b[64:]])
    assert np.count_nonzero(rest == 1) == 0 and 0.03 < rest.std() < 0.07
    _, _, b = weights_of(layers.LSTM(8, unit_forget_bias=False), (5, 4))
    assert np.all(b == 0)
    _, r, b = weights_of(layers.GRU(8, bias_initializer="ones"), (5, 4))
    assert b.shape == (2, 24) and np.all(b == 1)
    np.testing.assert_allclose(r.astype(np.float64) @ r.T, np.eye(8), atol=1e-5)  # the default: orthogonal
    fwd_k, _, _, bwd_k, _, _ = weights_of(layers.Bidirectional(layers.GRU(8, kernel_initializer="zeros")), (5, 4))
    assert np.all(fwd_k == 0) and np.all(bwd_k == 0)


def test_initializers_depend_on_the_seed_alone():
    """Initialisation is serial (nothing to split over threads): the seed decides everything."""
    def make(seed):
        return weights_of(layers.Dense(64, kernel_initializer="he_normal", bias_initializer="random_uniform"),
                          (32,), seed)
    assert_weights_equal(make(7), make(7))
    assert not np.array_equal(make(7)[0], make(8)[0])


@pytest.mark.parametrize("value,error", [("he", ValueError), ("Glorot_Uniform", ValueError), (3, TypeError),
                                         (None, TypeError)])
def test_bad_initializers_raise_naming_the_choices(value, error):
    with pytest.raises(error, match="kernel_initializer.*glorot_uniform"):
        layers.Dense(3, kernel_initializer=value)
    with pytest.raises(error, match="recurrent_initializer"):
        layers.GRU(3, recurrent_initializer=value)


def test_unknown_initializer_refused_by_the_core_too():
    with pytest.raises(ValueError, match="unknown initializer 'nope'"):
        pydl._core.Graph([4], [{"type": "dense", "name": "d", "units": 2, "kernel_initializer": "nope"}])


# ----------------------------------------------------------------- 3. regularizers
def dense_model(**opts):
    m = pydl.Sequential([layers.Input((5,)), layers.Dense(3, **opts)], seed=0)
    m.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    return m


def test_regularized_loss_and_gradients_match_numpy(rng):
    x, y = rng.standard_normal((16, 5)), rng.standard_normal((16, 3))
    w, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    m = dense_model(kernel_regularizer=regularizers.L1L2(l1=0.03, l2=0.02), bias_regularizer="l2")
    m.set_weights([w, b])
    w32, b32 = (v.astype(np.float32).astype(np.float64) for v in (w, b))
    x32 = x.astype(np.float32).astype(np.float64)
    err = x32 @ w32 + b32 - y.astype(np.float32)
    penalty = 0.03 * np.abs(w32).sum() + 0.02 * (w32 ** 2).sum() + 0.01 * (b32 ** 2).sum()  # Keras: l2 * sum w^2
    want = (err ** 2).mean() + penalty
    loss, (gw, gb) = m.loss_and_gradients(x, y)
    assert abs(loss - want) < 1e-5 * want
    np.testing.assert_allclose(gw, 2 * x32.T @ err / err.size + 0.03 * np.sign(w32) + 0.04 * w32, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gb, 2 * err.sum(0) / err.size + 0.02 * b32, rtol=1e-4, atol=1e-6)
    assert abs(m.evaluate(x, y)["loss"] - want) < 1e-5 * want  # Keras' evaluate counts it too
    hist = m.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)  # lr 0: the weights stay
    assert abs(hist.history["loss"][0] - want) < 1e-5 * want


def test_string_regularizers_use_keras_default_factor(rng):
    x, y = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
    base = dense_model()
    data_loss, _ = base.loss_and_gradients(x, y)
    w = base.get_weights()[0].astype(np.float64)
    for name, penalty in (("l1", 0.01 * np.abs(w).sum()), ("l2", 0.01 * (w ** 2).sum())):
        loss, _ = dense_model(kernel_regularizer=name).loss_and_gradients(x, y)
        assert abs(loss - data_loss - penalty) < 1e-5 * penalty
    assert regularizers.L1().l1 == 0.01 and regularizers.L2().l2 == 0.01
    assert regularizers.L1L2().l1 == 0.0 == regularizers.L1L2().l2


def test_recurrent_and_embedding_regularizers(rng):
    ids = rng.integers(0, 10, (6, 4))
    y = rng.standard_normal((6, 2))

    def model(**opts):
        inp = pydl.Input((4,), dtype="int32")
        e = layers.Embedding(10, 3, embeddings_regularizer=opts.pop("emb", None))(inp)
        out = layers.Dense(2)(layers.LSTM(4, **opts)(e))
        m = pydl.Model(inp, out, seed=2)
        m.compile(optimizer="sgd", loss="mse")
        return m

    base = model()
    loss0, g0 = base.loss_and_gradients(ids, y)
    reg = model(recurrent_regularizer=regularizers.L2(0.5), bias_regularizer=regularizers.L1(0.2),
                emb=regularizers.L2(0.25))
    loss1, g1 = reg.loss_and_gradients(ids, y)
    emb, _, rec, bias = (w.astype(np.float64) for w in reg.get_weights()[:4])
    penalty = 0.5 * (rec ** 2).sum() + 0.2 * np.abs(bias).sum() + 0.25 * (emb ** 2).sum()
    assert abs(loss1 - loss0 - penalty) < 1e-5 * penalty
    np.testing.assert_allclose(g1[2] - g0[2], 1.0 * rec, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g1[3] - g0[3], 0.2 * np.sign(bias), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g1[0] - g0[0], 0.5 * emb, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g1[1], g0[1], rtol=1e-6)  # the unregularized kernel


def test_l2_training_converges_to_the_ridge_solution_and_frozen_layers_carry_no_penalty(rng):
    """Full-batch SGD on mean((xW - y)^2) + l2 * sum(W^2) converges to Keras' ridge solution
    (x'x / (N * 3) + l2 I) W = x'y / (N * 3), whose weights are smaller than least squares'."""
    x = rng.standard_normal((64, 5))
    y = x @ rng.standard_normal((5, 3)) + 0.1 * rng.standard_normal((64, 3))
    x32, y32 = x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    found = []
    for l2 in (0.0, 0.2):
        m = dense_model(use_bias=False, kernel_regularizer=regularizers.L2(l2))
        m.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="mse")
        m.fit(x, y, epochs=300, batch_size=64, verbose=0)
        k = x32.size // 5 * 3
        want = np.linalg.solve(x32.T @ x32 / k + l2 * np.eye(5), x32.T @ y32 / k)
        np.testing.assert_allclose(m.get_weights()[0], want, rtol=1e-4, atol=1e-5)
        found.append(np.linalg.norm(want))
    assert found[1] < 0.8 * found[0]
    frozen = dense_model(kernel_regularizer=regularizers.L2(5.0))
    frozen.layers[0].trainable = False
    assert frozen.loss_and_gradients(x, y)[0] == dense_model().loss_and_gradients(x, y)[0]


@pytest.mark.parametrize("value,error", [("l3", ValueError), ("l1_l2", ValueError), (0.01, TypeError),
                                         ({"class_name": "L9", "config": {}}, TypeError)])
def test_bad_regularizers_raise_naming_the_choices(value, error):
    with pytest.raises(error, match="kernel_regularizer.*'l1', 'l2'"):
        layers.Dense(3, kernel_regularizer=value)


def test_bad_regularizer_factors_raise():
    with pytest.raises(ValueError, match="L2: expected l2"):
        regularizers.L2(-1.0)
    with pytest.raises(TypeError, match="L1: expected l1"):
        regularizers.L1("0.1")
    with pytest.raises(ValueError, match="kernel_l2 expected a finite factor"):
        pydl._core.Graph([4], [{"type": "dense", "name": "d", "units": 2, "kernel_l2": -1.0}])


# ----------------------------------------------------------------- saving
def test_options_save_and_load(tmp_path, rng):
    inp = pydl.Input((6, 5))
    h = layers.Bidirectional(layers.LSTM(4, dropout=0.2, recurrent_dropout=0.1, kernel_regularizer="l1",
                                         recurrent_regularizer=regularizers.L1L2(0.1, 0.2),
                                         unit_forget_bias=False, bias_initializer="random_uniform"))(inp)
    out = layers.Dense(3, kernel_initializer="he_normal", bias_regularizer=regularizers.L2(0.3))(h)
    m = pydl.Model(inp, out, seed=4)
    m.compile(optimizer="adam", loss="cross_entropy")
    x, y = seq_data(rng)
    m.fit(x, y, epochs=1, verbose=0)
    m.save(str(tmp_path / "m.pydl"))
    back = pydl.load_model(str(tmp_path / "m.pydl"))
    assert back.get_config() == m.get_config()
    inner = back.layers[0].layer
    assert (inner.dropout, inner.recurrent_dropout, inner.unit_forget_bias) == (0.2, 0.1, False)
    assert inner.recurrent_regularizer == regularizers.L1L2(0.1, 0.2)
    assert back.loss_and_gradients(x, y, training=True)[0] == m.loss_and_gradients(x, y, training=True)[0]


def test_configs_without_the_new_keys_still_load():
    old = layers.deserialize({"class_name": "LSTM", "config": {"units": 4, "return_sequences": False, "name": "l"}})
    assert (old.dropout, old.kernel_initializer, old.recurrent_initializer, old.unit_forget_bias,
            old.kernel_regularizer) == (0.0, "glorot_uniform", "orthogonal", True, None)
    dense = layers.deserialize({"class_name": "Dense", "config": {"units": 2, "activation": None, "use_bias": True,
                                                                  "name": "d"}})
    assert dense.core_config()["kernel_l2"] == 0.0 and dense.bias_initializer == "zeros"


# ----------------------------------------------------------------- 4. variable lengths
def lstm_model(t, seed=0):
    m = pydl.Sequential([layers.Input((t, 3)), layers.LSTM(5), layers.Dense(2)], seed=seed)
    m.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="cross_entropy")
    return m


def test_variable_length_predict_and_fit_match_fixed_length_models(rng):
    var = lstm_model(None)
    x5, x9 = (rng.standard_normal((8, t, 3)).astype(np.float32) for t in (5, 9))
    y = rng.integers(0, 2, 8)
    fixed5, fixed9 = lstm_model(5), lstm_model(9)
    assert_weights_equal(var.get_weights(), fixed5.get_weights())  # built at length 1: the same weights
    assert np.array_equal(var.predict(x5), fixed5.predict(x5))
    assert np.array_equal(var.predict(x9), fixed9.predict(x9))
    var.fit(x5, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    fixed5.fit(x5, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert_weights_equal(var.get_weights(), fixed5.get_weights())
    var.fit(x9, y, epochs=1, batch_size=4, shuffle=False, verbose=0)  # SGD: no state to carry
    fixed9.set_weights(fixed5.get_weights())
    fixed9.fit(x9, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert_weights_equal(var.get_weights(), fixed9.get_weights())
    assert np.array_equal(var.predict(x5), lstm_from(fixed9.get_weights(), 5).predict(x5))
    assert var.optimizer.iterations == 4  # the step count runs on across lengths


def lstm_from(weights, t):
    m = lstm_model(t)
    m.set_weights(weights)
    return m


def test_variable_length_keeps_adam_state(rng):
    x4, x7 = (rng.standard_normal((8, t, 3)).astype(np.float32) for t in (4, 7))
    y = rng.integers(0, 2, 8)
    var = lstm_model(None)
    var.compile(optimizer="adam", loss="cross_entropy")
    var.fit(x4, y, epochs=1, batch_size=8, verbose=0)
    slots = [s.copy() for s in var._trainer.slots()]
    var.predict(x7)  # another length: a graph of its own, the same weights and moments
    assert_weights_equal([s for s in var._trainer.slots()], slots)
    var.fit(x7, y, epochs=1, batch_size=8, verbose=0)
    ref = lstm_model(4)
    ref.compile(optimizer="adam", loss="cross_entropy")
    ref.fit(x4, y, epochs=1, batch_size=8, verbose=0)
    ref7 = lstm_model(7)
    ref7.compile(optimizer="adam", loss="cross_entropy")
    ref7.set_weights(ref.get_weights())
    ref7._trainer.step = ref._trainer.step
    for dst, src in zip(ref7._trainer.slots(), ref._trainer.slots()):
        dst[:] = src
    ref7._epochs_seen = 1  # the same shuffle as the variable model's second fit
    ref7.fit(x7, y, epochs=1, batch_size=8, verbose=0)
    assert_weights_equal(var.get_weights(), ref7.get_weights())


def test_variable_length_ids_with_mask_in_a_functional_model(rng, tmp_path):
    inp = pydl.Input((None,), dtype="int32")
    h = layers.GRU(4)(layers.Embedding(20, 3, mask_zero=True)(inp))
    m = pydl.Model(inp, layers.Dense(1)(h), seed=1)
    m.compile(optimizer="adam", loss="mse")
    ids = rng.integers(1, 20, (6, 5))
    padded = np.concatenate([ids, np.zeros((6, 3), np.int64)], axis=1)  # length 8, the last 3 masked
    m.fit(ids, rng.standard_normal((6, 1)), verbose=0)
    np.testing.assert_allclose(m.predict(padded), m.predict(ids), rtol=1e-6, atol=1e-7)
    m.save(str(tmp_path / "v.pydl"))
    back = pydl.load_model(str(tmp_path / "v.pydl"))
    assert back.inputs[0].shape == (None,)
    assert np.array_equal(back.predict(padded), m.predict(padded))


def test_variable_length_data_loader(rng):
    x, y = rng.standard_normal((16, 6, 3)).astype(np.float32), rng.integers(0, 2, 16)
    var, fixed = lstm_model(None), lstm_model(6)
    for m in (var, fixed):
        m.fit(pydl.DataLoader(pydl.ArrayDataset(x, y), batch_size=8, shuffle=False), epochs=1, verbose=0)
    assert_weights_equal(var.get_weights(), fixed.get_weights())


def test_variable_length_errors_are_clear(rng):
    bad = pydl.Sequential([layers.Input((None, 3)), layers.Flatten(), layers.Dense(2)])
    bad.predict(np.zeros((1, 1, 3), np.float32))  # the length it was built for works
    with pytest.raises(ValueError, match=r"layer\(s\) \['dense'\] depend on the length"):
        bad.predict(np.zeros((1, 4, 3), np.float32))
    var = lstm_model(None)
    with pytest.raises(ValueError, match=r"expected input of shape \(None, None, 3\), got \(2, 5, 4\)"):
        var.predict(np.zeros((2, 5, 4), np.float32))
    x, y = rng.standard_normal((8, 5, 3)).astype(np.float32), rng.integers(0, 2, 8)
    with pytest.raises(ValueError, match="within one call every sequence has one length"):
        var.fit(x, y, validation_data=(x[:, :4], y), verbose=0)
    with pytest.raises(ValueError, match="Input: expected shape"):
        pydl.Input((None, 0))
