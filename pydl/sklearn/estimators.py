"""PydlClassifier and PydlRegressor: a pydl model trained and used through scikit-learn's
estimator API (fit / predict / predict_proba / score, get_params / set_params, clone, pickle)."""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from .base import X_CHECKS, PydlEstimator

__all__ = ["PydlClassifier", "PydlRegressor"]

_CLASSIFICATION_LOSSES = ("cross_entropy", "categorical_crossentropy", "binary_cross_entropy")


class PydlClassifier(ClassifierMixin, PydlEstimator):
    """A pydl classification model as a scikit-learn classifier.

    ``model`` is a function that returns an uncompiled pydl model, called for each fit as
    ``model(input_shape, n_classes, **model_params)`` (``input_shape`` the shape of one sample,
    ``X.shape[1:]``), or as ``model(meta=meta, **model_params)`` when it has a parameter named
    ``meta`` (scikeras' convention; ``meta`` holds ``input_shape``, ``n_features_in_``,
    ``X_shape_``, ``X_dtype_``, ``n_classes_``, ``classes_``, ``target_type_``,
    ``n_outputs_``); or an uncompiled pydl Model instance, which serves as a template: each fit
    trains a clone of it with fresh weights (``pydl.engine.saving.clone_model``).

    The output layer is the builder's: ``Dense(n_classes)`` (logits or softmax) trains with
    ``"cross_entropy"``, and for two classes ``Dense(1)`` (a logit or sigmoid) with
    ``"binary_cross_entropy"``; that is the default ``loss``. ``loss`` may also be
    ``"categorical_crossentropy"`` (one-hot targets are made here) or a ``pydl.losses`` object.
    Labels may be of any type (strings too): a LabelEncoder maps them to ``0..n_classes-1`` in
    ``classes_`` order, which is the order of the output units and of ``predict_proba``'s
    columns.

    ``optimizer`` (a name, an Optimizer class or instance; a fresh one per fit), ``loss``,
    ``metrics`` (names, logged in ``history_``), ``epochs``, ``batch_size``,
    ``validation_split``, ``shuffle``, ``callbacks`` (pydl callbacks, copied for each fit),
    ``verbose`` are those of ``compile`` and ``fit``. ``class_weight`` is a dict
    ``{label: weight}`` (labels missing from it weigh 1) or ``"balanced"``, applied as sample
    weights (scikit-learn's ``compute_sample_weight``), times ``fit``'s ``sample_weight``.
    ``random_state``: an int (or a RandomState) seeds the weights, the shuffles and the
    dropout masks (a built model from the builder is rebuilt from its config with that seed,
    so weights the builder set are not kept); None keeps the seed the model was made with.
    Routed parameters ``model__<name>`` go to the builder, ``optimizer__<name>`` to the
    optimizer's constructor and ``loss__<name>`` to the loss's; like the named ones they
    appear in ``get_params`` and survive ``sklearn.clone`` (``clf__model__units`` in a
    ``GridSearchCV`` over a ``Pipeline``).

    After ``fit``: ``model_`` (the trained pydl model), ``classes_``, ``n_features_in_``
    (``feature_names_in_`` for DataFrames), ``history_`` (``{log: [value per epoch]}``).
    Pickling carries ``model_`` as the bytes of its model file (safetensors).
    """

    _builder_count = "n_classes_"

    def __init__(self, model=None, *, optimizer="adam", loss=None, metrics=None, epochs=10, batch_size=32,
                 validation_split=0.0, shuffle=True, callbacks=None, class_weight=None, verbose=0,
                 random_state=None, **routed_params):
        self.class_weight = class_weight
        super().__init__(model, optimizer=optimizer, loss=loss, metrics=metrics, epochs=epochs,
                         batch_size=batch_size, validation_split=validation_split, shuffle=shuffle,
                         callbacks=callbacks, verbose=verbose, random_state=random_state, **routed_params)

    def fit(self, X, y, sample_weight=None) -> "PydlClassifier":
        """Train a fresh model on ``X`` (n_samples, ...) and labels ``y``; returns self."""
        owner = type(self).__name__
        X, y = validate_data(self, X, y, **X_CHECKS)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        classes, codes = encoder.classes_, encoder.transform(y)
        if len(classes) < 2:
            raise ValueError(f"{owner}: y holds one class only ({classes[0]!r}); a classifier needs at least 2 "
                             "classes")
        sw = self._check_sample_weight(sample_weight, X)
        if self.class_weight is not None:
            cw = compute_sample_weight(self._check_class_weight(classes), y)
            sw = cw if sw is None else sw * cw
        if sw is not None and len(np.unique(codes[sw > 0])) < 2:
            raise ValueError(f"{owner}: only one class has samples of non-zero weight; a classifier needs at "
                             "least 2 classes")
        meta = {**self._meta(X), "n_classes_": len(classes), "classes_": classes, "n_outputs_": 1,
                "target_type_": "binary" if len(classes) == 2 else "multiclass"}
        n = len(classes)

        def default_loss(model):
            units = model.output_shape[0]
            if units == n:
                return "cross_entropy"
            if units == 1 and n == 2:
                return "binary_cross_entropy"
            raise ValueError(f"{owner}: the model's output has {units} units, but y has {n} classes; give the "
                             f"output layer n_classes={n} units" + (" (or 1 for a sigmoid / logit)" if n == 2 else ""))

        def targets(model, loss):
            units = model.output_shape[0]
            if loss.name not in _CLASSIFICATION_LOSSES:
                raise ValueError(f"{owner}: expected a classification loss ({', '.join(_CLASSIFICATION_LOSSES)}), "
                                 f"got {loss.name or type(loss).__name__}; for regression use PydlRegressor")
            if loss.name == "binary_cross_entropy":
                if units != 1 or n != 2:
                    raise ValueError(f"{owner}: binary_cross_entropy needs 2 classes and a 1-unit output, got "
                                     f"{n} classes and {units} units; use cross_entropy with {n} units")
                return codes.astype(np.float32).reshape(-1, 1)
            if units != n:
                raise ValueError(f"{owner}: the model's output has {units} units, but y has {n} classes")
            if loss.name == "categorical_crossentropy":
                return np.eye(n, dtype=np.float32)[codes]
            return codes.astype(np.int64)

        self._train(X, meta, default_loss, targets, sw)
        self.classes_ = classes
        return self

    def _check_class_weight(self, classes):
        cw, owner = self.class_weight, type(self).__name__
        if isinstance(cw, str) and cw == "balanced":
            return cw
        if not isinstance(cw, dict):
            raise ValueError(f"{owner}: class_weight must be None, 'balanced' or a dict {{label: weight}}, got {cw!r}")
        unknown = [k for k in cw if not np.any(classes == k)]
        if unknown:
            raise ValueError(f"{owner}: class_weight names {unknown}, which are not classes of y ({list(classes)})")
        return cw

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order:
        the model's own ``predict_proba`` (with ``1 - p`` as the first column for a 1-unit
        binary output)."""
        p = self._outputs(X, proba=True)
        return np.hstack([1.0 - p, p]) if p.shape[1] == 1 else p

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample, as a label of ``classes_``."""
        p = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(p, axis=1)]


