"""The engine on a device, through the test-only CUDA emulation (pydl._core._emulate_cuda):
device memory is host memory posing as one CUDA device and the kernels run their CPU code,
so everything here runs on a machine without a GPU and results must be *bitwise* those of
the CPU. What this checks is the engine's device plumbing: which buffers live on the device
(parameters, gradients, optimizer slots, activations, batches), that moves and batch uploads
really copy (the emulated runtime counts the bytes), that weights, optimizer state and
checkpoints move with the model, and the device strings. What it cannot check: CUDA
kernels (tests/cuda), and host code reading device memory (emulated device memory is
readable from the host). tests/cuda/test_engine_cuda.py runs the same models on a real GPU.
"""
import gc

import numpy as np
import pytest

import pydl
from pydl import _core, layers, losses, optimizers, regularizers
from conftest import assert_weights_equal


@pytest.fixture
def emulated():
    """The emulated device for one test; afterwards every emulated allocation must be gone
    (turning the emulation off refuses otherwise): the test's models are deleted first."""
    if _core.device_runtime_loaded():
        pytest.skip("the real CUDA runtime (pydl._cuda) is loaded: the emulation is refused beside it; "
                    "tests/cuda/test_engine_cuda.py runs these models on the GPU")
    _core._emulate_cuda(True)
    try:
        yield
    finally:
        gc.collect()
        _core._emulate_cuda(False)


def data(n=96, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (x[:, :classes].argmax(axis=1)).astype(np.int64)
    return x, y


def mlp(device="cpu", seed=3):
    # A regularizer (the penalty's host round trip), BatchNormalization (state buffer),
    # Dropout (counter-based masks), clipnorm (frozen-range zeroing and the norm).
    return pydl.Sequential([layers.Input((12,)),
                            layers.Dense(16, activation="relu", kernel_regularizer=regularizers.L2(1e-3)),
                            layers.BatchNormalization(), layers.Dropout(0.25), layers.Dense(3)],
                           seed=seed, device=device)


def compile_adam(model):
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2, clipnorm=1.0), loss="cross_entropy",
                  metrics=["accuracy"])
    return model


def fit(model, x, y, epochs, **kw):
    return model.fit(x, y, epochs=epochs, batch_size=20, verbose=0, seed=7, **kw)


def on_device(devices):
    assert devices, "no buffers reported"
    off = {k: v for k, v in devices.items() if v != "cuda"}
    assert not off, f"buffers not on the device: {off}"


def test_device_strings_and_availability():
    model = mlp()
    assert model.device == "cpu"
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'cuda:N'"):
        model.to("gpu")
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'cuda:N'"):
        mlp(device="cuda:x")
    with pytest.raises(TypeError, match="device string"):
        model.to(0)
    if not pydl.cuda.is_available():
        # The public answers stay those of the real runtime, and "cuda" is refused clearly.
        assert pydl.cuda.device_count() == 0 and not pydl.cuda._emulated()
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            mlp(device="cuda")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            model.to("cuda")
        assert model.device == "cpu"


def test_emulation_keeps_the_public_answers_honest(emulated):
    # (is_available() and device_count() are not asked here: on a CUDA build they would try to
    # load pydl._cuda, which refuses to register beside the emulation; the test above checks
    # them without it.)
    assert pydl.cuda._emulated()
    model = mlp()
    with pytest.raises(ValueError, match=r"ordinal in \[0, 1\), got 1"):
        model.to("cuda:1")
    with pytest.raises(ValueError, match=r"ordinal in \[0, 1\)"):
        pydl.Sequential([layers.Input((4,)), layers.Dense(2)], device="cuda:3")
    assert model.to("CUDA:0") is model and model.device == "cuda:0"
    del model


def test_init_on_the_device_gives_the_cpu_weights(emulated):
    cpu, dev = mlp(), mlp(device="cuda").build()
    assert dev.device == "cuda:0"
    on_device(dev._graph.buffer_devices())
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    with pytest.raises(RuntimeError, match="live on cuda:0"):
        dev._graph.param_buffer()  # no host view of device memory
    del cpu, dev


