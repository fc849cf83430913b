"""Dropout (inverted): scales kept units by 1 / (1 - rate) in training; the identity otherwise.
SpatialDropout1D/2D/3D drop whole channels; AlphaDropout keeps a SELU network's statistics."""

from __future__ import annotations

from deepcore import random as host_random
from deepcore.activations import SELU_ALPHA, SELU_SCALE
from deepcore.layers import conv_utils
from deepcore.layers.base import Layer
from deepcore.registry import get_backend


class Dropout(Layer):
    """``(batch, ...) -> (batch, ...)``. Masks are drawn from the host generator (or one of
    the layer's own when ``seed`` is given), so every backend drops the same units."""

    supports_masking = True  # an incoming mask passes on (Keras)

    def __init__(self, rate: float, noise_shape: tuple | None = None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1). Received: rate={rate!r}")
        self.rate = rate
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None
        self.seed = seed
        self._generator = host_random.generator(seed) if seed is not None else None

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, lambda dy: dy
        mask = dropout_mask(self._mask_shape(x), self.rate, x.dtype, self._generator)
        return x * mask, lambda dy: dy * mask

    def _mask_shape(self, x) -> tuple:
        """``noise_shape`` with its None entries filled from ``x`` (``x``'s shape without one)."""
        if self.noise_shape is None:
            return tuple(x.shape)
        return tuple(d if d is not None else s for d, s in zip(self.noise_shape, x.shape))

    def get_config(self):
        noise_shape = list(self.noise_shape) if self.noise_shape is not None else None
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape, "seed": self.seed}


class SpatialDropout(Dropout):
    """Drops whole channels of ``(batch, *spatial, channels)``: one mask value per sample and
    channel, shared by every position (Keras's SpatialDropout; neighbouring positions are
    correlated, so dropping them one by one would hardly regularize)."""

    rank = 0

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs):
        conv_utils.check_data_format(data_format)
        super().__init__(rate, noise_shape=(None, *(1,) * self.rank, None), seed=seed, **kwargs)

    def forward(self, x, training=False):
        if x.ndim != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects inputs of shape (batch, "
                f"{'spatial, ' * self.rank}channels); received {tuple(x.shape)}."
            )
        return super().forward(x, training)

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]  # fixed by the class
        return config


class SpatialDropout1D(SpatialDropout):
    """``(batch, steps, channels)``: drops whole channels of a sequence."""

    rank = 1


class SpatialDropout2D(SpatialDropout):
    """``(batch, rows, cols, channels)``: drops whole feature maps."""

    rank = 2


class SpatialDropout3D(SpatialDropout):
    """``(batch, depth, rows, cols, channels)``: drops whole feature volumes."""

    rank = 3


class AlphaDropout(Dropout):
    """Dropout that keeps a SELU network's mean and variance (Klambauer et al.), Keras 3's
    formula: in training a dropped entry takes the SELU's negative saturation ``alpha' =
    -alpha * scale``, then ``y = a x' + b`` with ``a = ((1 - rate)(1 + rate alpha'^2))^(-1/2)``
    and ``b = -a alpha' rate``; the identity otherwise."""

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, lambda dy: dy
        kept = get_backend().random_bernoulli(self._mask_shape(x), 1.0 - self.rate, dtype=x.dtype,
                                              generator=self._generator)
        saturation = -SELU_ALPHA * SELU_SCALE
        a = ((1.0 - self.rate) * (1.0 + self.rate * saturation**2)) ** -0.5
        b = -a * saturation * self.rate
        return a * (x * kept + saturation * (1.0 - kept)) + b, lambda dy: dy * (a * kept)


def dropout_mask(shape: tuple, rate: float, dtype, generator=None):
    """``shape`` entries of 0 (probability ``rate``) or ``1 / (1 - rate)``, drawn on the host
    (`generator`, else the global one) so that every backend drops the same units."""
    keep = 1.0 - rate
    return get_backend().random_bernoulli(shape, keep, dtype=dtype, generator=generator) * (1.0 / keep)
