"""fit's queued steps captured as CUDA graphs and replayed (nn/trainer.h, core/device.h
DeviceGraph), through the test-only CUDA emulation. The emulated capture records every kernel
entry's call with copies of its arguments and a launch replays them, so host code runs once,
at the capture, as under CUDA: whatever a kernel took from its arguments is frozen at the
captured step's values. A replay is bitwise the CPU's step only if each kernel reads what
changes from step to step (the batch, the optimizer step and its bias corrections, the
learning rate, the dropout and augmentation draws) from the step clock on the device
(kernels/step_results.h). Every model below has such a dependency: a frozen one gives other
weights than the CPU's. What this cannot check: CUDA's own capture rules (tests/cuda).
"""
import gc

import numpy as np
import pytest

import pydl
from pydl import _core, layers, losses, optimizers, regularizers
from conftest import assert_weights_equal


@pytest.fixture
def emulated():
    if _core.device_runtime_loaded():
        pytest.skip("the real CUDA runtime (pydl._cuda) is loaded: tests/cuda runs the graphs on the GPU")
    _core._emulate_cuda(True)
    try:
        yield
    finally:
        _core._set_step_graphs(True)
        gc.collect()
        _core._emulate_cuda(False)


def stats():
    return _core._emulation_stats()


def counted(fn, *args, **kwargs):
    """((captures, launches, aborts) during fn(*args, **kwargs), its result)."""
    before = stats()
    result = fn(*args, **kwargs)
    after = stats()
    return tuple(after[k] - before[k] for k in ("graph_captures", "graph_launches", "graph_aborts")), result


def data(n=100, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    return x, (x[:, :classes].argmax(axis=1)).astype(np.int64)


def regularized_mlp(device):
    # Dropout (the step in the mask's counter), Adam (bias corrections of the step number), an
    # L2 penalty, BatchNormalization (moving statistics), clipnorm.
    m = pydl.Sequential([layers.Input((12,)),
                         layers.Dense(16, activation="relu", kernel_regularizer=regularizers.L2(1e-3)),
                         layers.BatchNormalization(), layers.Dropout(0.3), layers.Dense(3)], seed=3, device=device)
    m.compile(optimizer=optimizers.Adam(learning_rate=1e-2, clipnorm=1.0), loss="cross_entropy",
              metrics=["accuracy"])
    return m


def rnn_model(device):
    m = pydl.Sequential([layers.Input((5, 4)), layers.GRU(6, dropout=0.2, recurrent_dropout=0.3),
                         layers.Dense(3)], seed=4, device=device)
    m.compile(optimizer=optimizers.AdamW(learning_rate=1e-2, weight_decay=0.01), loss="cross_entropy")
    return m


def attention_model(device):
    ids = pydl.Input((6,))
    e = layers.Embedding(9, 8, mask_zero=True)(ids)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.25)(e, e)
    out = layers.Dense(3)(layers.GlobalAvgPool1D()(a))
    m = pydl.Model(inputs=ids, outputs=out, seed=6, device=device)
    m.compile(optimizer=optimizers.RMSprop(learning_rate=1e-2, momentum=0.5), loss="cross_entropy",
              metrics=["accuracy"])
    return m


def augmented_cnn(device):
    m = pydl.Sequential([layers.Input((6, 6, 1)), layers.RandomFlip("horizontal", seed=3),
                         layers.Conv2D(3, 3, activation="relu"), layers.Flatten(), layers.Dense(3)],
                        seed=8, device=device)
    m.compile(optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True), loss="cross_entropy")
    return m


def inputs_for(case, n=100):
    x, y = data(n)
    rng = np.random.default_rng(1)
    if case == "rnn":
        return rng.normal(size=(n, 5, 4)).astype(np.float32), y
    if case == "attention":
        ids = rng.integers(1, 9, size=(n, 6)).astype(np.float32)
        ids[::3, 4:] = 0  # padding: a mask
        return ids, (ids[:, 0].astype(np.int64) % 3)
    if case == "augmented_cnn":
        return rng.normal(size=(n, 6, 6, 1)).astype(np.float32), y
    return x, y


