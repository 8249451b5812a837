"""Sequence benchmark cases shared by bench_sequence.py and report.py (issue 13): a 2-block
Transformer encoder classifier (vocabulary 1000, D=128, 4 heads, feed-forward 256, T=64,
mean-pooled, batch 32) and a Conv1D text classifier (Embedding 1000x128, Conv1D(128, 5) relu,
GlobalMaxPool1D, Dense(2)), one Adam epoch each, pydl against PyTorch eager; and Conv1D against
one GEMM of the same shape (what a dedicated 1-D kernel could at best reach)."""
import numpy as np

import pydl
from .dense import torch_epoch
from pydl import layers, optimizers

VOCAB, DIM, HEADS, FF, STEPS = 1000, 128, 4, 256, 64
SAMPLES, BATCH, LR = 1024, 32, 1e-3
CONV_FILTERS, CONV_KERNEL = 128, 5


def tokens(n=SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, VOCAB, (n, STEPS)).astype(np.int32), rng.integers(0, 2, n).astype(np.int64)


def pydl_encoder():
    ids = pydl.Input((STEPS,), dtype="int32")
    h = layers.Embedding(VOCAB, DIM)(ids)
    h = layers.Add()([h, layers.PositionEmbedding(STEPS)(h)])
    for _ in range(2):
        h = layers.TransformerEncoder(FF, HEADS)(h)
    return pydl.Model(ids, layers.Dense(2)(layers.GlobalAvgPool1D()(h)), seed=0)


def pydl_conv():
    ids = pydl.Input((STEPS,), dtype="int32")
    h = layers.Conv1D(CONV_FILTERS, CONV_KERNEL, activation="relu")(layers.Embedding(VOCAB, DIM)(ids))
    return pydl.Model(ids, layers.Dense(2)(layers.GlobalMaxPool1D()(h)), seed=0)


def pydl_train_case(kind):
    x, y = tokens()
    model = pydl_encoder() if kind == "encoder" else pydl_conv()
    model.compile(optimizer=optimizers.Adam(learning_rate=LR), loss="cross_entropy")
    return lambda: model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0)


def torch_train_case(torch, kind):
    """The same models in eager PyTorch (post-norm nn.TransformerEncoderLayer, batch_first)."""
    x, y = tokens()
    x = x.astype(np.int64)
    torch.manual_seed(0)
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.pos = nn.Embedding(VOCAB, DIM), nn.Parameter(torch.zeros(STEPS, DIM))
            layer = nn.TransformerEncoderLayer(DIM, HEADS, FF, dropout=0.0, batch_first=True)
            self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(DIM, 2)

        def forward(self, xb):
            return self.head(self.blocks(self.emb(xb) + self.pos).mean(1))

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(VOCAB, DIM)
            self.conv = nn.Conv1d(DIM, CONV_FILTERS, CONV_KERNEL)
            self.head = nn.Linear(CONV_FILTERS, 2)

        def forward(self, xb):
            h = torch.relu(self.conv(self.emb(xb).transpose(1, 2)))
            return self.head(h.amax(2))

    return torch_epoch(torch, Encoder() if kind == "encoder" else Conv(), x, y, BATCH, LR)


def conv1d_vs_gemm_cases(batch=BATCH):
    """(Conv1D forward, one GEMM (batch * T', k * C) x (k * C, F)): the GEMM is the im2col path's
    arithmetic without the column copy."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, STEPS, DIM), dtype=np.float32)
    model = pydl.Sequential([layers.Input((STEPS, DIM)), layers.Conv1D(CONV_FILTERS, CONV_KERNEL)], seed=0)
    model.predict(x, batch_size=batch)
    rows = batch * (STEPS - CONV_KERNEL + 1)
    a = rng.standard_normal((rows, CONV_KERNEL * DIM), dtype=np.float32)
    w = rng.standard_normal((CONV_KERNEL * DIM, CONV_FILTERS), dtype=np.float32)
    return (lambda: model.predict(x, batch_size=batch)), (lambda: pydl._core.kernels.gemm(a, w))
