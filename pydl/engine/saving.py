"""Model files: one safetensors file holding the weights and optimizer state as tensors and
the architecture, loss and optimizer settings as JSON in its metadata. Written atomically
(temp file, fsync, rename), so a crash mid-save never leaves a broken file. No pickle.

A save writes through a symlink, keeps the mode of the file it replaces (a new file gets the
umask's) and refuses to replace anything but a regular file. A load reads the header before
the body and checks every field before it builds or changes anything, so a forged file is a
ValueError naming it, and a refused checkpoint leaves the model as it was."""
from __future__ import annotations

import io
import json
import math
import os
import re
import secrets
import socket
import stat

from typing import Optional, Tuple

import numpy as np

from .. import layers as layers_mod
from .. import losses as losses_mod
from .. import optimizers as optimizers_mod

__all__ = ["save_model", "load_model", "model_to_bytes", "model_from_bytes", "clone_model"]

FORMAT = "pydl"
FORMAT_VERSION = 2  # 2: the model class and its graph (functional models); 1: Sequential only


# Temp files are named .tmp-pydl-<host>-<pid>-<random>.pydl so that a later save can tell
# the leftovers of a killed save (same host, dead pid) from a save still in progress.
_TMP_PREFIX = ".tmp-pydl-"
_TMP_SUFFIX = ".pydl"


def _host() -> str:
    # "-" stays: names are parsed from the right, and the pid and random part hold none.
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "localhost"


def _target(path: str) -> Tuple[str, Optional[int]]:
    """(the file a save to ``path`` writes, the mode to give it or None for a new file).
    A symlink is written through, so that the link stays a link."""
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    if not stat.S_ISREG(st.st_mode):
        shown = repr(path) if target == os.path.abspath(path) else f"{path!r} (-> {target!r})"
        from ..data.readers import _file_kind
        raise ValueError(f"save: {shown} is not a regular file but {_file_kind(st.st_mode)}; "
                         "refusing to replace it, choose a file path")
    return target, stat.S_IMODE(st.st_mode)


def _remove_stale_temp_files(directory: str, host: str) -> None:
    """Delete temp files that saves on this host left behind when they were killed. A file
    whose pid is alive (or belongs to another user, PermissionError) is a save in progress."""
    mine = f"{_TMP_PREFIX}{host}-"
    try:
        names = [n for n in os.listdir(directory) if n.startswith(mine) and n.endswith(_TMP_SUFFIX)]
    except OSError:
        return
    for name in names:
        parts = name[len(mine):-len(_TMP_SUFFIX)].split("-")
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) <= 0:
            continue  # another host whose name extends ours, or not one of our names
        pid = int(parts[0])
        try:
            os.kill(pid, 0)
            continue
        except ProcessLookupError:
            pass
        except (OSError, OverflowError):  # alive under another user, or no pid at all
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass  # removed by a concurrent save, or not ours to remove