MODELS = {"regularized_mlp": regularized_mlp, "rnn": rnn_model, "attention": attention_model,
          "augmented_cnn": augmented_cnn}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_replayed_steps_are_bitwise_the_cpu_steps(emulated, case):
    # 100 samples in batches of 8: 12 full batches and a last one of 4, per epoch. The first full
    # batch runs as usual (it sizes every buffer), the second is captured and launched, the ten
    # after it are replays, the partial batch runs uncaptured: 2 captures and 22 launches in 2
    # epochs, each launch replaying every kernel call of a step.
    x, y = inputs_for(case)
    cpu, dev = MODELS[case]("cpu"), MODELS[case]("cuda")
    h_cpu = cpu.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=5, sample_weight=np.linspace(0.5, 1.5, len(x)))
    counts, h_dev = counted(dev.fit, x, y, epochs=2, batch_size=8, verbose=0, seed=5,
                            sample_weight=np.linspace(0.5, 1.5, len(x)))
    assert counts == (2, 22, 0)
    assert h_dev.history == h_cpu.history
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    assert_weights_equal(dev.optimizer.variables(), cpu.optimizer.variables())
    assert dev.optimizer.iterations == cpu.optimizer.iterations == 26
    del cpu, dev


def test_graphs_off_queue_the_same_steps(emulated):
    x, y = data()
    on, off = regularized_mlp("cuda"), regularized_mlp("cuda")
    on.fit(x, y, epochs=1, batch_size=32, verbose=0, seed=1)  # plans the graph for 32 rows
    off.fit(x, y, epochs=1, batch_size=32, verbose=0, seed=1)
    assert counted(on.fit, x, y, epochs=1, batch_size=8, verbose=0, seed=1)[0] == (1, 11, 0)
    _core._set_step_graphs(False)
    assert not _core._step_graphs()
    assert counted(off.fit, x, y, epochs=1, batch_size=8, verbose=0, seed=1)[0] == (0, 0, 0)
    assert_weights_equal(on.get_weights(), off.get_weights())
    del on, off


def test_a_learning_rate_schedule_and_a_rate_set_mid_epoch_reach_the_replays(emulated):
    # The schedule's rates are one per step of the epoch (the clock's table); a batch callback
    # that sets the rate clears the table, as on the CPU, and the next replays use the new rate.
    x, y = data()

    class SetRate(pydl.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 5:
                self.model.optimizer.learning_rate = 0.03

    def run(device):
        m = regularized_mlp(device)
        sched = pydl.callbacks.LearningRateScheduler(pydl.schedules.ExponentialDecay(1e-2, 3, 0.5))
        m.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=2, callbacks=[sched, SetRate()])
        return m

    cpu = run("cpu")
    counts, dev = counted(run, "cuda")
    assert counts[0] == 2 and counts[1] > 10 and counts[2] == 0
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    assert dev.optimizer.learning_rate == cpu.optimizer.learning_rate
    del cpu, dev


def test_a_stop_during_the_replays_leaves_the_cpu_state(emulated):
    # The seventh batch (rows 48..55) overflows the logits: the replays after it change nothing.
    def run(device):
        x, y = data(n=100, seed=5)
        x = np.abs(x)
        x[48:56] = 3e38
        m = pydl.Sequential([layers.Input((12,)), layers.Dense(16, activation="relu", kernel_initializer="ones"),
                             layers.Dropout(0.2), layers.Dense(3, kernel_initializer="ones")], seed=3, device=device)
        m.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy")
        with pytest.raises(FloatingPointError) as err:
            m.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=7, shuffle=False)
        return m, str(err.value)

    cpu, cpu_error = run("cpu")
    counts, (dev, dev_error) = counted(run, "cuda")
    assert counts == (1, 11, 0)  # every full batch queued: the host learns of the stop at the end
    assert dev_error == cpu_error and "batch 7 (step 7)" in cpu_error
    assert dev._trainer.step == cpu._trainer.step == 6
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    assert_weights_equal(dev.optimizer.variables(), cpu.optimizer.variables())
    del cpu, dev


