"""Slow, obvious numpy float64 references for every kernel (written once, here)."""
import math

import numpy as np

LEAKY_SLOPE = 0.01
_erf = np.vectorize(math.erf)


def act(x, name):
    x = np.asarray(x, dtype=np.float64)
    if name == "linear":
        return x.copy()
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.where(x > 0, x, LEAKY_SLOPE * x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "gelu":
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(name)


def dense(x, w, b, activation):
    z = x.astype(np.float64) @ w.astype(np.float64)
    if b is not None:
        z = z + b
    return act(z, activation)


def log_softmax(z):
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def cross_entropy(z, labels, class_weights=None, label_smoothing=0.0):
    """torch.nn.CrossEntropyLoss(weight, label_smoothing, reduction='mean'), written out."""
    n, c = z.shape
    lp = log_softmax(z)
    w = np.ones(c) if class_weights is None else np.asarray(class_weights, dtype=np.float64)
    wy = w[labels]
    nll = -lp[np.arange(n), labels]
    smooth = -(lp * w).sum(axis=1)
    return ((1 - label_smoothing) * (wy * nll).sum() + label_smoothing / c * smooth.sum()) / wy.sum()


def binary_cross_entropy(z, t, class_weights=None):
    z = z.astype(np.float64)
    t = t.astype(np.float64)
    l = -(t * np.log(1 / (1 + np.exp(-z))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-z))))
    w = np.ones_like(l) if class_weights is None else np.where(t > 0.5, class_weights[1], class_weights[0])
    return (w * l).sum() / w.sum()


def mse(z, t):
    return np.mean((z.astype(np.float64) - t) ** 2)


def mae(z, t):
    return np.mean(np.abs(z.astype(np.float64) - t))


def sgd(p, g, buf, lr, momentum=0.0, nesterov=False, weight_decay=0.0, first=False):
    """torch.optim.SGD's update (dampening 0). Returns new (p, buf)."""
    d = g + weight_decay * p
    if momentum:
        buf = d.copy() if first else momentum * buf + d
        d = d + momentum * buf if nesterov else buf
    return p - lr * d, buf


def adam(p, g, m, v, step, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    """torch.optim.Adam / AdamW update. Returns new (p, m, v)."""
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mhat = m / (1 - b1 ** step)
    vhat = v / (1 - b2 ** step)
    return p - lr * mhat / (np.sqrt(vhat) + eps), m, v


def clip_grad_norm(g, max_norm):
    """torch.nn.utils.clip_grad_norm_ over one flat vector."""
    norm = np.linalg.norm(g)
    coef = max_norm / (norm + 1e-6)
    return g * min(coef, 1.0), norm