class PydlRegressor(RegressorMixin, PydlEstimator):
    """A pydl regression model as a scikit-learn regressor.

    ``model`` is called as ``model(input_shape, n_outputs, **model_params)`` (``n_outputs`` the
    number of targets: 1 for a 1-D ``y``, k for ``y`` of shape (n, k)), or with a ``meta`` dict
    (``input_shape``, ``n_features_in_``, ``X_shape_``, ``X_dtype_``, ``n_outputs_``,
    ``target_type_``), or is a Model template, as for PydlClassifier; its output layer has
    ``n_outputs`` units. ``loss`` defaults to ``"mse"``; the other parameters are
    PydlClassifier's (no class_weight). ``predict`` returns shape (n,) for a 1-D ``y`` and
    (n, k) otherwise; ``score`` is R². After ``fit``: ``model_``, ``n_features_in_``,
    ``n_outputs_``, ``history_``.
    """

    def fit(self, X, y, sample_weight=None) -> "PydlRegressor":
        """Train a fresh model on ``X`` (n_samples, ...) and targets ``y``; returns self."""
        owner = type(self).__name__
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, **X_CHECKS)
        y = np.asarray(y, dtype=np.float32)
        if y.ndim > 2:
            raise ValueError(f"{owner}: expected y of shape (n_samples,) or (n_samples, n_outputs), got {y.shape}")
        y2 = y.reshape(len(y), -1)
        k = y2.shape[1]
        sw = self._check_sample_weight(sample_weight, X)
        meta = {**self._meta(X), "n_outputs_": k, "target_type_": "continuous" if y.ndim == 1 else
                "continuous-multioutput"}

        def targets(model, loss):
            units = model.output_shape[0]
            if units != k:
                raise ValueError(f"{owner}: the model's output has {units} units, but y has {k} target(s); give "
                                 f"the output layer n_outputs={k} units")
            return y2

        self._train(X, meta, lambda model: "mse", targets, sw)
        self.n_outputs_ = k
        self._y_ndim = y.ndim
        return self

    def predict(self, X) -> np.ndarray:
        """The model's predictions: shape (n_samples,) when fit had a 1-D y, else (n_samples, n_outputs)."""
        out = self._outputs(X, proba=False)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
