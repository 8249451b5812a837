"""Regression tests of issue 10's defects in the core: overflowing sizes, batch buffers beyond
the data, lost Ctrl-C, non-finite updates, learning rates, thread counts, loaders, Embedding
vocabularies. Each raised a crash (or a silent wrong result) before."""
import json
import os
import signal
import threading
import time

import numpy as np
import pytest

import pydl
from pydl import callbacks, data, layers, optimizers

from conftest import assert_weights_equal

BIG = 2**62


def build(*stack, shape=(8,)):
    return pydl.Sequential([layers.Input(shape), *stack], seed=0).build()


# ------------------------------------------------------------------ size arithmetic
@pytest.mark.parametrize("make, shape, match", [
    (lambda: layers.Reshape((2**32, 2**32, -1)), (8,), "Reshape"),
    (lambda: layers.BatchNormalization(), (2**62 + 1,), "Input"),
    (lambda: layers.Conv2D(2**61, 3), (8, 8, 1), "Conv2D"),
    (lambda: layers.Dense(2**62), (8,), "Dense"),
    (lambda: layers.Dense(2**40), (2**20,), "Dense"),
    (lambda: layers.Conv2D(4, 3, dilation_rate=2**62), (8, 8, 1), "Conv2D"),
    (lambda: layers.Conv2D(4, 3, padding=2**62), (8, 8, 1), "Conv2D"),
    (lambda: layers.MaxPool2D(2**40, padding="same"), (8, 8, 1), "MaxPool2D"),
    (lambda: layers.LSTM(2**61), (4, 3), "LSTM"),
    (lambda: layers.Embedding(2**40, 2**40), (4,), "Embedding"),
])
def test_overflowing_sizes_raise_value_error_naming_the_layer(make, shape, match):
    with pytest.raises(ValueError, match=match):
        build(make(), shape=shape)


@pytest.mark.parametrize("call", [
    lambda K: K.pool2d_backward(np.zeros((0, 1, 1, 2), np.float32), np.zeros((0, 1, 1, 2), np.int32),
                                [0, 7310589355766148351, 4, 2], "max"),
    lambda K: K.global_pool_backward(np.zeros((0, 2), np.float32), np.zeros((0, 2), np.int32),
                                     [0, 2**40, 2**40, 2], "max"),
])
def test_a_shape_with_a_zero_dim_and_overflowing_others_is_refused(call):
    """A zero batch makes the whole product 0, but h * w * c would still overflow (a fuzz finding)."""
    with pytest.raises(ValueError, match="beyond the limit of 2\\^48"):
        call(pydl._core.kernels)


@pytest.mark.parametrize("keep_preactivation", [False, True])
def test_dense_forward_with_no_units_and_softmax_returns_empty_rows(keep_preactivation):
    # A fuzz finding: with the preactivation kept, softmax over rows of 0 values read one
    # value past the end (ASan); the product alone already returned early.
    y, _ = pydl._core.kernels.dense_forward(np.ones((3, 4), np.float32), np.ones((4, 0), np.float32), None,
                                            "softmax", keep_preactivation)
    assert y.shape == (3, 0)


def test_a_model_beyond_the_machines_memory_raises_memory_error_naming_the_layer():
    # 2^44 weights are below the size limit but need 128 TiB with their gradients.
    with pytest.raises(MemoryError, match="Dense 'dense'"):
        build(layers.Dense(2**40), shape=(16,))


def test_forged_model_file_with_an_overflowing_reshape_raises_value_error(tmp_path):
    model = build(layers.Reshape((4, -1)), layers.Flatten(), layers.Dense(2))
    path = str(tmp_path / "m.pydl")
    model.save(path)
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["pydl"])
    assert meta["model"]["layers"][0]["config"]["target_shape"] == [4, -1]
    meta["model"]["layers"][0]["config"]["target_shape"] = [2**32, 2**32, -1]
    header["__metadata__"]["pydl"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    forged = tmp_path / "forged.pydl"
    forged.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n:])
    with pytest.raises(ValueError, match="Reshape"):
        pydl.load_model(str(forged))


