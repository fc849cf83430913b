"""Max and average pooling over windows, and global pooling, in 1, 2 or 3 spatial dimensions.

Inputs are ``channels_last``: ``(batch, *spatial, channels)``. Windowed pooling reduces the
window offsets' strided slices one after another (a window of k elements is k - 1 elementwise
maximums or additions) instead of gathering every window first: no ``(batch, *out, window, C)``
copy, and the backward writes each offset's share straight into the input gradient.
"""

from __future__ import annotations

import math

from deepcore.backend import array_device, array_namespace
from deepcore.layers import conv_utils
from deepcore.layers.base import Layer
from deepcore.registry import get_backend


class Pooling(Layer):
    """Pooling over windows of ``pool_size`` along ``rank`` spatial axes; ``strides`` defaults
    to ``pool_size`` as in Keras. Subclasses choose max or average."""

    rank = 0

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", data_format: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        conv_utils.check_data_format(data_format)
        self.pool_size = conv_utils.normalize_tuple(pool_size, self.rank, "pool_size")
        self.strides = conv_utils.normalize_tuple(strides if strides is not None else self.pool_size,
                                                  self.rank, "strides")
        self.padding = conv_utils.normalize_padding(padding)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects inputs of shape (batch, "
                f"{'spatial, ' * self.rank}channels); received {tuple(input_shape)}."
            )
        return conv_utils.output_shape(input_shape, self.pool_size, self.strides, (1,) * self.rank,
                                       self.padding, input_shape[-1], self.name)

    def _offsets(self, x, pad_value: float):
        """Pad ``x`` with ``pad_value``; return the padded input, the padding and, for every
        window offset, the strided slice of the padded input that the offset meets (each
        slice has the output's shape)."""
        amounts = conv_utils.padding_amounts(x.shape[1:-1], self.pool_size, self.strides,
                                             (1,) * self.rank, self.padding)
        padded = conv_utils.pad(x, amounts, pad_value)
        out_spatial = [conv_utils.output_length(n, w, s, 1, "valid")
                       for n, w, s in zip(padded.shape[1:-1], self.pool_size, self.strides)]
        slices = conv_utils.offset_slices(self.pool_size, self.strides, (1,) * self.rank, out_spatial)
        return padded, amounts, slices

    def _scatter(self, shares, padded, amounts, slices):
        """The input gradient: each window offset's share ``(batch, *out, C)`` (an iterable in
        the order of ``slices``) added back through its slice of the padded input, cropped."""
        xp = array_namespace(padded)
        # Windows that share no element: no two offsets meet the same element, so assigning
        # each share is enough; when they also tile the padded input, every element is
        # assigned and no zeros need to be written first.
        disjoint = all(s >= w for s, w in zip(self.strides, self.pool_size))
        tiled = all(s == w and n % w == 0 for s, w, n in zip(self.strides, self.pool_size, padded.shape[1:-1]))
        make = xp.empty if tiled else xp.zeros
        dpadded = make(padded.shape, dtype=padded.dtype, device=array_device(padded))
        for index, share in zip(slices, shares):
            dpadded[index] = share if disjoint else dpadded[index] + share
        return conv_utils.crop(dpadded, amounts)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling(Pooling):
    """The maximum of each window; the gradient goes to the first maximum of the window (in
    row-major window order), as TensorFlow's max-pooling gradient."""

    def forward(self, x, training=False):
        xp = array_namespace(x)
        # -inf padding never wins, and every "same" window holds at least one real element.
        padded, amounts, slices = self._offsets(x, -math.inf)
        fused = get_backend().max_pool(padded, self.pool_size, self.strides)
        if fused is not None:
            y, backprop = fused
            return y, lambda dy: conv_utils.crop(backprop(dy), amounts)
        y = padded[slices[0]]
        for index in slices[1:]:
            y = xp.maximum(y, padded[index])

        def shares(dy):
            """Each offset's part of dy: what its element takes as its window's first maximum."""
            # Which windows have met their maximum at an earlier offset, as 1-byte booleans: a
            # quarter of the memory traffic of float masks (max pooling's backward is
            # bandwidth-bound). Products with the 0/1 mask, not where(): ~2x faster in NumPy.
            claimed = None
            for index in slices[:-1]:
                hit = padded[index] == y
                first = hit if claimed is None else hit & ~claimed
                claimed = hit if claimed is None else claimed | hit
                yield dy * xp.astype(first, dy.dtype)
            # A window unclaimed so far has its (first) maximum at the last offset.
            yield dy if claimed is None else dy * xp.astype(~claimed, dy.dtype)

        return y, lambda dy: self._scatter(shares(dy), padded, amounts, slices)


class AveragePooling(Pooling):
    """The mean of each window; with ``padding="same"`` padded positions are not counted (as
    Keras)."""

    def forward(self, x, training=False):
        xp = array_namespace(x)
        padded, amounts, slices = self._offsets(x, 0.0)
        ones = xp.ones((1, *x.shape[1:-1], 1), dtype=x.dtype, device=array_device(x))
        padded_ones = self._offsets(ones, 0.0)[0]
        counts = sum(padded_ones[index] for index in slices)  # (1, *out, 1): real elements per window
        y = sum(padded[index] for index in slices) / counts

        return y, lambda dy: self._scatter([dy / counts] * len(slices), padded, amounts, slices)


