"""Importable build/objective functions for tuning tests (process pools and Dask workers
import them by name)."""
import numpy as np

import pydl
from pydl import layers, optimizers


def build_mlp(hp):
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(hp["units"], activation="relu"),
                             layers.Dropout(hp["dropout"]), layers.Dense(10)], seed=0)
    opt = optimizers.Adam(hp["learning_rate"]) if hp["optimizer"] == "adam" else \
        optimizers.SGD(hp["learning_rate"], momentum=0.9)
    model.compile(optimizer=opt, loss="cross_entropy", metrics=["accuracy"])
    return model


def quadratic(hp):
    return -(hp["x"] - 0.3) ** 2


def failing_sometimes(hp):
    if hp["x"] > 0.8:
        raise RuntimeError("diverged")
    return hp["x"]


def branin(hp):
    """Negated Branin (maximised); global maximum -0.397887 at three points."""
    x1, x2 = hp["x1"], hp["x2"]
    b, c, t = 5.1 / (4 * np.pi ** 2), 5 / np.pi, 1 / (8 * np.pi)
    return -((x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10)
