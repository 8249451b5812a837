"""What PydlClassifier and PydlRegressor share: the hyperparameters (explicit keywords, and
the routed ``model__*``, ``optimizer__*``, ``loss__*`` ones), a fresh model for every fit
(from the builder, or cloned from a model template), compiling and training it.

Routed parameters live in ``_routed`` rather than as attributes: scikit-learn's checks
allow only the constructor's named parameters as public attributes, and ``get_params`` /
``set_params`` / ``clone`` see them all the same."""
from __future__ import annotations

import copy
import inspect
import re
from typing import Optional

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import losses as losses_mod
from .. import optimizers as optimizers_mod
from ..engine.model import Model
from ..engine.saving import clone_model

_ROUTED = re.compile(r"^(model|optimizer|loss)__([A-Za-z_]\w*)$")
# X as every pydl model takes it: dense float32, finite, batch first (any sample shape).
X_CHECKS = {"accept_sparse": False, "dtype": np.float32, "allow_nd": True, "ensure_all_finite": True}


def is_routed(key: str) -> bool:
    return isinstance(key, str) and _ROUTED.match(key) is not None


class PydlEstimator(BaseEstimator):
    """Base of the pydl estimators (see PydlClassifier for the parameters)."""

    # The positional argument the builder gets after the input shape, and what it counts.
    _builder_count = "n_outputs_"

    def __init__(self, model=None, *, optimizer="adam", loss=None, metrics=None, epochs=10, batch_size=32,
                 validation_split=0.0, shuffle=True, callbacks=None, verbose=0, random_state=None,
                 **routed_params):
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state
        self._routed = dict(routed_params)  # checked by fit, as every parameter is

    # ------------------------------------------------------------- parameters
    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters and the routed ones (``model__units``, ...)."""
        params = super().get_params(deep=deep)
        params.update(self._routed)
        return params

    def set_params(self, **params):
        """Set parameters, routed ones (``model__units=64``) included; returns self."""
        routed = {k: v for k, v in params.items() if is_routed(k) or k in self._routed}
        self._routed.update(routed)
        super().set_params(**{k: v for k, v in params.items() if k not in routed})
        return self

    def _check_routed(self) -> None:
        unknown = sorted(k for k in self._routed if not is_routed(k))
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown parameters {unknown}; routed parameters are "
                             "model__<name> (for the builder), optimizer__<name> or loss__<name>")

    def _route(self, prefix: str) -> dict:
        head = prefix + "__"
        return {k[len(head):]: v for k, v in self._routed.items() if k.startswith(head)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False  # one seed, the same weights (random_state or the model's seed)
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    # -------------------------------------------------------------- the model
    def _seed(self) -> Optional[int]:
        """The seed of this fit: random_state itself when an int, one drawn from it when a
        RandomState; None keeps the model's own seed."""
        rs = self.random_state
        if rs is None:
            return None
        if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool) and rs >= 0:
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _fresh_model(self, meta: dict, seed: Optional[int]) -> Model:
        """An uncompiled model built for the data: the builder's, or a clone of the template."""
        owner, template, routed = type(self).__name__, self.model, self._route("model")
        if isinstance(template, Model):
            if routed:
                raise ValueError(f"{owner}: {sorted('model__' + k for k in routed)} reach a builder function, "
                                 "but model is a Model instance; pass a function that builds the model")
            self._refuse_compiled(template, "model")
            model = clone_model(template, seed=seed)
        elif callable(template) and not isinstance(template, type):
            model = self._call_builder(template, meta, routed)
            if seed is not None and model.seed != seed:
                if model.built:  # its weights exist: rebuilt, initialised from the seed
                    model = clone_model(model, seed=seed)
                else:  # initialises its weights from it when built
                    model.seed = seed
        else:
            raise TypeError(f"{owner}: model must be a function returning an uncompiled pydl model, or a pydl "
                            f"Model instance to clone for each fit; got {template!r}")
        if not model.built:
            given = getattr(model, "input_shape", None)
            model.build(None if given is not None else meta["input_shape"])
        shape = model.output_shape
        if isinstance(shape, list) or len(shape) != 1:
            raise ValueError(f"{owner}: expected a model with one output of shape (None, units), got "
                             f"{model.name} with output shape {shape}")
        return model

    def _call_builder(self, fn, meta: dict, routed: dict) -> Model:
        owner, count = type(self).__name__, self._builder_count
        name = getattr(fn, "__name__", repr(fn))
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # a builtin or C function: call it and see
            sig = None
        if sig is not None and "meta" in sig.parameters:
            args: tuple = ()
            kwargs, shown = {"meta": meta, **routed}, "meta=..."
        else:
            args, kwargs, shown = (meta["input_shape"], meta[count]), routed, f"input_shape, {count.rstrip('_')}"
        if sig is not None:
            try:
                sig.bind(*args, **kwargs)
            except TypeError as e:
                extra = "".join(f", {k}=..." for k in routed)
                raise TypeError(f"{owner}: the model builder {name}{sig} cannot be called as {name}({shown}{extra}): "
                                f"{e}. A builder takes the input shape and the {count.rstrip('_')} positionally (or "
                                "a scikeras-style meta dict, as a parameter named meta), and the routed model__ "
                                "parameters as keywords") from None
        model = fn(*args, **kwargs)
        if not isinstance(model, Model):
            raise TypeError(f"{owner}: the model builder {name} returned {type(model).__name__}, expected an "
                            "uncompiled pydl Model or Sequential")
        self._refuse_compiled(model, f"the model {name} built")
        return model

    def _refuse_compiled(self, model: Model, what: str) -> None:
        if model.optimizer is not None:
            raise ValueError(f"{type(self).__name__}: {what} is compiled; give it uncompiled: the estimator "
                             "compiles each fit's model with its optimizer=, loss= and metrics=")

    def _make_optimizer(self) -> optimizers_mod.Optimizer:
        opt, kw = self.optimizer, self._route("optimizer")
        if isinstance(opt, optimizers_mod.Optimizer):  # a fresh copy: the given one stays unbound
            cls, kw = type(opt), {**opt.get_config(), **kw}
        elif isinstance(opt, type) and issubclass(opt, optimizers_mod.Optimizer):
            cls = opt
        elif isinstance(opt, str):
            cls = type(optimizers_mod.get(opt))
        else:
            raise TypeError(f"{type(self).__name__}: optimizer must be a name ('adam', 'sgd', ...), a "
                            f"pydl.optimizers.Optimizer class or instance; got {opt!r}")
        try:
            return cls(**kw)
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}: optimizer__ parameters {sorted(self._route('optimizer'))} "
                            f"do not fit {cls.__name__}: {e}") from None

    def _make_loss(self, default: str) -> losses_mod.Loss:
        loss, kw = (default if self.loss is None else self.loss), self._route("loss")
        if isinstance(loss, losses_mod.Loss):
            if not kw:
                return loss
            cls, kw = type(loss), {**loss.get_config(), **kw}
        elif isinstance(loss, type) and issubclass(loss, losses_mod.Loss):
            cls = loss
        elif isinstance(loss, str):
            cls = type(losses_mod.get(loss))
        else:
            raise TypeError(f"{type(self).__name__}: loss must be a name, a pydl.losses.Loss class or instance, "
                            f"or None (the estimator's default); got {loss!r}")
        try:
            return losses_mod.get(cls(**kw))
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}: loss__ parameters {sorted(self._route('loss'))} do not fit "
                            f"{cls.__name__}: {e}") from None

    def _fresh_callbacks(self):
        """Copies of the callbacks for this fit: the given ones never see a model."""
        if self.callbacks is None:
            return None
        if not isinstance(self.callbacks, (list, tuple)):
            raise TypeError(f"{type(self).__name__}: callbacks must be a list of pydl.callbacks.Callback, got "
                            f"{type(self.callbacks).__name__}")
        return [copy.deepcopy(cb, {id(getattr(cb, "model", None)): None}) for cb in self.callbacks]

    # ---------------------------------------------------------------- fitting
    def _check_sample_weight(self, sample_weight, X) -> Optional[np.ndarray]:
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)

    def _train(self, X: np.ndarray, meta: dict, default_loss, targets, sample_weight) -> None:
        """Build, compile and fit this fit's model; set model_ and history_.
        ``default_loss(model)`` names the loss when none is given; ``targets(model, loss)``
        gives the y the model trains on."""
        self._check_routed()
        model = self._fresh_model(meta, self._seed())
        loss = self._make_loss(default_loss(model))
        model.compile(optimizer=self._make_optimizer(), loss=loss,
                      metrics=None if self.metrics is None else list(self.metrics))
        history = model.fit(X, targets(model, loss), epochs=self.epochs, batch_size=self.batch_size,
                            validation_split=self.validation_split, shuffle=self.shuffle, verbose=self.verbose,
                            callbacks=self._fresh_callbacks(),
                            sample_weight=None if sample_weight is None else sample_weight.astype(np.float32))
        self.model_ = model
        self.history_ = {k: list(v) for k, v in history.history.items()}

    def _meta(self, X: np.ndarray) -> dict:
        return {"input_shape": tuple(X.shape[1:]), "n_features_in_": X.shape[1], "X_shape_": X.shape,
                "X_dtype_": X.dtype}

    def _outputs(self, X, proba: bool) -> np.ndarray:
        """The fitted model's predictions (or probabilities) for X, as float64."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, **X_CHECKS)
        out = self.model_.predict_proba(X) if proba else self.model_.predict(X)
        return np.asarray(out, dtype=np.float64)