def test_fit_on_the_device_is_bitwise_the_cpu_fit(emulated):
    x, y = data()
    cpu = compile_adam(mlp())
    dev = compile_adam(mlp(device="cuda"))
    before = _core._emulation_stats()
    h_cpu, h_dev = fit(cpu, x, y, 3), fit(dev, x, y, 3)
    after = _core._emulation_stats()
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    assert_weights_equal(dev.optimizer.variables(), cpu.optimizer.variables())
    assert h_dev.history == h_cpu.history
    # Parameters, gradients, state, activations, optimizer slots and batch buffers live there.
    on_device(dev._graph.buffer_devices())
    trainer = dev._trainer.buffer_devices()
    on_device(trainer)
    assert {"slot/0", "slot/1", "batch/x/0", "batch/labels/0"} <= set(trainer)
    assert any(k.startswith("activations/") for k in dev._graph.buffer_devices())
    # The data set was uploaded (once: see test_fit_keeps_the_data_set_on_the_device).
    assert after["to_device_bytes"] - before["to_device_bytes"] >= 96 * (12 * 4 + 4)
    np.testing.assert_array_equal(dev.predict(x), cpu.predict(x))
    assert dev.evaluate(x, y) == cpu.evaluate(x, y)
    del cpu, dev


def test_optimizer_state_survives_moves_mid_training(emulated):
    x, y = data(seed=1)
    straight = compile_adam(mlp())
    fit(straight, x, y, 4)
    there = compile_adam(mlp())
    fit(there, x, y, 2)
    assert there.to("cuda") is there
    on_device(there._trainer.buffer_devices())
    fit(there, x, y, 2)
    back = compile_adam(mlp(device="cuda"))
    fit(back, x, y, 2)
    back.to("cpu")
    assert back.device == "cpu"
    assert set(back._graph.buffer_devices().values()) == {"cpu"}
    assert set(back._trainer.buffer_devices().values()) == {"cpu"}
    fit(back, x, y, 2)
    for m in (there, back):
        assert m.optimizer.iterations == straight.optimizer.iterations
        assert_weights_equal(m.get_weights(), straight.get_weights())
        assert_weights_equal(m.optimizer.variables(), straight.optimizer.variables())
    del straight, there, back


def test_moving_back_releases_the_device_memory(emulated):
    x, y = data()
    base = _core._emulation_stats()["live_allocations"]
    model = compile_adam(mlp(device="cuda"))
    fit(model, x, y, 1)
    assert _core._emulation_stats()["live_allocations"] > base
    weights = model.get_weights()
    model.to("cpu")
    gc.collect()
    assert _core._emulation_stats()["live_allocations"] == base
    assert_weights_equal(model.get_weights(), weights)
    del model


def test_saved_on_the_device_loads_on_the_cpu_and_predicts_the_same(emulated, tmp_path):
    x, y = data(seed=2)
    dev = compile_adam(mlp(device="cuda"))
    fit(dev, x, y, 2)
    dev.save(tmp_path / "m.pydl")
    loaded = pydl.load_model(tmp_path / "m.pydl")
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(x), dev.predict(x))
    assert_weights_equal(loaded.optimizer.variables(), dev.optimizer.variables())
    # Training goes on the same from the file on the CPU as on the device.
    fit(loaded, x, y, 1)
    fit(dev, x, y, 1)
    assert_weights_equal(loaded.get_weights(), dev.get_weights())
    del dev, loaded


def test_set_weights_and_optimizer_state_on_the_device(emulated):
    x, y = data()
    cpu, dev = compile_adam(mlp(seed=1)), compile_adam(mlp(seed=1, device="cuda"))
    fit(cpu, x, y, 1)
    fit(dev, 2 * x, y, 1)  # other weights and moments, overwritten below
    assert not np.array_equal(dev.get_weights()[0], cpu.get_weights()[0])
    dev.set_weights(cpu.get_weights())
    dev.optimizer.set_variables(cpu.optimizer.variables())
    dev.optimizer.iterations = cpu.optimizer.iterations
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    assert_weights_equal(dev.optimizer.variables(), cpu.optimizer.variables())
    fit(cpu, x, y, 1)
    fit(dev, x, y, 1)
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    loss_c, grads_c = cpu.loss_and_gradients(x, y)
    loss_d, grads_d = dev.loss_and_gradients(x, y)
    assert loss_d == loss_c
    assert_weights_equal(grads_d, grads_c)
    del cpu, dev


def test_unbuilt_sequential_builds_on_its_device(emulated):
    x, y = data()

    def make(device):
        m = pydl.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3)], seed=5, device=device)
        m.compile(optimizer=optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="cross_entropy")
        return m

    cpu, dev = make("cpu"), make("cuda")
    assert dev.device == "cuda:0" and not dev.built
    fit(cpu, x, y, 2)
    fit(dev, x, y, 2)
    on_device(dev._graph.buffer_devices())
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    del cpu, dev


