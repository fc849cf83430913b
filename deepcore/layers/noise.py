"""GaussianNoise and GaussianDropout: additive or multiplicative normal noise in training; the
identity otherwise. ActivityRegularization: the identity with an activity penalty."""

from __future__ import annotations

import math

from deepcore import random as host_random
from deepcore import regularizers
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


class GaussianDropout(Layer):
    """``(batch, ...) -> (batch, ...)``: ``y = x * noise``, noise ~ N(1, rate / (1 - rate)), in
    training (Keras's GaussianDropout); ``dx = dy * noise``. Drawn on the host like
    `GaussianNoise`."""

    supports_masking = True  # an incoming mask passes on (Keras)

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"GaussianDropout: rate must be in [0, 1). Received: rate={rate!r}")
        self.rate = rate
        self.seed = seed
        self._generator = host_random.generator(seed) if seed is not None else None

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, lambda dy: dy
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = get_backend().random_normal(tuple(x.shape), stddev, dtype=x.dtype, generator=self._generator)
        noise = noise + 1.0
        return x * noise, lambda dy: dy * noise

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(Layer):
    """The identity, whose output is penalized by ``l1 * sum(|y|) + l2 * sum(y^2)`` (divided by
    the batch size, as every activity penalty; see `Layer.activity_regularizer`)."""

    supports_masking = True  # an incoming mask passes on (Keras)

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        if "activity_regularizer" in kwargs:
            raise TypeError("ActivityRegularization takes l1 and l2, not activity_regularizer.")
        super().__init__(activity_regularizer=regularizers.l1_l2(l1, l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def forward(self, x, training=False):
        return x, lambda dy: dy

    def get_config(self):
        config = super().get_config()
        del config["activity_regularizer"]  # fixed by l1 and l2
        return {**config, "l1": self.l1, "l2": self.l2}
