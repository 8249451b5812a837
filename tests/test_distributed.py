"""Data-parallel training under mpiexec (the mpich wheel's, from this interpreter's bin
directory): 2 and 3 ranks over loopback give the weights of a single-process fit of the same
global batches (uneven shares, sample weights and dropout included), checkpoints of rank 0
resume, EarlyStopping stops every rank at once, a failing rank makes the others raise naming
its error, and a killed rank ends the job with an error within the timeout.

The worker (tests/distributed_worker.py) runs with a working directory outside the
repository, so it imports the installed pydl. These tests skip only when mpi4py cannot be
imported (pip install "pydl[mpi]")."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pydl
from pydl import callbacks

import distributed_worker as worker

HERE = Path(__file__).resolve().parent
needs_mpi = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None,
                               reason='mpi4py is not installed (pip install "pydl[mpi]")')


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    assert found, "mpi4py is importable but no mpiexec was found (the mpich wheel puts one beside python)"
    return found


def launch(n, scenario, out: Path, timeout=120, options=(), env=None):
    out.mkdir(parents=True, exist_ok=True)
    cmd = [mpiexec(), *options, "-n", str(n), sys.executable, str(HERE / "distributed_worker.py"), scenario, str(out)]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=out, env=full_env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - t0


def rank_results(out: Path, n):
    results, weights = [], []
    for r in range(n):
        results.append(json.loads((out / f"rank{r}.json").read_text()))
        path = out / f"rank{r}.npz"
        if path.exists():
            z = np.load(path)
            weights.append([z[f"arr_{i}"] for i in range(len(z.files))])
    return results, weights


def assert_weights_close(ref, got):
    assert len(ref) == len(got)
    for a, b in zip(ref, got):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def single_process(epochs, **kw):
    model = worker.build()
    history = worker.fit(model, epochs, **kw)
    return model.get_weights(), history.history


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_weights_equal_a_single_process_fit(n, tmp_path):
    proc, _ = launch(n, "train", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results, weights = rank_results(tmp_path, n)
    ref_w, ref_h = single_process(3)
    assert [r["rank"] for r in results] == list(range(n)) and all(r["size"] == n for r in results)
    assert [r["is_main"] for r in results] == [True] + [False] * (n - 1)
    assert len(weights) == n
    for w in weights:
        assert_weights_close(ref_w, w)
        # every rank applies the same summed gradient: identical weights, not only close
        assert all(np.array_equal(a, b) for a, b in zip(weights[0], w))
    for r in results:  # losses and metrics of the whole batch, on every rank
        assert sorted(r["history"]) == sorted(ref_h)
        for k in ref_h:
            np.testing.assert_allclose(r["history"][k], ref_h[k], rtol=1e-6)
    # only rank 0 wrote the CSV: a header and one row per epoch
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 1 + 3


def test_worker_model_differs_from_its_untrained_self():
    # The comparisons above can fail: training moves the weights well beyond their tolerance.
    trained, _ = single_process(3)
    fresh = worker.build().get_weights()
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(trained, fresh)) > 1e-3


@needs_mpi
def test_rank_zero_checkpoint_resumes_to_the_same_weights(tmp_path):
    proc, _ = launch(3, "resume", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results, weights = rank_results(tmp_path, 3)
    ref_w, ref_h = single_process(4)
    for r, w in zip(results, weights):
        assert_weights_close(ref_w, w)
        np.testing.assert_allclose(r["history"]["loss"], ref_h["loss"][2:], rtol=1e-6)
    # and a single process resumes from the distributed checkpoint too
    model = worker.build()
    worker.fit(model, 4, resume_from=str(tmp_path / "ckpt.pydl"))
    assert_weights_close(ref_w, model.get_weights())


@needs_mpi
def test_early_stopping_stops_every_rank_at_the_same_epoch(tmp_path):
    proc, _ = launch(2, "early", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results, weights = rank_results(tmp_path, 2)
    stop = callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0)
    ref_w, ref_h = single_process(10, callbacks=[stop])
    assert len(ref_h["loss"]) == 2
    for r, w in zip(results, weights):
        assert len(r["history"]["loss"]) == len(ref_h["loss"])
        assert_weights_close(ref_w, w)


@needs_mpi
def test_a_rank_that_raises_makes_the_others_raise_its_error(tmp_path):
    proc, elapsed = launch(2, "raise", tmp_path)
    results, _ = rank_results(tmp_path, 2)
    assert results[1]["error"] == "ValueError: bad data on this rank"
    assert results[0]["error"] == "DistributedError: rank 1 failed: ValueError: bad data on this rank"
    assert elapsed < 60


@needs_mpi
def test_different_models_are_refused_on_every_rank(tmp_path):
    proc, _ = launch(2, "mismatch", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results, _ = rank_results(tmp_path, 2)
    for r in results:
        assert r["error"].startswith("ValueError: fit(distributed=True): the models or fit arguments differ")
        assert "rank 1 has a different architecture than rank 0" in r["error"]


@needs_mpi
def test_a_killed_rank_ends_the_job_with_an_error(tmp_path):
    proc, elapsed = launch(2, "kill", tmp_path)
    assert proc.returncode != 0
    assert elapsed < 60


@needs_mpi
def test_the_watchdog_raises_when_a_rank_stops_answering(tmp_path):
    # Rank 1 sleeps in a callback mid-epoch: rank 0's wait must end at the timeout, with an
    # error naming it, and the job must exit with an error (not wait for the sleeper).
    proc, elapsed = launch(2, "hang", tmp_path, env={"PYDL_TEST_TIMEOUT": "5"})
    assert proc.returncode != 0
    assert "DistributedError: rank 0: no answer from the other ranks for 5 s" in proc.stdout + proc.stderr
    assert elapsed < 60


def test_fit_distributed_needs_init_and_a_bool():
    x, y, _ = worker.data()
    model = worker.build()
    with pytest.raises(TypeError, match="distributed must be True or False"):
        model.fit(x, y, distributed="yes", verbose=0)
    if pydl.distributed._job is None:
        with pytest.raises(RuntimeError, match="call pydl.distributed.init"):
            model.fit(x, y, distributed=True, verbose=0)
        with pytest.raises(RuntimeError, match="call pydl.distributed.init"):
            pydl.distributed.rank()


def test_init_checks_its_arguments_before_starting_mpi():
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
        pydl.distributed.init(timeout=0)
    with pytest.raises(ValueError, match="bucket_mb must be a number > 0"):
        pydl.distributed.init(bucket_mb=-1)
    assert "mpi4py.MPI" not in sys.modules  # this process never initialised MPI