def _atomic_write(path: str, data: bytes) -> None:
    target, mode = _target(os.fspath(path))
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    host = _host()
    _remove_stale_temp_files(directory, host)
    tmp = os.path.join(directory, f"{_TMP_PREFIX}{host}-{os.getpid()}-{secrets.token_hex(6)}{_TMP_SUFFIX}")
    # 0o666 and no umask call: the kernel applies the user's umask to a new file (and
    # os.umask would change it for every thread of the process).
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)  # replacing a file keeps its permissions
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` as a save does: a temp file beside it, fsync, rename (ONNX
    export writes through this too)."""
    _atomic_write(path, data)


# Suffixes that promise a format pydl does not write, with what that format is.
_FOREIGN_SUFFIXES = {".h5": "HDF5 (Keras 2)", ".hdf5": "HDF5", ".keras": "Keras 3", ".pt": "PyTorch",
                     ".pth": "PyTorch", ".bin": "PyTorch", ".ckpt": "TensorFlow/Lightning checkpoint",
                     ".onnx": "ONNX", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib",
                     ".json": "JSON", ".yaml": "YAML", ".safetensors": "plain safetensors", ".npz": "numpy",
                     ".npy": "numpy", ".pb": "TensorFlow SavedModel", ".tflite": "TensorFlow Lite",
                     ".zip": "zip", ".gz": "gzip", ".tar": "tar"}
SUFFIX = ".pydl"


def check_suffix(path: str, what: str = "save") -> str:
    """``path`` itself when it ends in ``.pydl`` (any case). A suffix that promises another
    format (``.h5``, ``.keras``, ``.pt``, ...) or no suffix at all is a ValueError: a file is
    never written under a name that lies about its contents, and, as in Keras 3, pydl does
    not guess a suffix for a name without one."""
    name = os.path.basename(path)
    stem, suffix = os.path.splitext(name)
    if suffix.lower() == SUFFIX:
        return path
    if not suffix or not stem:
        raise ValueError(f"{what}: {path!r} has no suffix; pydl writes .pydl files (safetensors with the "
                         f"architecture as JSON): add .pydl, e.g. {path + SUFFIX!r}")
    fmt = _FOREIGN_SUFFIXES.get(suffix.lower())
    promise = f"{fmt} format" if fmt else f"a {suffix!r} file"
    raise ValueError(f"{what}: {path!r} promises {promise}, but pydl writes .pydl files (safetensors with the "
                     f"architecture as JSON) and nothing else; use {os.path.join(os.path.dirname(path), stem + SUFFIX)!r}")


def check_model_path(path, what: str = "save") -> str:
    """The path a model file may be written to, as a str (see check_suffix); a path that
    exists but is not a regular file is refused first, as the write would refuse it."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"{what}: expected path to be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    _target(path)
    return check_suffix(path, what)


def save_model(model, path: str, checkpoint: Optional[dict] = None) -> None:
    """Write ``model`` to ``path`` (which must end in ``.pydl``, see check_suffix);
    ``checkpoint`` (training position and callback states) is stored alongside for
    ``fit(resume_from=path)``."""
    path = check_model_path(path)
    _atomic_write(path, model_to_bytes(model, checkpoint))


def model_to_bytes(model, checkpoint: Optional[dict] = None) -> bytes:
    """The bytes of the file ``save_model`` writes (safetensors: weights and optimizer
    state as tensors, architecture and compile settings as JSON), held in memory; for
    sending a model between processes (pickling estimators, executors)."""
    from safetensors.numpy import save

    model.build()
    tensors = {}
    for spec, w in zip(model.weight_specs(), model.get_weights()):
        tensors[f"weights/{spec['path']}"] = np.ascontiguousarray(w)
    from .model import Sequential  # lazy: model -> training -> saving -> model

    meta = {"format": FORMAT, "version": FORMAT_VERSION,
            "model": {"class": "Sequential" if isinstance(model, Sequential) else "Model", **model.get_config()},
            "epochs_seen": model.epochs_trained}
    comp = model.get_compile_config()
    if comp is not None:
        meta["compile"] = {"optimizer": {"kind": model.optimizer.kind, "config": model.optimizer.get_config()},
                           "losses": [{"name": losses_mod.saved_name(l), "config": l.get_config()} for l in comp["losses"]],
                           "loss_weights": comp["loss_weights"], "metrics": comp["metrics"],
                           "step": model.optimizer.iterations,
                           "learning_rate": float(model.optimizer.learning_rate)}
        for i, slot in enumerate(model.optimizer.variables()):
            tensors[f"optimizer/slot{i}"] = slot
    if checkpoint is not None:
        meta["checkpoint"] = checkpoint
    return save(tensors, metadata={"pydl": json.dumps(meta)})


def clone_model(model, seed: Optional[int] = None):
    """A new, uncompiled model with the architecture of ``model`` (its layers rebuilt from
    their configs, frozen layers still frozen) and fresh weights initialised from ``seed``
    (default: the model's own), as Keras' ``clone_model``. A Sequential whose input shape
    is not known yet stays unbuilt."""
    from .model import Model, Sequential  # lazy: model -> training -> saving -> model

    if not isinstance(model, Model):
        raise TypeError(f"clone_model: expected a pydl Model or Sequential, got {type(model).__name__}")
    cfg = {"class": "Sequential" if isinstance(model, Sequential) else "Model", **model.get_config()}
    if seed is not None:
        cfg["seed"] = seed
    specs = [layers_mod.deserialize(spec) for spec in cfg["layers"]]
    if cfg["class"] == "Sequential" and cfg["input_shape"] is None:
        clone = Sequential(specs, seed=cfg["seed"], name=cfg["name"])
    else:
        clone = _rebuild(cfg, specs)
    return clone.to(model.device)  # the clone runs where the model does (tuning trials)


# safetensors' own limit on the JSON header; a longer one is forged, and refused unread.
_MAX_HEADER = 100 << 20
_MAX_INT = 2 ** 63 - 1  # steps and epochs reach the C++ core as int64
# What forged JSON fed to a constructor or to the C++ graph can raise. Anything else (for
# example MemoryError) is not about the file and passes through.
_FORGED = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, RecursionError)


def _read(path: str) -> Tuple[dict, dict]:
    """(tensors, metadata) of a pydl file, with clear errors for anything else. The header is
    read and checked against the file size before the body, so a lying header costs nothing."""
    label = repr(path)
    try:
        from ..data.readers import _open_regular
        f, size = _open_regular(os.fspath(path), label)
    except OSError as e:
        raise OSError(f"cannot read model file {path!r}: {e.strerror or e}") from e
    with f:
        return _parse(f, size, label)


def _parse(f, size: int, label: str) -> Tuple[dict, dict]:
    """_read's checks on an open binary stream of ``size`` bytes (a file, or BytesIO)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    unreadable = f"{label} is not a readable pydl model file (truncated, corrupted or another format)"
    head = f.read(8)
    foreign = _foreign_format(head + f.read(1))  # the 9th byte tells a safetensors header apart
    f.seek(len(head))
    if foreign:
        raise ValueError(f"{label} is {foreign}, not a pydl model file; pydl reads the .pydl files that "
                         "model.save writes")
    if len(head) < 8:
        raise ValueError(f"{unreadable}: {size} bytes, too short for the 8-byte header length")
    n = int.from_bytes(head, "little")
    if n > size - 8:
        raise ValueError(f"{unreadable}: it announces a header of {n} bytes, but the file holds "
                         f"only {size - 8} more")
    if n > _MAX_HEADER:
        raise ValueError(f"{unreadable}: header of {n} bytes, more than safetensors allows ({_MAX_HEADER})")
    header_bytes = f.read(n)
    body = size - 8 - n
    need, meta = _parse_header(header_bytes, unreadable, label)
    if need != body:
        raise ValueError(f"{unreadable}: its tensors need {need} bytes after the header, the file "
                         f"holds {body}")
    rest = f.read(body + 1)
    if len(header_bytes) != n or len(rest) != body:
        raise ValueError(f"{unreadable}: the file changed size while it was read")
    try:
        tensors = load(head + header_bytes + rest)
    except (SafetensorError, ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{unreadable}: {e}") from None
    return tensors, meta


def _foreign_format(head: bytes) -> Optional[str]:
    """The format the file's first bytes announce, for files that are clearly something else."""
    if len(head) > 8 and head[8:9] == b"{":
        return None  # a safetensors header (8-byte length, then JSON): a pickle's magic may be its length
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (a Keras .h5 model?)"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (a .keras or PyTorch model?)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    if head.startswith(b"\x93NUMPY"):
        return "a numpy .npy array"
    return None


def _parse_header(data: bytes, unreadable: str, label: str) -> Tuple[int, dict]:
    """(bytes of tensor data the safetensors header promises, the pydl metadata)."""
    try:
        header = json.loads(data)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise ValueError(f"{unreadable}: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{unreadable}: expected a JSON object as the header, got {type(header).__name__}")
    need = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and
                all(isinstance(o, int) and not isinstance(o, bool) for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"{unreadable}: tensor {_show(key)}: expected data_offsets [begin, end], got {_show(entry)}")
        need = max(need, offsets[1])
    extra = header.get("__metadata__")
    if extra is not None and not isinstance(extra, dict):
        raise ValueError(f"{unreadable}: expected __metadata__ to be an object, got {type(extra).__name__}")
    if not extra or "pydl" not in extra:
        raise ValueError(f"{label} is not a pydl model file (no pydl metadata)")
    if not isinstance(extra["pydl"], str):
        raise ValueError(f"{unreadable}: expected the pydl metadata as a string, got {type(extra['pydl']).__name__}")
    try:
        meta = json.loads(extra["pydl"])
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{unreadable}: pydl metadata: {e}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{label}: metadata: expected an object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{label} is not a pydl model file")
    version = meta.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{label}: version: expected an int, got {_show(version)}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{label} was written by a newer pydl (format {version})")
    return need, meta


# ------------------------------------------------------------- checks of the metadata

def _show(value) -> str:
    """repr of a value from the file, cut short: a forged field can be megabytes long."""
    r = repr(value)
    return r if len(r) <= 80 else r[:77] + "..."


def _name(value) -> str:
    return value if isinstance(value, str) and len(value) <= 80 else _show(value)


def _short(e: BaseException) -> str:
    text = str(e)
    return text if len(text) <= 300 else text[:297] + "..."


def _int(value, label: str, what: str, allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
        big = " (at most 2**63 - 1)" if isinstance(value, int) and value > _MAX_INT else ""
        raise ValueError(f"{label}: {what}: expected an int >= 0{' or null' if allow_none else ''}{big}, "
                         f"got {_show(value)}")
    return value


def _learning_rate(value, label: str, what: str) -> float:
    # NaN, Inf or a negative rate would make every later update non-finite or uphill.
    try:
        rate = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an int beyond float range
        rate = math.inf
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"{label}: {what}: expected a finite number >= 0, got {_show(value)}")
    return rate


def _finite_config(config: dict, label: str, what: str) -> None:
    for k, v in config.items():
        values = v if isinstance(v, list) else [v]
        if any(isinstance(x, float) and not math.isfinite(x) for x in values):
            raise ValueError(f"{label}: {what} {k}: expected finite numbers, got {v!r}")


def _obj(value, label: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{label}: {what}: expected an object, got {_show(value)}")
    return value


def _model_spec(meta: dict, label: str) -> dict:
    """meta["model"], its types checked (the layer configs are checked by the layers).
    Version 1 files hold a Sequential; version 2 files name the class."""
    cfg = _obj(meta.get("model"), label, "model")
    cls = "Sequential" if meta.get("version", 1) < 2 else cfg.get("class")
    if cls not in ("Sequential", "Model"):
        raise ValueError(f"{label}: model.class: expected 'Sequential' or 'Model', got {_show(cls)}")
    layers = cfg.get("layers")
    if not isinstance(layers, list):
        raise ValueError(f"{label}: model.layers: expected a list of layer specs, got {_show(layers)}")
    if not layers:
        raise ValueError(f"{label}: the model has no layers")
    if not isinstance(cfg.get("name"), str):
        raise ValueError(f"{label}: model.name: expected a string, got {_show(cfg.get('name'))}")
    _int(cfg.get("seed"), label, "model.seed")
    if cls == "Sequential":
        _shape(cfg.get("input_shape"), label, "model.input_shape")
    else:
        _graph_spec(cfg, label)
    return {**cfg, "class": cls}


def _shape(shape, label: str, what: str) -> None:
    # null: an axis whose length each call chooses (Input((None, 8))).
    if not (isinstance(shape, list) and shape and
            all(d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d <= _MAX_INT) for d in shape)):
        raise ValueError(f"{label}: {what}: expected a list of positive ints (or null), got {_show(shape)}")


def _graph_spec(cfg: dict, label: str) -> None:
    """A functional model's inputs, calls and outputs: every id in range, calls in
    topological order (each reads tensors made before it)."""
    inputs = cfg.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ValueError(f"{label}: model.inputs: expected a list of inputs, got {_show(inputs)}")
    for i, spec in enumerate(inputs):
        spec = _obj(spec, label, f"model.inputs[{i}]")
        _shape(spec.get("shape"), label, f"model.inputs[{i}].shape")
        if not isinstance(spec.get("name"), str) or spec.get("dtype", "float32") not in ("float32", "int32", "bool"):
            raise ValueError(f"{label}: model.inputs[{i}]: expected a name and a dtype, got {_show(spec)}")
    nodes, n_layers = cfg.get("nodes"), len(cfg["layers"])
    if not isinstance(nodes, list):
        raise ValueError(f"{label}: model.nodes: expected a list of [layer, [inputs]], got {_show(nodes)}")
    count = len(inputs)

    def index(v, below):
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < below

    for k, node in enumerate(nodes):
        # [layer, [inputs]] or [layer, [inputs], output]: output > 0 picks another output of the call
        ok = (isinstance(node, list) and len(node) in (2, 3) and index(node[0], n_layers)
              and isinstance(node[1], list) and node[1] and all(index(t, count) for t in node[1])
              and (len(node) == 2 or index(node[2], 8)))
        if not ok:
            raise ValueError(f"{label}: model.nodes[{k}]: expected [layer index < {n_layers}, [tensor ids < {count}]"
                             f"(, output index < 8)], got {_show(node)}")
        count += 1
    outputs = cfg.get("outputs")
    if not (isinstance(outputs, list) and outputs and
            all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < count for t in outputs)):
        raise ValueError(f"{label}: model.outputs: expected a list of tensor ids < {count}, got {_show(outputs)}")
    for side, n in (("input", len(inputs)), ("output", len(outputs))):
        kind, keys = cfg.get(f"{side}_kind"), cfg.get(f"{side}_keys")
        if kind not in ("single", "list", "dict") or (kind == "single" and n != 1) or \
                (kind == "dict") != isinstance(keys, list) or \
                (kind == "dict" and (len(keys) != n or not all(isinstance(k, str) for k in keys))):
            raise ValueError(f"{label}: model.{side}_kind/{side}_keys: {_show(kind)}, {_show(keys)} do not fit "
                             f"{n} {side}s")


def _rebuild(cfg: dict, specs: list):
    """The model a checked config describes (layers already deserialized)."""
    from .functional import Input, call_layer
    from .model import Model, Sequential  # lazy: model -> training -> saving -> model

    if cfg["class"] == "Sequential":
        model = Sequential(specs, seed=cfg["seed"], name=cfg["name"])
        return model.build(cfg["input_shape"])
    tensors: list = [Input(tuple(i["shape"]), name=i["name"], dtype=i.get("dtype", "float32")) for i in cfg["inputs"]]
    n_in = len(tensors)
    for node in cfg["nodes"]:
        layer, ins, out = node[0], node[1], (node[2] if len(node) == 3 else 0)
        args = [tensors[t] for t in ins]
        if out:  # another output of a call replayed just before (the graph checks the layer has it)
            tensors.append(call_layer(specs[layer], args, output_index=out))
        else:
            tensors.append(specs[layer](args if getattr(specs[layer], "merge", False) else args[0]))

    def shaped(kind, keys, items):
        return items[0] if kind == "single" else (dict(zip(keys, items)) if kind == "dict" else items)

    inputs = shaped(cfg["input_kind"], cfg["input_keys"], tensors[:n_in])
    outputs = shaped(cfg["output_kind"], cfg["output_keys"], [tensors[t] for t in cfg["outputs"]])
    return Model(inputs, outputs, name=cfg["name"], seed=cfg["seed"])


def _architecture(cfg: dict) -> dict:
    """What must match for a checkpoint to fit a model."""
    return {k: cfg.get(k) for k in ("layers", "input_shape", "inputs", "nodes", "outputs")}


def _compile_spec(meta: dict, label: str) -> Optional[dict]:
    """The compile settings and training position, every number checked; None if the model
    was saved uncompiled."""
    comp = meta.get("compile")
    if comp is None:
        return None
    comp = _obj(comp, label, "compile")
    opt = _obj(comp.get("optimizer"), label, "compile.optimizer")
    kind = opt.get("kind")
    if not isinstance(kind, str) or kind not in optimizers_mod._BY_NAME:
        raise ValueError(f"{label}: unknown optimizer kind {_show(kind)} (expected one of "
                         f"{', '.join(sorted(optimizers_mod._BY_NAME))})")
    opt_cfg = _obj(opt.get("config"), label, "compile.optimizer.config")
    if "learning_rate" in opt_cfg:
        _learning_rate(opt_cfg["learning_rate"], label, "optimizer learning_rate")
    _finite_config(opt_cfg, label, "optimizer")
    if "losses" in comp:  # version 2: one loss, weight and metric list per output
        losses, weights, metrics = comp.get("losses"), comp.get("loss_weights"), comp.get("metrics")
        if not (isinstance(losses, list) and losses and isinstance(weights, list) and isinstance(metrics, list)
                and len(weights) == len(losses) == len(metrics)):
            raise ValueError(f"{label}: compile: expected losses, loss_weights and metrics per output, got "
                             f"{_show(losses)}, {_show(weights)}, {_show(metrics)}")
    else:  # version 1
        losses, weights, metrics = [comp.get("loss")], [1.0], [comp.get("metrics") or []]
    out_losses = []
    for j, loss in enumerate(losses):
        loss = _obj(loss, label, f"compile.losses[{j}]")
        name = loss.get("name")
        if not isinstance(name, str) or (name not in losses_mod._BY_NAME and not (
                name.startswith(losses_mod.CUSTOM_PREFIX) and name[len(losses_mod.CUSTOM_PREFIX):].isidentifier())):
            raise ValueError(f"{label}: unknown loss {_show(name)}")
        loss_cfg = _obj(loss.get("config", {}), label, f"compile.losses[{j}].config")
        _finite_config(loss_cfg, label, "loss")
        out_losses.append((name, loss_cfg))
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ValueError(f"{label}: compile.loss_weights: expected finite numbers >= 0, got {_show(weights)}")
    for m in metrics:
        if not isinstance(m, list) or not all(isinstance(x, str) for x in m):
            raise ValueError(f"{label}: compile.metrics: expected lists of metric names, got {_show(metrics)}")
    out = {"kind": kind, "optimizer": opt_cfg, "losses": out_losses, "loss_weights": [float(w) for w in weights],
           "metrics": metrics, "step": None, "learning_rate": None}
    if "step" in comp:
        out["step"] = _int(comp["step"], label, "step")  # type: ignore[assignment]
    if "learning_rate" in comp:
        out["learning_rate"] = _learning_rate(comp["learning_rate"], label, "learning rate")  # type: ignore[assignment]
    return out


def _checkpoint_record(meta: dict, label: str) -> dict:
    """meta["checkpoint"], checked, so that resuming cannot trip over a forged field."""
    if "checkpoint" not in meta:
        raise ValueError(f"{label} is a model file, not a training checkpoint (see callbacks.ModelCheckpoint)")
    record = _obj(meta["checkpoint"], label, "checkpoint")
    _int(record.get("epoch"), label, "checkpoint epoch")
    _int(record.get("seed"), label, "checkpoint seed", allow_none=True)
    _int(record.get("loader_epoch"), label, "checkpoint loader_epoch", allow_none=True)
    cbs = record.get("callbacks", [])
    if not isinstance(cbs, list):
        raise ValueError(f"{label}: checkpoint callbacks: expected a list, got {_show(cbs)}")
    for i, c in enumerate(cbs):
        if not (isinstance(c, dict) and isinstance(c.get("class"), str) and isinstance(c.get("state", {}), dict)):
            raise ValueError(f"{label}: checkpoint callbacks[{i}]: expected an object with a class name "
                             f"and a state object, got {_show(c)}")
    return record


def _weights(model, tensors: dict, label: str) -> list:
    """The file's weights in get_weights() order, each checked against the built model."""
    out = []
    params = model.weight_specs()
    keys = [f"weights/{p['path']}" for p in params]
    extra = sorted(set(k for k in tensors if k.startswith("weights/")) - set(keys))
    if extra:
        raise ValueError(f"{label}: the weights {_show(extra)} are not in the saved architecture "
                         f"(it has {_show(keys)})")
    for p, key in zip(params, keys):
        if key not in tensors:
            raise ValueError(f"{label} lacks the weight {key}")
        t = tensors[key]
        if t.shape != p["shape"]:
            raise ValueError(f"{label}: weight {key}: expected shape {p['shape']}, got {t.shape}")
        if t.dtype != np.float32:
            raise ValueError(f"{label}: weight {key}: expected float32, got {t.dtype}")
        out.append(t)
    return out


def _slots(model, tensors: dict, label: str) -> list:
    out = []
    for i, slot in enumerate(model.optimizer.variables()):
        key = f"optimizer/slot{i}"
        if key not in tensors:
            raise ValueError(f"{label}: optimizer state {key} is missing")
        t = tensors[key]
        if t.shape != slot.shape or t.dtype != slot.dtype:
            raise ValueError(f"{label}: optimizer state {key} is of the wrong size or type: expected "
                             f"{slot.dtype} {slot.shape}, got {t.dtype} {t.shape}")
        out.append(t)
    return out


# ------------------------------------------------------------------------- loading

def load_model(path: str, custom_objects: Optional[dict] = None):
    """Load a model saved with ``model.save(path)``: architecture, weights, and (when it was
    compiled) optimizer, loss and optimizer state, ready to continue training.
    ``custom_objects`` maps the class names of custom losses (pydl.losses.Loss subclasses)
    to their classes."""
    label = repr(path)
    tensors, meta = _read(path)
    return _load(tensors, meta, label, custom_objects)


def model_from_bytes(data: bytes, custom_objects: Optional[dict] = None):
    """The model ``model_to_bytes`` gave ``data`` of, checked as ``load_model`` checks a file."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"model_from_bytes: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    tensors, meta = _parse(io.BytesIO(data), len(data), "the model bytes")
    return _load(tensors, meta, "the model bytes", custom_objects)


def _load(tensors: dict, meta: dict, label: str, custom_objects: Optional[dict]):
    """The model a checked file's tensors and metadata describe."""
    cfg = _model_spec(meta, label)
    comp = _compile_spec(meta, label)
    epochs_seen = _int(meta.get("epochs_seen", 0), label, "epochs_seen")
    specs = []
    for i, spec in enumerate(cfg["layers"]):
        spec = _obj(spec, label, f"layer {i}")
        cls = spec.get("class_name")
        if not isinstance(spec.get("config"), dict):
            raise ValueError(f"{label}: layer {i} ({_name(cls)}): expected a config object, got "
                             f"{_show(spec.get('config'))}")
        try:
            specs.append(layers_mod.deserialize(spec))
        except _FORGED as e:
            raise ValueError(f"{label}: layer {i} ({_name(cls)}): {_short(e)}") from None
    try:
        model = _rebuild(cfg, specs)
    # MemoryError too: the core refuses an architecture beyond its size limit with it, and
    # here it is the file that asks for that size.
    except (*_FORGED, MemoryError) as e:
        raise ValueError(f"{label}: the saved architecture does not build: "
                         f"{type(e).__name__ + ': ' if isinstance(e, MemoryError) else ''}{_short(e)}") from None
    model.set_weights(_weights(model, tensors, label))
    model.epochs_trained = epochs_seen
    if comp is not None:
        try:
            losses = [losses_mod.from_config(name, config, custom_objects) for name, config in comp["losses"]]
            single = len(losses) == 1
            model.compile(optimizers_mod.from_config(comp["kind"], comp["optimizer"]),
                          losses[0] if single else losses, comp["metrics"][0] if single else comp["metrics"],
                          loss_weights=comp["loss_weights"][0] if single else comp["loss_weights"])
        except _FORGED as e:
            raise ValueError(f"{label}: the saved optimizer, loss or metrics are invalid: {_short(e)}") from None
        _apply_training_state(model, comp, _slots(model, tensors, label) if comp["step"] is not None else None)
    return model


def load_checkpoint_into(model, path: str, seed: Optional[int] = None) -> dict:
    """Load a checkpoint's weights and training state into ``model`` (same architecture,
    compiled alike) and return its checkpoint record (epoch, callback states, ...).
    ``seed`` is the seed of the fit that resumes; a checkpoint of another seed is refused.
    Everything is checked before anything is set: a refused checkpoint leaves the model as it was."""
    label = repr(path)
    tensors, meta = _read(path)
    record = _checkpoint_record(meta, label)
    cfg = _model_spec(meta, label)
    if _architecture(cfg) != _architecture(model.get_config()):
        raise ValueError(f"{label} holds a different architecture than {model.name}")
    comp = _compile_spec(meta, label)
    kind = None if comp is None else comp["kind"]
    if model.optimizer is None or kind != model.optimizer.kind:
        raise ValueError(f"{label}: compile the model with the checkpoint's optimizer ({kind}) before "
                         f"resuming (it is compiled with {getattr(model.optimizer, 'kind', None)})")
    if seed is not None and record.get("seed") is not None and record["seed"] != seed:
        raise ValueError(f"{label}: the checkpoint was trained with seed {record['seed']}, this fit "
                         f"uses seed {seed}")
    epochs_seen = _int(meta.get("epochs_seen", 0), label, "epochs_seen")
    model.build()  # compiled and built: the optimizer is bound to a trainer
    weights = _weights(model, tensors, label)
    slots = _slots(model, tensors, label) if comp["step"] is not None else None
    model.set_weights(weights)
    model.epochs_trained = epochs_seen
    _apply_training_state(model, comp, slots)
    return record


def _apply_training_state(model, comp: dict, slots: Optional[list]) -> None:
    """Set what _compile_spec and _slots checked; nothing here can fail on file contents."""
    opt = model.optimizer
    if comp["step"] is not None:
        opt.iterations = comp["step"]
        opt.set_variables(slots)
    if comp["learning_rate"] is not None:
        opt.learning_rate = comp["learning_rate"]