def test_ints_beyond_int64_in_a_config_raise_value_error():
    with pytest.raises(ValueError):
        build(layers.Dense(2**70))


# ------------------------------------------------- batch buffers never beyond the data
def small_data(n=20, d=6):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 3, n)


def trained(batch_size, x, y):
    model = build(layers.Dense(8, activation="relu"), layers.Dense(3), shape=(x.shape[1],))
    model.compile("adam", "cross_entropy")
    model.fit(x, y, epochs=2, batch_size=batch_size, shuffle=True, verbose=0)
    return model


@pytest.mark.parametrize("batch_size", [2**62, 10**7, 2**40])
def test_fit_with_a_batch_larger_than_the_data_is_one_batch_of_all(batch_size):
    x, y = small_data()
    got = trained(batch_size, x, y)
    assert got._trainer.step == 2
    assert_weights_equal(got.get_weights(), trained(20, x, y).get_weights())
    logs = got.evaluate(x, y, batch_size=batch_size)
    assert logs == got.evaluate(x, y, batch_size=20)
    np.testing.assert_array_equal(got.predict(x, batch_size=batch_size), got.predict(x, batch_size=20))


def test_dataloader_with_a_batch_larger_than_the_data():
    x, y = small_data()
    loader = pydl.DataLoader(pydl.ArrayDataset(x, y), batch_size=2**62, shuffle=False)
    batches = list(loader)
    assert len(batches) == 1 and len(loader) == 1
    np.testing.assert_array_equal(batches[0][0], x)
    model = build(layers.Dense(3), shape=(6,))
    model.compile("sgd", "cross_entropy")
    model.fit(loader, epochs=1, verbose=0)
    assert model._trainer.step == 1


def test_resize_beyond_the_size_limit_raises_in_the_loader():
    x = np.zeros((4, 8, 8, 1), np.uint8)
    with pytest.raises(ValueError, match="Resize"):
        pydl.DataLoader(pydl.ArrayDataset(x, np.zeros(4)), batch_size=2,
                        transform=data.Resize(2**31, 2**31))


def test_drop_last_with_fewer_samples_than_a_batch_raises():
    x, y = small_data()
    with pytest.raises(ValueError, match="drop_last"):
        pydl.DataLoader(pydl.ArrayDataset(x, y), batch_size=32, drop_last=True)

    class Custom(pydl.data.Dataset):
        def __len__(self):
            return 20

        def __getitem__(self, i):
            return x[i], y[i]

    with pytest.raises(ValueError, match="drop_last"):
        pydl.DataLoader(Custom(), batch_size=32, drop_last=True)
    assert len(pydl.DataLoader(pydl.ArrayDataset(x, y), batch_size=20, drop_last=True)) == 1


def test_prefetch_beyond_the_limit_raises():
    x, y = small_data()
    with pytest.raises(ValueError, match="prefetch"):
        pydl.DataLoader(pydl.ArrayDataset(x, y), prefetch_factor=2**31)


