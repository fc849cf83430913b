"""Flatten and Reshape: change the shape, keep the values."""

from __future__ import annotations

import math

from deepcore.backend import array_namespace
from deepcore.layers.base import Layer


class Flatten(Layer):
    """``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``."""

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def forward(self, x, training=False):
        xp = array_namespace(x)
        shape = x.shape
        return xp.reshape(x, (shape[0], -1)), lambda dy: xp.reshape(dy, shape)


class Reshape(Layer):
    """``(batch, ...) -> (batch, *target_shape)``; one entry of target_shape may be -1."""

    def __init__(self, target_shape: tuple, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape[1:]) if None not in input_shape[1:] else None
        known = math.prod(d for d in self.target_shape if d != -1)
        if size is not None and -1 not in self.target_shape and known != size:
            raise ValueError(
                f"Reshape layer {self.name!r}: cannot reshape input {input_shape} to "
                f"target_shape {self.target_shape} ({size} values vs {known})."
            )
        if -1 in self.target_shape:
            missing = None if size is None else size // known
            return (input_shape[0], *(missing if d == -1 else d for d in self.target_shape))
        return (input_shape[0], *self.target_shape)

    def forward(self, x, training=False):
        xp = array_namespace(x)
        shape = x.shape
        return xp.reshape(x, (shape[0], *self.target_shape)), lambda dy: xp.reshape(dy, shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
