"""Layers, Keras names and arguments; each ``forward`` returns ``(y, backprop)``."""

from deepcore.layers.base import Layer, Variable
from deepcore.layers.core import Activation, Dense, Input, InputLayer
from deepcore.layers.dropout import Dropout
from deepcore.layers.reshaping import Flatten, Reshape

__all__ = ["Layer", "Variable", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape"]
