"""Optimizers with Keras' argument names and PyTorch's update rules (torch.optim.SGD, Adam,
AdamW, RMSprop, Adagrad), each run as one fused C++ pass over the flat parameter buffer. ``clipnorm`` clips the global gradient norm
first (as ``torch.nn.utils.clip_grad_norm_``)."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from . import _validate

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get"]


class Optimizer:
    """Base of the optimizers. Once a model is compiled with it, ``learning_rate`` and
    ``iterations`` (optimizer steps taken) read and write the model's C++ trainer: one source
    of truth for callbacks, schedules, checkpoints and the user."""

    kind = ""

    def __init__(self, learning_rate: float, clipnorm: Optional[float] = None):
        owner = type(self).__name__
        self._trainer = None
        self._learning_rate = _validate.non_negative_float(owner, "learning_rate", learning_rate)
        self.clipnorm = None if clipnorm is None else _validate.positive_float(owner, "clipnorm", clipnorm)

    def bind(self, trainer) -> None:
        """Back learning_rate and iterations by a model's C++ trainer (Model.compile does it)."""
        self._trainer = trainer

    @property
    def learning_rate(self) -> float:
        return float(self._trainer.learning_rate) if self._trainer is not None else self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        value = _validate.non_negative_float(type(self).__name__, "learning_rate", value)
        if self._trainer is not None:
            self._trainer.learning_rate = value
        self._learning_rate = value

    @property
    def iterations(self) -> int:
        """Optimizer steps taken so far (0 before training); schedules and Adam's bias
        correction count from it."""
        return int(self._trainer.step) if self._trainer is not None else 0

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._bound("iterations").step = _validate.non_negative_int(type(self).__name__, "iterations", value)

    def variables(self) -> list:
        """Copies of the optimizer state (SGD's momentum; Adam's m and v; RMSprop's mean
        square, then its momentum buffer and mean gradient when used; Adagrad's sum of
        squares), each shaped like the model's flat parameter vector; empty before compile or
        for plain SGD."""
        return [] if self._trainer is None else list(self._trainer.read_slots())

    def set_variables(self, values) -> None:
        """Replace the optimizer state with arrays shaped like variables()."""
        trainer = self._bound("set_variables")
        count, shape = trainer.num_slots, (trainer.num_params,)
        values = list(values)
        if len(values) != count:
            raise ValueError(f"{type(self).__name__}: expected {count} state arrays, got {len(values)}")
        arrays = []
        for v in values:
            v = np.asarray(v)
            if v.shape != shape or not np.issubdtype(v.dtype, np.floating):
                raise ValueError(f"{type(self).__name__}: expected float state of shape {shape}, got {v.dtype} "
                                 f"{v.shape}")
            arrays.append(v)
        for i, v in enumerate(arrays):  # wherever the state lives (copied to a device)
            trainer.write_slot(i, v)

    def _bound(self, what: str):
        if self._trainer is None:
            raise RuntimeError(f"{type(self).__name__}: {what} needs a compiled, built model")
        return self._trainer

    def plan_learning_rates(self, rates) -> None:
        """Learning rates for the coming steps, one per step from the current one, applied
        inside the C++ training loop (after the last, the last stays); setting learning_rate
        clears them."""
        if self._trainer is None:
            raise RuntimeError(f"{type(self).__name__}: compile a model with this optimizer first")
        self._trainer.set_lr_table([float(r) for r in rates])

    def get_config(self):
        return {"learning_rate": self.learning_rate, "clipnorm": self.clipnorm}

    def core_config(self):
        cfg = {"kind": self.kind, **self.get_config()}
        cfg["clipnorm"] = cfg["clipnorm"] or 0.0
        return cfg

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay."""

    kind = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm)
        self.momentum = _validate.non_negative_float("SGD", "momentum", momentum)
        self.nesterov = _validate.boolean("SGD", "nesterov", nesterov)
        self.weight_decay = _validate.non_negative_float("SGD", "weight_decay", weight_decay)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds an L2 term to the
    gradient, as torch.optim.Adam does (use AdamW for decoupled decay)."""

    kind = "adam"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, weight_decay: float = 0.0, clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm)
        owner = type(self).__name__
        self.beta_1 = _validate.number(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _validate.number(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _validate.non_negative_float(owner, "epsilon", epsilon)
        self.weight_decay = _validate.non_negative_float(owner, "weight_decay", weight_decay)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW."""

    kind = "adamw"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, weight_decay: float = 0.01, clipnorm: Optional[float] = None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, clipnorm)


class RMSprop(Optimizer):
    """RMSprop (Hinton) as torch.optim.RMSprop with ``alpha = rho``: a running mean of squared
    gradients divides each step, ``epsilon`` added after the square root. ``centered``
    subtracts the squared running mean of the gradients (an estimate of their variance);
    ``momentum`` > 0 keeps a buffer of the scaled steps. ``weight_decay`` adds an L2 term to
    the gradient."""

    kind = "rmsprop"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
                 centered: bool = False, weight_decay: float = 0.0, clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm)
        self.rho = _validate.number("RMSprop", "rho", rho, 0.0, 1.0, high_open=True)
        self.momentum = _validate.non_negative_float("RMSprop", "momentum", momentum)
        self.epsilon = _validate.non_negative_float("RMSprop", "epsilon", epsilon)
        self.centered = _validate.boolean("RMSprop", "centered", centered)
        self.weight_decay = _validate.non_negative_float("RMSprop", "weight_decay", weight_decay)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered, "weight_decay": self.weight_decay}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.) as torch.optim.Adagrad: each parameter's step divides by the
    square root of its accumulated squared gradients (starting at
    ``initial_accumulator_value``) plus ``epsilon``. ``weight_decay`` adds an L2 term."""

    kind = "adagrad"

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 weight_decay: float = 0.0, clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm)
        self.initial_accumulator_value = _validate.non_negative_float("Adagrad", "initial_accumulator_value",
                                                                      initial_accumulator_value)
        self.epsilon = _validate.non_negative_float("Adagrad", "epsilon", epsilon)
        self.weight_decay = _validate.non_negative_float("Adagrad", "weight_decay", weight_decay)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon, "weight_decay": self.weight_decay}


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(optimizer: Union[str, Optimizer]) -> Optimizer:
    """An Optimizer from a name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``,
    ``"adagrad"``, any case) with default settings."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}: expected sgd, adam, adamw, rmsprop, adagrad or a "
                     "pydl.optimizers.Optimizer")


def from_config(kind: str, config: dict) -> Optimizer:
    return _BY_NAME[kind](**config)
