"""Models: ``Model(inputs, outputs)`` for any DAG of layer calls, and ``Sequential``, its chain
case. Python describes the network; the C++ graph runs it (fit runs whole epochs in C++ with
the GIL released; Python sees the run only every few batches and at epoch ends).
"""
from __future__ import annotations

import copyreg
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import _checks, _core
from ..metrics import _logs as _metric_logs
from . import functional, heads as heads_mod
from .. import layers as layers_mod
from .. import losses as losses_mod
from .. import optimizers as optimizers_mod
from . import training
from . import device as _engine_device

__all__ = ["Model", "Sequential"]


def _structure(value, what: str) -> Tuple[str, list, Optional[list]]:
    """("single" | "list" | "dict", the items in order, the dict keys or None)."""
    if isinstance(value, dict):
        return "dict", list(value.values()), list(value.keys())
    if isinstance(value, (list, tuple)):
        return "list", list(value), None
    return "single", [value], None


def _loader_validation_arrays(loader):
    """(x, y) a DataLoader validates with: its ArrayDataset's arrays through the transform's
    deterministic steps (Resize, CenterCrop); random augmentations are off in validation,
    as Keras' augmentation layers are at inference."""
    from ..data.transforms import CenterCrop, Compose, Resize

    ds = loader.dataset
    if getattr(ds, "y", None) is None or not hasattr(ds, "x"):
        raise ValueError("validation_data: a DataLoader used for validation must hold an ArrayDataset with y")
    x = ds.x
    steps, todo = [], [loader.transform] if loader.transform is not None else []
    while todo:
        t = todo.pop(0)
        if isinstance(t, Compose):
            todo[:0] = t.transforms
        elif isinstance(t, (Resize, CenterCrop)):
            steps.append(t)
    if steps:
        x = Compose(steps)(x)
    return x, ds.y


def _validate_metrics(names, loss):
    """The metric names for one output; a custom loss takes the regression metrics (its
    targets are shaped like the output, so mse, mae, r2 compare them value by value)."""
    if not loss.is_custom:
        return _metric_logs.validate(names, loss.name)
    try:
        return _metric_logs.validate(names, "mse")
    except ValueError as e:
        raise ValueError(f"metrics {names} with the custom loss {type(loss).__name__}: only the regression "
                         f"metrics (mse, mae, rmse, r2, ...) apply, since pydl cannot tell what its outputs mean; "
                         f"({e})") from None


def _check_verbose(verbose, what: str) -> None:
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"{what}: verbose must be 0, 1 or 2, got {verbose!r}")


