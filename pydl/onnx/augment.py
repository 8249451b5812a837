"""Converters of the augmentation layers (pydl.data transforms used as layers). An exported
model is for inference, where the random ones are the identity and RandomCrop takes the centre
crop of the padded image (as the C++ layer does); Resize and CenterCrop always apply: ONNX
Resize with half-pixel centres (nearest: the floor of the centre's source position, clamped,
which is half_pixel with round_prefer_ceil), and a Slice."""
from __future__ import annotations

from .graph import Call, Graph, converts


@converts("random_flip", "random_rotation", "random_zoom", "random_brightness", "random_contrast")
def _identity(g: Graph, c: Call):
    return g.op("Identity", [c.inputs[0]], c.hint), c.masks[0]


def _crop(g: Graph, x: str, top: int, left: int, height: int, width: int, hint: str) -> str:
    return g.op("Slice", [x, g.ints([top, left], f"{hint}_starts"), g.ints([top + height, left + width], f"{hint}_ends"),
                          g.ints([1, 2], f"{hint}_axes")], hint)


@converts("random_crop")
def _random_crop(g: Graph, c: Call):
    cfg = c.layer.core_config()
    h, w = g.static_shape(c.inputs[0])[1:3]
    p, height, width = int(cfg["padding"]), int(cfg["height"]), int(cfg["width"])
    x = c.inputs[0]
    if p:
        x = g.op("Pad", [x, g.ints([0, p, p, 0, 0, p, p, 0], f"{c.hint}_pads"),
                         g.const([float(cfg["fill"])], f"{c.hint}_fill")], f"{c.hint}_padded", mode="constant")
    top, left = (h + 2 * p - height) // 2, (w + 2 * p - width) // 2  # offsets into the padded image
    return _crop(g, x, top, left, height, width, c.hint), None


@converts("center_crop")
def _center_crop(g: Graph, c: Call):
    cfg = c.layer.core_config()
    h, w = g.static_shape(c.inputs[0])[1:3]
    height, width = int(cfg["height"]), int(cfg["width"])
    return _crop(g, c.inputs[0], (h - height) // 2, (w - width) // 2, height, width, c.hint), None


@converts("resize")
def _resize(g: Graph, c: Call):
    cfg = c.layer.core_config()
    channels = g.static_shape(c.inputs[0])[3]
    sizes = g.batch_shape(c.inputs[0], [int(cfg["height"]), int(cfg["width"]), channels], f"{c.hint}_sizes")
    attrs = {"mode": "nearest", "nearest_mode": "round_prefer_ceil"} if cfg["nearest"] else {"mode": "linear"}
    y = g.op("Resize", [c.inputs[0], "", "", sizes], c.hint, coordinate_transformation_mode="half_pixel", **attrs)
    return y, None
