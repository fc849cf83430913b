"""GaussianNoise: adds zero-mean normal noise in training; the identity otherwise."""

from __future__ import annotations

from deepcore import random as host_random
from deepcore.layers.base import Layer
from deepcore.registry import get_backend


class GaussianNoise(Layer):
    """``(batch, ...) -> (batch, ...)``: ``y = x + noise``, noise ~ N(0, stddev^2), in training.

    The noise is drawn from the host generator (or the layer's own when ``seed`` is given), so
    every backend adds the same values. The noise does not depend on ``x``: ``dx = dy``.
    """

    supports_masking = True  # an incoming mask passes on (Keras)

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= stddev <= 1.0:
            raise ValueError(
                f"GaussianNoise: stddev must be a float between 0 and 1. Received: stddev={stddev!r}"
            )
        self.stddev = stddev
        self.seed = seed
        self._generator = host_random.generator(seed) if seed is not None else None

    def forward(self, x, training=False):
        if not training or self.stddev == 0.0:
            return x, lambda dy: dy
        noise = get_backend().random_normal(tuple(x.shape), self.stddev, dtype=x.dtype,
                                            generator=self._generator)
        return x + noise, lambda dy: dy

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
