"""The kernel bindings (pydl._core.kernels) read raw pointers: arrays of the wrong size or
rank must raise ValueError naming the input, never read out of bounds."""
import numpy as np
import pytest

from pydl._core import kernels as k

X = np.ones((4, 5))
IMG = np.ones((2, 6, 6, 3))


@pytest.mark.parametrize("call,match", [
    (lambda: k.activation_backward(X, np.ones((4, 4)), X, "relu"), "activation_backward x"),
    (lambda: k.dense_backward(np.ones((4, 2)), X, np.ones((6, 3)), np.ones((4, 3))), "expected x"),
    (lambda: k.dense_backward(np.ones((4, 2)), X, np.ones((5, 3)), np.ones((4, 3))), "dense_backward dy"),
    (lambda: k.dense_backward(np.ones((4, 3)), X, np.ones((5, 3)), np.ones((4, 3)), None, "gelu"), "needs z"),
    (lambda: k.conv2d_backward(np.ones((2, 4, 4, 2)), np.ones((6, 6)), np.ones((3, 3, 3, 2))), "rank 4"),
    (lambda: k.conv2d_backward(np.ones((2, 4, 4, 3)), IMG, np.ones((3, 3, 3, 2))), "dy"),
    (lambda: k.pool2d_backward(np.ones((2, 3, 3, 3)), np.full((2, 3, 3, 3), 10 ** 6, np.int32), [2, 6, 6, 3], "max"),
     "out of range"),
    (lambda: k.pool2d_backward(np.ones((2, 3, 3, 3)), np.zeros(5, np.int32), [2, 6, 6, 3], "max"), "argmax"),
    (lambda: k.pool2d_backward(np.ones((2, 3, 3, 3)), np.zeros(5, np.int32), [6, 6, 3], "max"), "x_shape"),
    (lambda: k.global_pool_backward(np.ones((2, 3)), np.full((2, 3), -1, np.int32), [2, 6, 6, 3], "max"),
     "out of range"),
    (lambda: k.batchnorm_forward(IMG, np.ones(2), np.ones(3), np.zeros(3), np.ones(3), True), "parameters"),
    (lambda: k.batchnorm_backward(IMG, IMG, np.ones(3), np.zeros((2, 2)), np.zeros(3), np.ones(3), True), "stats"),
    (lambda: k.layernorm_forward(X, np.ones(4), np.ones(5)), "gamma"),
    (lambda: k.layernorm_backward(X, X, np.ones(5), np.zeros((2, 3))), "stats"),
    (lambda: k.rnn_forward(np.ones((2, 3, 4)), np.ones((4, 8)), np.ones((2, 8)), np.ones(5)), "rnn bias"),
    (lambda: k.rnn_forward(np.ones((2, 3, 4)), np.ones((4, 8)), np.ones((2, 8)), None, mask=np.ones(5, np.uint8)),
     "rnn mask"),
    (lambda: k.rnn_forward(np.ones((2, 3, 4)), np.ones((4, 8)), np.ones((2, 8)), None, h0=np.ones(3)), "rnn h0"),
    (lambda: k.accuracy_count(X, np.array([0, 1, 9, 2], np.int32)), "out of range"),
    (lambda: k.accuracy_count(X, np.array([0, 1], np.int32)), "labels"),
])
def test_bad_kernel_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_rnn_backward_checks_dy():
    x = np.ones((2, 3, 4))
    y, ws = k.rnn_forward(x, np.ones((4, 8)), np.ones((2, 8)), None, "lstm")
    with pytest.raises(ValueError, match="dy"):
        k.rnn_backward(np.ones((2, 5)), x, np.ones((4, 8)), np.ones((2, 8)), None, "lstm", "tanh", False, False,
                       None, ws)
