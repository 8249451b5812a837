"""ONNX export of pydl models (``pip install "pydl[onnx]"``): ``model.export_onnx(path)``.

Every pydl layer has a converter, one module per layer family (core, image, sequence,
recurrent, attention, merge), registered by the C++ layer type it mirrors; ``export`` walks
the model (Sequential or functional, several inputs and outputs) and writes the checked file.
"""
try:
    import onnx  # noqa: F401  (the optional dependency; every module here needs it)
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError('pydl\'s ONNX export needs the onnx package: pip install "pydl[onnx]"') from e

from . import attention, augment, core, image, merge, recurrent, sequence  # noqa: F401,E402  (register the converters)
from .export import build_onnx_model, export_onnx  # noqa: E402

__all__ = ["export_onnx", "build_onnx_model"]
