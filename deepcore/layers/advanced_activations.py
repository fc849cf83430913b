"""Activation layers with arguments, as Keras: ReLU, LeakyReLU, ELU and Softmax, and PReLU,
whose negative slopes are weights.

The first four apply the activation function of the same name (`deepcore.activations`) with
the layer's arguments; elementwise (Softmax: along ``axis``), shapes unchanged, masks passed on.
"""

from __future__ import annotations

from deepcore import activations
from deepcore.backend import array_namespace
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


class PReLU(Layer):
    """``max(x, 0) + alpha * min(x, 0)`` with learned slopes ``alpha`` (Keras's PReLU):
    ``(batch, ...) -> (batch, ...)``. ``alpha`` has the input's shape without the batch axis,
    with size 1 on ``shared_axes`` (axis numbers counting the batch axis as 0, e.g.
    ``shared_axes=[1, 2]`` for one slope per channel of images); Keras's default
    ``alpha_initializer="zeros"`` starts as a ReLU."""

    supports_masking = True
    constraint_names = ("alpha",)

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.set_options(alpha_initializer=alpha_initializer, alpha_regularizer=alpha_regularizer)
        self.shared_axes = [shared_axes] if isinstance(shared_axes, int) else (
            None if shared_axes is None else list(shared_axes))

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis < len(input_shape):
                raise ValueError(f"PReLU layer {self.name!r}: shared_axes {self.shared_axes} must name axes 1 to "
                                 f"{len(input_shape) - 1} of inputs of shape {tuple(input_shape)}.")
            shape[axis - 1] = 1
        if None in shape:
            raise ValueError(f"PReLU layer {self.name!r} needs known sizes on the axes it does not share; received "
                             f"inputs of shape {tuple(input_shape)} with shared_axes={self.shared_axes}.")
        super().build(input_shape)
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer, regularizer=self.alpha_regularizer)

    def forward(self, x, training=False):
        xp = array_namespace(x)
        alpha = self.alpha.value
        negative = xp.minimum(x, 0.0)  # Keras's -relu(-x)
        y = xp.maximum(x, 0.0) + alpha * negative

        def backprop(dy):
            summed = (0, *(self.shared_axes or []))  # the axes that one slope serves
            self.alpha.grad = xp.reshape(xp.sum(dy * negative, axis=summed, keepdims=True), alpha.shape)
            return dy * (xp.astype(x > 0, dy.dtype) + alpha * xp.astype(x < 0, dy.dtype))

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "shared_axes": self.shared_axes}
