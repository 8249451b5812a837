"""CNN benchmark cases shared by bench_cnn.py and report.py (issue: convolutional networks).

The net: input 28x28x1; Conv(32,3,same)-ReLU-MaxPool2 -> Conv(64,3,same)-ReLU-MaxPool2 ->
Flatten -> Dense(128)-ReLU -> Dense(10); Adam. pydl runs channels-last (N, H, W, C), PyTorch
its default NCHW. Each ``*_case`` returns a zero-argument function doing one unit of work."""
import numpy as np

import pydl
from .dense import torch_epoch
from pydl import layers, optimizers
from pydl._core import kernels

TRAIN_SAMPLES, TRAIN_BATCH = 2048, 64
INFER_SAMPLES, INFER_BATCH = 2048, 256
LR = 1e-3
# (name, input (H, W, C), filters) of the two conv layers, as in the net
CONV_LAYERS = [("conv1 28x28x1->32", (28, 28, 1), 32), ("conv2 14x14x32->64", (14, 14, 32), 64)]


def images(n, shape=(28, 28, 1), seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, 10, size=n).astype(np.int64)


def pydl_cnn(seed=0):
    model = pydl.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPool2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPool2D(),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10)], seed=seed)
    model.compile(optimizer=optimizers.Adam(learning_rate=LR), loss="cross_entropy")
    return model


def torch_cnn(torch, seed=0):
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def pydl_train_case(make_model=None):
    """One training epoch of TRAIN_SAMPLES images (the plain CNN unless make_model is given)."""
    x, y = images(TRAIN_SAMPLES)
    model = (make_model or pydl_cnn)()
    return lambda: model.fit(x, y, epochs=1, batch_size=TRAIN_BATCH, shuffle=True, verbose=0)


def torch_train_case(torch, make_model=None):
    x, y = images(TRAIN_SAMPLES)
    return torch_epoch(torch, (make_model or torch_cnn)(torch), x.transpose(0, 3, 1, 2), y, TRAIN_BATCH, LR)


def pydl_infer_case():
    x, _ = images(INFER_SAMPLES)
    model = pydl_cnn()
    model.predict(x[:INFER_BATCH], batch_size=INFER_BATCH)
    return lambda: model.predict(x, batch_size=INFER_BATCH)


def torch_infer_case(torch):
    x, _ = images(INFER_SAMPLES)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    model = torch_cnn(torch).eval()

    def infer():
        with torch.inference_mode():
            return [model(xb) for xb in xt.split(INFER_BATCH)]
    return infer


def pydl_conv_case(shape, filters, batch=TRAIN_BATCH):
    """One conv layer (3x3, same, bias), forward + backward (input, kernel, bias gradients)."""
    x, _ = images(batch, shape)
    k = np.random.default_rng(2).standard_normal((3, 3, shape[2], filters)).astype(np.float32) * 0.1
    b = np.zeros(filters, np.float32)

    def step():
        y = kernels.conv2d_forward(x, k, b, (1, 1), "same")
        return kernels.conv2d_backward(y, x, k, (1, 1), "same")
    return step


def torch_conv_case(torch, shape, filters, batch=TRAIN_BATCH):
    x, _ = images(batch, shape)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
    conv = torch.nn.Conv2d(shape[2], filters, 3, padding=1)

    def step():
        y = conv(xt)
        y.backward(y.detach())
    return step


# The residual CNN (functional model): Conv(32)-ReLU -> [Conv(32)-ReLU -> Conv(32)] + skip ->
# ReLU -> MaxPool2 -> Conv(64)-ReLU -> MaxPool2 -> Flatten -> Dense(10); Adam, batch 64.
def pydl_resnet(seed=0):
    inp = pydl.Input((28, 28, 1))
    a = layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    b = layers.Conv2D(32, 3, padding="same")(layers.Conv2D(32, 3, padding="same", activation="relu")(a))
    h = layers.MaxPool2D()(layers.Activation("relu")(layers.Add()([a, b])))
    h = layers.MaxPool2D()(layers.Conv2D(64, 3, padding="same", activation="relu")(h))
    model = pydl.Model(inp, layers.Dense(10)(layers.Flatten()(h)), seed=seed)
    model.compile(optimizer=optimizers.Adam(learning_rate=LR), loss="cross_entropy")
    return model


def torch_resnet(torch, seed=0):
    torch.manual_seed(seed)
    nn = torch.nn

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 32, 3, padding=1)
            self.b1, self.b2 = nn.Conv2d(32, 32, 3, padding=1), nn.Conv2d(32, 32, 3, padding=1)
            self.c = nn.Conv2d(32, 64, 3, padding=1)
            self.out = nn.Linear(64 * 7 * 7, 10)

        def forward(self, x):
            a = torch.relu(self.a(x))
            h = torch.max_pool2d(torch.relu(a + self.b2(torch.relu(self.b1(a)))), 2)
            h = torch.max_pool2d(torch.relu(self.c(h)), 2)
            return self.out(h.flatten(1))

    return ResNet()


def pydl_resnet_train_case():
    return pydl_train_case(pydl_resnet)


def torch_resnet_train_case(torch):
    return torch_train_case(torch, torch_resnet)
