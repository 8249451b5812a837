"""The training engine on a real GPU (marked cuda; skipped without one): whole models trained
on "cuda" against the same models on the CPU, save on the GPU / load on the CPU, and bitwise
reproducibility run to run. The CPU-only suite covers the engine's device plumbing through an
emulated device (tests/test_engine_device.py); this file is what only a GPU can check.

Tolerances: the CUDA kernels reassociate float sums (cuBLAS GEMMs, block reductions), so one
step differs from the CPU's in the last bits, and training amplifies that a little per step.
With SGD (updates proportional to the gradients) 20 steps stay within 1e-4 absolute / 1e-3
relative on weights of order 0.1-1; losses within 1e-4 relative.
"""
import os

os.environ.setdefault("PYDL_CUDA_POISON", "1")  # device buffers start as NaN: unwritten values fail

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pydl  # noqa: E402
from pydl import layers, optimizers  # noqa: E402

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not pydl.cuda.is_available(), reason="needs a CUDA GPU and pydl._cuda")]

STEPS_ATOL, STEPS_RTOL = 1e-4, 1e-3
LOSS_RTOL = 1e-4
PREDICT_ATOL = 1e-5


def data(n=256, features=20, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = x[:, :classes].argmax(axis=1).astype(np.int64)
    return x, y


def mlp(device, seed=1, optimizer=None):
    model = pydl.Sequential([layers.Input((20,)), layers.Dense(64, activation="relu"), layers.Dropout(0.1),
                             layers.Dense(32, activation="tanh"), layers.Dense(4)], seed=seed, device=device)
    model.compile(optimizer=optimizer or optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="cross_entropy",
                  metrics=["accuracy"])
    return model


def fit(model, x, y, epochs=1, batch_size=64):
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, seed=3, verbose=0)