def test_a_moved_scratch_or_a_failed_capture_falls_back_to_plain_steps(emulated):
    x, y = data()

    class MoveScratch(pydl.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 6:  # (an evaluate in a callback may grow the kernels' scratch)
                _core._emulation_bump_scratch_generation()

    cpu = regularized_mlp("cpu")
    cpu.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=3)
    cpu.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=4)
    dev = regularized_mlp("cuda")
    # The stale graph is not launched: the next full batch is captured anew (its buffers are
    # sized), so all 11 full batches after the first still launch a graph.
    assert counted(dev.fit, x, y, epochs=1, batch_size=8, verbose=0, seed=3, callbacks=[MoveScratch()])[0] == (2, 11, 0)
    # A capture that fails (CUDA refusing a call) is abandoned and the step runs as usual; that
    # trainer then queues its steps one by one.
    _core._emulation_fail_capture_at(3)
    assert counted(dev.fit, x, y, epochs=1, batch_size=8, verbose=0, seed=4)[0] == (0, 0, 1)
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    del cpu, dev


class SquaredError(losses.Loss):
    def call(self, y_true, y_pred):
        return ((y_pred - y_true) ** 2).mean(axis=1)

    def gradient(self, y_true, y_pred):
        return 2 * (y_pred - y_true) / y_pred.shape[1]


def test_a_custom_loss_is_never_captured(emulated):
    # Host code in every step: its value crosses to the host and back, which a graph cannot hold.
    x, y = data()
    t = x[:, :2].copy()

    def run(device):
        m = pydl.Sequential([layers.Input((12,)), layers.Dense(2)], seed=2, device=device)
        m.compile(optimizer="adam", loss=SquaredError())
        m.fit(x, t, epochs=1, batch_size=8, verbose=0, seed=1)
        return m

    cpu = run("cpu")
    counts, dev = counted(run, "cuda")
    assert counts == (0, 0, 0)
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    del cpu, dev


def test_streamed_and_loader_batches_are_copied_before_each_replay(emulated):
    # Batches uploaded from the pinned staging sets (a data set over half the free memory), and a
    # DataLoader's batches augmented on the device: the copies and the augmentation are queued
    # outside the graph, before its launch, into the buffers the graph reads.
    x, y = data(n=100)
    cpu, dev = regularized_mlp("cpu"), regularized_mlp("cuda")
    cpu.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=1)
    try:
        _core._emulation_set_free_bytes(100 * (12 * 4 + 4))
        counts, _ = counted(dev.fit, x, y, epochs=1, batch_size=8, verbose=0, seed=1)
    finally:
        _core._emulation_set_free_bytes(0)
    assert counts == (1, 11, 0)
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    del cpu, dev

    rng = np.random.default_rng(10)
    images = rng.normal(size=(100, 8, 8, 1)).astype(np.float32)
    labels = (images[:, :4, :4, 0].mean(axis=(1, 2)) > 0).astype(np.int64)
    transform = pydl.data.Compose([pydl.data.RandomFlip("horizontal"), pydl.data.RandomCrop(6)])
    results = []
    for device in ("cpu", "cuda"):
        model = pydl.Sequential([layers.Input((6, 6, 1)), layers.Flatten(), layers.Dropout(0.2),
                                 layers.Dense(2)], seed=4, device=device)
        model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy", metrics=["accuracy"])
        loader = pydl.DataLoader(pydl.ArrayDataset(images, labels), batch_size=8, shuffle=True, seed=3,
                                 transform=transform)
        counts, history = counted(model.fit, loader, epochs=2, verbose=0)
        results.append((counts, model.get_weights(), history.history))
        del model
    (cpu_counts, cpu_w, cpu_h), (dev_counts, dev_w, dev_h) = results
    assert cpu_counts == (0, 0, 0) and dev_counts == (2, 22, 0)
    assert_weights_equal(dev_w, cpu_w)
    assert dev_h == cpu_h
