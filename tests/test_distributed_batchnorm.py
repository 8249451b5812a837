"""BatchNormalization(synchronized=True) in data-parallel training: under mpiexec -n 2 and
-n 3 (uneven shares; the last batch of 2 rows leaves the third rank none) the weights, the
moving statistics included, equal those of a single-process fit of the same global
batches; synchronized=False keeps per-rank statistics, which differ across ranks and from
the single process. Without a distributed fit synchronized=True is the same computation as
False, and the flag is saved with the model.

The worker is tests/distributed_worker.py (scenario "batchnorm"); the launcher is
test_distributed's."""
import numpy as np
import pytest

import pydl
from pydl import layers

import distributed_worker as worker
from test_distributed import assert_weights_close, launch, needs_mpi, rank_results


def load(path):
    z = np.load(path)
    return [z[f"arr_{i}"] for i in range(len(z.files))]


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_synchronized_statistics_give_the_single_process_weights(n, tmp_path):
    proc, _ = launch(n, "batchnorm", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results, _ = rank_results(tmp_path, n)
    ref = worker.build_bn(False)  # one process: BatchNormalization over the whole batch
    ref_h = worker.fit_bn(ref).history
    ref_w = ref.get_weights()
    # get_weights: conv kernel, BN gamma, beta, moving mean, moving variance, dense kernel,
    # BN (the same four), dense kernel, bias
    assert len(ref_w) == 12
    stats = [3, 4, 8, 9]
    assert all(w.shape == (c,) for w, c in zip([ref_w[i] for i in stats], [3, 3, 8, 8]))
    sync = [load(tmp_path / f"rank{r}_bn_True.npz") for r in range(n)]
    local = [load(tmp_path / f"rank{r}_bn_False.npz") for r in range(n)]
    for w in sync:
        assert_weights_close(ref_w, w)  # moving statistics included
    for r in results:
        np.testing.assert_allclose(r["history_True"]["loss"], ref_h["loss"], rtol=1e-5)
    # Per-rank statistics: the trained weights are still the same on every rank (one summed
    # gradient), but the model is not the single process's, and each rank's moving
    # statistics are those of its own shares.
    assert len(local) == n
    deviation = max(float(np.max(np.abs(a - b))) for a, b in zip(ref_w, local[0]))
    assert deviation > 1e-3
    trained = [i for i in range(len(ref_w)) if i not in stats]
    for w in local[1:]:
        assert all(np.array_equal(local[0][i], w[i]) for i in trained)
        assert max(float(np.max(np.abs(local[0][i] - w[i]))) for i in stats) > 1e-3


def test_synchronized_without_a_distributed_fit_is_the_same_computation():
    a, b = worker.build_bn(True), worker.build_bn(False)
    ha, hb = worker.fit_bn(a, epochs=2).history, worker.fit_bn(b, epochs=2).history
    assert ha == hb
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb) == 12
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    x, _ = worker.bn_data()
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_synchronized_is_saved_with_the_model(tmp_path):
    model = worker.build_bn(True)
    worker.fit_bn(model, epochs=1)
    path = str(tmp_path / "m.pydl")
    model.save(path)
    loaded = pydl.load_model(path)
    norms = [layer for layer in loaded.layers if isinstance(layer, layers.BatchNormalization)]
    assert [layer.synchronized for layer in norms] == [True, True]
    assert layers.BatchNormalization().synchronized is False
    x, _ = worker.bn_data()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_synchronized_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="BatchNormalization.*synchronized.*True or False"):
        layers.BatchNormalization(synchronized=bad)