class SquaredError(losses.Loss):
    def call(self, y_true, y_pred):
        return ((y_pred - y_true) ** 2).reshape(len(y_pred), -1).mean(axis=1)

    def gradient(self, y_true, y_pred):
        return 2 * (y_pred - y_true) / y_pred[0].size


def two_heads(device):
    # A DAG: one tensor read by two heads (its gradients add up on the device), loss weights
    # (the scaled gradient), sample weights, a custom Python loss (host copies).
    inp = pydl.Input((12,), name="x")
    h = layers.Dense(10, activation="relu", name="trunk")(inp)
    a = layers.Dense(3, name="cls")(h)
    b = layers.Dense(2, name="reg")(h)
    model = pydl.Model(inputs=inp, outputs=[a, b], seed=11, device=device)
    model.compile(optimizer=optimizers.RMSprop(learning_rate=1e-2), loss=["cross_entropy", SquaredError()],
                  loss_weights=[1.0, 0.5])
    return model


def test_dag_with_loss_weights_sample_weights_and_a_custom_loss(emulated):
    x, y = data()
    t = np.stack([x[:, 0] * 0.5, x[:, 1] - x[:, 2]], axis=1).astype(np.float32)
    sw = np.linspace(0.2, 1.5, len(x)).astype(np.float32)
    cpu, dev = two_heads("cpu"), two_heads("cuda")
    h_cpu = cpu.fit(x, [y, t], epochs=2, batch_size=16, verbose=0, seed=1, sample_weight=sw)
    h_dev = dev.fit(x, [y, t], epochs=2, batch_size=16, verbose=0, seed=1, sample_weight=sw)
    assert h_dev.history == h_cpu.history
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    assert dev.evaluate(x, [y, t]) == cpu.evaluate(x, [y, t])
    del cpu, dev


def sequence_model(device):
    # Embedding(mask_zero) -> LSTM over steps -> per-step classes: a sequence cross-entropy
    # whose token weights come from the mask (a host round trip on the device).
    ids = pydl.Input((6,), name="ids")
    e = layers.Embedding(9, 4, mask_zero=True)(ids)
    r = layers.LSTM(5, return_sequences=True)(e)
    out = layers.Dense(3)(r)
    model = pydl.Model(inputs=ids, outputs=out, seed=4, device=device)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy", metrics=["accuracy"])
    return model


def test_masked_sequences_on_the_device(emulated):
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 9, size=(40, 6)).astype(np.float32)
    for i, n in enumerate(rng.integers(2, 7, size=40)):
        ids[i, n:] = 0  # padding
    labels = (ids.astype(np.int64) % 3)
    cpu, dev = sequence_model("cpu"), sequence_model("cuda")
    h_cpu = cpu.fit(ids, labels, epochs=2, batch_size=8, verbose=0, seed=2)
    h_dev = dev.fit(ids, labels, epochs=2, batch_size=8, verbose=0, seed=2)
    assert h_dev.history == h_cpu.history
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    np.testing.assert_array_equal(dev.predict(ids), cpu.predict(ids))
    del cpu, dev