class Model:
    """A model over a DAG of layer calls.

    >>> inp = pydl.Input((8, 8, 1), name="image")
    >>> x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    >>> y = layers.Add()([x, layers.Conv2D(16, 3, padding="same")(x)])
    >>> out = layers.Dense(10, name="digit")(layers.Flatten()(y))
    >>> model = pydl.Model(inputs=inp, outputs=out, seed=0)

    ``inputs`` and ``outputs`` are a tensor, a list or a dict of tensors; data for several
    inputs or outputs is passed in the same structure (a list in order, or a dict by input
    name / output name). Output names are the dict keys, else the names of the layers that
    made them. ``seed`` fixes weight initialisation, shuffling and dropout masks: the same
    seed gives bitwise identical weights whatever the thread count.

    ``device`` is where the model trains and predicts: ``"cpu"`` (the default), ``"cuda"`` or
    ``"cuda:N"`` (an NVIDIA GPU, see ``pydl.cuda``); ``model.to(device)`` moves it later.
    The weights are initialised the same on every device (the same seed gives the same
    initial weights); inputs stay NumPy arrays, copied to the device batch by batch.
    """

    def __init__(self, inputs=None, outputs=None, name: Optional[str] = None, seed: int = 0,
                 device: str = "cpu"):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"{type(self).__name__}: expected a non-negative int seed, got {seed!r}")
        self._device = _engine_device.resolve(device)
        self.seed = int(seed)
        self.name = name or ("sequential" if isinstance(self, Sequential) else "model")
        self.layers: List[layers_mod.Layer] = []
        self.stop_training = False
        self.optimizer: Optional[optimizers_mod.Optimizer] = None
        self.loss = None
        self.metrics: List[str] = []
        self._losses: List[losses_mod.Loss] = []        # one per output
        self._head_metrics: List[List[str]] = []        # one list per output
        self._loss_weights: List[float] = []
        self._graph: Any = None    # the C++ Graph, once built
        self._trainer: Any = None  # the C++ Trainer, once compiled
        self._traced: Any = None
        self._epochs_seen = 0  # epochs trained so far: keeps each fit's shuffles fresh
        self._run = None      # the fit() in progress (training.FitRun)
        # Lazy building and trainer creation happen on first use, perhaps in several threads
        # at once; the C++ graph's own use gate guards everything after.
        self._setup_lock = threading.RLock()
        if isinstance(self, Sequential):
            return
        if inputs is None or outputs is None:
            raise ValueError("Model: give both inputs= and outputs= (tensors from pydl.Input and layer calls); "
                             "for a stack of layers use pydl.Sequential")
        self._input_kind, self.inputs, self._input_keys = _structure(inputs, "inputs")
        self._output_kind, self.outputs, self._output_keys = _structure(outputs, "outputs")
        for i, t in enumerate(self.inputs):
            if isinstance(t, functional.SymbolicTensor) and t.layer is None and t.name is None:
                t.name = "input" if i == 0 else f"input_{i}"
        self._traced = functional.trace(self.inputs, self.outputs, self.name)
        functional.assign_names(self._traced.layers, self.name)
        self.layers = list(self._traced.layers)
        for layer in self.layers:
            layer._model = self
        names = [t.name for t in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: two inputs are named {names}")
        self.build()

    # ----------------------------------------------------------------- structure
    @property
    def input_names(self) -> List[str]:
        if self._input_keys is not None:
            return list(self._input_keys)
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> List[str]:
        if self._output_keys is not None:
            return [str(k) for k in self._output_keys]
        return [t.layer.name if t.layer is not None else t.name for t in self.outputs]

    def get_layer(self, name: str) -> Any:  # a Layer, or a loaded composite's LayerGroup
        for layer in self.layers:
            if layer.name == name:
                return layer
        # A composite (TransformerEncoder) is its sublayers in the graph, named "<name>/<part>".
        for layer in self.layers:
            parent = getattr(layer, "_composite", None)
            if parent is not None and parent.name == name:
                return parent
        group = [layer for layer in self.layers if layer.name.startswith(name + "/")]
        if group:  # a loaded model: the composite's sublayers, as a group
            return layers_mod.LayerGroup(name, group)
        raise ValueError(f"{self.name}: no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    @property
    def built(self) -> bool:
        return self._graph is not None

    def build(self, input_shape=None) -> "Model":
        """Create the C++ network (weights included)."""
        with self._setup_lock:
            if self._graph is None:
                # A None axis (a length each call chooses) is built at length 1 first: the
                # weights never depend on it (checked when another length comes).
                shapes = [tuple(1 if d is None else d for d in s) for s in self._declared_input_shapes()]
                self._graph = self._make_graph(shapes)
                self._built_input_shapes = [tuple(s) for s in self._graph.input_shapes]  # checked on every call
                self._graphs = {tuple(self._built_input_shapes): self._graph}
                self._graph.init_params(self.seed)  # drawn on the host: the same on every device
                if self._device != ("cpu", 0):
                    self._graph.to(*self._device)
                for layer in self.layers:
                    layer._model = self  # layer.get_weights / set_weights reach the graph
                    if isinstance(layer, layers_mod.Normalization) and layer.mean is not None:
                        self._set_layer_weights(layer.name, {"mean": layer.mean, "variance": layer.variance})
                self._apply_trainable()
                if self.optimizer is not None:
                    self._make_trainer()
        return self

    def _make_graph(self, shapes):
        """The C++ graph for these concrete per-sample input shapes (one per input)."""
        t = self._traced
        configs, nodes, outputs = heads_mod.split_dag_outputs(t.layers, [l.core_config() for l in t.layers],
                                                              t.nodes, t.outputs, len(t.inputs))
        graph = _core.Graph([list(s) for s in shapes], configs, nodes, outputs)
        n_in = len(t.inputs)
        nodes = graph.nodes()
        for tensor, i in t.tensor_ids.items():  # the shapes the C++ build inferred
            if i >= n_in:
                tensor.shape = tuple(nodes[i - n_in]["output_shape"])
        return graph

    def _declared_input_shapes(self) -> List[Tuple]:
        """Each input's per-sample shape as declared (None: any length per call)."""
        return [tuple(t.shape) for t in self.inputs]

    # Graphs kept per distinct set of input lengths of a model with None axes: switching back
    # to a length seen before re-plans nothing. Beyond this many, the oldest is dropped.
    _MAX_LENGTH_GRAPHS = 8

    def _match_input_shapes(self, arrays: List[np.ndarray], names: List[str], switch: bool) -> None:
        """Check the arrays against the declared input shapes. With None axes, the graph for
        the arrays' lengths becomes the model's (built once per distinct lengths, the same
        weights copied in, the optimizer state carried over); switch=False (validation data
        inside a fit) requires the lengths the model runs with now."""
        declared = self._declared_input_shapes()
        if not any(d is None for s in declared for d in s):
            for arr, shape in zip(arrays, self._built_input_shapes):
                _checks.check_input_shape(arr, shape, self.name)
            return
        shapes = []
        for arr, shape in zip(arrays, declared):
            concrete = functional.concrete_shape(shape, arr)
            if concrete is None:
                _checks.check_input_shape(arr, shape, self.name)  # raises, showing the None axes
            shapes.append(concrete)
        if shapes == list(self._built_input_shapes):
            return
        if not switch:
            raise ValueError(f"{self.name}: {names[0]} has per-sample shapes {shapes}, but this fit trains on "
                             f"{list(self._built_input_shapes)}; within one call every sequence has one length: "
                             "pad them to one (Embedding(mask_zero=True) masks id-0 padding)")
        self._switch_input_shapes(shapes)

    def _switch_input_shapes(self, shapes: List[Tuple[int, ...]]) -> None:
        with self._setup_lock:
            key = tuple(shapes)
            graph = self._graphs.get(key)
            if graph is None:
                graph = self._make_graph(shapes)
                old = {(p["layer"], p["name"]): tuple(p["shape"]) for p in self._graph.params()}
                new = {(p["layer"], p["name"]): tuple(p["shape"]) for p in graph.params()}
                if old != new:
                    moved = sorted({layer for (layer, w) in old if old[(layer, w)] != new.get((layer, w))})
                    raise ValueError(f"{self.name}: the weights of layer(s) {moved} depend on the length of an "
                                     f"input's None axis (weights for {list(self._built_input_shapes)} differ from "
                                     f"those for {shapes}); keep that axis out of weighted layers (a recurrent "
                                     "layer with return_sequences=False before a Dense), or give the Input a "
                                     "fixed shape")
                if len(self._graphs) >= self._MAX_LENGTH_GRAPHS:
                    stale = next(k for k, g in self._graphs.items() if g is not self._graph)
                    del self._graphs[stale]
                self._graphs[key] = graph
            with self._graph.use("a change of input length", False), graph.use("a change of input length", True):
                graph.to(*self._device)  # a graph made (or last used) elsewhere follows the model
                graph.copy_weights_from(self._graph)
            self._graph = graph
            self._built_input_shapes = list(key)
            self._apply_trainable()
            if self._trainer is not None:
                self._make_trainer(keep_state=True)

    @property
    def output_shape(self):
        self._require_built()
        shapes = [tuple(s) for s in self._graph.output_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    def _require_built(self):
        if self._graph is None:
            self.build()

    def _ensure_built(self, xs: List[np.ndarray]) -> None:
        if self._graph is None:
            self.build()

    def _use(self, what: str, exclusive: bool):
        """Hold the graph for `what`: exclusively for training and weight changes, shared for
        reads. Another thread holding it the other way makes this raise RuntimeError."""
        return self._graph.use(what, exclusive)

    # ----------------------------------------------------------------- devices
    @property
    def device(self) -> str:
        """Where the model's weights, optimizer state and activations live: ``"cpu"`` or
        ``"cuda:N"``."""
        kind, ordinal = self._device
        return "cpu" if kind == "cpu" else f"cuda:{ordinal}"

    def to(self, device: str) -> "Model":
        """Move the model to ``device`` (``"cpu"``, ``"cuda"`` or ``"cuda:N"``): its weights,
        optimizer state and the buffers of training and inference. Returns the model. Training
        continues where it stopped (the same step, the same optimizer moments); checkpoints and
        ``save`` work from any device, and a model saved on a GPU loads on a CPU-only machine."""
        target = _engine_device.resolve(device)
        with self._setup_lock:
            if self._graph is not None and target != self._device:
                with self._use("to", exclusive=True):
                    self._graph.to(*target)
                    if self._trainer is not None:
                        self._trainer.follow_graph()
                # The graphs kept for other input lengths move too (none keeps device memory).
                for graph in self._graphs.values():
                    if graph is not self._graph:
                        graph.to(*target)
            self._device = target
        return self

    def _ensure_trainer(self) -> None:
        self._require_built()
        with self._setup_lock:
            if self._trainer is None:
                self._make_trainer()

    # ---------------------------------------------------------------- compiling
    def _per_output(self, value, what: str, default):
        """A setting per output from one value (single output), a list in order or a dict by
        output name; missing dict entries take `default`, unknown names are errors."""
        names = self.output_names
        if isinstance(value, dict):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"{self.name}: {what} names outputs {unknown} that the model does not have; "
                                 f"outputs: {names}")
            return [value.get(n, default) for n in names]
        if isinstance(value, (list, tuple)) and what != "metrics" or (what == "metrics" and value and
                                                                        isinstance(value[0], (list, tuple))):
            if len(value) != len(names):
                raise ValueError(f"{self.name}: expected {len(names)} {what} (one per output {names}), got {len(value)}")
            return list(value)
        if len(names) > 1 and what == "loss":
            raise ValueError(f"{self.name}: the model has {len(names)} outputs {names}; give loss as a dict by "
                             "output name or a list in order")
        return [value] * len(names)

    def compile(self, optimizer="adam", loss="cross_entropy", metrics=None, loss_weights=None) -> None:
        """Choose the optimizer, the loss(es), their weights and the metrics reported by fit
        and evaluate. With several outputs, ``loss``, ``loss_weights`` and ``metrics`` are
        dicts by output name or lists in order (a flat metrics list applies to every output);
        the training loss is the weighted sum of the outputs' losses."""
        self._require_built() if not isinstance(self, Sequential) else None
        optimizer = optimizers_mod.get(optimizer)
        n_out = len(self.output_names) if self._traced is not None else 1
        if self._traced is None:  # Sequential: one output
            losses, weights, metric_lists = [loss], [1.0 if loss_weights is None else loss_weights], [metrics or []]
            if isinstance(loss_weights, (list, tuple)):
                weights = list(loss_weights)
        else:
            losses = self._per_output(loss, "loss", None)
            if any(l is None for l in losses):
                missing = [n for n, l in zip(self.output_names, losses) if l is None]
                raise ValueError(f"{self.name}: no loss for the outputs {missing}")
            weights = self._per_output(1.0 if loss_weights is None else loss_weights, "loss_weights", 1.0)
            metric_lists = self._per_output(metrics or [], "metrics", [])
        losses = [losses_mod.get(l) for l in losses]
        if len(weights) != n_out:
            raise ValueError(f"{self.name}: expected {n_out} loss_weights, got {len(weights)}")
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) or not np.isfinite(w) or w < 0:
                raise ValueError(f"{self.name}: loss_weights must be finite numbers >= 0, got {w!r}")
        metric_lists = [_validate_metrics(list(m or []), l) for m, l in zip(metric_lists, losses)]
        for loss, act, name in zip(losses, self._output_activations(), self.output_names):
            heads_mod.resolve_from_logits(loss, act, name)  # refuses from_logits=True on probabilities now
        with self._setup_lock:
            def apply():
                self.optimizer, self._losses, self._loss_weights = optimizer, losses, [float(w) for w in weights]
                self._head_metrics = metric_lists
                self.loss = losses[0] if n_out == 1 else (loss if isinstance(loss, dict) else losses)
                self.metrics = metric_lists[0] if n_out == 1 else metrics
                if self._graph is not None:
                    self._make_trainer()
            if self._graph is None:
                apply()
                return
            with self._use("compile", exclusive=True):
                apply()

    def _output_activations(self) -> List[Optional[str]]:
        """The activation each output layer ends in (None: a layer without one)."""
        if self._traced is None:
            return [heads_mod.final_activation(self.layers[-1]) if self.layers else None]
        return [None if t.layer is None else heads_mod.final_activation(t.layer) for t in self.outputs]

    def _make_trainer(self, keep_state: bool = False):
        old = self._trainer
        heads = heads_mod.head_configs(self._losses, self._loss_weights, self._output_activations(),
                                       self.output_names)
        self._from_logits = [h.get("from_logits") for h in heads]
        self._trainer = _core.Trainer(self._graph, heads, self.optimizer.core_config())
        self._apply_trainable()
        self.optimizer.bind(self._trainer)
        for j, names in enumerate(self._head_metrics):
            self._trainer.set_metrics(**_metric_logs.spec(names), head=j)
        if keep_state and old is not None:
            self._trainer.step = old.step
            for i, prev in enumerate(old.read_slots()):
                self._trainer.write_slot(i, prev)

    def _apply_trainable(self) -> None:
        """layer.trainable = False: the trainer freezes the layer's weights (no update, no
        optimizer state change) and the layer trains in inference mode where that differs."""
        if self._graph is None:
            return
        frozen = {l.name for l in self.layers if not l.trainable}
        for layer in self.layers:
            self._graph.set_layer_frozen(layer.name, layer.name in frozen)
        if self._trainer is not None:
            self._trainer.set_frozen([(p["offset"], p["size"]) for p in self._graph.params()
                                      if p["trainable"] and p["layer"] in frozen])

    def _require_compiled(self, what: str):
        if self.optimizer is None or not self._losses:
            raise RuntimeError(f"{self.name}: call compile() before {what}()")

    # ------------------------------------------------------------------ data in
    def _by_structure(self, data, names: List[str], what: str) -> list:
        """Arrays in model order from one array (one input/output), a list, or a dict by name."""
        if isinstance(data, dict):
            missing = [n for n in names if n not in data]
            extra = [k for k in data if k not in names]
            if missing or extra:
                raise ValueError(f"{self.name}: {what} keys {sorted(map(str, data))} do not match the model's "
                                 f"{names}" + (f" (missing {missing})" if missing else "") +
                                 (f" (unknown {extra})" if extra else ""))
            return [data[n] for n in names]
        if isinstance(data, (list, tuple)) and len(names) > 1:
            if len(data) != len(names):
                raise ValueError(f"{self.name}: expected {len(names)} {what} arrays {names}, got {len(data)}")
            return list(data)
        if len(names) > 1:
            raise ValueError(f"{self.name}: the model has {len(names)} {what}s {names}; pass a list or a dict")
        return [data]

    def _prepare_inputs(self, x, what: str = "x", switch: bool = True) -> List[np.ndarray]:
        """The input arrays as float32, checked (shape, dtype, finiteness); see
        _match_input_shapes for inputs with None axes and ``switch``."""
        if self._traced is None:  # Sequential
            arr = _checks.as_float32(x, what)
            self._ensure_built([arr])
            self._match_input_shapes([arr], [what], switch)
            _checks.check_finite(arr, what)
            return [arr]
        self._require_built()
        names = self.input_names
        arrays = []
        labels = []
        for name, tensor, value in zip(names, self.inputs, self._by_structure(x, names, what)):
            label = what if len(names) == 1 else f"{what}[{name!r}]"
            arrays.append(_checks.as_float32(functional.as_input_array(value, tensor, label), label))
            labels.append(label)
        self._match_input_shapes(arrays, labels, switch)
        for arr, label in zip(arrays, labels):
            _checks.check_finite(arr, label)
        if len({len(a) for a in arrays}) > 1:
            raise ValueError(f"{self.name}: the input arrays have different lengths {[len(a) for a in arrays]}")
        return arrays

    def _prepare_x(self, x, what: str = "x") -> np.ndarray:
        """The one input array of a single-input model (DataLoaders and adapt)."""
        return self._prepare_inputs(x, what)[0]

    def _prepare_targets(self, y, n: int, what: str = "y") -> Tuple[list, list]:
        """(labels per output, targets per output): for each output one is None, by its loss."""
        names = self.output_names if self._traced is not None else ["output"]
        ys = self._by_structure(y, names, what)
        labels: List[Any] = []
        targets: List[Any] = []
        for j, (value, loss) in enumerate(zip(ys, self._losses)):
            label = what if len(ys) == 1 else f"{what}[{names[j]!r}]"
            out_shape = tuple(self._graph.output_shapes[j])
            if loss.name == "cross_entropy":
                if len(out_shape) == 2:  # a sequence (None, steps, classes): one label per step
                    labels.append(_checks.sequence_labels(value, n, out_shape[0], out_shape[1], label))
                    targets.append(None)
                    continue
                if len(out_shape) != 1:
                    raise ValueError(f"cross_entropy expects a model output of shape (None, classes) or "
                                     f"(None, steps, classes), got (None, {', '.join(map(str, out_shape))}); "
                                     "add a Flatten layer before the output layer")
                labels.append(_checks.class_labels(value, n, out_shape[0], label))
                targets.append(None)
            else:
                labels.append(None)
                targets.append(_checks.targets(value, n, out_shape, loss.name or type(loss).__name__, label))
        return labels, targets

    def _prepare_y(self, y, n: int, what: str = "y"):
        """(labels, targets) of a single-output model."""
        labels, targets = self._prepare_targets(y, n, what)
        return labels[0], targets[0]

    @staticmethod
    def _prepare_sample_weight(sample_weight, n: int, what: str = "sample_weight") -> Optional[np.ndarray]:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight)
        if w.ndim == 2 and w.shape[1] == 1:
            w = w[:, 0]
        if w.ndim != 1 or len(w) != n:
            raise ValueError(f"{what}: expected one weight per sample, shape ({n},), got {w.shape}")
        if not (np.issubdtype(w.dtype, np.number) or w.dtype == np.bool_):
            raise TypeError(f"{what}: expected numbers, got dtype {w.dtype}")
        w = np.ascontiguousarray(w, dtype=np.float32)
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"{what}: expected finite weights >= 0")
        return w

    # ----------------------------------------------------------------- training
    def fit(self, x, y=None, epochs: int = 1, batch_size: Optional[int] = None, validation_split: float = 0.0,
            validation_data=None, shuffle: Optional[bool] = None, verbose: int = 1, class_weight=None,
            seed: Optional[int] = None, callbacks: Optional[Sequence] = None,
            raise_on_nonfinite: bool = True, resume_from: Optional[str] = None, sample_weight=None,
            distributed: bool = False):
        """Train until epoch ``epochs``; returns a History of per-epoch logs.

        ``x``/``y`` are arrays, or lists / dicts of arrays for models with several inputs /
        outputs (by input / output name); with several outputs the logs hold the total
        ``loss`` and ``<output>_loss``, ``<output>_<metric>`` per output. ``x`` may be a
        DataLoader instead (then leave ``y``, ``batch_size``, ``shuffle`` and
        ``sample_weight`` out: the loader decides them). ``batch_size`` defaults to 32 and
        ``shuffle`` to True for arrays.
        ``validation_split`` holds out the last fraction of the samples (before shuffling; of
        a DataLoader's ArrayDataset too); ``validation_data=(x_val, y_val)`` (or ``(x_val,
        y_val, sample_weight_val)``, or a DataLoader) takes precedence for arrays.
        ``sample_weight`` (one per sample, >= 0) weighs each sample's loss: the loss is
        sum(w * l) / sum(w). ``class_weight`` (a single classification output) is a dict
        ``{class: weight}``, a list / array with one weight per class, or ``"balanced"``; with
        sample weights the two multiply. ``verbose``: 0 silent, 1 a progress bar per epoch,
        2 one line per epoch. ``seed`` (default: the model's) drives the shuffles and dropout
        masks. ``callbacks``: pydl.callbacks.Callback objects; their batch hooks run at the
        progress interval (see Callback.batch_interval). A NaN/Inf loss stops the epoch before
        the bad update and raises FloatingPointError naming the batch, or with
        ``raise_on_nonfinite=False`` logs the loss as NaN (see callbacks.TerminateOnNaN).
        ``resume_from`` names a checkpoint of callbacks.ModelCheckpoint: training continues
        after its epoch with the same data order, dropout masks, optimizer state and callback
        states, to the same weights as a run that was never interrupted.
        ``distributed=True`` (after ``pydl.distributed.init()``, on every rank of an MPI job)
        trains data-parallel: every rank passes the same data, ``batch_size`` is the global
        batch, and the weights follow a single-process fit's (see pydl.distributed).
        """
        self._require_compiled("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs: expected a non-negative int, got {epochs!r}")
        if (isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.number))
                or not 0.0 <= validation_split < 1.0):
            raise ValueError(f"validation_split: expected a fraction in [0, 1), got {validation_split!r}")
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(f"verbose: expected 0 (silent), 1 (progress bar) or 2 (one line per epoch), got {verbose!r}")
        if not isinstance(distributed, (bool, np.bool_)):
            raise TypeError(f"fit: distributed must be True or False, got {distributed!r}")
        run = training.FitRun(self.seed if seed is None else int(seed), bool(raise_on_nonfinite), resume_from)
        fit = training.fit_loader if isinstance(x, training.DataLoader) else training.fit_arrays
        if not distributed:
            return fit(self, x, y, epochs, batch_size, float(validation_split), validation_data, shuffle, verbose,
                       class_weight, run, callbacks, sample_weight)
        from .. import distributed as distributed_mod  # (loaded with the first fit, not with pydl)
        run.job = distributed_mod._job_for_fit()
        try:
            return fit(self, x, y, epochs, batch_size, float(validation_split), validation_data, shuffle, verbose,
                       class_weight, run, callbacks, sample_weight)
        except BaseException as e:  # every rank raises, none waits for this one in vain
            run.job.fail(e)
            raise

    def request_checkpoint(self, path: str) -> None:
        """Write a training checkpoint to ``path`` at the end of the current epoch of fit, once
        every callback has seen it (what callbacks.ModelCheckpoint calls)."""
        run = getattr(self, "_run", None)
        if run is None:
            raise RuntimeError(f"{self.name}: request_checkpoint() is for callbacks while fit() runs")
        run.pending_checkpoints.append(path)

    def _validation_arrays(self, validation_data):
        """(xs, labels, targets, sample_weight) of validation_data=(x_val, y_val[, w_val]) or a
        DataLoader over an ArrayDataset, checked; or None."""
        if validation_data is None:
            return None
        if isinstance(validation_data, training.DataLoader):
            validation_data = _loader_validation_arrays(validation_data)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
        vxs = self._prepare_inputs(validation_data[0], "validation_data x", switch=False)
        labels, targets = self._prepare_targets(validation_data[1], len(vxs[0]), "validation_data y")
        sw = None if len(validation_data) == 2 else self._prepare_sample_weight(
            validation_data[2], len(vxs[0]), "validation_data sample_weight")
        return vxs, labels, targets, sw

    def _logs(self, stats, names=None) -> Dict[str, float]:
        """Epoch logs: one output's as before; with several, the total loss then
        ``<output>_loss`` and ``<output>_<metric>`` per output (Keras's names)."""
        names = self._head_metrics if names is None else names
        if len(self._losses) == 1:
            return _metric_logs.logs_from_stats(stats, names[0], self._losses[0].name)
        logs = {"loss": float(stats["loss"])}
        for out, head, metrics, loss in zip(self.output_names, stats["heads"], names, self._losses):
            logs.update({f"{out}_{k}": v for k, v in _metric_logs.logs_from_stats(head, metrics, loss.name).items()})
        return logs

    # ------------------------------------------------------- evaluate / predict
    def evaluate(self, x, y, batch_size: int = 256, metrics=None, sample_weight=None, verbose: int = 0,
                 return_dict: bool = True, groups=None):
        """Loss and metrics on ``(x, y)`` in inference mode (no dropout, no augmentation).
        ``metrics`` (default: the compiled ones) are accumulated in C++ across batches;
        ``roc_auc`` is computed from the model's outputs at the end. ``sample_weight`` weighs
        each sample's loss (the weighted mean). Returns a dict ``{"loss": ..., metric: ...}``;
        ``return_dict=False`` returns Keras' list ``[loss, *metrics]`` in that order (the loss
        alone as a float when there are no metrics). ``verbose=1`` or ``2`` prints the logs
        on one line; 0 (the default) prints nothing. ``groups`` (one group per sample, for a
        classifier with one output) adds ``"groups": {group: {metric: value}}``: accuracy,
        precision, recall and F1 of each group's predictions (:func:`pydl.metrics.by_group`)."""
        _check_verbose(verbose, "evaluate")
        if not isinstance(return_dict, (bool, np.bool_)):
            raise TypeError(f"evaluate: return_dict must be True or False, got {return_dict!r}")
        if groups is not None and not return_dict:
            raise ValueError("evaluate: groups= needs return_dict=True (the groups are a dict entry)")
        logs = self._evaluate(x, y, batch_size, metrics, sample_weight)
        if groups is not None:
            logs["groups"] = self._by_group(x, y, groups, batch_size).by_group
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k != "groups"))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _evaluate(self, x, y, batch_size, metrics, sample_weight) -> Dict[str, float]:
        self._require_compiled("evaluate")
        batch_size = _checks.batch_size(batch_size, "evaluate")
        xs = self._prepare_inputs(x, "x")
        self._ensure_trainer()
        labels, targets = self._prepare_targets(y, len(xs[0]))
        sw = self._prepare_sample_weight(sample_weight, len(xs[0]))
        if metrics is None:
            names = self._head_metrics
        elif len(self._losses) == 1:
            names = [_validate_metrics(list(metrics), self._losses[0])]
        else:
            names = [_validate_metrics(list(m or []), l)
                     for m, l in zip(self._per_output(metrics, "metrics", []), self._losses)]
        # The metrics travel with the call: concurrent evaluations never see each other's.
        stats = self._trainer.evaluate(xs, labels, targets, batch_size, [_metric_logs.spec(m) for m in names], sw)
        logs = self._logs(stats, names)
        if any(_metric_logs.auc_keys(m) for m in names):
            self._add_roc_auc(logs, xs, labels, targets, batch_size, names, "")
        return logs

    def _by_group(self, x, y, groups, batch_size):
        """Metrics per group of a single-output classifier's predicted classes."""
        from ..metrics import by_group

        if len(self._losses) != 1 or self._losses[0].name not in heads_mod.PROBABILITIES_OF:
            raise ValueError("evaluate: groups= needs a classifier with one output (trained with a "
                             "cross-entropy loss)")
        xs = self._prepare_inputs(x, "x")
        labels, targets = self._prepare_targets(y, len(xs[0]))
        p = self.predict_proba(x, batch_size)
        if p.ndim != 2:
            raise ValueError(f"evaluate: groups= needs one prediction per sample, the model outputs shape {p.shape}")
        if self._losses[0].name == "binary_cross_entropy":
            truth, pred = (targets[0].reshape(len(p), -1) > 0.5), p > 0.5
            if p.shape[1] != 1:
                raise ValueError("evaluate: groups= needs one sigmoid output for binary_cross_entropy")
            truth, pred = truth[:, 0].astype(np.int64), pred[:, 0].astype(np.int64)
        else:
            truth = labels[0] if labels[0] is not None else targets[0].argmax(axis=1)
            pred = p.argmax(axis=1)
        return by_group(truth, pred, groups)

    def _add_roc_auc(self, logs, xs, labels, targets, batch_size, names, prefix: str) -> None:
        from ..metrics import roc_auc

        outs = self._graph.predict(xs, batch_size)
        for j, (scores, loss) in enumerate(zip(outs, self._losses)):
            keys = _metric_logs.auc_keys(names[j])
            if not keys:
                continue
            p = heads_mod.probabilities(scores, loss, self._from_logits[j], self.output_names[j])
            if loss.name == "binary_cross_entropy":
                value = float(roc_auc(targets[j].reshape(-1) > 0.5, p.reshape(-1)))
            else:
                truth = labels[j] if labels[j] is not None else targets[j].argmax(axis=1)
                value = float(roc_auc(truth, p, multi_class="ovr"))
            head = "" if len(self._losses) == 1 else f"{self.output_names[j]}_"
            for key in keys:
                logs[f"{prefix}{head}{key}"] = value

    def __call__(self, x):
        """``model(x)``: inference on arrays, the same as ``predict(x)``."""
        if isinstance(x, functional.SymbolicTensor) or (
                isinstance(x, (list, tuple, dict)) and any(isinstance(v, functional.SymbolicTensor)
                                                          for v in (x.values() if isinstance(x, dict) else x))):
            raise TypeError(f"{self.name}: calling a model on symbolic tensors (a model used as a layer) is not "
                            "supported; build one Model from the layers instead")
        return self.predict(x)

    def predict(self, x, batch_size: int = 256, verbose: int = 0):
        """What the output layers compute, as float32, batched internally: probabilities for an
        output layer that ends in sigmoid/softmax, else its values (logits for a linear
        classification output; ``predict_proba`` gives probabilities either way). One array,
        or a list (dict) of them when the model's outputs are a list (dict).
        ``verbose=1`` or ``2`` prints how many samples were predicted and how long it took;
        0 (the default) prints nothing."""
        _check_verbose(verbose, "predict")
        if not verbose:
            return self._predict(x, batch_size)
        import time

        t0 = time.perf_counter()
        out = self._predict(x, batch_size)
        first = out if isinstance(out, np.ndarray) else next(iter(out.values() if isinstance(out, dict) else out))
        print(f"predict: {len(first)} samples in {time.perf_counter() - t0:.3f} s")
        return out

    def predict_proba(self, x, batch_size: int = 256):
        """Class probabilities, whether the output layer computes them (ends in sigmoid or
        softmax) or logits (then sigmoid / softmax is applied here): for each output trained
        with a cross-entropy, in the structure ``predict`` returns."""
        self._require_compiled("predict_proba")
        self._require_built()
        self._ensure_trainer()
        out = self._predict(x, batch_size)
        items = out if isinstance(out, list) else list(out.values()) if isinstance(out, dict) else [out]
        probs = [heads_mod.probabilities(v, loss, fl, name)
                 for v, loss, fl, name in zip(items, self._losses, self._from_logits, self.output_names)]
        if isinstance(out, dict):
            return dict(zip(out.keys(), probs))
        return probs if isinstance(out, list) else probs[0]

    def _predict(self, x, batch_size):
        batch_size = _checks.batch_size(batch_size, "predict")
        xs = self._prepare_inputs(x, "x")
        if self._traced is None:
            return self._graph.predict(xs[0], batch_size)
        outs = self._graph.predict(xs, batch_size)
        if self._output_kind == "single":
            return outs[0]
        if self._output_kind == "dict":
            return dict(zip(self._output_keys, outs))
        return outs

    def loss_and_gradients(self, x, y, training: bool = False, sample_weight=None) -> Tuple[float, List[np.ndarray]]:
        """The (total) loss on the whole ``(x, y)`` as one batch, and its gradients with respect
        to every weight, aligned with ``get_weights()``. ``training=True`` applies dropout."""
        self._require_compiled("loss_and_gradients")
        xs = self._prepare_inputs(x, "x")
        self._ensure_trainer()
        labels, targets = self._prepare_targets(y, len(xs[0]))
        sw = self._prepare_sample_weight(sample_weight, len(xs[0]))
        with self._use("loss_and_gradients", exclusive=True):
            loss = self._trainer.loss_and_gradients(xs, labels, targets, bool(training), self.seed, sw)
            return float(loss), self._split(self._graph.read_buffer("grads"), None)

    # ------------------------------------------------------------------ weights
    def _buffers(self):
        """Copies of the flat parameter and state buffers (from wherever the model lives)."""
        return self._graph.read_buffer("params"), self._graph.read_buffer("state")

    def _split(self, params_flat: np.ndarray, state_flat: Optional[np.ndarray], layer: Optional[str] = None):
        """Per-weight arrays in get_weights() order (of one layer when given); non-trainable
        weights come from state_flat, or are zeros (their gradient) when it is None."""
        out = []
        for p in self._graph.params():
            if layer is not None and p["layer"] != layer:
                continue
            if p["trainable"]:
                src = params_flat
            elif state_flat is None:
                out.append(np.zeros(p["shape"], np.float32))
                continue
            else:
                src = state_flat
            out.append(src[p["offset"]: p["offset"] + p["size"]].reshape(p["shape"]).copy())
        return out

    def get_weights(self, layer: Optional[str] = None) -> List[np.ndarray]:
        """Copies of every weight, layer by layer (Dense: kernel then bias; BatchNormalization:
        gamma, beta, moving_mean, moving_variance); of one layer when ``layer`` names it."""
        self._require_built()
        with self._use("get_weights", exclusive=False):
            params, state = self._buffers()
            return self._split(params, state, layer=layer)

    def set_weights(self, weights: Sequence[np.ndarray], layer: Optional[str] = None) -> None:
        """Replace every weight (or one layer's, when ``layer`` names it), in get_weights order."""
        self._require_built()
        params = [p for p in self._graph.params() if layer is None or p["layer"] == layer]
        owner = self.name if layer is None else f"{self.name} layer {layer!r}"
        if len(weights) != len(params):
            raise ValueError(f"{owner}: expected {len(params)} weight arrays, got {len(weights)}")
        arrays = []
        for p, w in zip(params, weights):
            w = np.asarray(w)
            if tuple(w.shape) != tuple(p["shape"]):
                raise ValueError(f"{owner}: weight {p['layer']}/{p['name']} expects shape "
                                 f"{tuple(p['shape'])}, got {tuple(w.shape)}")
            if not np.issubdtype(w.dtype, np.number):
                raise TypeError(f"{owner}: weight {p['layer']}/{p['name']} must be numeric, got dtype {w.dtype}")
            arrays.append(np.asarray(w, dtype=np.float32))
        with self._use("set_weights", exclusive=True):
            for p, w in zip(params, arrays):
                self._graph.write_buffer("params" if p["trainable"] else "state", p["offset"], w.ravel())

    def _set_layer_weights(self, layer_name: str, values: Dict[str, object]) -> None:
        with self._use("set_weights", exclusive=True):
            for p in self._graph.params():
                if p["layer"] == layer_name and p["name"] in values:
                    v = np.asarray(values[p["name"]], dtype=np.float32)
                    if v.size != p["size"]:
                        raise ValueError(f"{self.name}: {layer_name}/{p['name']} expects {tuple(p['shape'])} values, "
                                         f"got shape {v.shape}")
                    self._graph.write_buffer("params" if p["trainable"] else "state", p["offset"], v.ravel())

    def adapt(self, x) -> "Model":
        """Set the statistics of the first layer, a ``layers.Normalization``, from training
        data ``x`` (mean and variance per feature or per channel, in float64)."""
        if not self.layers or not isinstance(self.layers[0], layers_mod.Normalization):
            raise ValueError(f"{self.name}: adapt() needs a layers.Normalization as the first layer")
        arr = self._prepare_x(x, "x").astype(np.float64)
        from ..data.preprocessing import _stats_axes

        layer = self.layers[0]
        axes = _stats_axes(arr, layer.per)
        layer.mean = arr.mean(axis=axes).tolist()
        layer.variance = arr.var(axis=axes).tolist()
        self._set_layer_weights(layer.name, {"mean": layer.mean, "variance": layer.variance})
        return self

    def weight_specs(self) -> List[Dict]:
        """Each weight's ``path`` ("layer/name"), ``shape`` and ``trainable``, in get_weights order."""
        self._require_built()
        return [{"path": f"{p['layer']}/{p['name']}", "shape": tuple(p["shape"]), "trainable": bool(p["trainable"])}
                for p in self._graph.params()]

    @property
    def epochs_trained(self) -> int:
        """Epochs trained so far; each fit's shuffles continue from here (checkpoints restore it)."""
        return self._epochs_seen

    @epochs_trained.setter
    def epochs_trained(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{self.name}: epochs_trained must be an int >= 0, got {value!r}")
        self._epochs_seen = int(value)

    def get_compile_config(self) -> Optional[Dict]:
        """What compile was given, one entry per output: ``optimizer``, ``losses`` (Loss objects),
        ``loss_weights``, ``metrics`` (lists of names); None before compile."""
        if self.optimizer is None:
            return None
        return {"optimizer": self.optimizer, "losses": list(self._losses), "loss_weights": list(self._loss_weights),
                "metrics": [list(m) for m in self._head_metrics]}

    def count_params(self) -> int:
        """All weights, trainable and not (as Keras counts them)."""
        self._require_built()
        return int(sum(p["size"] for p in self._graph.params()))

    # ----------------------------------------------------------------- reports
    def summary(self, print_fn=print, batch_size: int = 32) -> str:
        """Print (and return) each layer call's output shape, parameter count and the
        tensors it reads ("connected to"), and the activation memory planned for
        ``batch_size`` samples (activations and their gradients, float32)."""
        self._require_built()
        batch_size = _checks.batch_size(batch_size, "summary")
        infos, nodes = self._graph.layers(), self._graph.nodes()
        in_names = self.input_names if self._traced is not None else ["input"]
        tensor_names = list(in_names) + [infos[n["layer"]]["name"] for n in nodes]
        rows = [("Layer (type)", "Output shape", "Params", "Connected to")]
        seen = set()
        for node in nodes:
            if node["layer"] >= len(self.layers):
                continue  # an output's sigmoid/softmax split off its layer for the loss (engine/heads.py)
            info = infos[node["layer"]]
            shape = "(" + ", ".join(["None", *map(str, node["output_shape"])]) + ")"
            params = "0 (shared)" if node["layer"] in seen else f"{info['num_params']:,}"
            seen.add(node["layer"])
            rows.append((f"{info['name']} ({info['kind']})", shape, params,
                         ", ".join(tensor_names[i] for i in node["inputs"])))
        w = [max(len(r[i]) for r in rows) + 2 for i in range(4)]
        line = "-" * sum(w)
        out = [f'Model: "{self.name}"', line]
        for i, r in enumerate(rows):
            out.append(r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].rjust(w[2]) + "  " + r[3])
            if i == 0:
                out.append("=" * sum(w))
        mib = self._graph.activation_floats_per_sample * batch_size * 4 / 2**20
        infer_mib = self._graph.inference_floats_per_sample * batch_size * 4 / 2**20
        frozen = {l.name for l in self.layers if not l.trainable}
        trainable = sum(p["size"] for p in self._graph.params() if p["trainable"] and p["layer"] not in frozen)
        out += [line, f"Total params: {self.count_params():,}", f"Trainable params: {trainable:,}",
                f"Non-trainable params: {self.count_params() - trainable:,}",
                f"Activation memory for batch_size={batch_size}: {mib:.2f} MiB training (with gradients), "
                f"{infer_mib:.2f} MiB inference"]
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> Dict:
        t = self._traced
        return {"name": self.name, "seed": self.seed,
                "inputs": [{"name": x.name, "shape": list(x.shape), "dtype": x.dtype} for x in t.inputs],
                "layers": [layers_mod.serialize(l) for l in t.layers],
                "nodes": [[layer, list(ins)] + ([out] if out else []) for layer, ins, out in t.nodes],
                "outputs": list(t.outputs),
                "input_kind": self._input_kind, "input_keys": self._input_keys,
                "output_kind": self._output_kind, "output_keys": self._output_keys}

    def save(self, path: str) -> None:
        """Save architecture, weights and optimizer state to one file (atomically)."""
        from .saving import save_model  # lazy: model -> training -> saving -> model

        save_model(self, path)

    def export_onnx(self, path, opset: int = 17) -> None:
        """Write the model for inference to ``path`` (an ``.onnx`` file) as ONNX ``opset``
        (17 or newer), runnable by onnxruntime: it takes what ``predict`` takes (batch first,
        channels last; a dynamic batch axis) and gives its outputs. Needs the onnx package
        (``pip install "pydl[onnx]"``); see pydl.onnx."""
        from ..onnx import export_onnx  # lazy: onnx is an optional dependency

        export_onnx(self, path, opset)

    def __reduce__(self):
        """pickle and copy.deepcopy: a built model travels as the bytes of its model file
        (saving.model_to_bytes: architecture, weights, compile settings, optimizer state; no
        pickled C++ state), so it arrives as load_model would give it. An unbuilt Sequential
        is Python configuration only and travels as that."""
        from .saving import model_from_bytes, model_to_bytes  # lazy: model -> training -> saving -> model

        if self._graph is None:
            return (copyreg.__newobj__, (type(self),),
                    {k: v for k, v in self.__dict__.items() if k != "_setup_lock"})
        custom = {type(l).__name__: type(l) for l in self._losses if l.is_custom}
        return (model_from_bytes, (model_to_bytes(self), custom or None))

    def __setstate__(self, state: dict) -> None:  # the unbuilt case of __reduce__
        self.__dict__.update(state)
        self._setup_lock = threading.RLock()


