"""Type stubs of pydl._core, the compiled extension (bindings only). Generated with
pybind11-stubgen; the kernels submodule is written as a class of static methods."""

from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['ArrayLoader', 'CoreTypeError', 'Graph', 'Trainer', 'augment', 'default_num_threads', 'find_nonfinite', 'get_num_threads', 'kernels', 'set_num_threads']
class CoreTypeError(TypeError):
    pass
class ArrayLoader:
    """
    Batches of an array data set made on a background thread.
    """
    def __init__(self, x: numpy.ndarray, batch_size: typing.SupportsInt | typing.SupportsIndex, shuffle: bool, drop_last: bool, seed: typing.SupportsInt | typing.SupportsIndex, prefetch: typing.SupportsInt | typing.SupportsIndex, ops: list) -> None:
        ...
    def next(self) -> typing.Any:
        """
        (x, indices) of the next batch (copies), or None at the end of the epoch.
        """
    def start_epoch(self, epoch: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def stop(self) -> None:
        ...
    @property
    def batches_per_epoch(self) -> int:
        ...
    @property
    def output_shape(self) -> list[int]:
        ...
class Graph:
    """
    The compiled network: layers, flat parameters, planned buffers.
    """
    def __init__(self, input_shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], layers: list) -> None:
        ...
    def grad_buffer(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        The flat gradient buffer as a writable float32 view (no copy).
        """
    def init_params(self, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def layers(self) -> list:
        ...
    def param_buffer(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        The flat parameter buffer as a writable float32 view (no copy).
        """
    def params(self) -> list:
        ...
    def predict(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], batch_size: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def state_buffer(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        Non-trainable weights (moving statistics) as a writable float32 view (no copy).
        """
    @property
    def input_shape(self) -> list[int]:
        ...
    @property
    def num_params(self) -> int:
        ...
    @property
    def output_shape(self) -> list[int]:
        ...
class Trainer:
    """
    Runs epochs, evaluation and gradients over a Graph.
    """
    def __init__(self, graph: Graph, loss: str, class_weights: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], label_smoothing: typing.SupportsFloat | typing.SupportsIndex, optimizer: dict) -> None:
        ...
    def evaluate(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, batch_size: typing.SupportsInt | typing.SupportsIndex) -> dict:
        ...
    def fit_epoch(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, batch_size: typing.SupportsInt | typing.SupportsIndex, shuffle: bool, seed: typing.SupportsInt | typing.SupportsIndex, epoch: typing.SupportsInt | typing.SupportsIndex, progress: collections.abc.Callable | None = None, every: typing.SupportsInt | typing.SupportsIndex = 0, check_interrupt: bool = False) -> dict:
        ...
    def fit_epoch_loader(self, loader: ArrayLoader, labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, seed: typing.SupportsInt | typing.SupportsIndex, epoch: typing.SupportsInt | typing.SupportsIndex, progress: collections.abc.Callable | None = None, every: typing.SupportsInt | typing.SupportsIndex = 0, check_interrupt: bool = False) -> dict:
        ...
    def loss_and_gradients(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, training: bool = False, seed: typing.SupportsInt | typing.SupportsIndex = 0) -> float:
        ...
    def set_lr_table(self, table: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        """
        Per-step learning rates from the current step on.
        """
    def set_metrics(self, confusion: bool, top_k: typing.SupportsInt | typing.SupportsIndex, regression: bool, log_loss: bool) -> None:
        ...
    def slots(self) -> list:
        """
        Optimizer state buffers (momentum, or Adam's m and v) as writable views.
        """
    def train_batch(self, x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, seed: typing.SupportsInt | typing.SupportsIndex) -> dict:
        ...
    @property
    def class_weights(self) -> list[float]:
        ...
    @class_weights.setter
    def class_weights(self, arg1: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def learning_rate(self) -> float:
        ...
    @learning_rate.setter
    def learning_rate(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def step(self) -> int:
        ...
    @step.setter
    def step(self, arg1: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
def augment(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], ops: list, seed: typing.SupportsInt | typing.SupportsIndex, keys: typing.Annotated[numpy.typing.ArrayLike, numpy.uint64] | None = None) -> numpy.typing.NDArray[numpy.float32]:
    """
    Apply augmentation ops (dicts) to float32 images; sample i's randomness is keyed by keys[i].
    """
def default_num_threads() -> int:
    """
    The machine's core count.
    """
def find_nonfinite(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> int:
    """
    Flat index of the first NaN or Inf in x, or -1.
    """
def layer_types() -> dict[str, str]:
    """
    Every registered C++ layer type (the config's 'type') and the kind it reports ('Dense').
    """
def get_num_threads() -> int:
    """
    Number of threads pydl kernels use.
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the number of threads used by every pydl kernel (OpenMP and BLAS together).
    """


class kernels:
    """Single kernels, float32 and float64 overloads (a submodule at run time)."""
    @staticmethod
    @typing.overload
    def accuracy_count(logits: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None = None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, kind: str = 'cross_entropy') -> tuple[int, int]:
        ...
    @staticmethod
    @typing.overload
    def accuracy_count(logits: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None = None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, kind: str = 'cross_entropy') -> tuple[int, int]:
        ...
    @staticmethod
    @typing.overload
    def activation_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], y: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], activation: str) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @staticmethod
    @typing.overload
    def activation_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], y: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], activation: str) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @staticmethod
    @typing.overload
    def activation_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], activation: str) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @staticmethod
    @typing.overload
    def activation_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], activation: str) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @staticmethod
    @typing.overload
    def batchnorm_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], gamma: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stats: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], moving_mean: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], moving_var: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], training: bool, epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-05) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
        ...
    @staticmethod
    @typing.overload
    def batchnorm_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], gamma: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], stats: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], moving_mean: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], moving_var: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], training: bool, epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-05) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def batchnorm_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], gamma: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], beta: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], moving_mean: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], moving_var: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], training: bool, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.9, epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-05) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def batchnorm_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], gamma: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], beta: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], moving_mean: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], moving_var: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], training: bool, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.9, epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-05) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def clip_by_global_norm(g: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], max_norm: typing.SupportsFloat | typing.SupportsIndex) -> float:
        ...
    @staticmethod
    @typing.overload
    def clip_by_global_norm(g: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], max_norm: typing.SupportsFloat | typing.SupportsIndex) -> float:
        ...
    @staticmethod
    @typing.overload
    def conv2d_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], strides: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (1, 1), padding: typing.Any = 'valid', dilation: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (1, 1), use_bias: bool = True) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
        ...
    @staticmethod
    @typing.overload
    def conv2d_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], kernel: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], strides: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (1, 1), padding: typing.Any = 'valid', dilation: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (1, 1), use_bias: bool = True) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def conv2d_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, strides: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (1, 1), padding: typing.Any = 'valid', dilation: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (1, 1), activation: str = 'linear') -> numpy.typing.NDArray[numpy.float32]:
        ...
    @staticmethod
    @typing.overload
    def conv2d_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], kernel: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, strides: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (1, 1), padding: typing.Any = 'valid', dilation: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (1, 1), activation: str = 'linear') -> numpy.typing.NDArray[numpy.float64]:
        ...
    @staticmethod
    @typing.overload
    def dense_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], w: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], y: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], z: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, activation: str = 'linear', use_bias: bool = True, need_dx: bool = True, dw: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, db: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
        ...
    @staticmethod
    @typing.overload
    def dense_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], w: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], y: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], z: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, activation: str = 'linear', use_bias: bool = True, need_dx: bool = True, dw: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, db: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def dense_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], w: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, activation: str = 'linear', keep_preactivation: bool = False) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
        ...
    @staticmethod
    @typing.overload
    def dense_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], w: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None, activation: str = 'linear', keep_preactivation: bool = False) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def dropout_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], mask: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], rate: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @staticmethod
    @typing.overload
    def dropout_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], mask: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], rate: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @staticmethod
    @typing.overload
    def dropout_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], rate: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex = 0, counter: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.uint8]]:
        ...
    @staticmethod
    @typing.overload
    def dropout_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], rate: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex = 0, counter: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.uint8]]:
        ...
    @staticmethod
    @typing.overload
    def gemm(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], trans_a: bool = False, trans_b: bool = False, alpha: typing.SupportsFloat | typing.SupportsIndex = 1.0, beta: typing.SupportsFloat | typing.SupportsIndex = 0.0, c: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, activation: str = 'linear') -> numpy.typing.NDArray[numpy.float32]:
        ...
    @staticmethod
    @typing.overload
    def gemm(a: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], b: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], trans_a: bool = False, trans_b: bool = False, alpha: typing.SupportsFloat | typing.SupportsIndex = 1.0, beta: typing.SupportsFloat | typing.SupportsIndex = 0.0, c: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, activation: str = 'linear') -> numpy.typing.NDArray[numpy.float64]:
        ...
    @staticmethod
    @typing.overload
    def global_norm(g: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> float:
        ...
    @staticmethod
    @typing.overload
    def global_norm(g: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> float:
        ...
    @staticmethod
    @typing.overload
    def global_pool_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], argmax: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], x_shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], kind: str) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @staticmethod
    @typing.overload
    def global_pool_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], argmax: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], x_shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], kind: str) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @staticmethod
    @typing.overload
    def global_pool_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kind: str) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.int32]]:
        ...
    @staticmethod
    @typing.overload
    def global_pool_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], kind: str) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.int32]]:
        ...
    @staticmethod
    @typing.overload
    def layernorm_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], gamma: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], stats: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
        ...
    @staticmethod
    @typing.overload
    def layernorm_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], gamma: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], stats: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def layernorm_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], gamma: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], beta: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-05) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def layernorm_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], gamma: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], beta: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-05) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def loss(logits: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None = None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, kind: str = 'cross_entropy', class_weights: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, label_smoothing: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> tuple[float, numpy.typing.NDArray[numpy.float32]]:
        ...
    @staticmethod
    @typing.overload
    def loss(logits: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], labels: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None = None, targets: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, kind: str = 'cross_entropy', class_weights: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, label_smoothing: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> tuple[float, numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def optimizer_step(params: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], grads: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], slot0: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, slot1: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, config: dict, step: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    @staticmethod
    @typing.overload
    def optimizer_step(params: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], grads: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], slot0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None, slot1: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None, config: dict, step: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    @staticmethod
    def peak_flops(seconds: typing.SupportsFloat | typing.SupportsIndex, threads: typing.SupportsInt | typing.SupportsIndex) -> float:
        """
        Measured peak float32 FLOP/s on `threads` threads (register-resident FMA chains, about `seconds`).
        """
    @staticmethod
    @typing.overload
    def pool2d_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], argmax: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], x_shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], kind: str, pool_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (2, 2), strides: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] | None = None, padding: str = 'valid') -> numpy.typing.NDArray[numpy.float32]:
        ...
    @staticmethod
    @typing.overload
    def pool2d_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], argmax: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], x_shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], kind: str, pool_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (2, 2), strides: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] | None = None, padding: str = 'valid') -> numpy.typing.NDArray[numpy.float64]:
        ...
    @staticmethod
    @typing.overload
    def pool2d_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kind: str, pool_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (2, 2), strides: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] | None = None, padding: str = 'valid') -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.int32]]:
        ...
    @staticmethod
    @typing.overload
    def pool2d_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], kind: str, pool_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] = (2, 2), strides: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] | None = None, padding: str = 'valid') -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.int32]]:
        ...
    @staticmethod
    @typing.overload
    def rnn_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], recurrent: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None, cell: str, activation: str, reverse: bool, return_sequences: bool, mask: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8] | None, workspace: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
        ...
    @staticmethod
    @typing.overload
    def rnn_backward(dy: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], kernel: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], recurrent: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None, cell: str, activation: str, reverse: bool, return_sequences: bool, mask: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8] | None, workspace: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...
    @staticmethod
    @typing.overload
    def rnn_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], kernel: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], recurrent: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, cell: str = 'lstm', activation: str = 'tanh', reverse: bool = False, return_sequences: bool = False, mask: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8] | None = None, h0: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, c0: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.float32]]:
        ...
    @staticmethod
    @typing.overload
    def rnn_forward(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], kernel: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], recurrent: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], bias: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, cell: str = 'lstm', activation: str = 'tanh', reverse: bool = False, return_sequences: bool = False, mask: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8] | None = None, h0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, c0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        ...