def test_dataloader_and_callbacks_on_the_device(emulated, tmp_path):
    x, y = data(n=80)
    seen = []

    class Probe(pydl.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            # Python between epochs: predict and a host kernel call inside fit on the device.
            seen.append(self.model.predict(x[:4]))
            pydl.kernels.activation_forward(np.ones((2, 2), np.float32), "relu")

    def run(device):
        model = compile_adam(mlp(device=device))
        loader = pydl.DataLoader(pydl.ArrayDataset(x, y), batch_size=16, shuffle=True, seed=3)
        ckpt = pydl.callbacks.ModelCheckpoint(str(tmp_path / f"{device}.pydl"))
        model.fit(loader, epochs=2, verbose=0, callbacks=[Probe(), ckpt])
        return model

    cpu, dev = run("cpu"), run("cuda")
    assert len(seen) == 4
    np.testing.assert_array_equal(seen[3], seen[1])
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    restored = pydl.load_model(tmp_path / "cuda.pydl")
    np.testing.assert_array_equal(restored.predict(x), dev.predict(x))
    del cpu, dev, restored


def test_clone_runs_where_the_model_does(emulated):
    from pydl.engine.saving import clone_model  # what pydl.sklearn and tuning clone with

    model = mlp(device="cuda")
    clone = clone_model(model)
    assert clone.device == "cuda:0"
    assert_weights_equal(clone.get_weights(), model.get_weights())
    del model, clone


def test_inputs_of_other_lengths_run_on_the_device(emulated):
    # A None axis: each new length is a graph of its own, made on the model's device with the
    # current weights copied in (Graph.copy_weights_from across devices).
    rng = np.random.default_rng(4)
    short = rng.normal(size=(24, 5, 3)).astype(np.float32)
    long = rng.normal(size=(24, 7, 3)).astype(np.float32)
    y = (short[:, 0, 0] > 0).astype(np.int64)

    def make(device):
        inp = pydl.Input((None, 3))
        out = layers.Dense(2)(layers.SimpleRNN(4)(inp))
        m = pydl.Model(inputs=inp, outputs=out, seed=2, device=device)
        m.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy")
        return m

    cpu, dev = make("cpu"), make("cuda")
    for m in (cpu, dev):
        m.fit(short, y, epochs=1, batch_size=8, verbose=0, seed=0)
        m.fit(long, y, epochs=1, batch_size=8, verbose=0, seed=0)
    assert len(dev._graphs) == 3  # built at length 1, then 5 and 7
    for g in dev._graphs.values():
        on_device(g.buffer_devices())
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    np.testing.assert_array_equal(dev.predict(short), cpu.predict(short))
    dev.to("cpu")
    assert all(set(g.buffer_devices().values()) == {"cpu"} for g in dev._graphs.values())
    del cpu, dev


def attention_model(device):
    # Two padded inputs: MHA's key and value masks differ (their AND), an explicit boolean
    # attention mask, and a Dropout in inference mode (a device-to-device copy).
    q_ids, kv_ids = pydl.Input((5,), name="q"), pydl.Input((6,), name="kv")
    mask = pydl.Input((5, 6), name="mask", dtype="bool")
    q = layers.Embedding(7, 4, mask_zero=True)(q_ids)
    v = layers.Embedding(7, 4, mask_zero=True)(kv_ids)
    k = layers.Embedding(7, 4, mask_zero=True)(layers.Dropout(0.0)(kv_ids))
    a = layers.MultiHeadAttention(num_heads=2, key_dim=3)(q, v, k, attention_mask=mask)
    out = layers.Dense(2)(layers.GlobalAvgPool1D()(a))
    model = pydl.Model(inputs=[q_ids, kv_ids, mask], outputs=out, seed=6, device=device)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy")
    return model


def test_attention_masks_on_the_device(emulated):
    rng = np.random.default_rng(5)
    q = rng.integers(1, 7, size=(16, 5)).astype(np.float32)
    kv = rng.integers(1, 7, size=(16, 6)).astype(np.float32)
    q[:, 4:] = 0
    kv[::2, 5:] = 0
    m = rng.random(size=(16, 5, 6)) > 0.2
    y = (q[:, 0] > 3).astype(np.int64)
    cpu, dev = attention_model("cpu"), attention_model("cuda")
    for model in (cpu, dev):
        model.fit([q, kv, m], y, epochs=2, batch_size=8, verbose=0, seed=1)
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    np.testing.assert_array_equal(dev.predict([q, kv, m]), cpu.predict([q, kv, m]))
    del cpu, dev


def test_augmentation_layers_on_the_device(emulated):
    # The per-row keys of a random augmentation live on the device; in predict the layer is
    # the identity.
    rng = np.random.default_rng(6)
    x = rng.normal(size=(24, 6, 6, 1)).astype(np.float32)
    y = (x[:, 0, 0, 0] > 0).astype(np.int64)

    def make(device):
        m = pydl.Sequential([layers.Input((6, 6, 1)), layers.RandomFlip("horizontal", seed=3),
                             layers.Conv2D(3, 3, activation="relu"), layers.Flatten(), layers.Dense(2)],
                            seed=8, device=device)
        m.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="cross_entropy")
        return m

    cpu, dev = make("cpu"), make("cuda")
    for m in (cpu, dev):
        m.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=2)
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    np.testing.assert_array_equal(dev.predict(x), cpu.predict(x))
    del cpu, dev


# --- fit's steps queued without waiting for the device (kernels/step_results.h) ---------------