class Sequential(Model):
    """A linear stack of layers: the chain case of Model.

    >>> model = Sequential([layers.Input((64,)), layers.Dense(10)], seed=0)
    """

    def __init__(self, layers: Optional[Sequence[layers_mod.Layer]] = None, seed: int = 0,
                 name: Optional[str] = None, device: str = "cpu"):
        super().__init__(name=name, seed=seed, device=device)
        self.input_shape: Optional[Tuple[int, ...]] = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: layers_mod.Layer) -> None:
        if self._graph is not None:
            raise RuntimeError(f"{self.name}: layers cannot be added after the model is built")
        if isinstance(layer, functional.Input):
            if self.layers or self.input_shape is not None:
                raise ValueError(f"{self.name}: Input must be the first layer")
            self.input_shape = layer.shape
            return
        if not isinstance(layer, layers_mod.Layer):
            raise TypeError(f"{self.name}: expected a pydl layer, got {type(layer).__name__}")
        if getattr(layer, "merge", False):
            raise ValueError(f"{self.name}: {type(layer).__name__} merges several tensors; build such models "
                             "with pydl.Model(inputs, outputs)")
        layers_mod.base.require_core_layer(layer)
        shape = getattr(layer, "input_shape", None)
        if shape is not None:  # Keras 2: Dense(8, input_shape=(4,)) as the first layer
            if self.layers or self.input_shape is not None:
                raise ValueError(f"{self.name}: input_shape= belongs on the first layer only (and not beside an "
                                 f"Input); {type(layer).__name__} {layer.name or ''} got {shape}")
            self.input_shape = shape
        self.layers.append(layer)
        layer._model = self  # layer.get_weights() builds the model when its input shape is known
        functional.assign_names(self.layers, self.name)

    @property
    def output_names(self) -> List[str]:
        return [self.layers[-1].name] if self.layers else ["output"]

    def build(self, input_shape: Optional[Sequence[int]] = None) -> "Sequential":
        """Create the C++ network (weights included) for ``input_shape`` (one sample)."""
        with self._setup_lock:
            if self._graph is None:
                if input_shape is not None:
                    self.input_shape = tuple(None if d is None else int(d) for d in input_shape)
                if self.input_shape is None:
                    raise ValueError(f"{self.name}: the input shape is unknown; start the model with "
                                     "layers.Input(shape) or call fit/predict first")
                if not self.layers:
                    raise ValueError(f"{self.name}: the model has no layers")
            super().build()
            return self

    def _declared_input_shapes(self) -> List[Tuple]:
        return [tuple(self.input_shape)]

    def _make_graph(self, shapes):
        return _core.Graph(list(shapes[0]),
                           heads_mod.split_chain_output(self.layers, [l.core_config() for l in self.layers]))

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

    def _ensure_built(self, xs: List[np.ndarray]) -> None:
        if self._graph is None:
            self.build(self.input_shape or xs[0].shape[1:])

    def get_config(self) -> Dict:
        return {"name": self.name, "seed": self.seed,
                "input_shape": None if self.input_shape is None else list(self.input_shape),
                "layers": [layers_mod.serialize(l) for l in self.layers]}