def test_initial_weights_are_the_cpus():
    for a, b in zip(mlp("cuda").get_weights(), mlp("cpu").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_training_steps_on_cuda_stay_close_to_the_cpu():
    x, y = data()
    cpu, gpu = mlp("cpu"), mlp("cuda")
    h_cpu, h_gpu = fit(cpu, x, y, epochs=5), fit(gpu, x, y, epochs=5)  # 20 steps
    assert gpu.device == "cuda:0" and gpu.optimizer.iterations == cpu.optimizer.iterations == 20
    np.testing.assert_allclose(h_gpu.history["loss"], h_cpu.history["loss"], rtol=LOSS_RTOL)
    for a, b in zip(gpu.get_weights(), cpu.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=STEPS_ATOL, rtol=STEPS_RTOL)
    np.testing.assert_allclose(gpu.predict(x), cpu.predict(x), atol=1e-3, rtol=1e-3)
    e_cpu, e_gpu = cpu.evaluate(x, y), gpu.evaluate(x, y)
    assert e_gpu["loss"] == pytest.approx(e_cpu["loss"], rel=1e-3)


def test_bitwise_identical_weights_run_to_run():
    x, y = data(seed=1)
    runs = []
    for _ in range(2):
        model = mlp("cuda", optimizer=optimizers.Adam(learning_rate=1e-2, clipnorm=1.0))
        fit(model, x, y, epochs=3)
        runs.append(model.get_weights() + model.optimizer.variables())
    assert len(runs[0]) == len(runs[1]) > 0
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_replayed_graphs_give_the_weights_of_steps_launched_one_by_one():
    # The same kernels in the same order: a captured step replayed (the batch, step number,
    # learning rate and dropout draws read on the device) is bitwise the uncaptured step. A
    # schedule (the clock's rate table), Dropout and BatchNormalization make every step differ.
    x, y = data(seed=2, n=640)
    runs = []
    for graphs in (True, False):
        pydl._core._set_step_graphs(graphs)
        try:
            model = pydl.Sequential([layers.Input((20,)), layers.Dense(32, activation="relu"),
                                     layers.BatchNormalization(), layers.Dropout(0.3), layers.Dense(4)],
                                    seed=1, device="cuda")
            model.compile(optimizer=optimizers.Adam(learning_rate=1e-2, clipnorm=1.0), loss="cross_entropy",
                          metrics=["accuracy"])
            sched = pydl.callbacks.LearningRateScheduler(pydl.schedules.ExponentialDecay(1e-2, 4, 0.7))
            h = model.fit(x, y, epochs=2, batch_size=64, verbose=0, seed=3, callbacks=[sched])
        finally:
            pydl._core._set_step_graphs(True)
        runs.append((h.history, model.get_weights() + model.optimizer.variables()))
    assert runs[0][0] == runs[1][0]
    assert len(runs[0][1]) == len(runs[1][1]) > 0
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_saved_on_cuda_loads_on_cpu_and_predicts_the_same(tmp_path):
    x, y = data(seed=2)
    gpu = mlp("cuda")
    fit(gpu, x, y, epochs=2)
    gpu.save(tmp_path / "m.pydl")
    cpu = pydl.load_model(tmp_path / "m.pydl")
    assert cpu.device == "cpu"
    for a, b in zip(cpu.get_weights(), gpu.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the file holds the device's weights exactly
    np.testing.assert_allclose(cpu.predict(x), gpu.predict(x), atol=PREDICT_ATOL, rtol=1e-5)


def test_moves_keep_the_optimizer_state():
    x, y = data(seed=3)
    model = mlp("cpu")  # SGD with momentum: one slot, and the tolerance above holds
    fit(model, x, y, epochs=1)
    slots = model.optimizer.variables()
    model.to("cuda")
    for a, b in zip(model.optimizer.variables(), slots, strict=True):
        np.testing.assert_array_equal(a, b)
    fit(model, x, y, epochs=1)
    model.to("cpu")
    assert model.optimizer.iterations == 8
    reference = mlp("cpu")
    fit(reference, x, y, epochs=2)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=STEPS_ATOL, rtol=STEPS_RTOL)


# fit's steps are queued with their results left on the device (kernels/step_results.h): the
# host reads them at the epoch's end or at each progress call, never per step.

def regularized_two_heads(device):
    # The regularizer's penalty and gradient, a loss weight (scaled gradient), BatchNorm,
    # clipnorm and a second head's metric sums, all computed on the device.
    inp = pydl.Input((20,))
    h = layers.Dense(32, activation="relu", kernel_regularizer=pydl.regularizers.L2(1e-3))(inp)
    h = layers.BatchNormalization()(h)
    model = pydl.Model(inputs=inp, outputs=[layers.Dense(4)(h), layers.Dense(2)(h)], seed=5, device=device)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9, clipnorm=1.0),
                  loss=["cross_entropy", "mse"], loss_weights=[1.0, 0.5], metrics=[["accuracy"], ["mae"]])
    return model


def test_queued_steps_with_penalty_loss_weights_and_metrics_stay_close_to_the_cpu():
    x, y = data()
    t = x[:, :2].copy()
    cpu, gpu = regularized_two_heads("cpu"), regularized_two_heads("cuda")
    h_cpu = cpu.fit(x, [y, t], epochs=5, batch_size=64, seed=3, verbose=0)
    h_gpu = gpu.fit(x, [y, t], epochs=5, batch_size=64, seed=3, verbose=0)
    assert sorted(h_gpu.history) == sorted(h_cpu.history) and len(h_gpu.history["loss"]) == 5
    for key in h_cpu.history:
        np.testing.assert_allclose(h_gpu.history[key], h_cpu.history[key], rtol=1e-3, atol=1e-6, err_msg=key)
    for a, b in zip(gpu.get_weights(), cpu.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=STEPS_ATOL, rtol=STEPS_RTOL)


def test_batch_callbacks_read_the_queued_losses():
    x, y = data()
    seen = {}
    for device in ("cpu", "cuda"):
        logs = seen[device] = []
        cb = pydl.callbacks.LambdaCallback(on_train_batch_end=lambda b, l, logs=logs: logs.append((b, l["loss"])))
        mlp(device).fit(x, y, epochs=2, batch_size=64, seed=3, verbose=0, callbacks=[cb])
    assert [b for b, _ in seen["cuda"]] == [b for b, _ in seen["cpu"]] and len(seen["cpu"]) == 8
    np.testing.assert_allclose([v for _, v in seen["cuda"]], [v for _, v in seen["cpu"]], rtol=LOSS_RTOL)


