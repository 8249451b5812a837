"""Model files: one safetensors file holding the weights and optimizer state as tensors and
the architecture, loss and optimizer settings as JSON in its metadata. Written atomically
(temp file, fsync, rename), so a crash mid-save never leaves a broken file. No pickle."""
from __future__ import annotations

import json
import os
import tempfile

from typing import Optional, Tuple

import numpy as np

from . import layers as layers_mod
from . import losses as losses_mod
from . import optimizers as optimizers_mod

__all__ = ["save_model", "load_model"]

FORMAT = "pydl"
FORMAT_VERSION = 1


def _atomic_write(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pydl", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save_model(model, path: str, checkpoint: Optional[dict] = None) -> None:
    """Write ``model`` to ``path``; ``checkpoint`` (training position and callback states)
    is stored alongside for ``fit(resume_from=path)``."""
    from safetensors.numpy import save

    model._require_built()
    tensors = {}
    for p, w in zip(model._graph.params(), model.get_weights()):
        tensors[f"weights/{p['layer']}/{p['name']}"] = np.ascontiguousarray(w)
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "model": model.get_config(),
            "epochs_seen": model._epochs_seen}
    if model.optimizer is not None:
        meta["compile"] = {"optimizer": {"kind": model.optimizer.kind, "config": model.optimizer.get_config()},
                           "loss": {"name": model.loss.name, "config": model.loss.get_config()},
                           "metrics": model.metrics}
        if model._trainer is not None:
            meta["compile"]["step"] = int(model._trainer.step)
            meta["compile"]["learning_rate"] = float(model._trainer.learning_rate)
            for i, slot in enumerate(model._trainer.slots()):
                tensors[f"optimizer/slot{i}"] = np.array(slot)
    if checkpoint is not None:
        meta["checkpoint"] = checkpoint
    _atomic_write(path, save(tensors, metadata={"pydl": json.dumps(meta)}))


def _read(path: str) -> Tuple[dict, dict]:
    """(tensors, metadata) of a pydl file, with clear errors for anything else."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise OSError(f"cannot read model file {path!r}: {e.strerror}") from e
    try:
        from safetensors import safe_open  # noqa: F401  (import check only)
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
        meta = json.loads(header["__metadata__"]["pydl"])
    except (SafetensorError, ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path!r} is not a readable pydl model file (truncated, corrupted or "
                         f"another format): {e}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a pydl model file")
    if meta.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path!r} was written by a newer pydl (format {meta['version']})")
    return tensors, meta


def load_model(path: str):
    """Load a model saved with ``model.save(path)``: architecture, weights, and (when it was
    compiled) optimizer, loss and optimizer state, ready to continue training."""
    from .models import Sequential

    tensors, meta = _read(path)
    cfg = meta["model"]
    model = Sequential([layers_mod.deserialize(s) for s in cfg["layers"]], seed=cfg["seed"], name=cfg["name"])
    model.build(cfg["input_shape"])
    weights = []
    for p in model._graph.params():
        key = f"weights/{p['layer']}/{p['name']}"
        if key not in tensors:
            raise ValueError(f"{path!r} lacks the weight {key}")
        weights.append(tensors[key])
    model.set_weights(weights)
    _restore_training_state(model, tensors, meta, path)
    return model


def load_checkpoint_into(model, path: str) -> dict:
    """Load a checkpoint's weights and training state into ``model`` (same architecture,
    compiled alike) and return its checkpoint record (epoch, callback states, ...)."""
    tensors, meta = _read(path)
    if "checkpoint" not in meta:
        raise ValueError(f"{path!r} is a model file, not a training checkpoint (see callbacks.ModelCheckpoint)")
    if meta["model"]["layers"] != model.get_config()["layers"]:
        raise ValueError(f"{path!r} holds a different architecture than {model.name}")
    model._require_built()
    model.set_weights([tensors[f"weights/{p['layer']}/{p['name']}"] for p in model._graph.params()])
    comp = meta.get("compile") or {}
    if model.optimizer is None or comp.get("optimizer", {}).get("kind") != model.optimizer.kind:
        raise ValueError(f"{path!r}: compile the model with the checkpoint's optimizer "
                         f"({comp.get('optimizer', {}).get('kind')}) before resuming")
    if model._trainer is None:
        model._make_trainer()
    _restore_training_state(model, tensors, meta, path, recompile=False)
    return meta["checkpoint"]


def _restore_training_state(model, tensors, meta, path, recompile: bool = True) -> None:
    model._epochs_seen = int(meta.get("epochs_seen", 0))
    comp = meta.get("compile")
    if comp:
        if recompile:
            model.compile(optimizers_mod.from_config(comp["optimizer"]["kind"], comp["optimizer"]["config"]),
                          losses_mod.from_config(comp["loss"]["name"], comp["loss"]["config"]),
                          comp.get("metrics"))
        if "step" in comp:
            model._trainer.step = comp["step"]
            for i, slot in enumerate(model._trainer.slots()):
                key = f"optimizer/slot{i}"
                if key not in tensors or tensors[key].shape != slot.shape:
                    raise ValueError(f"{path!r}: optimizer state {key} is missing or of the wrong size")
                slot[:] = tensors[key]
        if "learning_rate" in comp:
            model._trainer.learning_rate = comp["learning_rate"]