def first_max_mask(values, axis: int):
    """1.0 at the first maximum along ``axis``, 0.0 elsewhere (same shape and dtype)."""
    xp = array_namespace(values)
    position = xp.expand_dims(get_backend().argmax(values, axis=axis), axis=axis)
    shape = [1] * values.ndim
    shape[axis] = values.shape[axis]
    indices = xp.reshape(xp.arange(values.shape[axis], device=array_device(values)), tuple(shape))
    return xp.astype(indices == position, values.dtype)


class MaxPooling1D(MaxPooling):
    """``(batch, steps, C) -> (batch, new_steps, C)``; Keras defaults pool_size=2."""

    rank = 1


class MaxPooling2D(MaxPooling):
    """``(batch, rows, cols, C) -> (batch, new_rows, new_cols, C)``; Keras defaults pool_size=(2, 2)."""

    rank = 2


class MaxPooling3D(MaxPooling):
    """``(batch, depth, rows, cols, C) -> (batch, new_depth, new_rows, new_cols, C)``; Keras
    defaults pool_size=(2, 2, 2)."""

    rank = 3


class AveragePooling1D(AveragePooling):
    """``(batch, steps, C) -> (batch, new_steps, C)``."""

    rank = 1


class AveragePooling2D(AveragePooling):
    """``(batch, rows, cols, C) -> (batch, new_rows, new_cols, C)``."""

    rank = 2


class AveragePooling3D(AveragePooling):
    """``(batch, depth, rows, cols, C) -> (batch, new_depth, new_rows, new_cols, C)``."""

    rank = 3


class GlobalPooling(Layer):
    """Reduces all ``rank`` spatial axes: ``(batch, *spatial, C) -> (batch, C)``, or
    ``(batch, 1, ..., 1, C)`` with ``keepdims=True``."""

    rank = 0

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        conv_utils.check_data_format(data_format)
        self.keepdims = keepdims

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects inputs of shape (batch, "
                f"{'spatial, ' * self.rank}channels); received {tuple(input_shape)}."
            )
        if self.keepdims:
            return (input_shape[0], *(1,) * self.rank, input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def forward(self, x, training=False):
        xp = array_namespace(x)
        shape = x.shape
        flat = xp.reshape(x, (shape[0], -1, shape[-1]))  # (batch, positions, C)
        pooled, flat_backprop = self.reduce(flat)
        out_shape = self.compute_output_shape(tuple(shape))
        return xp.reshape(pooled, out_shape), lambda dy: xp.reshape(
            flat_backprop(xp.reshape(dy, (shape[0], shape[-1]))), shape
        )

    def reduce(self, flat):
        """``(batch, positions, C) -> ((batch, C), backprop)``."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling(GlobalPooling):
    def reduce(self, flat):
        xp = array_namespace(flat)
        positions = flat.shape[1]
        return xp.mean(flat, axis=1), lambda dy: xp.broadcast_to(
            xp.expand_dims(dy / positions, axis=1), flat.shape
        )


class GlobalMaxPooling(GlobalPooling):
    """The gradient goes to the first maximum of each channel."""

    def reduce(self, flat):
        xp = array_namespace(flat)
        return xp.max(flat, axis=1), lambda dy: first_max_mask(flat, axis=1) * xp.expand_dims(dy, axis=1)


class GlobalAveragePooling1D(GlobalAveragePooling):
    """With a mask ``(batch, steps)`` (e.g. from ``Embedding(mask_zero=True)``), the mean over
    the unmasked steps only, as Keras (a sequence with no unmasked step gives 0)."""

    rank = 1
    uses_mask = True

    def forward(self, x, training=False, mask=None):
        if mask is None:
            return super().forward(x, training)
        xp = array_namespace(x)
        weights = xp.astype(mask, x.dtype)[:, :, None]  # (batch, steps, 1)
        counts = xp.maximum(xp.sum(weights, axis=1), 1.0)  # (batch, 1)
        out_shape = self.compute_output_shape(tuple(x.shape))
        y = xp.reshape(xp.sum(x * weights, axis=1) / counts, out_shape)

        def backprop(dy):
            return xp.expand_dims(xp.reshape(dy, (x.shape[0], x.shape[-1])) / counts, axis=1) * weights

        return y, backprop


class GlobalAveragePooling2D(GlobalAveragePooling):
    rank = 2


class GlobalMaxPooling1D(GlobalMaxPooling):
    rank = 1


class GlobalMaxPooling2D(GlobalMaxPooling):
    rank = 2


class GlobalAveragePooling3D(GlobalAveragePooling):
    rank = 3


class GlobalMaxPooling3D(GlobalMaxPooling):
    rank = 3
