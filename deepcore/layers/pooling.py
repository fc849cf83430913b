"""Max and average pooling over windows, and global pooling, in 1 or 2 spatial dimensions.

Inputs are ``channels_last``: ``(batch, *spatial, channels)``. Windowed pooling gathers the
windows with `conv_utils.extract_patches` and reduces them; its backward folds the window
gradients back with `conv_utils.fold_patches`.
"""

from __future__ import annotations

import math

from deepcore.backend import array_namespace
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

    def _windows(self, x, pad_value: float):
        amounts = conv_utils.padding_amounts(x.shape[1:-1], self.pool_size, self.strides,
                                             (1,) * self.rank, self.padding)
        padded = conv_utils.pad(x, amounts, pad_value)
        patches = conv_utils.extract_patches(padded, self.pool_size, self.strides, (1,) * self.rank)

        def unfold(dpatches):
            """Window gradients ``(batch, *out, window, C)`` -> input gradient."""
            folded = conv_utils.fold_patches(dpatches, padded.shape, self.pool_size, self.strides,
                                             (1,) * self.rank)
            return conv_utils.crop(folded, amounts)

        return patches, unfold

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling(Pooling):
    """The maximum of each window; the gradient goes to the first maximum of the window."""

    def forward(self, x, training=False):
        xp = array_namespace(x)
        # -inf padding never wins, and every "same" window holds at least one real element.
        patches, unfold = self._windows(x, -math.inf)
        y = xp.max(patches, axis=-2)

        def backprop(dy):
            return unfold(first_max_mask(patches, axis=-2) * xp.expand_dims(dy, axis=-2))

        return y, backprop


class AveragePooling(Pooling):
    """The mean of each window; with ``padding="same"`` padded positions are not counted (as
    Keras)."""

    def forward(self, x, training=False):
        xp = array_namespace(x)
        patches, unfold = self._windows(x, 0.0)
        ones = xp.ones((1, *x.shape[1:-1], 1), dtype=x.dtype, device=conv_utils.device_of(x))
        counts = xp.sum(self._windows(ones, 0.0)[0], axis=-2)  # (1, *out, 1): real elements per window
        y = xp.sum(patches, axis=-2) / counts

        def backprop(dy):
            return unfold(xp.broadcast_to(xp.expand_dims(dy / counts, axis=-2), patches.shape))

        return y, backprop


def first_max_mask(values, axis: int):
    """1.0 at the first maximum along ``axis``, 0.0 elsewhere (same shape and dtype)."""
    xp = array_namespace(values)
    position = xp.expand_dims(get_backend().argmax(values, axis=axis), axis=axis)
    shape = [1] * values.ndim
    shape[axis] = values.shape[axis]
    indices = xp.reshape(xp.arange(values.shape[axis], device=conv_utils.device_of(values)), tuple(shape))
    return xp.astype(indices == position, values.dtype)


class MaxPooling1D(MaxPooling):
    """``(batch, steps, C) -> (batch, new_steps, C)``; Keras defaults pool_size=2."""

    rank = 1


class MaxPooling2D(MaxPooling):
    """``(batch, rows, cols, C) -> (batch, new_rows, new_cols, C)``; Keras defaults pool_size=(2, 2)."""

    rank = 2


class AveragePooling1D(AveragePooling):
    """``(batch, steps, C) -> (batch, new_steps, C)``."""

    rank = 1


class AveragePooling2D(AveragePooling):
    """``(batch, rows, cols, C) -> (batch, new_rows, new_cols, C)``."""

    rank = 2


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
    rank = 1


class GlobalAveragePooling2D(GlobalAveragePooling):
    rank = 2


class GlobalMaxPooling1D(GlobalMaxPooling):
    rank = 1


class GlobalMaxPooling2D(GlobalMaxPooling):
    rank = 2
