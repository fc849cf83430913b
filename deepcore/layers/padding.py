"""Changing the spatial size: zero padding, cropping and upsampling (nearest, or bilinear in 1
and 2 dimensions), in 1, 2 or 3 dimensions.

Inputs are ``channels_last``: ``(batch, *spatial, channels)``.
"""

from __future__ import annotations

from deepcore.backend import array_device, array_namespace
from deepcore.layers import conv_utils
from deepcore.layers.base import Layer
from deepcore.layers.image_preprocessing import resample, resize_matrix


def _padding_pairs(padding, rank: int, name: str = "padding") -> conv_utils.Padding:
    """Keras's forms (of ``padding`` or ``cropping``, named ``name`` in errors): an int (all
    sides), ``rank`` ints (symmetric per axis), or ``rank`` ``(before, after)`` pairs; in 1-D
    also one ``(left, right)`` pair."""
    if isinstance(padding, int):
        pairs = ((padding, padding),) * rank
    elif rank == 1 and len(padding) == 2 and all(isinstance(p, int) for p in padding):
        pairs = (tuple(padding),)
    elif len(padding) == rank and all(isinstance(p, int) for p in padding):
        pairs = tuple((p, p) for p in padding)
    else:
        pairs = tuple(tuple(p) for p in padding)
    valid = all(len(p) == 2 and all(isinstance(v, int) and v >= 0 for v in p) for p in pairs)
    if len(pairs) != rank or not valid:
        raise ValueError(
            f"{name} must be a non-negative int, {rank} ints, or {rank} (before, after) pairs of "
            f"non-negative ints. Received: {name}={padding!r}"
        )
    return pairs


def _pairs_config(pairs: conv_utils.Padding) -> list:
    """Per-axis (before, after) pairs as Keras's configs write them: one pair in 1-D."""
    return list(pairs[0]) if len(pairs) == 1 else [list(p) for p in pairs]


class ZeroPadding(Layer):
    """Adds zeros before and after each spatial axis: ``(batch, *spatial, C) -> (batch,
    *(n + before + after), C)``."""

    rank = 0

    def __init__(self, padding=1, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        conv_utils.check_data_format(data_format)
        self.padding = _padding_pairs(padding, self.rank)

    def compute_output_shape(self, input_shape):
        spatial = (None if n is None else n + b + a for n, (b, a) in zip(input_shape[1:-1], self.padding))
        return (input_shape[0], *spatial, input_shape[-1])

    def forward(self, x, training=False):
        return conv_utils.pad(x, self.padding), lambda dy: conv_utils.crop(dy, self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": _pairs_config(self.padding)}


class Cropping(Layer):
    """Removes elements before and after each spatial axis: ``(batch, *spatial, C) -> (batch,
    *(n - before - after), C)``; the backward pads the gradient with zeros."""

    rank = 0

    def __init__(self, cropping, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        conv_utils.check_data_format(data_format)
        self.cropping = _padding_pairs(cropping, self.rank, "cropping")

    def compute_output_shape(self, input_shape):
        spatial = tuple(None if n is None else n - b - a for n, (b, a) in zip(input_shape[1:-1], self.cropping))
        if len(input_shape) != self.rank + 2 or any(n is not None and n <= 0 for n in spatial):
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r}: cropping {self.cropping} does not fit inputs "
                f"of shape {tuple(input_shape)} (batch, {'spatial, ' * self.rank}channels)."
            )
        return (input_shape[0], *spatial, input_shape[-1])

    def forward(self, x, training=False):
        self.compute_output_shape(tuple(x.shape))
        return conv_utils.crop(x, self.cropping), lambda dy: conv_utils.pad(dy, self.cropping)

    def get_config(self):
        return {**super().get_config(), "cropping": _pairs_config(self.cropping)}


class UpSampling(Layer):
    """Scales each spatial axis by ``size``: ``(batch, *spatial, C) -> (batch, *(n * size), C)``.

    ``interpolation="nearest"`` repeats each element (the backward sums each block);
    ``"bilinear"`` interpolates linearly along each axis with half-pixel centres and clamped
    edges, as Keras 3's ``ops.image.resize`` (TensorFlow's ``resize(..., "bilinear")``): one
    fixed ``(n * size, n)`` matrix per axis (`image_preprocessing.resize_matrix`), whose
    transpose is the backward.
    """

    rank = 0
    interpolations = ("nearest", "bilinear")

    def __init__(self, size=2, data_format: str | None = None, interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        conv_utils.check_data_format(data_format)
        if interpolation not in self.interpolations:
            raise ValueError(
                f"{type(self).__name__}: interpolation must be one of {list(self.interpolations)}. "
                f"Received: interpolation={interpolation!r}"
            )
        self.size = conv_utils.normalize_tuple(size, self.rank, "size")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        spatial = (None if n is None else n * s for n, s in zip(input_shape[1:-1], self.size))
        return (input_shape[0], *spatial, input_shape[-1])

    def forward(self, x, training=False):
        if self.interpolation == "bilinear":
            return self._bilinear(x)
        xp = array_namespace(x)
        shape = tuple(x.shape)
        # (batch, n1, 1, n2, 1, ..., C) broadcast to (batch, n1, s1, n2, s2, ..., C)
        interleaved = (shape[0], *(d for n in shape[1:-1] for d in (n, 1)), shape[-1])
        repeated = (shape[0], *(d for n, s in zip(shape[1:-1], self.size) for d in (n, s)), shape[-1])
        y = xp.reshape(xp.broadcast_to(xp.reshape(x, interleaved), repeated),
                       self.compute_output_shape(shape))
        block_axes = tuple(2 + 2 * a for a in range(self.rank))
        return y, lambda dy: xp.reshape(xp.sum(xp.reshape(dy, repeated), axis=block_axes), shape)

    def _bilinear(self, x):
        xp = array_namespace(x)
        matrices = [resize_matrix(xp, n, n * s, "bilinear", x.dtype, array_device(x))
                    for n, s in zip(x.shape[1:-1], self.size)]
        return resample(x, matrices)

    def get_config(self):
        if self.rank == 1:  # Keras's UpSampling1D: one size and no interpolation argument
            return {**super().get_config(), "size": self.size[0]}
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}


class ZeroPadding1D(ZeroPadding):
    """``(batch, steps, C) -> (batch, left + steps + right, C)``; padding int or (left, right)."""

    rank = 1


class ZeroPadding2D(ZeroPadding):
    """``(batch, rows, cols, C)``; padding int, (rows, cols) or ((top, bottom), (left, right))."""

    rank = 2


class ZeroPadding3D(ZeroPadding):
    """``(batch, depth, rows, cols, C)``; padding int, (depth, rows, cols) or three (before,
    after) pairs."""

    rank = 3


class UpSampling1D(UpSampling):
    rank = 1


class UpSampling2D(UpSampling):
    rank = 2


class UpSampling3D(UpSampling):
    """Nearest neighbour only, as Keras's UpSampling3D."""

    rank = 3
    interpolations = ("nearest",)


class Cropping1D(Cropping):
    """``(batch, steps, C) -> (batch, steps - left - right, C)``; cropping int or (left, right),
    Keras's default (1, 1)."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(Cropping):
    """``(batch, rows, cols, C)``; cropping int, (rows, cols) or ((top, bottom), (left, right)),
    Keras's default none."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping3D(Cropping):
    """``(batch, depth, rows, cols, C)``; cropping int, (depth, rows, cols) or three (before,
    after) pairs, Keras's default one element on every side."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), **kwargs):
        super().__init__(cropping, **kwargs)
