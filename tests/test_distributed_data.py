"""Data-parallel training from a DataLoader, and a non-finite loss on one rank: under
mpiexec, fit(loader, distributed=True) gives the weights of a single-process fit over the
same loader, and a batch whose loss only rank 1's share makes non-finite makes every rank
raise the error a single process raises for that batch (not hang, not train on).

The worker is tests/distributed_worker.py; the launcher is test_distributed's."""
import numpy as np
import pytest

import distributed_worker as worker
from test_distributed import assert_weights_close, launch, needs_mpi, rank_results


@needs_mpi
def test_a_loader_trains_as_in_one_process(tmp_path):
    proc, _ = launch(3, "loader", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results, weights = rank_results(tmp_path, 3)
    ref = worker.build()
    ref_h = ref.fit(worker.loader(), epochs=2, verbose=0, seed=11).history
    ref_w = ref.get_weights()
    assert len(weights) == 3
    for r, w in zip(results, weights):
        assert_weights_close(ref_w, w)
        np.testing.assert_allclose(r["history"]["loss"], ref_h["loss"], rtol=1e-6)
    fresh = worker.build().get_weights()  # the comparison can fail: training moved the weights
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(ref_w, fresh)) > 1e-3


@needs_mpi
def test_a_non_finite_loss_on_one_rank_stops_every_rank_with_the_same_error(tmp_path):
    proc, elapsed = launch(2, "nan", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results, _ = rank_results(tmp_path, 2)
    x, y = worker.nan_data()
    with pytest.raises(Exception) as single:
        worker.build().fit(x, y, epochs=1, batch_size=worker.BATCH, shuffle=False, verbose=0)
    expected = f"{type(single.value).__name__}: {single.value}"
    assert "batch 2" in expected and "NaN or Inf" in expected  # the batch holding the sample
    assert [r["error"] for r in results] == [expected, expected]
    assert elapsed < 60
