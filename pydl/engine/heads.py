"""Where a model's outputs meet its losses: logits or probabilities.

An output layer that ends in ``sigmoid`` or ``softmax`` computes probabilities. A
cross-entropy on such an output treats them as probabilities (Keras' ``from_logits=False``)
and the trainer computes it from the pre-activation values, exactly and stably: a Dense or
Conv2D output with that activation is built in C++ as the linear layer followed by an
Activation node, which the loss fuses with (``Trainer.fused_heads``). Any other output is
taken as logits, unless the loss says ``from_logits=False`` (then the values are clipped
probabilities, as Keras computes them). ``from_logits=True`` on a sigmoid/softmax output
contradicts itself and is refused.
"""
from __future__ import annotations

from collections import Counter
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .. import layers as layers_mod

FUSABLE = ("sigmoid", "softmax")
# The activation that turns a classification loss's logits into its probabilities.
PROBABILITIES_OF = {"binary_cross_entropy": "sigmoid", "cross_entropy": "softmax",
                    "categorical_crossentropy": "softmax"}


def final_activation(layer) -> Optional[str]:
    """The activation the layer's output ends in, for layers that end in one."""
    if isinstance(layer, (layers_mod.Dense, layers_mod.Conv2D, layers_mod.Activation, layers_mod.SimpleRNN)):
        return layer.activation or "linear"
    return None


def _splittable(layer) -> bool:
    return isinstance(layer, (layers_mod.Dense, layers_mod.Conv2D)) and layer.activation in FUSABLE


def _activation_node(layer) -> dict:
    return {"type": "activation", "name": f"{layer.name}:{layer.activation}", "activation": layer.activation}


def split_dag_outputs(layers: Sequence, configs: List[dict], nodes: List[Tuple[int, List[int], int]],
                      outputs: List[int], n_in: int):
    """(configs, nodes, outputs) with each Dense/Conv2D output that ends in sigmoid/softmax
    split into the linear layer and an Activation node appended last (so every other tensor
    keeps its id). Only where the output has no other reader and the layer is called once:
    otherwise its other uses would see the linear values."""
    configs, nodes, outputs = list(configs), list(nodes), list(outputs)
    calls = Counter(node[0] for node in nodes)
    readers = Counter(t for node in nodes for t in node[1])
    for j, t in enumerate(outputs):
        if t < n_in:
            continue
        li = nodes[t - n_in][0]
        layer = layers[li]
        if not _splittable(layer) or calls[li] != 1 or readers[t] or outputs.count(t) != 1:
            continue
        configs[li] = {**configs[li], "activation": "linear"}
        configs.append(_activation_node(layer))
        nodes.append((len(configs) - 1, [t], 0))
        outputs[j] = n_in + len(nodes) - 1
    return configs, nodes, outputs


def split_chain_output(layers: Sequence, configs: List[dict]) -> List[dict]:
    """The same for a Sequential chain: its last layer."""
    configs = list(configs)
    if layers and _splittable(layers[-1]):
        configs[-1] = {**configs[-1], "activation": "linear"}
        configs.append(_activation_node(layers[-1]))
    return configs


def resolve_from_logits(loss, activation: Optional[str], output: str) -> Optional[bool]:
    """Whether the loss reads logits on an output ending in ``activation`` (None: not a
    classification loss). Raises for from_logits=True on a sigmoid/softmax output."""
    if loss.name not in PROBABILITIES_OF:
        return None
    chosen = getattr(loss, "from_logits", None)
    if activation in FUSABLE:
        if chosen is True:
            raise ValueError(f"output {output!r} ends in {activation}, so it computes probabilities, but its loss "
                             f"{type(loss).__name__} was given from_logits=True; leave from_logits out (or False), "
                             "or drop the activation to train on logits")
        return False
    return True if chosen is None else bool(chosen)


def head_configs(losses, weights, activations, output_names) -> List[dict]:
    heads = []
    for loss, w, act, name in zip(losses, weights, activations, output_names):
        head = {**loss.head_config(), "weight": float(w)}
        from_logits = resolve_from_logits(loss, act, name)
        if from_logits is not None:
            head["from_logits"] = from_logits
        heads.append(head)
    return heads


def probabilities(values: np.ndarray, loss, from_logits: Optional[bool], output: str) -> np.ndarray:
    """Class probabilities of one output's predictions."""
    if from_logits is None:
        raise ValueError(f"predict_proba: output {output!r} is trained with {loss.name}, not a classification "
                         "loss (binary_cross_entropy, cross_entropy, categorical_crossentropy)")
    if not from_logits:
        return values
    z = values.astype(np.float64)
    if PROBABILITIES_OF[loss.name] == "sigmoid":
        p = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
    else:
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
    return p.astype(np.float32)
