"""One model shared by threads: concurrent predict/evaluate are correct (each runs on a
replica with buffers of its own), and a fit beside anything else raises RuntimeError
instead of racing. Loaders are iterated by one thread at a time."""
import threading

import numpy as np
import pytest

import pydl
from pydl import callbacks, layers

from conftest import assert_weights_equal


def make_model(seed=0, compiled=True):
    model = pydl.Sequential([layers.Input((20,)), layers.Dense(64, activation="relu"),
                             layers.BatchNormalization(), layers.Dropout(0.3), layers.Dense(5)], seed=seed)
    if compiled:
        model.compile("adam", "cross_entropy", metrics=["accuracy", "f1"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 20)).astype(np.float32)
    y = (x[:, :5].argmax(axis=1)).astype(np.int64)
    return x, y


def run_threads(target, n):
    errors, threads = [], []

    def wrapped(i):
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001  (reported to the test)
            errors.append(e)

    for i in range(n):
        threads.append(threading.Thread(target=wrapped, args=(i,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_four_threads_predicting_with_varying_batch_sizes_equal_serial_results(data):
    x, y = data
    model = make_model()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    batch_sizes = [1, 7, 64, 300, 1000, 3000]
    # The serial reference for every batch size (the GEMM split depends on the shape, so each
    # batch size is compared with itself, bitwise).
    want = {b: model.predict(x, batch_size=b) for b in batch_sizes}
    assert len(want) == len(batch_sizes)
    made_before = model._graph.replicas_made
    results = [[] for _ in range(4)]

    def work(i):
        for r in range(12):
            b = batch_sizes[(i + r) % len(batch_sizes)]
            results[i].append((b, model.predict(x, batch_size=b)))

    assert run_threads(work, 4) == []
    for per_thread in results:
        assert len(per_thread) == 12
        for b, got in per_thread:
            assert got.shape == (3000, 5)
            np.testing.assert_array_equal(got, want[b])
    # The calls really overlapped: more than one replica had to be made.
    assert model._graph.replicas_made - made_before >= 2


def test_concurrent_evaluate_with_different_metrics_equal_serial(data):
    x, y = data
    model = make_model()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    asks = [["accuracy"], ["precision", "recall"], ["f1"], None]
    want = [model.evaluate(x, y, batch_size=100, metrics=m) for m in asks]
    got = [None] * 4

    def work(i):
        for _ in range(8):
            got[i] = model.evaluate(x, y, batch_size=100, metrics=asks[i])

    assert run_threads(work, 4) == []
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w


def blocking_fit(model, x, y, inside, release):
    """fit whose first epoch end waits until `release` is set; `inside` is set meanwhile."""

    class Block(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                inside.set()
                assert release.wait(30)

    return threading.Thread(target=lambda: model.fit(x, y, epochs=2, batch_size=100, verbose=0,
                                                     callbacks=[Block()]))


def test_fit_beside_fit_predict_evaluate_or_set_weights_raises_and_loses_no_step(data):
    x, y = data
    model = make_model()
    inside, release = threading.Event(), threading.Event()
    t = blocking_fit(model, x, y, inside, release)
    t.start()
    try:
        assert inside.wait(30)
        with pytest.raises(RuntimeError, match="being trained"):
            model.fit(x, y, epochs=1, verbose=0)
        with pytest.raises(RuntimeError, match="being trained"):
            model.predict(x)
        with pytest.raises(RuntimeError, match="being trained"):
            model.evaluate(x, y)
        with pytest.raises(RuntimeError, match="being trained"):
            model.set_weights(model._split(*model._buffers()))
    finally:
        release.set()
        t.join()
    # The refused calls changed nothing: the weights are those of a plain 2-epoch fit.
    ref = make_model()
    ref.fit(x, y, epochs=2, batch_size=100, verbose=0)
    assert model._trainer.step == ref._trainer.step == 2 * 30
    assert_weights_equal(model.get_weights(), ref.get_weights())


def test_fit_raises_while_another_thread_reads_the_model(data):
    x, y = data
    model = make_model()
    model.build()
    holding, release = threading.Event(), threading.Event()

    def reader():
        with model._graph.use("predict", False):  # the gate predict/evaluate hold
            holding.set()
            assert release.wait(30)

    t = threading.Thread(target=reader)
    t.start()
    try:
        assert holding.wait(30)
        before = model.get_weights()  # reading beside a reader is fine
        with pytest.raises(RuntimeError, match="predict/evaluate in another thread"):
            model.fit(x, y, epochs=1, verbose=0)
    finally:
        release.set()
        t.join()
    assert_weights_equal(model.get_weights(), before)
    model.fit(x, y, epochs=1, verbose=0)  # free again once the reader is done


def test_callbacks_of_a_fit_may_predict_and_evaluate_in_its_thread(data):
    x, y = data
    model = make_model()
    seen = []

    class Probe(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.model.predict(x[:10]).shape, self.model.evaluate(x, y)["accuracy"]))

    model.fit(x, y, epochs=2, verbose=0, callbacks=[Probe()])
    assert len(seen) == 2 and seen[0][0] == (10, 5)


def test_concurrent_first_use_builds_once(data):
    x, _ = data
    model = pydl.Sequential([layers.Dense(8), layers.Dense(3)], seed=0)
    graphs = []

    def work(i):
        model.predict(x[:50])
        graphs.append(model._graph)

    assert run_threads(work, 4) == []
    assert len(graphs) == 4 and all(g is graphs[0] for g in graphs)


def test_one_loader_iterated_by_two_threads_raises():
    x = np.arange(400, dtype=np.float32).reshape(100, 4)
    loader = pydl.DataLoader(pydl.ArrayDataset(x, np.zeros(100)), batch_size=10, seed=0)
    it = iter(loader)
    first = next(it)  # this thread now owns the epoch
    assert first[0].shape == (10, 4)
    errors = run_threads(lambda i: next(iter(loader)), 1)
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert "another thread" in str(errors[0])
    rest = list(it)  # the owner's epoch is intact
    assert len(rest) == 9
    seen = np.concatenate([first[0], *[b[0] for b in rest]])
    assert sorted(seen[:, 0].tolist()) == sorted(x[:, 0].tolist())
    # Once the epoch ended another thread may start one.
    assert run_threads(lambda i: list(iter(loader)), 1) == []
