"""Layers that wrap another layer: TimeDistributed and Bidirectional."""

from __future__ import annotations

from deepcore.backend import array_namespace
from deepcore.layers.base import Layer


class Wrapper(Layer):
    """Owns inner layers; its weights are theirs, in order. ``applies_inner_activity``: the
    inner layers' activity penalties count in the model's loss."""

    applies_inner_activity = True

    def inner_layers(self) -> list[Layer]:
        raise NotImplementedError

    def _adopt_weights(self) -> None:
        self._variables = [v for layer in self.inner_layers() for v in layer._variables]
        self.backend = self.inner_layers()[0].backend

    def move_to(self, backend) -> None:
        for layer in self.inner_layers():
            layer.move_to(backend)
        self.backend = backend

    def reset_states(self) -> None:
        """Reset the carried states of the inner layers that have them (stateful RNNs)."""
        for layer in self.inner_layers():
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    reset_state = reset_states


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every time step: ``(batch, timesteps, ...) -> (batch, timesteps,
    ...layer output)``, by folding the time axis into the batch axis. As Keras 3 (which runs
    the inner layer's ``call``), the inner layer's activity regularizer is not applied."""

    supports_masking = True  # an incoming mask passes on (Keras)
    applies_inner_activity = False

    def __init__(self, layer: Layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed wraps a deepcore layer; received {layer!r}.")
        self.layer = layer

    def inner_layers(self):
        return [self.layer]

    def keras_weight_paths(self) -> list[str]:
        return [f"layer/{path}" for path in self.layer.keras_weight_paths()]

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed layer {self.name!r} expects inputs of shape (batch, timesteps, ...); "
                f"received {tuple(input_shape)}."
            )
        super().build(input_shape)
        if not self.layer.built:
            self.layer.build((None, *input_shape[2:]))
        self._adopt_weights()

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])

    def forward(self, x, training=False):
        xp = array_namespace(x)
        batch, steps = x.shape[0], x.shape[1]
        # The class's forward: without the activity penalty a regularized layer's own adds.
        y, inner_backprop = type(self.layer).forward(self.layer, xp.reshape(x, (batch * steps, *x.shape[2:])),
                                                     training)
        return xp.reshape(y, (batch, steps, *y.shape[1:])), lambda dy: xp.reshape(
            inner_backprop(xp.reshape(dy, (batch * steps, *dy.shape[2:]))), x.shape
        )

    def get_config(self):
        from deepcore.saving import serialize_layer

        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config):
        from deepcore.saving import deserialize_layer

        return cls(**{**config, "layer": deserialize_layer(config["layer"])})


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Wrapper):
    """Runs a recurrent ``layer`` forwards and a copy of it backwards over time, and merges them.

    ``merge_mode``: ``"concat"`` (Keras's default, units double), ``"sum"``, ``"mul"``,
    ``"ave"`` or None (a list ``[forward, backward]``). With ``return_sequences`` the backward
    outputs are flipped back into time order, as Keras does. Weights: the forward layer's, then
    the backward layer's. With ``return_state`` the output is ``[merged, *forward_states,
    *backward_states]``. A mask reaches both directions; with ``return_sequences`` masked steps
    output zeros (Keras sets ``zero_output_for_mask``). ``initial_state`` (Keras's): the
    forward layer's states, then the backward layer's.
    """

    uses_mask = True
    takes_initial_state = True

    def __init__(self, layer: Layer, merge_mode: str | None = "concat", backward_layer: Layer | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        if not hasattr(layer, "go_backwards"):
            raise TypeError(
                f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU); received {layer!r}."
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"merge_mode must be one of {list(_MERGE_MODES)}. Received: merge_mode={merge_mode!r}"
            )
        self.merge_mode = merge_mode
        self.layer = layer  # the template both directions copy; kept for get_config
        self.forward_layer = self._copy(layer, "forward", layer.go_backwards)
        self.backward_layer = backward_layer or self._copy(layer, "backward", not layer.go_backwards)
        for direction in self.inner_layers():  # Keras: masked steps output zeros in sequences
            direction.zero_output_for_mask = direction.return_sequences
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    @staticmethod
    def _copy(layer: Layer, direction: str, go_backwards: bool) -> Layer:
        config = {**layer.get_config(), "name": f"{direction}_{layer.name}", "go_backwards": go_backwards}
        config.pop("input_shape", None)
        return type(layer).from_config(config)

    def inner_layers(self):
        return [self.forward_layer, self.backward_layer]

    def keras_weight_paths(self) -> list[str]:
        return [f"{name}/{path}" for name, layer in (("forward_layer", self.forward_layer),
                                                      ("backward_layer", self.backward_layer))
                for path in layer.keras_weight_paths()]

    def build(self, input_shape):
        super().build(input_shape)
        for layer in self.inner_layers():
            if not layer.built:
                layer.build(input_shape)
        self._adopt_weights()

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], shape[1:] * 2
        if self.merge_mode == "concat":
            merged = (*shape[:-1], 2 * shape[-1])
        elif self.merge_mode is None:
            merged = [shape, shape]
        else:
            merged = shape
        return [merged, *states] if self.return_state else merged

    def compute_mask(self, x, mask=None):
        return self.forward_layer.compute_mask(x, mask)

    @property
    def state_sizes(self) -> list[int]:
        return self.forward_layer.state_sizes + self.backward_layer.state_sizes

    def forward(self, x, training=False, mask=None, initial_state=None):
        """``(batch, timesteps, features) -> merged`` (see the class); with ``initial_state``,
        ``backprop`` returns ``[dx, *forward state gradients, *backward state gradients]``."""
        xp = array_namespace(x)
        forward_states = backward_states = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != len(self.state_sizes):
                raise ValueError(f"Bidirectional layer {self.name!r}: initial_state must be {len(self.state_sizes)} "
                                 f"arrays (the forward layer's states, then the backward layer's); received "
                                 f"{len(states)}.")
            count = len(self.forward_layer.state_sizes)
            forward_states, backward_states = states[:count], states[count:]
        y_forward, forward_backprop = self.forward_layer.forward(x, training, mask=mask, initial_state=forward_states)
        y_backward, backward_backprop = self.backward_layer.forward(x, training, mask=mask,
                                                                    initial_state=backward_states)
        states_forward = states_backward = []
        if self.return_state:
            y_forward, states_forward = y_forward[0], y_forward[1:]
            y_backward, states_backward = y_backward[0], y_backward[1:]
        if self.return_sequences:
            y_backward = xp.flip(y_backward, axis=1)
        merged, merge_backprop = _merge(xp, self.merge_mode, y_forward, y_backward)

        def backprop(dy):
            dstates = [None] * (len(states_forward) + len(states_backward))
            if self.return_state:
                dy, dstates = dy[0], list(dy[1:])
            # None: a functional model does not use the merged output, only the states.
            dy_forward, dy_backward = merge_backprop(dy) if dy is not None else (None, None)
            if self.return_sequences and dy_backward is not None:
                dy_backward = xp.flip(dy_backward, axis=1)
            if self.return_state:
                count = len(states_forward)
                dy_forward = [dy_forward, *dstates[:count]]
                dy_backward = [dy_backward, *dstates[count:]]
            dx_forward, dx_backward = forward_backprop(dy_forward), backward_backprop(dy_backward)
            if initial_state is None:
                return dx_forward + dx_backward
            return [dx_forward[0] + dx_backward[0], *dx_forward[1:], *dx_backward[1:]]

        if self.return_state:
            return [merged, *states_forward, *states_backward], backprop
        return merged, backprop

    def get_config(self):
        from deepcore.saving import serialize_layer

        return {
            **super().get_config(),
            "layer": serialize_layer(self.layer),
            "merge_mode": self.merge_mode,
            "backward_layer": serialize_layer(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config):
        from deepcore.saving import deserialize_layer

        return cls(**{**config, "layer": deserialize_layer(config["layer"]),
                      "backward_layer": deserialize_layer(config["backward_layer"])})


def _merge(xp, mode, a, b):
    """Merge the two directions; returns ``(merged, backprop)`` with ``backprop(d) -> (da, db)``."""
    if mode == "concat":
        width = a.shape[-1]
        return xp.concat([a, b], axis=-1), lambda d: (d[..., :width], d[..., width:])
    if mode == "sum":
        return a + b, lambda d: (d, d)
    if mode == "ave":
        return (a + b) * 0.5, lambda d: (d * 0.5, d * 0.5)
    if mode == "mul":
        return a * b, lambda d: (d * b, d * a)
    return [a, b], lambda d: (d[0], d[1])


class SeparableConv(Wrapper):
    """A depthwise convolution, then a pointwise (1x1) one, as Keras's SeparableConv: ``(batch,
    *spatial, in) -> (batch, *out_spatial, filters)``; weights ``depthwise_kernel (*kernel_size,
    in, depth_multiplier)``, ``pointwise_kernel (*(1,) * rank, in * depth_multiplier, filters)``
    and ``bias (filters,)``, in Keras's order. Strides, padding and dilation are the depthwise
    step's; the activation and the bias the pointwise step's."""

    rank = 0

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", data_format: str | None = None,
                 dilation_rate=1, depth_multiplier: int = 1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        from deepcore.layers.convolutional import Conv1D, Conv2D, DepthwiseConv1D, DepthwiseConv2D

        super().__init__(**kwargs)
        depthwise_class, pointwise_class = {1: (DepthwiseConv1D, Conv1D), 2: (DepthwiseConv2D, Conv2D)}[self.rank]
        self.depthwise = depthwise_class(
            kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
            data_format=data_format, dilation_rate=dilation_rate, use_bias=False,
            depthwise_initializer=depthwise_initializer, depthwise_regularizer=depthwise_regularizer,
            depthwise_constraint=depthwise_constraint, name=f"{self.name}_depthwise",
        )
        self.pointwise = pointwise_class(
            filters, 1, activation=activation, use_bias=use_bias, kernel_initializer=pointwise_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=pointwise_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=pointwise_constraint,
            bias_constraint=bias_constraint, name=f"{self.name}_pointwise",
        )

    def inner_layers(self):
        return [self.depthwise, self.pointwise]

    def build(self, input_shape):
        super().build(input_shape)
        self.depthwise.build(input_shape)
        self.pointwise.build(self.depthwise.compute_output_shape(input_shape))
        self._adopt_weights()

    def compute_output_shape(self, input_shape):
        return self.pointwise.compute_output_shape(self.depthwise.compute_output_shape(input_shape))

    def forward(self, x, training=False):
        z, depthwise_backprop = self.depthwise.forward(x, training)
        y, pointwise_backprop = self.pointwise.forward(z, training)

        def backprop(dy):
            return depthwise_backprop(pointwise_backprop(dy))

        # A model's first layer: the depthwise step skips its input gradient.
        backprop.parameters_only = lambda dy: depthwise_backprop.parameters_only(pointwise_backprop(dy))
        return y, backprop

    def get_config(self):
        depthwise, pointwise = self.depthwise.get_config(), self.pointwise.get_config()
        return {
            **super().get_config(),
            **{key: depthwise[key] for key in ("kernel_size", "strides", "padding", "dilation_rate",
                                               "depth_multiplier", "depthwise_initializer",
                                               "depthwise_regularizer")},
            **{key: pointwise[key] for key in ("filters", "activation", "use_bias", "bias_initializer",
                                               "bias_regularizer")},
            "pointwise_initializer": pointwise["kernel_initializer"],
            "pointwise_regularizer": pointwise["kernel_regularizer"],
            "depthwise_constraint": depthwise.get("depthwise_constraint"),
            "pointwise_constraint": pointwise.get("kernel_constraint"),
            "bias_constraint": pointwise.get("bias_constraint"),
        }


class SeparableConv1D(SeparableConv):
    """``(batch, steps, in) -> (batch, new_steps, filters)``."""

    rank = 1


class SeparableConv2D(SeparableConv):
    """``(batch, rows, cols, in) -> (batch, new_rows, new_cols, filters)``."""

    rank = 2