def plain_mlp(device="cpu"):
    return pydl.Sequential([layers.Input((12,)), layers.Dense(16, activation="relu"), layers.BatchNormalization(),
                            layers.Dropout(0.25), layers.Dense(3)], seed=3, device=device)


def reads_per_epoch(model, inputs, targets, n):
    """to_host bytes of one fit epoch over the first n samples (verbose=0: no progress reads)."""
    before = _core._emulation_stats()["to_host_bytes"]
    ys = [t[:n] for t in targets]
    model.fit(inputs[:n], ys if len(ys) > 1 else ys[0], epochs=1, batch_size=8, verbose=0, seed=7)
    return _core._emulation_stats()["to_host_bytes"] - before


@pytest.mark.parametrize("case", ["regularized_bn_dropout_clipnorm", "loss_weights", "masked_sequence"])
def test_an_epoch_reads_the_device_once_whatever_its_number_of_steps(emulated, case):
    # Losses, metric sums, the regularizers' penalty, token weights, scaled head gradients and
    # the non-finite verdicts stay on the device: without a progress bar or batch callbacks the
    # host reads the step results once, at the epoch's end, for 6 steps as for 24.
    x, y = data(n=192)
    if case == "regularized_bn_dropout_clipnorm":
        model, inputs, targets = compile_adam(mlp(device="cuda")), x, [y]
    elif case == "loss_weights":
        inp = pydl.Input((12,))
        h = layers.Dense(10, activation="relu")(inp)
        model = pydl.Model(inputs=inp, outputs=[layers.Dense(3)(h), layers.Dense(2)(h)], seed=11, device="cuda")
        model.compile(optimizer="adam", loss=["cross_entropy", "mse"], loss_weights=[1.0, 0.5],
                      metrics=[["accuracy"], ["mae"]])
        inputs, targets = x, [y, x[:, :2].copy()]
    else:
        rng = np.random.default_rng(3)
        ids = rng.integers(1, 9, size=(192, 6)).astype(np.float32)
        ids[::3, 4:] = 0  # padding
        model, inputs, targets = sequence_model("cuda"), ids, [ids.astype(np.int64) % 3]
    reads_per_epoch(model, inputs, targets, 192)  # plans every buffer
    short, long = reads_per_epoch(model, inputs, targets, 48), reads_per_epoch(model, inputs, targets, 192)
    assert short == long > 0
    del model


def test_batch_callbacks_see_the_cpu_losses_from_queued_steps(emulated):
    # A batch callback makes the host read the queued results at each of its calls.
    x, y = data(n=200, seed=4)
    seen = {}
    for device in ("cpu", "cuda"):
        logs = seen[device] = []
        cb = pydl.callbacks.LambdaCallback(on_train_batch_end=lambda batch, l, logs=logs: logs.append((batch, l["loss"])))
        model = compile_adam(plain_mlp(device=device))
        history = model.fit(x, y, epochs=2, batch_size=20, verbose=0, seed=7, callbacks=[cb])
        logs.append(history.history)
        del model
    assert len(seen["cuda"]) == len(seen["cpu"]) == 2 * 10 + 1
    assert seen["cuda"] == seen["cpu"]


def stopping_runs(device, case):
    x, y = data(n=200, seed=5)
    model = plain_mlp(device=device)
    if case == "loss":  # batch 4 (rows 60..79) overflows the logits to Inf: the loss is NaN
        model = pydl.Sequential([layers.Input((12,)), layers.Dense(16, activation="relu", kernel_initializer="ones"),
                                 layers.Dense(3, kernel_initializer="ones")], seed=3, device=device)
        x = np.abs(x)
        x[60:80] = 3e38
        opt = optimizers.Adam(learning_rate=1e-2)
    else:  # the learning rate of step 4 makes the update Inf (1e-2 * 1e45 > float32's range)
        opt = optimizers.Adam(learning_rate=1e-2)
    schedule = pydl.schedules.StepDecay(1e-2, step_size=3, gamma=1e45)
    callbacks = [] if case == "loss" else [pydl.callbacks.LearningRateScheduler(schedule)]
    model.compile(optimizer=opt, loss="cross_entropy", metrics=["accuracy"])
    with pytest.raises(FloatingPointError) as err:
        model.fit(x, y, epochs=2, batch_size=20, verbose=0, seed=7, shuffle=False, callbacks=callbacks)
    return model, str(err.value)


