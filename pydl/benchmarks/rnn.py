"""Recurrent benchmark cases shared by bench_rnn.py and report.py: T=32 steps of F=32
features, LSTM(128) or GRU(128), last state -> Dense(10), batch 64, Adam."""
import numpy as np

import pydl
from .dense import torch_epoch
from pydl import layers, optimizers

STEPS, FEATURES, UNITS = 32, 32, 128
SAMPLES, BATCH, LR = 2048, 64, 1e-3


def sequences(n=SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, STEPS, FEATURES), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def pydl_train_case(cell):
    x, y = sequences()
    layer = layers.LSTM(UNITS) if cell == "lstm" else layers.GRU(UNITS)
    model = pydl.Sequential([layers.Input((STEPS, FEATURES)), layer, layers.Dense(10)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=LR), loss="cross_entropy")
    return lambda: model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0)


def torch_train_case(torch, cell):
    x, y = sequences()
    torch.manual_seed(0)
    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn_cls(FEATURES, UNITS, batch_first=True)
            self.head = torch.nn.Linear(UNITS, 10)

        def forward(self, xb):
            out, _ = self.rnn(xb)
            return self.head(out[:, -1])

    return torch_epoch(torch, Net(), x, y, BATCH, LR)
