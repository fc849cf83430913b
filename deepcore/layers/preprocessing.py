"""Preprocessing layers, as Keras: `Normalization` standardizes features with a mean and
variance given or learned by `adapt`; `Rescaling` scales and shifts (e.g. pixel values to
[0, 1]). Image-specific ones are in `image_preprocessing`."""

from __future__ import annotations

import math
from typing import Any

from deepcore import config
from deepcore.backend import array_device, array_namespace
from deepcore.layers.base import Layer
from deepcore.registry import get_backend


class Normalization(Layer):
    """``y = (x - mean) / max(sqrt(variance), 1e-7)`` (``invert=True``: ``mean + x * that``).

    ``(batch, ...) -> same shape``. ``axis`` (an int, a tuple of ints, or None for one scalar
    mean) names the axes that keep a separate mean and variance; the others are reduced in
    `adapt`. ``mean`` and ``variance``, when given, broadcast to the kept axes' shape. Both are
    stored as non-trainable weights (so `adapt`-ed values are saved with the model).
    """

    def __init__(self, axis: int | tuple | None = -1, mean=None, variance=None, invert: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization: mean and variance must be given together (or neither, then call "
                f"adapt()). Received: mean={mean!r}, variance={variance!r}"
            )
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        self.input_mean = mean
        self.input_variance = variance
        self.invert = invert
        self.mean = self.variance = None

    def build(self, input_shape):
        super().build(input_shape)
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(
                f"Normalization {self.name!r}: every axis must be in [{-ndim}, {ndim}) for inputs with "
                f"{ndim} dimensions. Received: axis={self.axis!r}"
            )
        keep = sorted(a % ndim for a in self.axis)
        if any(input_shape[a] is None for a in keep):
            raise ValueError(
                f"Normalization {self.name!r}: the kept axes {tuple(keep)} must have known sizes; "
                f"received input shape {tuple(input_shape)}."
            )
        self.reduce_axes = tuple(a for a in range(ndim) if a not in keep)
        self.broadcast_shape = tuple(input_shape[a] if a in keep else 1 for a in range(ndim))
        shape = tuple(input_shape[a] for a in keep)
        given = self.input_mean is not None
        self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
        self.variance = self.add_weight("variance", shape, "zeros" if given else "ones", trainable=False)
        if given:
            # Adding to zeros broadcasts the given values to the kept axes' shape.
            dtype = self.mean.value.dtype
            self.mean.value = self.mean.value + self.backend.asarray(self.input_mean, dtype=dtype)
            self.variance.value = self.variance.value + self.backend.asarray(self.input_variance, dtype=dtype)

    def adapt(self, data: Any, batch_size: int | None = None) -> None:
        """Set mean and variance to those of ``data`` ``(n, ...)`` (a NumPy or backend array).

        Computed on the active backend ``batch_size`` rows at a time (all at once when None); the
        batch statistics are merged with Chan et al.'s pairwise update, which gives the one-pass
        mean and (biased) variance up to rounding without subtracting large sums.
        """
        if not hasattr(data, "shape"):
            raise TypeError(
                f"Normalization.adapt expects an array with a batch axis (NumPy or backend); "
                f"received {type(data).__name__}. Convert it first, e.g. numpy.asarray(data)."
            )
        n = int(data.shape[0])
        if n == 0:
            raise ValueError("Normalization.adapt received no samples (data.shape[0] == 0).")
        if not self.built:
            self.build((None, *data.shape[1:]))
        self.check_input_shape(tuple(data.shape))
        backend = get_backend()
        self.move_to(backend)
        step = batch_size or n
        count, mean, variance = 0, None, None
        for start in range(0, n, step):
            batch = self._batch_on_backend(backend, data, start, min(start + step, n))
            xp = array_namespace(batch)
            batch_count = math.prod(batch.shape[a] for a in self.reduce_axes)
            batch_mean = xp.mean(batch, axis=self.reduce_axes)
            batch_variance = xp.var(batch, axis=self.reduce_axes)
            if mean is None:
                count, mean, variance = batch_count, batch_mean, batch_variance
                continue
            total = count + batch_count
            delta = batch_mean - mean
            mean = mean + delta * (batch_count / total)
            variance = ((variance * count + batch_variance * batch_count) / total
                        + delta * delta * (count * batch_count / total ** 2))
            count = total
        self.mean.value = xp.astype(mean, self.mean.value.dtype)
        self.variance.value = xp.astype(variance, self.variance.value.dtype)

    def keras_weight_paths(self) -> list[str]:
        # Keras keeps given mean and variance as constants, not variables.
        return [] if self.input_mean is not None else super().keras_weight_paths()

    def keras_only_variables(self) -> dict:
        # Keras's adapted layer also holds a sample count (0, kept "for older saved models").
        return {} if self.input_mean is not None else {"vars/2": 0}

    def _batch_on_backend(self, backend, data, start: int, stop: int):
        dtype = self.mean.value.dtype
        if backend.is_native(data):
            return backend.xp.astype(data[start:stop, ...], dtype)
        return backend.asarray(data[start:stop], dtype=dtype)

    def forward(self, x, training=False):
        xp = array_namespace(x)
        mean = xp.reshape(self.mean.value, self.broadcast_shape)
        std = xp.clip(xp.sqrt(xp.reshape(self.variance.value, self.broadcast_shape)), min=config.epsilon())
        if self.invert:
            return mean + x * std, lambda dy: dy * std
        return (x - mean) / std, lambda dy: dy / std

    def get_config(self):
        return {
            **super().get_config(),
            "axis": None if self.axis == () else list(self.axis),
            "mean": _plain(self.input_mean),
            "variance": _plain(self.input_variance),
            "invert": self.invert,
        }


class Rescaling(Layer):
    """``y = x * scale + offset``, e.g. ``Rescaling(1 / 255)`` for pixel values. ``scale`` and
    ``offset`` are numbers or per-channel sequences (broadcast against the last axis).
    ``(batch, ...) -> same shape``."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset

    def forward(self, x, training=False):
        xp = array_namespace(x)
        scale, offset = (
            value if isinstance(value, (int, float))
            else xp.asarray(value, dtype=x.dtype, device=array_device(x))
            for value in (self.scale, self.offset)
        )
        return x * scale + offset, lambda dy: dy * scale

    def get_config(self):
        return {**super().get_config(), "scale": _plain(self.scale), "offset": _plain(self.offset)}


def _plain(value):
    """A host array -> nested lists, so the config is JSON; floats, lists and None unchanged."""
    return value.tolist() if hasattr(value, "tolist") else value