@pytest.mark.parametrize("case", ["loss", "update"])
def test_a_queued_step_that_stops_training_leaves_the_cpu_state(emulated, case):
    # The device keeps queueing steps after the one that failed; they must change nothing:
    # the weights, optimizer state, step count and learning rate are the CPU's, which stopped.
    cpu, cpu_error = stopping_runs("cpu", case)
    dev, dev_error = stopping_runs("cuda", case)
    assert dev_error == cpu_error
    assert "batch 4 " in cpu_error and ("update would have made" in cpu_error) == (case == "update")
    assert dev._trainer.step == cpu._trainer.step == 3
    assert dev._trainer.learning_rate == cpu._trainer.learning_rate
    # BatchNormalization's moving statistics included (the update case's model has one): the
    # forward passes queued after the failed step leave them alone.
    assert len(dev.get_weights()) == (8 if case == "update" else 4)
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    assert_weights_equal(dev.optimizer.variables(), cpu.optimizer.variables())
    del cpu, dev


def test_a_queued_step_whose_weights_sum_to_zero_raises_as_on_the_cpu(emulated):
    x, y = data(n=40, seed=6)
    errors = []
    for device in ("cpu", "cuda"):
        model = plain_mlp(device=device)
        model.compile(optimizer="adam", loss="cross_entropy")
        with pytest.raises(ValueError, match="weights of this batch sum to zero") as err:
            model.fit(x, y, epochs=1, batch_size=20, verbose=0, class_weight={0: 0.0, 1: 0.0, 2: 0.0})
        errors.append((str(err.value), model._trainer.step))
        del model
    assert errors[0] == errors[1]


def uploads(model, x, y, epochs):
    before = _core._emulation_stats()
    fit(model, x, y, epochs)
    after = _core._emulation_stats()
    return after["to_device_bytes"] - before["to_device_bytes"], after["event_waits"] - before["event_waits"]


@pytest.mark.parametrize("fits", [True, False])
def test_fit_keeps_the_data_set_on_the_device_when_it_fits(emulated, fits):
    # Resident: x and y are copied at each epoch's start (one copy per array, no staging) with
    # the epoch's order (8 bytes a sample), and the batches are gathered on the device. Not
    # resident (more than half the free memory): every batch is uploaded from two pinned staging
    # sets in turn, each rewritten after waiting for the event behind its last copies. Either
    # way the training is the CPU's.
    x, y = data(n=960)
    data_bytes = 960 * (12 * 4 + 4)
    cpu, dev = compile_adam(plain_mlp()), compile_adam(plain_mlp(device="cuda"))
    try:
        _core._emulation_set_free_bytes(0 if fits else 2 * data_bytes)
        uploads(dev, x, y, 1)  # plans the buffers
        (one, one_waits), (three, three_waits) = uploads(dev, x, y, 1), uploads(dev, x, y, 3)
    finally:
        _core._emulation_set_free_bytes(0)
    for epochs in (1, 1, 3):
        fit(cpu, x, y, epochs)
    assert_weights_equal(dev.get_weights(), cpu.get_weights())
    per_epoch = (three - one) / 2
    if fits:
        assert data_bytes <= per_epoch < data_bytes + 960 * 8 + 4096
        assert one_waits == three_waits == 0
    else:
        assert per_epoch >= data_bytes
        assert one_waits >= 48 - 2 and three_waits >= 3 * (48 - 2)  # 48 batches an epoch
    assert not any(k.startswith("resident/") for k in dev._trainer.buffer_devices())  # freed when fit ends
    del cpu, dev


def test_a_queued_embedding_id_out_of_range_raises_as_on_the_cpu(emulated):
    # On the device the ids are checked without waiting: a bad one stops training there, and
    # fit raises the CPU's error when it reads the step results (the steps after change nothing).
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 9, size=(40, 6)).astype(np.float32)
    ids[21, 4] = 9  # the third batch of 8 rows, flat position 5 * 6 + 4 (vocab 9: ids in [0, 9))
    labels = ids.astype(np.int64) % 3
    runs = []
    for device in ("cpu", "cuda"):
        model = sequence_model(device)
        with pytest.raises(ValueError, match="id 9.0* at flat position 34 is not an integer in") as err:
            model.fit(ids, labels, epochs=1, batch_size=8, verbose=0, seed=2, shuffle=False)
        runs.append((str(err.value), model._trainer.step, model.get_weights(), model.optimizer.variables()))
        del model
    (cpu_error, cpu_step, cpu_w, cpu_v), (dev_error, dev_step, dev_w, dev_v) = runs
    assert dev_error == cpu_error and "Embedding" in cpu_error
    assert dev_step == cpu_step == 2
    assert_weights_equal(dev_w, cpu_w)
    assert_weights_equal(dev_v, cpu_v)


