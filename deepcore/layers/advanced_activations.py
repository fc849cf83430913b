"""Activation layers with arguments, as Keras: ReLU, LeakyReLU, ELU and Softmax.

Each applies the activation function of the same name (`deepcore.activations`) with the
layer's arguments; elementwise (Softmax: along ``axis``), shapes unchanged, masks passed on.
"""

from __future__ import annotations

from deepcore import activations
from deepcore.layers.base import Layer


class ActivationLayer(Layer):
    """Applies `function` with the keyword arguments in `arguments` (also its config)."""

    supports_masking = True
    function: activations.ActivationFunction

    def __init__(self, arguments: dict, **kwargs):
        super().__init__(**kwargs)
        self.arguments = arguments

    def forward(self, x, training=False):
        return self.function.forward(x, **self.arguments)

    def get_config(self):
        return {**super().get_config(), **self.arguments}


class ReLU(ActivationLayer):
    """``activations.relu`` with Keras's options (defaults: a plain ReLU)."""

    function = activations.relu

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs):
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU: max_value must be None or >= 0. Received: max_value={max_value!r}")
        if negative_slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0. Received: negative_slope={negative_slope!r}")
        super().__init__({"max_value": max_value, "negative_slope": negative_slope, "threshold": threshold},
                         **kwargs)


class LeakyReLU(ActivationLayer):
    """``x`` for ``x > 0``, else ``negative_slope * x``; Keras 3's layer default slope is 0.3
    (the function's is 0.2)."""

    function = activations.leaky_relu

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        super().__init__({"negative_slope": negative_slope}, **kwargs)


class ELU(ActivationLayer):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    function = activations.elu

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__({"alpha": alpha}, **kwargs)


class Softmax(ActivationLayer):
    """Softmax along ``axis`` (default the last)."""

    function = activations.softmax

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__({"axis": axis}, **kwargs)
