"""Masking: marks as padding the time steps whose features all equal a value (Keras)."""

from __future__ import annotations

from deepcore.backend import array_namespace
from deepcore.layers.base import Layer


class Masking(Layer):
    """``(batch, timesteps, features) -> same``. A step whose every feature equals
    ``mask_value`` is padding: its output is zeros, and the mask (True: a real step) goes on to
    the next layers, so a recurrent layer skips it and the loss ignores it (Keras's Masking)."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, x, mask=None):
        """``(batch, timesteps)``: True where some feature differs from ``mask_value``."""
        xp = array_namespace(x)
        return xp.any(x != self.mask_value, axis=-1)

    def forward(self, x, training=False):
        xp = array_namespace(x)
        keep = xp.expand_dims(xp.astype(self.compute_mask(x), x.dtype), axis=-1)
        return x * keep, lambda dy: dy * keep

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