def test_arrays_changed_in_place_between_epochs_are_seen_on_the_device(emulated):
    # A callback that rewrites x in place: the device copy is made at every epoch, as the CPU
    # reads the arrays afresh.
    x, y = data(n=96, seed=8)
    weights = []
    for device in ("cpu", "cuda"):
        xs = x.copy()
        cb = pydl.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs, xs=xs: xs.__imul__(0.5))
        model = compile_adam(plain_mlp(device=device))
        model.fit(xs, y, epochs=3, batch_size=20, verbose=0, seed=7, callbacks=[cb])
        weights.append(model.get_weights())
        del model
    assert_weights_equal(weights[1], weights[0])


class RaisesOnCall(losses.Loss):
    """Squared error that raises at its `at`-th call (host code failing in a later step)."""

    def __init__(self, at):
        super().__init__()
        self.at, self.calls = at, 0

    def call(self, y_true, y_pred):
        self.calls += 1
        if self.calls == self.at:
            raise RuntimeError("the loss failed")
        return ((y_pred - y_true) ** 2).reshape(len(y_pred), -1).mean(axis=1)

    def gradient(self, y_true, y_pred):
        return 2 * (y_pred - y_true) / y_pred[0].size


def test_an_error_after_a_queued_stop_is_the_stop_as_on_the_cpu(emulated):
    # Step 4's update is refused (its learning rate overflows); the CPU stops there and never
    # calls the loss an 8th time. The device has queued on and meets the failing call: fit must
    # still report the refused update, with the CPU's state.
    x, y = data(n=200, seed=9)
    t = x[:, :3].copy()
    runs = []
    for device in ("cpu", "cuda"):
        model = plain_mlp(device=device)
        model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss=RaisesOnCall(at=8))
        schedule = pydl.schedules.StepDecay(1e-2, step_size=3, gamma=1e45)
        with pytest.raises(FloatingPointError, match="batch 4 ") as err:
            model.fit(x, t, epochs=1, batch_size=20, verbose=0, seed=7, shuffle=False,
                      callbacks=[pydl.callbacks.LearningRateScheduler(schedule)])
        runs.append((str(err.value), model._trainer.step, model.get_weights()))
        del model
    assert runs[1][0] == runs[0][0] and runs[1][1] == runs[0][1] == 3
    assert_weights_equal(runs[1][2], runs[0][2])


def test_a_loaders_augmentation_runs_on_the_device(emulated):
    # On a device the loader hands over unaugmented batches with their keys; the pipeline runs
    # there with the loader's seed: the same draws, so the training is the CPU's bitwise. The
    # uploads are the unaugmented 8x8 images (the crop to 6x6 happens on the device).
    rng = np.random.default_rng(10)
    x = rng.normal(size=(64, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4, :4, 0].mean(axis=(1, 2)) > 0).astype(np.int64)
    transform = pydl.data.Compose([pydl.data.RandomFlip("horizontal"), pydl.data.RandomCrop(6),
                                   pydl.data.RandomRotation(15)])
    results = []
    for device in ("cpu", "cuda"):
        model = pydl.Sequential([layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(8, activation="relu"),
                                 layers.Dense(2)], seed=4, device=device)
        model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy", metrics=["accuracy"])
        loader = pydl.DataLoader(pydl.ArrayDataset(x, y), batch_size=16, shuffle=True, seed=3, transform=transform)
        before = _core._emulation_stats()["to_device_bytes"]
        history = model.fit(loader, epochs=2, verbose=0)
        uploaded = _core._emulation_stats()["to_device_bytes"] - before
        assert not any(k.startswith("augment/") for k in model._trainer.buffer_devices())  # freed when fit ends
        results.append((model.get_weights(), history.history, uploaded))
        del model
    (cpu_w, cpu_h, _), (dev_w, dev_h, dev_uploaded) = results
    assert_weights_equal(dev_w, cpu_w)
    assert dev_h == cpu_h
    assert dev_uploaded >= 2 * 64 * (8 * 8 * 4 + 8)  # 2 epochs of unaugmented images and their keys
