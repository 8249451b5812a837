"""Fuzz target: the kernel bindings (pydl._core.kernels) and the augmentation kernel
(_core.augment through pydl.augmentation), called with random shapes and arguments.

The bindings read raw pointers, so every size must be checked before a kernel runs. Array
shapes are drawn from a small pool of dimensions per input, so that inputs often agree (and
reach the kernels) and often disagree by one axis (and must be refused). Integer arguments
(strides, pool sizes, x_shape, seeds, steps) are sometimes anything in int64.
"""
import inspect
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

if __name__ == "__main__":
    _common.main(__file__)

import numpy as np  # noqa: E402
from pydl import augmentation  # noqa: E402
from pydl._core import kernels as K  # noqa: E402

MAX_VALUES = 1 << 14   # arrays up to this many values are real
HUGE_VALUES = 1 << 44  # arrays this big are zero-stride views: their copy must fail cleanly
ACTIVATIONS = ("linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "elu")
LOSS_KINDS = ("cross_entropy", "binary_cross_entropy", "mse", "mae", "hinge")
POOL_KINDS = ("max", "avg", "sum")
CELLS = ("lstm", "gru", "simple_rnn", "rnn")
PADDINGS = ("valid", "same", "full")


class Skip(Exception):
    """The input asks for an array too big to make but not big enough to be refused."""


class Args:
    def __init__(self, b):
        self.b = b
        self.pool = [abs(b.size(0, 6)) for _ in range(4)]  # huge ones end up in zero-size arrays
        self.dtype = b.pick((np.float32, np.float64, np.float32, np.float64, np.float16, np.int32))
        self.rng = np.random.default_rng(b.uint(2))

    def shape(self, rank=None):
        b = self.b
        rank = b.int_in(0, 4) if rank is None else rank
        return tuple(self.pool[b.int_in(0, 3)] if b.chance(248) else b.int_in(0, 6) for _ in range(rank))

    def array(self, rank=None, dtype=None, kind="float"):
        shape = self.shape(rank)
        dtype = dtype or self.dtype
        n = math.prod(shape)
        if n > MAX_VALUES:
            if n < HUGE_VALUES or n >= 1 << 62:
                raise Skip
            return np.broadcast_to(np.zeros((), dtype), shape)
        if n == 0:
            try:
                return np.zeros(shape, dtype)  # any dims besides the zero one, if numpy can
            except (ValueError, MemoryError):
                raise Skip from None
        if kind == "index":
            hi = max(1, self.pool[0] * max(1, self.pool[1]))
            return self.rng.integers(-1 if self.b.chance(16) else 0, hi + (1 if self.b.chance(16) else 0),
                                     size=shape, dtype=np.int64).astype(dtype)
        if kind == "mask":
            return self.rng.integers(0, 2, size=shape).astype(np.uint8)
        x = self.rng.standard_normal(shape)
        if self.b.chance(16) and x.size:
            x.flat[self.b.int_in(0, x.size - 1)] = self.b.pick((np.nan, np.inf, -np.inf, 1e38))
        return x.astype(dtype)

    def opt(self, rank=None, **kw):
        return None if self.b.chance(64) else self.array(rank, **kw)

    def pair(self):
        b = self.b
        return (b.size(1, 3), b.size(1, 3))

    def padding(self):
        b = self.b
        return b.pick((*PADDINGS, b.size(0, 2), (b.size(0, 2), b.size(0, 2))))


def _optimizer_config(a):
    b = a.b
    cfg = {"kind": b.pick(("sgd", "adam", "adamw", "rmsprop"))}
    for key in ("learning_rate", "momentum", "beta_1", "beta_2", "epsilon", "weight_decay", "clipnorm"):
        if b.bool():
            cfg[key] = b.float()
    if b.chance(32):
        cfg["nesterov"] = b.bool()
    if b.chance(8):
        del cfg["kind"]
    return cfg


CALLS = {
    "accuracy_count": lambda a: K.accuracy_count(a.array(2), a.opt(1, dtype=np.int32, kind="index"),
                                                 a.opt(2), a.b.pick(LOSS_KINDS)),
    "activation_forward": lambda a: K.activation_forward(a.array(), a.b.pick(ACTIVATIONS)),
    "activation_backward": lambda a: K.activation_backward(a.array(), a.array(), a.array(), a.b.pick(ACTIVATIONS)),
    "batchnorm_forward": lambda a: K.batchnorm_forward(a.array(), a.array(1), a.array(1), a.array(1), a.array(1),
                                                       a.b.bool(), a.b.float(), a.b.float()),
    "batchnorm_backward": lambda a: K.batchnorm_backward(a.array(), a.array(), a.array(1),
                                                         a.array(dtype=np.float64), a.array(1), a.array(1),
                                                         a.b.bool(), a.b.float()),
    "clip_by_global_norm": lambda a: K.clip_by_global_norm(a.array(), a.b.float()),
    "conv2d_forward": lambda a: K.conv2d_forward(a.array(4), a.array(4), a.opt(1), a.pair(), a.padding(), a.pair(),
                                                 a.b.pick(ACTIVATIONS)),
    "conv2d_backward": lambda a: K.conv2d_backward(a.array(4), a.array(4), a.array(4), a.pair(), a.padding(),
                                                   a.pair(), a.b.bool()),
    "dense_forward": lambda a: K.dense_forward(a.array(2), a.array(2), a.opt(1), a.b.pick(ACTIVATIONS), a.b.bool()),
    "dense_backward": lambda a: K.dense_backward(a.array(2), a.array(2), a.array(2), a.array(2), a.opt(2),
                                                 a.b.pick(ACTIVATIONS), a.b.bool(), a.b.bool(), a.opt(2), a.opt(1)),
    "dropout_forward": lambda a: K.dropout_forward(a.array(), a.b.float(), a.b.uint(8), a.b.size(0, 3),
                                                   a.b.size(0, 3)),
    "dropout_backward": lambda a: K.dropout_backward(a.array(), a.array(kind="mask", dtype=np.uint8), a.b.float()),
    "gemm": lambda a: K.gemm(a.array(2), a.array(2), a.b.bool(), a.b.bool(), a.b.float(), a.b.float(), a.opt(2),
                             a.opt(1), a.b.pick(ACTIVATIONS)),
    "global_norm": lambda a: K.global_norm(a.array()),
    "global_pool_forward": lambda a: K.global_pool_forward(a.array(4), a.b.pick(POOL_KINDS)),
    "global_pool_backward": lambda a: K.global_pool_backward(a.array(2), a.array(2, dtype=np.int32, kind="index"),
                                                             [a.b.size(0, 6) for _ in range(a.b.int_in(3, 5))],
                                                             a.b.pick(POOL_KINDS)),
    "layernorm_forward": lambda a: K.layernorm_forward(a.array(), a.array(1), a.array(1), a.b.float()),
    "layernorm_backward": lambda a: K.layernorm_backward(a.array(), a.array(), a.array(1), a.array(dtype=np.float64)),
    "loss": lambda a: K.loss(a.array(2), a.opt(1, dtype=np.int32, kind="index"), a.opt(2), a.b.pick(LOSS_KINDS),
                             a.opt(1), a.b.float()),
    "optimizer_step": lambda a: K.optimizer_step(a.array(1), a.array(1), a.opt(1), a.opt(1), _optimizer_config(a),
                                                 a.b.size(0, 3)),
    "pool2d_forward": lambda a: K.pool2d_forward(a.array(4), a.b.pick(POOL_KINDS), a.pair(),
                                                 None if a.b.bool() else a.pair(), a.b.pick(PADDINGS)),
    "pool2d_backward": lambda a: K.pool2d_backward(a.array(4), a.array(4, dtype=np.int32, kind="index"),
                                                   [a.b.size(0, 6) for _ in range(a.b.int_in(3, 5))],
                                                   a.b.pick(POOL_KINDS), a.pair(), None if a.b.bool() else a.pair(),
                                                   a.b.pick(PADDINGS)),
    "rnn_forward": lambda a: K.rnn_forward(a.array(3), a.array(2), a.array(2), a.opt(), a.b.pick(CELLS),
                                           a.b.pick(ACTIVATIONS), a.b.bool(), a.b.bool(),
                                           a.opt(2, dtype=np.uint8, kind="mask"), a.opt(2), a.opt(2)),
    "rnn_backward": lambda a: K.rnn_backward(a.array(), a.array(3), a.array(2), a.array(2), a.opt(),
                                             a.b.pick(CELLS), a.b.pick(ACTIVATIONS), a.b.bool(), a.b.bool(),
                                             a.opt(2, dtype=np.uint8, kind="mask"), a.array()),
}

TRANSFORMS = _common.StableTable(
    ("CenterCrop", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation", "RandomZoom",
     "Resize"),
    [c for c in vars(augmentation).values()
     if inspect.isclass(c) and issubclass(c, augmentation.Transform)
     and c not in (augmentation.Transform, augmentation.Compose) and not c.__name__.startswith("_")])


def _transform(a):
    """An augmentation transform with arguments generated from its signature."""
    b = a.b
    cls = b.pick_stable(TRANSFORMS)
    kwargs = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or (p.default is not p.empty and b.chance(64)):
            continue
        d = None if p.default is p.empty else p.default
        if isinstance(d, bool):
            kwargs[p.name] = b.bool()
        elif isinstance(d, str):
            kwargs[p.name] = d if b.chance(224) else b.pick(("horizontal", "vertical", "horizontal_and_vertical",
                                                              "nearest", "bilinear", "x"))
        elif isinstance(d, float):
            kwargs[p.name] = b.float()
        elif isinstance(d, (tuple, list)):
            kwargs[p.name] = tuple(b.float() if isinstance(v, float) else b.size(0, 8) for v in d)
        else:
            kwargs[p.name] = b.size(1, 8) if b.bool() else (b.size(1, 8), b.size(1, 8))
    return cls(**kwargs)


def _augment(a):
    b = a.b
    transforms = [_transform(a) for _ in range(b.int_in(1, 3))]
    x = a.array(4, dtype=np.float32)
    # Resizes and crops to tens of thousands of pixels a side are valid requests that would
    # make gigabytes of output (the core refuses only what exceeds the machine's memory): the
    # fuzzer skips them, as it skips arrays too big to make.
    n = x.shape[0] if x.ndim else 1
    for t in transforms:
        hw = [getattr(t, k, 1) for k in ("height", "width")]
        if all(isinstance(v, int) for v in hw) and n * hw[0] * hw[1] * (x.shape[-1] if x.ndim else 1) > MAX_VALUES * 64:
            raise Skip
    return augmentation.Compose(transforms)(x, seed=b.uint(8))


CALLS["augment"] = _augment
NAMES = sorted(CALLS)


def test_one_input(data: bytes) -> None:
    b = _common.Bytes(data)
    name = NAMES[b.u8() % len(NAMES)]
    try:
        CALLS[name](Args(b))
    except (Skip, *_common.DOCUMENTED):
        pass
