"""Input, InputLayer, Dense and Activation layers."""

from __future__ import annotations

from deepcore import regularizers
from deepcore.backend import array_namespace
from deepcore.layers import symbolic
from deepcore.layers.base import Layer, column_sums, unique_name


class InputLayer(Layer):
    """A model's input of shape ``shape`` (without the batch axis): ``x -> x``. `Input` makes
    one and returns its symbolic output, the start of a functional model; in a `Sequential`
    either declares the input shape.

    As Keras, ``batch_shape=(batch, ...)`` may replace ``shape`` and ``batch_size``. The batch
    size is recorded, not enforced: every batch size is accepted (a stateful recurrent layer
    takes its batch size from its first batch)."""

    def __init__(self, shape: tuple | None = None, batch_size: int | None = None, name: str | None = None,
                 batch_shape: tuple | None = None, input_shape: tuple | None = None, **kwargs):
        shape = input_shape if shape is None else shape  # Keras 2's InputLayer(input_shape=...)
        if batch_shape is not None:
            if shape is not None:
                raise ValueError(f"Input: pass shape or batch_shape, not both. Received: shape={shape}, "
                                 f"batch_shape={batch_shape}")
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ValueError("Input needs shape=(...) (without the batch axis) or batch_shape=(batch, ...).")
        super().__init__(name=name or unique_name("input_layer"), input_shape=tuple(shape), **kwargs)
        self.shape = tuple(shape)
        self.batch_size = batch_size
        self.built = True
        symbolic.Node(self, [], False, [(batch_size, *self.shape)], False)  # its symbolic output: `output`

    def forward(self, x, training=False):
        return x, lambda dy: dy

    def get_config(self):
        config = {"name": self.name, "shape": list(self.shape)}
        if self.batch_size is not None:
            config["batch_size"] = self.batch_size
        return config


def Input(shape: tuple | None = None, batch_size: int | None = None, name: str | None = None,
          batch_shape: tuple | None = None, **kwargs) -> symbolic.SymbolicTensor:
    """The symbolic input ``(batch_size, *shape)`` of a functional model, as Keras's
    ``keras.Input``: ``inputs = Input((784,)); outputs = Dense(10)(inputs);
    model = Model(inputs, outputs)``. As the first entry of a `Sequential` it sets the input
    shape."""
    return InputLayer(shape, batch_size, name=name, batch_shape=batch_shape, **kwargs).output


class Dense(Layer):
    """A fully connected layer: ``y = activation(x @ kernel + bias)``.

    ``(batch, ..., in) -> (batch, ..., units)``; kernel ``(in, units)``, bias ``(units,)``.
    Defaults as Keras: ``glorot_uniform`` kernel, ``zeros`` bias.
    """

    supports_masking = True  # an incoming mask passes on (Keras)
    constraint_names = ("kernel", "bias")

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer. Received: units={units!r}")
        self.units = units
        self.use_bias = use_bias
        self.set_options(activation=activation, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer)

    def build(self, input_shape):
        super().build(input_shape)
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"Dense layer {self.name!r} needs a known last input axis; received {input_shape}.")
        self.kernel = self.add_weight("kernel", (features, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = (
            self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer)
            if self.use_bias else None
        )

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, x, training=False):
        kernel = self.kernel.value
        z = x @ kernel  # this layer's own new array: the bias goes in in place
        y, activation_backprop = self.activation.forward_biased(z, None if self.bias is None else self.bias.value)

        def parameter_gradients(dy):
            """Store the kernel and bias gradients; return dz (at the activation's input)."""
            dz = activation_backprop(dy)
            rows, inputs = dz, x
            if x.ndim != 2:  # (batch, ..., features): the products over all leading axes
                xp = array_namespace(x)
                rows, inputs = xp.reshape(dz, (-1, self.units)), xp.reshape(x, (-1, x.shape[-1]))
            self.kernel.grad = inputs.T @ rows
            if self.bias is not None:
                self.bias.grad = column_sums(rows)
            return dz

        def backprop(dy):
            return parameter_gradients(dy) @ kernel.T

        # For a model's first layer, whose dx nobody reads: saves the widest GEMM of the step.
        backprop.parameters_only = parameter_gradients
        return y, backprop

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),  # None too, as Keras
        }


class Identity(Layer):
    """Passes its input through unchanged (Keras's placeholder layer); masks pass on."""

    supports_masking = True

    def forward(self, x, training=False):
        return x, lambda dy: dy


class Activation(Layer):
    """Applies an activation function elementwise (softmax: along the last axis)."""

    supports_masking = True  # an incoming mask passes on (Keras)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.set_options(activation=activation)

    def forward(self, x, training=False):
        return self.activation.forward(x)

    def get_config(self):
        return super().get_config()
