"""pydl's low-level kernels on numpy arrays: the C++ code that training runs, one op at a time,
for benchmarking and testing kernels alone.

Every function takes float32 or float64 numpy arrays (all float inputs of one call in one
dtype; nothing is cast between the two) and returns new arrays of that dtype, except those
documented as updating an argument in place (``optimizer_step``, ``clip_by_global_norm``,
``batchnorm_forward``'s moving statistics in training), which need writable C-contiguous
arrays. Non-contiguous inputs are copied. A wrong dtype is a ``TypeError``; a wrong rank, shape
or option a ``ValueError`` naming the kernel, the argument and what was expected.

Layouts are pydl's (and Keras'): channels-last images ``(N, H, W, C)`` and sequences
``(N, T, C)``, Dense kernels ``(in, units)``, Conv2D kernels ``(kh, kw, C, filters)``,
recurrent weights with the gates side by side, attention ``(N, T, heads, features)``.
A ``*_backward`` kernel takes ``d loss / d output`` and returns the gradients of the inputs
and parameters; the parameter gradients of a linear layer do not include the activation
(call ``activation_backward`` first), as the layers do.

Kernels run on pydl's threads (``pydl.set_num_threads``) with the GIL held, except ``gemm``
and the attention kernels, which release it. Results are bitwise reproducible for a fixed
thread count.

Example:
    ```python
    import numpy as np
    from pydl import kernels

    a = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((32, 16)).astype(np.float32)
    c = kernels.gemm(a, b, activation="relu")      # relu(a @ b), float32 (64, 16)
    assert np.allclose(c, np.maximum(a @ b, 0), atol=1e-5)
    ```
"""
from ._attention import attention_backward, attention_forward
from ._conv import (conv1d_backward, conv1d_forward, conv2d_backward, conv2d_forward, global_pool_backward,
                    global_pool_forward, pool1d_backward, pool1d_forward, pool2d_backward, pool2d_forward)
from ._device import on_device
from ._dense import (activation_backward, activation_forward, dense_backward, dense_forward, dropout_backward,
                     dropout_forward, gemm)
from ._losses import accuracy_count, loss
from ._merge import (concat_backward, concat_forward, embedding_backward, embedding_forward, merge_backward,
                     merge_forward)
from ._norm import (batchnorm_backward, batchnorm_forward, layernorm_backward, layernorm_forward,
                    normalization_backward, normalization_forward)
from ._optim import clip_by_global_norm, global_norm, optimizer_slots, optimizer_step
from ._recurrent import bidirectional_merge_backward, bidirectional_merge_forward, rnn_backward, rnn_forward

__all__ = ["on_device", "gemm", "activation_forward", "activation_backward", "dense_forward", "dense_backward",
           "dropout_forward", "dropout_backward",
           "conv2d_forward", "conv2d_backward", "conv1d_forward", "conv1d_backward",
           "pool2d_forward", "pool2d_backward", "pool1d_forward", "pool1d_backward",
           "global_pool_forward", "global_pool_backward",
           "batchnorm_forward", "batchnorm_backward", "layernorm_forward", "layernorm_backward",
           "normalization_forward", "normalization_backward",
           "rnn_forward", "rnn_backward", "bidirectional_merge_forward", "bidirectional_merge_backward",
           "attention_forward", "attention_backward",
           "loss", "accuracy_count",
           "optimizer_slots", "optimizer_step", "global_norm", "clip_by_global_norm",
           "merge_forward", "merge_backward", "concat_forward", "concat_backward",
           "embedding_forward", "embedding_backward"]
