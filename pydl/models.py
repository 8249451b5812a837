"""Sequential models: describe layers in Python, compile to the C++ network, train there.

``fit`` runs whole epochs in C++ with the GIL released; Python sees the run only every
few batches (the progress bar) and at epoch ends (validation, callbacks, history).
"""
from __future__ import annotations

import re
import threading
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _checks, _core, _metric_logs
from . import layers as layers_mod
from . import losses as losses_mod
from . import optimizers as optimizers_mod
from .training import TrainingMixin

__all__ = ["Sequential"]



class Sequential(TrainingMixin):
    """A linear stack of layers.

    >>> model = Sequential([layers.Input((64,)), layers.Dense(10)], seed=0)

    ``seed`` fixes weight initialisation, data shuffling and dropout masks: the same seed
    gives bitwise identical weights whatever the thread count.
    """

    def __init__(self, layers: Optional[Sequence[layers_mod.Layer]] = None, seed: int = 0,
                 name: Optional[str] = None):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Sequential: expected a non-negative int seed, got {seed!r}")
        self.seed = int(seed)
        self.name = name or "sequential"
        self.layers: List[layers_mod.Layer] = []
        self.input_shape: Optional[Tuple[int, ...]] = None
        self.stop_training = False
        self.optimizer: Optional[optimizers_mod.Optimizer] = None
        self.loss: Optional[losses_mod.Loss] = None
        self.metrics: List[str] = []
        self._graph = None
        self._trainer = None
        self._epochs_seen = 0  # epochs trained so far: keeps each fit's shuffles fresh
        # Lazy building and trainer creation happen on first use, perhaps in several threads
        # at once; the C++ graph's own use gate guards everything after.
        self._setup_lock = threading.RLock()
        for layer in layers or []:
            self.add(layer)

    # ----------------------------------------------------------------- building
    def add(self, layer: layers_mod.Layer) -> None:
        if self._graph is not None:
            raise RuntimeError(f"{self.name}: layers cannot be added after the model is built")
        if isinstance(layer, layers_mod.Input):
            if self.layers or self.input_shape is not None:
                raise ValueError(f"{self.name}: Input must be the first layer")
            self.input_shape = layer.shape
            return
        if not isinstance(layer, layers_mod.Layer):
            raise TypeError(f"{self.name}: expected a pydl layer, got {type(layer).__name__}")
        if layer.name is None:
            # Keras-style names: Conv2D -> conv2d, BatchNormalization -> batch_normalization
            base = re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", type(layer).__name__).lower()
            taken = {l.name for l in self.layers}
            layer.name = base
            i = 1
            while layer.name in taken:
                layer.name = f"{base}_{i}"
                i += 1
        elif any(l.name == layer.name for l in self.layers):
            raise ValueError(f"{self.name}: two layers are named {layer.name!r}")
        self.layers.append(layer)

    @property
    def built(self) -> bool:
        return self._graph is not None

    def build(self, input_shape: Optional[Sequence[int]] = None) -> "Sequential":
        """Create the C++ network (weights included) for ``input_shape`` (one sample)."""
        with self._setup_lock:
            return self._build_locked(input_shape)

    def _build_locked(self, input_shape):
        if self._graph is not None:
            return self
        if input_shape is not None:
            self.input_shape = tuple(int(d) for d in input_shape)
        if self.input_shape is None:
            raise ValueError(f"{self.name}: the input shape is unknown; start the model with "
                             "layers.Input(shape) or call fit/predict first")
        if not self.layers:
            raise ValueError(f"{self.name}: the model has no layers")
        self._graph = _core.Graph(list(self.input_shape), [l.core_config() for l in self.layers])
        self._built_input_shape = tuple(self._graph.input_shape)  # cached: checked on every call
        self._graph.init_params(self.seed)
        for layer in self.layers:  # fixed statistics given to Normalization layers
            if isinstance(layer, layers_mod.Normalization) and layer.mean is not None:
                self._set_layer_weights(layer.name, {"mean": layer.mean, "variance": layer.variance})
        if self.optimizer is not None:
            self._make_trainer()
        return self

    @property
    def output_shape(self) -> Tuple[int, ...]:
        self._require_built()
        return tuple(self._graph.output_shape)

    def _require_built(self):
        if self._graph is None and self.input_shape is not None and self.layers:
            self.build()  # the shape is known from Input: build on first use
        if self._graph is None:
            raise ValueError(f"{self.name}: the model is not built yet; give it an Input layer "
                             "or call fit/predict first")

    def _ensure_built(self, x: np.ndarray) -> None:
        if self._graph is None:
            self.build(self.input_shape or x.shape[1:])

    def _use(self, what: str, exclusive: bool):
        """Hold the graph for `what`: exclusively for training and weight changes, shared for
        reads. Another thread holding it the other way makes this raise RuntimeError."""
        return self._graph.use(what, exclusive)

    def _ensure_trainer(self) -> None:
        with self._setup_lock:
            if self._trainer is None:
                self._make_trainer()

    # ---------------------------------------------------------------- compiling
    def compile(self, optimizer="adam", loss="cross_entropy", metrics: Optional[Sequence[str]] = None) -> None:
        """Choose the optimizer, the loss and the metrics reported by fit and evaluate."""
        optimizer, loss = optimizers_mod.get(optimizer), losses_mod.get(loss)
        metrics = _metric_logs.validate(list(metrics or []), loss.name)
        with self._setup_lock:
            if self._graph is None:
                self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
                return
            with self._use("compile", exclusive=True):
                self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
                self._make_trainer()

    def _make_trainer(self, keep_state: bool = False):
        old = self._trainer
        self._trainer = _core.Trainer(
            self._graph, self.loss.name, losses_mod.weights_array(self.loss).tolist(),
            getattr(self.loss, "label_smoothing", 0.0), self.optimizer.core_config())
        self._trainer.set_metrics(**_metric_logs.spec(self.metrics))
        if keep_state and old is not None:
            self._trainer.step = old.step
            for new, prev in zip(self._trainer.slots(), old.slots()):
                new[:] = prev

    def _require_compiled(self, what: str):
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"{self.name}: call compile() before {what}()")

    # ------------------------------------------------------------------ data in
    def _prepare_x(self, x, what: str) -> np.ndarray:
        arr = _checks.as_float32(x, what)
        self._ensure_built(arr)
        _checks.check_input_shape(arr, self._built_input_shape, self.name)
        _checks.check_finite(arr, what)
        return arr

    def _prepare_y(self, y, n: int, what: str = "y"):
        """(labels, targets): one of them is None, by the loss."""
        out_shape = tuple(self._graph.output_shape)
        if self.loss.name == "cross_entropy":
            if len(out_shape) != 1:
                raise ValueError(f"cross_entropy expects a model output of shape (None, classes), "
                                 f"got (None, {', '.join(map(str, out_shape))})")
            return _checks.class_labels(y, n, out_shape[0], what), None
        return None, _checks.targets(y, n, out_shape, self.loss.name, what)

    # ------------------------------------------------------- evaluate / predict
    def evaluate(self, x, y, batch_size: int = 256, metrics: Optional[Sequence[str]] = None) -> Dict[str, float]:
        """Loss and metrics on ``(x, y)`` in inference mode (no dropout, no augmentation).
        ``metrics`` (default: the compiled ones) are accumulated in C++ across batches;
        ``roc_auc`` is computed from the model's outputs at the end."""
        self._require_compiled("evaluate")
        batch_size = _checks.batch_size(batch_size)
        x = self._prepare_x(x, "x")
        self._ensure_trainer()
        labels, targets = self._prepare_y(y, len(x))
        names = self.metrics if metrics is None else _metric_logs.validate(list(metrics), self.loss.name)
        # The metrics travel with the call: concurrent evaluations never see each other's.
        stats = self._trainer.evaluate(x, labels, targets, batch_size, _metric_logs.spec(names))
        logs = _metric_logs.logs_from_stats(stats, names, self.loss.name)
        if "roc_auc" in names:
            logs["roc_auc"] = self._roc_auc(x, labels, targets, batch_size)
        return logs

    def _roc_auc(self, x, labels, targets, batch_size) -> float:
        from .metrics import roc_auc

        scores = self._graph.predict(x, batch_size)
        if self.loss.name == "binary_cross_entropy":
            return float(roc_auc(targets.reshape(-1) > 0.5, scores.reshape(-1)))
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return float(roc_auc(labels, e / e.sum(axis=1, keepdims=True), multi_class="ovr"))

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        """Model outputs (logits for classification losses) as float32, batched internally."""
        batch_size = _checks.batch_size(batch_size)
        x = self._prepare_x(x, "x")
        return self._graph.predict(x, batch_size)

    def loss_and_gradients(self, x, y, training: bool = False) -> Tuple[float, List[np.ndarray]]:
        """The loss on the whole ``(x, y)`` as one batch, and its gradients with respect to
        every weight, aligned with ``get_weights()``. ``training=True`` applies dropout."""
        self._require_compiled("loss_and_gradients")
        x = self._prepare_x(x, "x")
        self._ensure_trainer()
        labels, targets = self._prepare_y(y, len(x))
        with self._use("loss_and_gradients", exclusive=True):
            loss = self._trainer.loss_and_gradients(x, labels, targets, bool(training), self.seed)
            return float(loss), self._split(self._graph.grad_buffer(), None)

    # ------------------------------------------------------------------ weights
    def _buffers(self):
        return self._graph.param_buffer(), self._graph.state_buffer()

    def _split(self, params_flat: np.ndarray, state_flat: Optional[np.ndarray]) -> List[np.ndarray]:
        """Per-weight arrays in get_weights() order; non-trainable weights come from
        state_flat, or are zeros (their gradient) when it is None."""
        out = []
        for p in self._graph.params():
            if p["trainable"]:
                src = params_flat
            elif state_flat is None:
                out.append(np.zeros(p["shape"], np.float32))
                continue
            else:
                src = state_flat
            out.append(src[p["offset"]: p["offset"] + p["size"]].reshape(p["shape"]).copy())
        return out

    def get_weights(self) -> List[np.ndarray]:
        """Copies of every weight, layer by layer (Dense: kernel then bias; BatchNormalization:
        gamma, beta, moving_mean, moving_variance)."""
        self._require_built()
        with self._use("get_weights", exclusive=False):
            return self._split(*self._buffers())

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self._require_built()
        params = self._graph.params()
        if len(weights) != len(params):
            raise ValueError(f"{self.name}: expected {len(params)} weight arrays, got {len(weights)}")
        arrays = []
        for p, w in zip(params, weights):
            w = np.asarray(w)
            if tuple(w.shape) != tuple(p["shape"]):
                raise ValueError(f"{self.name}: weight {p['layer']}/{p['name']} expects shape "
                                 f"{tuple(p['shape'])}, got {tuple(w.shape)}")
            arrays.append(np.asarray(w, dtype=np.float32))
        with self._use("set_weights", exclusive=True):
            params_flat, state_flat = self._buffers()
            for p, w in zip(params, arrays):
                dst = params_flat if p["trainable"] else state_flat
                dst[p["offset"]: p["offset"] + p["size"]] = w.ravel()

    def _set_layer_weights(self, layer_name: str, values: Dict[str, object]) -> None:
        with self._use("set_weights", exclusive=True):
            self._set_layer_weights_locked(layer_name, values)

    def _set_layer_weights_locked(self, layer_name: str, values: Dict[str, object]) -> None:
        params_flat, state_flat = self._buffers()
        for p in self._graph.params():
            if p["layer"] == layer_name and p["name"] in values:
                v = np.asarray(values[p["name"]], dtype=np.float32)
                if v.size != p["size"]:
                    raise ValueError(f"{self.name}: {layer_name}/{p['name']} expects {tuple(p['shape'])} values, "
                                     f"got shape {v.shape}")
                (params_flat if p["trainable"] else state_flat)[p["offset"]: p["offset"] + p["size"]] = v.ravel()

    def adapt(self, x) -> "Sequential":
        """Set the statistics of the first layer, a ``layers.Normalization``, from training
        data ``x`` (mean and variance per feature or per channel, in float64)."""
        if not self.layers or not isinstance(self.layers[0], layers_mod.Normalization):
            raise ValueError(f"{self.name}: adapt() needs a layers.Normalization as the first layer")
        arr = self._prepare_x(x, "x").astype(np.float64)
        from .preprocessing import _stats_axes

        layer = self.layers[0]
        axes = _stats_axes(arr, layer.per)
        layer.mean = arr.mean(axis=axes).tolist()
        layer.variance = arr.var(axis=axes).tolist()
        self._set_layer_weights(layer.name, {"mean": layer.mean, "variance": layer.variance})
        return self

    def count_params(self) -> int:
        """All weights, trainable and not (as Keras counts them)."""
        self._require_built()
        return int(sum(p["size"] for p in self._graph.params()))

    # ----------------------------------------------------------------- reports
    def summary(self, print_fn=print) -> str:
        """Print (and return) each layer's output shape and parameter count."""
        self._require_built()
        rows = [("Layer (type)", "Output shape", "Params")]
        for info in self._graph.layers():
            shape = "(" + ", ".join(["None", *map(str, info["output_shape"])]) + ")"
            rows.append((f"{info['name']} ({info['kind']})", shape, f"{info['num_params']:,}"))
        w = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        line = "-" * sum(w)
        out = [f'Model: "{self.name}"', line]
        for i, r in enumerate(rows):
            out.append(r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].rjust(w[2]))
            if i == 0:
                out.append("=" * sum(w))
        out += [line, f"Total params: {self.count_params():,}"]
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> Dict:
        return {"name": self.name, "seed": self.seed,
                "input_shape": None if self.input_shape is None else list(self.input_shape),
                "layers": [layers_mod.serialize(l) for l in self.layers]}

    def save(self, path: str) -> None:
        """Save architecture, weights and optimizer state to one file (atomically)."""
        from .saving import save_model

        save_model(self, path)
