"""Recurrent models end to end: digits read row by row, a task that needs memory of order
(solved by LSTM/GRU, not by a bag-of-steps model), masking of padded sequences, whole-net
gradients against finite differences of a numpy float64 reference."""
import numpy as np
import pytest

import pydl
from pydl import layers, optimizers

import reference as ref
from conftest import assert_split_iff_threads, assert_weights_equal, numeric_grad, split_regions
from test_rnn_kernels import rnn_ref


def test_lstm_reads_digits_row_by_row():
    x, y = pydl.datasets.load_digits(as_images=True)
    x_train, x_test, y_train, y_test = pydl.data.train_test_split(x[..., 0], y, test_size=0.25, seed=0)
    model = pydl.Sequential([layers.Input((8, 8)), layers.LSTM(64), layers.Dense(10)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=5e-3, clipnorm=1.0), loss="cross_entropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x_test, y_test)["accuracy"] >= 0.95


def temporal_order(n, steps=24, seed=0):
    """Hochreiter & Schmidhuber's temporal-order task: two relevant symbols (X or Y) at random
    positions among distractors; the class is their order (XX, XY, YX, YY). A model that
    ignores order can tell XX and YY apart but not XY from YX: at best 75% accuracy."""
    rng = np.random.default_rng(seed)
    sym = rng.integers(2, 6, size=(n, steps))  # distractors a..d
    first, second = rng.integers(0, 2, n), rng.integers(0, 2, n)
    for i in range(n):
        p1, p2 = np.sort(rng.choice(np.arange(1, steps - 1), 2, replace=False))
        sym[i, p1], sym[i, p2] = first[i], second[i]
    return np.eye(6, dtype=np.float32)[sym], 2 * first + second


@pytest.mark.parametrize("cell", [layers.LSTM, layers.GRU])
def test_memory_task_solved_by_recurrent_not_by_bag_of_steps(cell):
    x, y = temporal_order(3000)
    x_test, y_test = temporal_order(600, seed=1)
    model = pydl.Sequential([layers.Input((24, 6)), cell(32), layers.Dense(4)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2, clipnorm=1.0), loss="cross_entropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=25, batch_size=64, verbose=0)
    recurrent = model.evaluate(x_test, y_test)["accuracy"]
    # per-step features averaged over time: order-blind by construction
    bag = pydl.Sequential([layers.Input((24, 6)), layers.Reshape((24, 1, 6)),
                           layers.Conv2D(64, 1, activation="relu"), layers.GlobalAvgPool2D(),
                           layers.Dense(64, activation="relu"), layers.Dense(4)], seed=0)
    bag.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy", metrics=["accuracy"])
    bag.fit(x, y, epochs=25, batch_size=64, verbose=0)
    baseline = bag.evaluate(x_test, y_test)["accuracy"]
    assert recurrent >= 0.95, recurrent
    assert baseline <= 0.80, baseline  # 75% plus sampling noise


@pytest.mark.parametrize("cell", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_masked_padding_changes_nothing(rng, cell):
    """Padding (id 0 at the end) leaves outputs and weight gradients as without it."""
    ids = rng.integers(1, 20, size=(4, 6))
    padded = np.concatenate([ids, np.zeros((4, 3), ids.dtype)], axis=1)
    y = rng.integers(0, 3, 4)
    models = []
    for steps in (6, 9):
        m = pydl.Sequential([layers.Input((steps,)), layers.Embedding(20, 5, mask_zero=True), cell(4),
                             layers.Dense(3)], seed=7)
        m.compile(optimizer="sgd", loss="cross_entropy")
        models.append(m)
    np.testing.assert_allclose(models[1].predict(padded), models[0].predict(ids), rtol=1e-6, atol=1e-6)
    l0, g0 = models[0].loss_and_gradients(ids, y)
    l1, g1 = models[1].loss_and_gradients(padded, y)
    assert l1 == pytest.approx(l0, rel=1e-6)
    assert len(g1) == len(g0) > 0
    for a, b in zip(g0, g1):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


def test_variable_length_batches_train(rng):
    """Sum-of-ids parity-free task on variable lengths: masked LSTM learns, loss falls."""
    n, steps = 512, 12
    lengths = rng.integers(3, steps + 1, n)
    ids = rng.integers(1, 10, size=(n, steps)) * (np.arange(steps)[None, :] < lengths[:, None])
    y = (ids[:, 0] > 5).astype(np.int64)  # depends on the first (never padded) step
    model = pydl.Sequential([layers.Input((steps,)), layers.Embedding(10, 8, mask_zero=True),
                             layers.Bidirectional(layers.LSTM(8)), layers.Dense(2)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2, clipnorm=1.0), loss="cross_entropy",
                  metrics=["accuracy"])
    h = model.fit(ids, y, epochs=15, batch_size=32, verbose=0)
    assert h.history["accuracy"][-1] >= 0.95


def test_bidirectional_stack_gradients_match_numpy_finite_differences(rng):
    model = pydl.Sequential([layers.Input((4, 3)),
                             layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode="concat"),
                             layers.LSTM(2), layers.Dense(3)], seed=1)
    model.compile(optimizer="sgd", loss="cross_entropy")
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape) for w in model.get_weights()])
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    y = np.array([0, 2])
    loss, grads = model.loss_and_gradients(x, y)
    w64 = [v.astype(np.float64) for v in model.get_weights()]
    x64 = x.astype(np.float64)

    def ref_loss():
        fk, fr, fb, bk, br, bb, lk, lr, lb, dk, db = w64
        fwd = rnn_ref(x64, fk, fr, fb.ravel(), "gru", seq=True)
        bwd = rnn_ref(x64, bk, br, bb.ravel(), "gru", reverse=True, seq=True)
        h = rnn_ref(np.concatenate([fwd, bwd], axis=2), lk, lr, lb, "lstm")
        return ref.cross_entropy(h @ dk + db, y)

    assert loss == pytest.approx(ref_loss(), rel=1e-5)
    assert [g.shape for g in grads] == [w.shape for w in w64]
    for g, w in zip(grads, w64):  # float32 model against float64 finite differences
        np.testing.assert_allclose(g, numeric_grad(ref_loss, w), rtol=1e-3, atol=1e-5)


