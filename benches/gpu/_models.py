"""The models of the GPU benches and the sanitizer run, for pydl and PyTorch: an MLP
(784-256-256-10), a CNN (28x28x1: conv32-pool-conv64-pool-dense128-10), an LSTM classifier
(T=32, 32 features, 128 units), a 2-block Transformer encoder (vocabulary 1000, D=128, 4 heads,
feed-forward 256, T=64, mean-pooled) and the tiny 10-64-64-2 MLP of the per-step time."""
import numpy as np

import pydl
from pydl import layers, optimizers

LR = 1e-3
VOCAB, DIM, HEADS, FF, TOKENS = 1000, 128, 4, 256, 64
STEPS, FEATURES, UNITS = 32, 32, 128
CASES = ("mlp", "cnn", "lstm", "transformer")


def data(case, n, seed=0):
    """(x, y) for n samples; x channels-last / batch-first as pydl takes it, y int64 labels."""
    rng = np.random.default_rng(seed)
    if case == "transformer":
        return rng.integers(1, VOCAB, (n, TOKENS)).astype(np.int32), rng.integers(0, 2, n).astype(np.int64)
    shape = {"mlp": (784,), "tiny": (10,), "cnn": (28, 28, 1), "lstm": (STEPS, FEATURES)}[case]
    classes = 2 if case == "tiny" else 10
    return rng.standard_normal((n, *shape), dtype=np.float32), rng.integers(0, classes, n).astype(np.int64)


def _placed(ctor, device, *args, **kwargs):
    """ctor(..., device=device); on the CPU also a pydl that predates Model(device=)."""
    if device == "cpu":
        try:
            return ctor(*args, device="cpu", **kwargs)
        except TypeError:
            return ctor(*args, **kwargs)
    return ctor(*args, device=device, **kwargs)


def pydl_model(case, device, seed=0):
    """The compiled pydl model (Adam, cross-entropy) placed on `device`."""
    if case == "transformer":
        ids = pydl.Input((TOKENS,), dtype="int32")
        h = layers.Embedding(VOCAB, DIM)(ids)
        h = layers.Add()([h, layers.PositionEmbedding(TOKENS)(h)])
        for _ in range(2):
            h = layers.TransformerEncoder(FF, HEADS)(h)
        model = _placed(pydl.Model, device, ids, layers.Dense(2)(layers.GlobalAvgPool1D()(h)), seed=seed)
    else:
        stack = {
            "mlp": lambda: [layers.Input((784,)), layers.Dense(256, activation="relu"),
                            layers.Dense(256, activation="relu"), layers.Dense(10)],
            "tiny": lambda: [layers.Input((10,)), layers.Dense(64, activation="relu"),
                             layers.Dense(64, activation="relu"), layers.Dense(2)],
            "cnn": lambda: [layers.Input((28, 28, 1)), layers.Conv2D(32, 3, padding="same", activation="relu"),
                            layers.MaxPool2D(), layers.Conv2D(64, 3, padding="same", activation="relu"),
                            layers.MaxPool2D(), layers.Flatten(), layers.Dense(128, activation="relu"),
                            layers.Dense(10)],
            "lstm": lambda: [layers.Input((STEPS, FEATURES)), layers.LSTM(UNITS), layers.Dense(10)],
        }[case]()
        model = _placed(pydl.Sequential, device, stack, seed=seed)
    model.compile(optimizer=optimizers.Adam(learning_rate=LR), loss="cross_entropy")
    return model


def torch_model(torch, case):
    """The same network in eager PyTorch (post-norm nn.TransformerEncoderLayer, batch_first)."""
    nn = torch.nn
    torch.manual_seed(0)
    if case in ("mlp", "tiny"):
        a, h, o = (784, 256, 10) if case == "mlp" else (10, 64, 2)
        return nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o))
    if case == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = nn.LSTM(FEATURES, UNITS, batch_first=True), nn.Linear(UNITS, 10)

        def forward(self, xb):
            return self.head(self.rnn(xb)[0][:, -1])

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.pos = nn.Embedding(VOCAB, DIM), nn.Parameter(torch.zeros(TOKENS, DIM))
            layer = nn.TransformerEncoderLayer(DIM, HEADS, FF, dropout=0.0, batch_first=True)
            self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(DIM, 2)

        def forward(self, xb):
            return self.head(self.blocks(self.emb(xb) + self.pos).mean(1))

    return Lstm() if case == "lstm" else Encoder()


def torch_inputs(torch, case, x, y, device):
    """x and y as torch tensors on `device` (NCHW images, int64 token ids)."""
    if case == "cnn":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if case == "transformer":
        x = x.astype(np.int64)
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