# ------------------------------------------------------------------------- Ctrl-C
def test_sigint_during_one_batch_epochs_always_ends_fit_at_a_complete_step():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 64)).astype(np.float32)
    y = rng.integers(0, 4, 4000)

    def model_():
        m = build(layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu"), layers.Dense(4),
                  shape=(64,))
        m.compile(optimizers.SGD(0.01), "cross_entropy")
        return m

    class Watchdog(callbacks.Callback):  # a lost SIGINT ends fit normally, failing the test
        def on_train_begin(self, logs=None):
            self.t0 = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            if time.monotonic() - self.t0 > 20:
                self.model.stop_training = True

    for round_ in range(5):
        model = model_()
        timer = threading.Timer(0.2 + 0.07 * round_, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                model.fit(x, y, epochs=10**6, batch_size=4000, shuffle=False, verbose=0, callbacks=[Watchdog()])
        finally:
            timer.cancel()
        steps = model._trainer.step
        assert steps >= 1
        ref = model_()
        ref.fit(x, y, epochs=steps, batch_size=4000, shuffle=False, verbose=0)
        assert_weights_equal(model.get_weights(), ref.get_weights())


# ----------------------------------------------------------------- non-finite updates
def regression_model(opt):
    model = build(layers.Dense(4, activation="relu"), layers.Dense(1), shape=(3,))
    model.compile(opt, "mse")
    return model


@pytest.mark.parametrize("opt", [optimizers.SGD(1e30), optimizers.SGD(1e30, momentum=0.9), optimizers.Adam(1e39),
                                 optimizers.AdamW(1e39)])
def test_an_update_making_weights_infinite_raises_and_keeps_the_last_finite_step(opt):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32) * 1e6
    y = rng.normal(size=(64, 1)).astype(np.float32) * 1e6
    model = regression_model(opt)
    model.compile(optimizers.SGD(1e-16), "mse")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # two good steps first
    good = model.get_weights()
    model.compile(opt, "mse")  # a fresh optimizer: its very first update overflows
    with pytest.raises(FloatingPointError, match="update would have made weights NaN or Inf.*step 1"):
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert_weights_equal(model.get_weights(), good)
    assert model._trainer.step == 0
    assert all(np.all(s == 0) for s in model._trainer.slots())


def test_a_refused_update_later_in_training_keeps_that_steps_weights_and_state():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = rng.normal(size=(64, 1)).astype(np.float32)
    model = regression_model(optimizers.Adam(1e-3))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    good, slots, step = model.get_weights(), [s.copy() for s in model._trainer.slots()], model._trainer.step
    model._trainer.learning_rate = 1e39  # finite in float64, Inf in float32
    with pytest.raises(FloatingPointError, match=f"step {step + 1}"):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert model._trainer.step == step
    assert_weights_equal(model.get_weights(), good)
    assert len(slots) == 2
    for a, b in zip(model._trainer.slots(), slots):
        np.testing.assert_array_equal(a, b)


def test_kernel_optimizer_step_reports_a_refused_update():
    p = np.ones(10, np.float32)
    g = np.full(10, 1e10, np.float32)
    assert pydl._core.kernels.optimizer_step(p, g, None, None, {"kind": "sgd", "learning_rate": 1e30}, 1) is False
    np.testing.assert_array_equal(p, np.ones(10, np.float32))
    assert pydl._core.kernels.optimizer_step(p, g, None, None, {"kind": "sgd", "learning_rate": 1e-10}, 1) is True
    np.testing.assert_allclose(p, 0.0, atol=1e-6)  # 1 - 1e-10 * 1e10 in float32


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1e-3])
def test_learning_rates_are_validated_wherever_they_are_set(bad):
    x, y = small_data()
    model = trained(10, x, y)
    with pytest.raises(ValueError, match="learning_rate"):
        model._trainer.learning_rate = bad
    with pytest.raises(ValueError, match="learning rate schedule"):
        model._trainer.set_lr_table([1e-3, bad])
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: bad)
    before = model.get_weights()
    with pytest.raises(ValueError, match="learning_rate"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[sched])
    assert_weights_equal(model.get_weights(), before)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam(bad)


# -------------------------------------------------------------- threads, vocabularies
def test_set_num_threads_is_bounded(threads):
    limit = pydl._core.max_num_threads()
    assert limit == 4 * pydl._core.default_num_threads()
    with pytest.raises(ValueError, match="at most"):
        pydl.set_num_threads(10000)
    pydl.set_num_threads(limit)
    assert pydl.get_num_threads() == limit


def test_embedding_vocabularies_float32_ids_cannot_carry_are_refused():
    with pytest.raises(ValueError, match="2\\^24"):
        build(layers.Embedding(2**24 + 2, 1), shape=(3,))
