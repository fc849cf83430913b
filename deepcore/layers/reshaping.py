"""Flatten, Reshape, Permute and RepeatVector: change the shape, keep the values."""

from __future__ import annotations

import math

from deepcore.backend import array_namespace
from deepcore.layers import conv_utils
from deepcore.layers.base import Layer


class Flatten(Layer):
    """``(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)``."""

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        conv_utils.check_data_format(data_format)

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


class Permute(Layer):
    """Reorders the non-batch axes, Keras's rule: ``dims`` is a permutation of ``1..rank``
    (the batch axis is 0 and stays first); ``Permute((2, 1))``: ``(batch, a, b) -> (batch, b, a)``."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"Permute: dims must be a permutation of 1..{len(self.dims)} (the batch axis is not "
                f"included). Received: dims={dims!r}"
            )

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(
                f"Permute layer {self.name!r} with dims={self.dims} expects inputs of rank "
                f"{len(self.dims) + 1}; received shape {tuple(input_shape)}."
            )
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def forward(self, x, training=False):
        xp = array_namespace(x)
        self.compute_output_shape(tuple(x.shape))
        axes = (0, *self.dims)
        inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return xp.permute_dims(x, axes), lambda dy: xp.permute_dims(dy, inverse)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """``(batch, features) -> (batch, n, features)``: the input repeated ``n`` times along a new
    time axis (e.g. an encoder's summary fed to every step of a decoder); the backward sums
    over that axis."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"RepeatVector: n must be a positive integer. Received: n={n!r}")
        self.n = n

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"RepeatVector layer {self.name!r} expects inputs of shape (batch, features); "
                f"received {tuple(input_shape)}."
            )
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x, training=False):
        xp = array_namespace(x)
        self.compute_output_shape(tuple(x.shape))
        return xp.stack([x] * self.n, axis=1), lambda dy: xp.sum(dy, axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}