def test_lstm_initialisation():
    model = pydl.Sequential([layers.Input((5, 3)), layers.LSTM(4)], seed=0)
    kernel, recurrent, bias = model.get_weights()
    assert kernel.shape == (3, 16) and recurrent.shape == (4, 16) and bias.shape == (16,)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])  # forget gate 1
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)  # orthogonal rows
    gru = pydl.Sequential([layers.Input((5, 3)), layers.GRU(4)]).get_weights()
    assert gru[2].shape == (2, 12)


def test_embedding_errors_and_summary(rng):
    model = pydl.Sequential([layers.Input((5,)), layers.Embedding(10, 4, name="emb"), layers.LSTM(3),
                             layers.Dense(2)])
    model.compile(optimizer="sgd", loss="cross_entropy")
    with pytest.raises(ValueError, match=r"Embedding 'emb': id 12.* not an integer in \[0, 10\)"):
        model.fit(np.full((2, 5), 12), np.zeros(2, int), verbose=0)
    with pytest.raises(ValueError, match=r"LSTM 'l': expected sequences \(None, steps, features\), got \(None, 8\)"):
        pydl.Sequential([layers.Input((8,)), layers.LSTM(3, name="l")]).build()
    with pytest.raises(TypeError, match="Bidirectional"):
        layers.Bidirectional(layers.Dense(3))
    assert "emb (Embedding)" in model.summary(print_fn=None)


def test_recurrent_save_load_round_trip(tmp_path, rng):
    model = pydl.Sequential([layers.Input((6,)), layers.Embedding(12, 4, mask_zero=True),
                             layers.Bidirectional(layers.GRU(5, return_sequences=True), merge_mode="ave"),
                             layers.SimpleRNN(3, activation="relu"), layers.Dense(2)], seed=2)
    model.compile(optimizer="adam", loss="cross_entropy")
    ids = rng.integers(0, 12, size=(20, 6))
    model.fit(ids, rng.integers(0, 2, 20), epochs=1, verbose=0)
    model.save(str(tmp_path / "rnn.pydl"))
    loaded = pydl.load_model(str(tmp_path / "rnn.pydl"))
    assert_weights_equal(loaded.get_weights(), model.get_weights())
    np.testing.assert_array_equal(loaded.predict(ids), model.predict(ids))


def test_recurrent_training_bitwise_identical_for_1_and_2_threads(rng, threads):
    ids = rng.integers(0, 30, size=(256, 16))
    y = rng.integers(0, 4, 256)
    weights = []
    for n_threads in (1, 2):
        pydl.set_num_threads(n_threads)
        model = pydl.Sequential([layers.Input((16,)), layers.Embedding(30, 16, mask_zero=True),
                                 layers.Bidirectional(layers.LSTM(64, return_sequences=True)), layers.GRU(64),
                                 layers.Dense(4)], seed=5)
        model.compile(optimizer=optimizers.Adam(learning_rate=1e-3, clipnorm=1.0), loss="cross_entropy")
        before = split_regions()
        model.fit(ids, y, epochs=2, batch_size=64, verbose=0)
        assert_split_iff_threads(n_threads, before)
        weights.append(model.get_weights())
    assert_weights_equal(weights[1], weights[0])