def stopping_run(device, case):
    x, y = data(n=320)
    if case == "loss":  # batch 4 overflows the logits to Inf: the loss is NaN
        model = pydl.Sequential([layers.Input((20,)), layers.Dense(16, activation="relu", kernel_initializer="ones"),
                                 layers.Dense(4, kernel_initializer="ones")], seed=3, device=device)
        x = np.abs(x)
        x[192:256] = 3e38
        callbacks = []
    else:  # step 4's learning rate makes the update Inf
        model = pydl.Sequential([layers.Input((20,)), layers.Dense(16, activation="relu"),
                                 layers.BatchNormalization(), layers.Dense(4)], seed=3, device=device)
        callbacks = [pydl.callbacks.LearningRateScheduler(pydl.schedules.StepDecay(1e-2, step_size=3, gamma=1e45))]
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy", metrics=["accuracy"])
    with pytest.raises(FloatingPointError) as err:
        model.fit(x, y, epochs=2, batch_size=64, verbose=0, seed=7, shuffle=False, callbacks=callbacks)
    return model, str(err.value)


@pytest.mark.parametrize("case", ["loss", "update"])
def test_a_queued_step_that_stops_training_leaves_the_last_finite_step(case):
    cpu, cpu_error = stopping_run("cpu", case)
    gpu, gpu_error = stopping_run("cuda", case)
    assert gpu_error == cpu_error and "batch 4 " in cpu_error
    assert gpu._trainer.step == cpu._trainer.step == 3
    assert gpu._trainer.learning_rate == cpu._trainer.learning_rate
    for a, b in zip(gpu.get_weights() + gpu.optimizer.variables(), cpu.get_weights() + cpu.optimizer.variables(),
                    strict=True):
        np.testing.assert_allclose(a, b, atol=STEPS_ATOL, rtol=STEPS_RTOL)


def test_a_queued_embedding_id_out_of_range_raises_as_on_the_cpu():
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 9, size=(40, 6)).astype(np.float32)
    ids[21, 4] = 9  # the third batch of 8 rows, flat position 34 (vocab 9)
    labels = ids.astype(np.int64) % 3
    runs = []
    for device in ("cpu", "cuda"):
        inp = pydl.Input((6,))
        out = layers.Dense(3)(layers.LSTM(5, return_sequences=True)(layers.Embedding(9, 4, mask_zero=True)(inp)))
        model = pydl.Model(inputs=inp, outputs=out, seed=4, device=device)
        model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy")
        with pytest.raises(ValueError, match="at flat position 34 is not an integer in") as err:
            model.fit(ids, labels, epochs=1, batch_size=8, verbose=0, seed=2, shuffle=False)
        runs.append((str(err.value), model._trainer.step, model.get_weights()))
    assert runs[1][0] == runs[0][0] and runs[1][1] == runs[0][1] == 2
    for a, b in zip(runs[1][2], runs[0][2], strict=True):
        np.testing.assert_allclose(a, b, atol=STEPS_ATOL, rtol=STEPS_RTOL)


def test_a_loaders_augmentation_on_the_gpu_matches_the_cpu():
    # The loader leaves its pipeline to the device (cuda/augment.cu) with the same keys.
    rng = np.random.default_rng(10)
    x = rng.normal(size=(128, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6, :6, 0].mean(axis=(1, 2)) > 0).astype(np.int64)
    transform = pydl.data.Compose([pydl.data.RandomFlip("horizontal"), pydl.data.RandomCrop(10),
                                   pydl.data.RandomRotation(15)])
    runs = []
    for device in ("cpu", "cuda"):
        model = pydl.Sequential([layers.Input((10, 10, 1)), layers.Flatten(), layers.Dense(16, activation="relu"),
                                 layers.Dense(2)], seed=4, device=device)
        model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="cross_entropy")
        loader = pydl.DataLoader(pydl.ArrayDataset(x, y), batch_size=32, shuffle=True, seed=3, transform=transform)
        runs.append((model.fit(loader, epochs=2, verbose=0).history["loss"], model.get_weights()))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=LOSS_RTOL)
    for a, b in zip(runs[1][1], runs[0][1], strict=True):
        np.testing.assert_allclose(a, b, atol=STEPS_ATOL, rtol=STEPS_RTOL)
