"""One rank of the data-parallel tests (tests/test_distributed.py runs it under mpiexec, with
a working directory outside the repository). ``python distributed_worker.py SCENARIO OUT``
writes this rank's results to OUT/rank<r>.npz (and OUT/rank<r>.json); the test compares
them with a single-process fit made by the same ``build`` and ``data`` functions.

The model has a Dropout layer and the data sample weights, with sizes that leave uneven
shares (53 samples, batches of 8: the last batch has 5 rows; 3 ranks take 3/3/2 and 2/2/1),
so equality with one process needs the exact weighting and the global dropout masks.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

import pydl
from pydl import callbacks, layers
from pydl import distributed as dist

N, FEATURES, CLASSES, BATCH = 53, 6, 3, 8


def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, FEATURES)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1.0).astype(np.int64)
    w = rng.uniform(0.2, 2.0, size=N).astype(np.float32)
    return x, y, w


def build(hidden=16):
    model = pydl.Sequential([layers.Input((FEATURES,)), layers.Dense(hidden, activation="relu"), layers.Dropout(0.25),
                             layers.Dense(CLASSES)], seed=3)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    return model


def fit(model, epochs, **kw):
    x, y, w = data()
    return model.fit(x, y, epochs=epochs, batch_size=BATCH, sample_weight=w, verbose=0, seed=11,
                     validation_data=(x[:20], y[:20]), **kw)


BN_N, BN_BATCH = 50, 16  # batches of 16, 16, 16, 2: 3 ranks take 1/1/0 of the last


def bn_data():
    rng = np.random.default_rng(5)
    x = rng.normal(1.0, 2.0, size=(BN_N, 5, 5, 2)).astype(np.float32)
    y = (x[:, :, :, 0].mean(axis=(1, 2)) > 1.0).astype(np.int64) + (x[:, 0, 0, 1] > 2.0).astype(np.int64)
    return x, y


def build_bn(synchronized):
    """Two BatchNormalizations: over a convolution's channels (every pixel a row) and over
    dense features. No bias before them: the batch mean removes it, so its gradient is
    rounding noise, which Adam would scale up to full steps."""
    model = pydl.Sequential([layers.Input((5, 5, 2)), layers.Conv2D(3, 3, padding="same", use_bias=False),
                             layers.BatchNormalization(momentum=0.5, synchronized=synchronized),
                             layers.Activation("relu"), layers.Flatten(), layers.Dense(8, use_bias=False),
                             layers.BatchNormalization(momentum=0.5, synchronized=synchronized),
                             layers.Activation("relu"), layers.Dense(CLASSES)], seed=4)
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    return model


def fit_bn(model, epochs=3, **kw):
    x, y = bn_data()
    return model.fit(x, y, epochs=epochs, batch_size=BN_BATCH, verbose=0, seed=2, **kw)


def loader():
    """The worker's data through a DataLoader (global batches of BATCH, shuffled by its seed)."""
    x, y, _ = data()
    return pydl.DataLoader(pydl.ArrayDataset(x, y), batch_size=BATCH, shuffle=True, seed=5)


def nan_data():
    """The worker's data with sample 13 near float32's largest value: finite (fit accepts
    it), but its activations overflow, so its loss is not. It lies in the second batch
    (rows 8..15, no shuffle), in rank 1's share with 2 ranks (rank 0 takes rows 8..11)."""
    x, y, _ = data()
    x = x.copy()
    x[13] = 3e38
    return x, y


class KillAt(callbacks.Callback):
    """SIGKILLs rank 1 at a batch of the second epoch (a rank dying mid-epoch). Every rank
    has it: batch callbacks must be alike on all ranks (fit checks their interval)."""
    batch_interval = 1

    def on_train_batch_end(self, batch, logs=None):
        if dist.rank() == 1 and self.model.epochs_trained == 1 and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)


class HangAt(callbacks.Callback):
    """Rank 1 stops answering at a batch of the second epoch (a hung rank)."""
    batch_interval = 1

    def on_train_batch_end(self, batch, logs=None):
        if dist.rank() == 1 and self.model.epochs_trained == 1 and batch == 2:
            time.sleep(120)


class RaiseAt(callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise ValueError("bad data on this rank")


def main(scenario: str, out: str) -> None:
    dist.init(timeout=float(os.environ.get("PYDL_TEST_TIMEOUT", "60")))
    r = dist.rank()
    result = {"rank": r, "size": dist.size(), "is_main": dist.is_main()}
    if scenario == "train":
        model = build()
        h = fit(model, 3, distributed=True, callbacks=[callbacks.CSVLogger(os.path.join(out, "log.csv"))])
        result["history"] = h.history
    elif scenario == "resume":
        ckpt = os.path.join(out, "ckpt.pydl")
        fit(build(), 2, distributed=True, callbacks=[callbacks.ModelCheckpoint(ckpt, monitor="loss")])
        model = build()
        h = fit(model, 4, distributed=True, resume_from=ckpt)
        result["history"] = h.history
    elif scenario == "early":
        model = build()
        # min_delta so large that no epoch improves: stops after patience + 1 epochs.
        stop = callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0)
        h = fit(model, 10, distributed=True, callbacks=[stop])
        result["history"] = h.history
    elif scenario == "batchnorm":
        for synchronized in (True, False):
            model = build_bn(synchronized)
            h = fit_bn(model, distributed=True)
            result[f"history_{synchronized}"] = h.history
            np.savez(os.path.join(out, f"rank{r}_bn_{synchronized}.npz"), *model.get_weights())
    elif scenario == "loader":
        model = build()
        h = model.fit(loader(), epochs=2, verbose=0, seed=11, distributed=True)
        result["history"] = h.history
    elif scenario == "nan":
        x, y = nan_data()
        try:
            build().fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0, distributed=True)
        except Exception as e:  # noqa: BLE001
            result["error"] = f"{type(e).__name__}: {e}"
    elif scenario == "kill":
        model = build()
        fit(model, 4, distributed=True, callbacks=[KillAt()])
    elif scenario == "hang":
        model = build()
        fit(model, 4, distributed=True, callbacks=[HangAt()])
    elif scenario == "raise":
        model = build()
        try:
            fit(model, 4, distributed=True, callbacks=[RaiseAt()] if r == 1 else [])
        except Exception as e:  # noqa: BLE001  (what each rank raised is the result)
            result["error"] = f"{type(e).__name__}: {e}"
    elif scenario == "mismatch":
        model = build(hidden=16 if r == 0 else 17)
        try:
            fit(model, 1, distributed=True)
        except Exception as e:  # noqa: BLE001
            result["error"] = f"{type(e).__name__}: {e}"
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    if scenario in ("train", "resume", "early", "loader"):
        np.savez(os.path.join(out, f"rank{r}.npz"), *model.get_weights())
    with open(os.path.join(out, f"rank{r}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
