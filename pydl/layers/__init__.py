"""Layer specifications.

A layer's constructor only stores its configuration; the C++ network creates the weights
once the input shape is known (at ``Sequential`` build time). ``get_config`` returns exactly
what the constructor was given, so a model can be rebuilt from JSON.
"""
from .attention import MultiHeadAttention
from .base import ACTIVATIONS, Layer, deserialize, registered_layers, serialize
from .convolutional import (AvgPool2D, BatchNormalization, Conv2D, GlobalAvgPool2D, GlobalMaxPool2D, LayerNormalization,
                            MaxPool2D)
from ..engine.functional import Input
from .core import Activation, Dense, Dropout, Flatten, Normalization, Reshape
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .recurrent import GRU, LSTM, Bidirectional, Embedding, SimpleRNN
from .sequence import (AvgPool1D, Conv1D, GlobalAvgPool1D, GlobalMaxPool1D, MaxPool1D, PositionEmbedding)
from .transformer import LayerGroup, TransformerEncoder
# The image transforms are Keras-style preprocessing layers too (defined in pydl.data.transforms;
# pydl/__init__.py imports this package before pydl.data, so the engine is complete by now).
from ..data.transforms import (CenterCrop, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,  # noqa: E402
                               RandomRotation, RandomZoom, Resize)

__all__ = ["Layer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Conv2D", "MaxPool2D",
           "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "BatchNormalization", "LayerNormalization",
           "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Normalization", "Add", "Subtract", "Multiply",
           "Average", "Maximum", "Minimum", "Concatenate", "MultiHeadAttention", "Conv1D", "MaxPool1D", "AvgPool1D",
           "GlobalAvgPool1D", "GlobalMaxPool1D", "PositionEmbedding", "TransformerEncoder", "LayerGroup", "RandomFlip", "RandomRotation", "RandomCrop", "RandomZoom", "RandomBrightness", "RandomContrast",
           "Resize", "CenterCrop", "deserialize", "registered_layers", "ACTIVATIONS"]

