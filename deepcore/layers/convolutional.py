"""Conv1D, Conv2D and Conv3D: one N-D convolution (Keras's cross-correlation) written as im2col + matmul.

``(batch, *spatial, in) -> (batch, *out_spatial, filters)``; kernel ``(*kernel_size, in //
groups, filters)`` and bias ``(filters,)`` exactly as Keras stores them, so Keras weights load as
they are. With ``groups`` > 1 the input channels and the filters are split into that many groups,
each convolved on its own (one batched matmul over the groups).
"""

from __future__ import annotations

import math

from deepcore.backend import array_namespace
from deepcore.layers import conv_utils
from deepcore.layers.base import Layer, column_sums


class BaseConv(Layer):
    """What the convolutions and transposed convolutions share: Keras's arguments, their
    checks, the input check and the config. Subclasses set ``rank`` and ``paddings``."""

    rank = 0
    paddings = ("valid", "same")
    constraint_names = ("kernel", "bias")

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(f"{name}: filters must be a positive integer. Received: filters={filters!r}")
        self.filters = filters
        conv_utils.window_arguments(self, self.rank, kernel_size, strides, dilation_rate, padding, data_format,
                                    self.paddings)
        self.use_bias = use_bias
        self.set_options(activation=activation, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer)

    def build_weights(self, input_shape, kernel_shape: tuple, kernel_name: str = "kernel") -> None:
        """Mark the layer built for ``input_shape`` (checked by the caller with
        `check_input_rank`); create ``kernel`` of ``kernel_shape`` and the bias ``(filters,)``."""
        super().build(input_shape)
        self.kernel = self.add_weight(kernel_name, kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = (
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer)
            if self.use_bias else None
        )

    def check_input_rank(self, input_shape) -> None:
        """An error unless ``input_shape`` is ``(batch, *spatial, channels)`` with known channels."""
        if len(input_shape) != self.rank + 2 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects inputs of shape (batch, "
                f"{'spatial, ' * self.rank}channels) with known channels; received {tuple(input_shape)}."
            )

    def get_config(self):
        return {**super().get_config(), **conv_utils.window_config(self), "use_bias": self.use_bias}


class Conv(BaseConv):
    """The convolution over ``rank`` spatial axes; `Conv1D` and `Conv2D` fix the rank."""

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, activation=None,
                 groups: int = 1, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer, **kwargs)
        if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0 or filters % groups:
            raise ValueError(
                f"{type(self).__name__}: groups must be a positive integer dividing filters={filters}. "
                f"Received: groups={groups!r}"
            )
        self.groups = groups

    def build(self, input_shape):
        self.check_input_rank(input_shape)
        if input_shape[-1] % self.groups:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r}: its {input_shape[-1]} input channels do not "
                f"split into groups={self.groups}."
            )
        self.build_weights(input_shape, (*self.kernel_size, input_shape[-1] // self.groups, self.filters))

    def compute_output_shape(self, input_shape):
        return conv_utils.output_shape(input_shape, self.kernel_size, self.strides, self.dilation_rate,
                                       self.padding, self.filters, self.name)

    def forward(self, x, training=False):
        xp = array_namespace(x)
        amounts = conv_utils.padding_amounts(x.shape[1:-1], self.kernel_size, self.strides,
                                             self.dilation_rate, self.padding)
        padded = conv_utils.pad(x, amounts)
        patches = conv_utils.extract_patches(padded, self.kernel_size, self.strides, self.dilation_rate)
        patch_shape = patches.shape
        out_shape = (*patch_shape[:-2], self.filters)
        rows, window, channels = math.prod(patch_shape[:-2]), patch_shape[-2], patch_shape[-1]
        groups, per_group, group_filters = self.groups, channels // self.groups, self.filters // self.groups
        # (positions, window, groups, in/groups) -> (groups, positions, window * in/groups): the
        # row order of each group's kernel slice, so one (batched) matmul does the convolution.
        # With one group every reshape and permutation here is a view.
        columns = xp.reshape(xp.permute_dims(xp.reshape(patches, (rows, window, groups, per_group)), (2, 0, 1, 3)),
                             (groups, rows, window * per_group))
        kernel_value = self.kernel.value
        kernel = xp.permute_dims(xp.reshape(kernel_value, (window * per_group, groups, group_filters)), (1, 0, 2))
        z = xp.reshape(xp.permute_dims(columns @ kernel, (1, 0, 2)), out_shape)  # this layer's own array
        y, activation_backprop = self.activation.forward_biased(z, None if self.bias is None else self.bias.value)

        def parameter_gradients(dy):
            """Store the kernel and bias gradients; return dz ``(groups, positions, filters/groups)``."""
            dz = xp.reshape(activation_backprop(dy), (rows, groups, group_filters))
            dz_groups = xp.permute_dims(dz, (1, 0, 2))
            kernel_grad = xp.matrix_transpose(columns) @ dz_groups  # (groups, window * in/groups, f)
            self.kernel.grad = xp.reshape(xp.permute_dims(kernel_grad, (1, 0, 2)), self.kernel.shape)
            if self.bias is not None:
                self.bias.grad = column_sums(xp.reshape(dz, (rows, self.filters)))
            return dz_groups

        def backprop(dy):
            # dz @ kernel.T computed per window offset (and group), (window, positions, in): each
            # offset's block is contiguous, which makes the fold's strided adds ~2x faster in NumPy.
            by_offset = xp.permute_dims(xp.reshape(kernel_value, (window, per_group, groups, group_filters)),
                                        (0, 2, 3, 1))  # (window, groups, f, in/groups)
            products = xp.expand_dims(parameter_gradients(dy), axis=0) @ by_offset  # (window, groups, rows, .)
            dpatches = xp.reshape(xp.permute_dims(products, (0, 2, 1, 3)), (window, *patch_shape[:-2], channels))
            dpadded = conv_utils.fold_patches(dpatches, padded.shape, self.kernel_size, self.strides,
                                              self.dilation_rate)
            return conv_utils.crop(dpadded, amounts)

        # For a model's first layer, whose dx nobody reads: no input-gradient GEMM and fold.
        backprop.parameters_only = parameter_gradients
        return y, backprop

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


class DepthwiseConv(Conv):
    """Each input channel convolved on its own by ``depth_multiplier`` kernels: ``(batch,
    *spatial, in) -> (batch, *out_spatial, in * depth_multiplier)``, output channel ``c *
    depth_multiplier + j`` from input channel ``c`` and ``depthwise_kernel[..., c, j]``; kernel
    ``(*kernel_size, in, depth_multiplier)`` and bias ``(in * depth_multiplier,)`` as Keras.

    It is the grouped convolution with one group per input channel: Keras's depthwise kernel
    has that convolution's kernel layout ``(*kernel_size, 1, in * depth_multiplier)`` in memory,
    so `Conv`'s forward and backward serve as they are."""

    constraint_names = ("depthwise", "bias")

    def __init__(self, kernel_size, strides=1, padding: str = "valid", depth_multiplier: int = 1,
                 data_format: str | None = None, dilation_rate=1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 bias_regularizer=None, **kwargs):
        if not isinstance(depth_multiplier, int) or isinstance(depth_multiplier, bool) or depth_multiplier <= 0:
            raise ValueError(f"{type(self).__name__}: depth_multiplier must be a positive integer. "
                             f"Received: depth_multiplier={depth_multiplier!r}")
        # filters and groups follow from the input channels, in build.
        super().__init__(depth_multiplier, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=depthwise_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer, **kwargs)
        self.depth_multiplier = depth_multiplier

    def build(self, input_shape):
        self.check_input_rank(input_shape)
        channels = input_shape[-1]
        self.groups, self.filters = channels, channels * self.depth_multiplier
        self.build_weights(input_shape, (*self.kernel_size, channels, self.depth_multiplier), "depthwise_kernel")

    def compute_output_shape(self, input_shape):
        return conv_utils.output_shape(input_shape, self.kernel_size, self.strides, self.dilation_rate,
                                       self.padding, input_shape[-1] * self.depth_multiplier, self.name)

    def get_config(self):
        config = super().get_config()
        for key in ("filters", "groups"):  # they follow from the input
            del config[key]
        for option in ("initializer", "regularizer"):
            config[f"depthwise_{option}"] = config.pop(f"kernel_{option}")
        return {**config, "depth_multiplier": self.depth_multiplier}


class DepthwiseConv1D(DepthwiseConv):
    """``(batch, steps, in) -> (batch, new_steps, in * depth_multiplier)``."""

    rank = 1


class DepthwiseConv2D(DepthwiseConv):
    """``(batch, rows, cols, in) -> (batch, new_rows, new_cols, in * depth_multiplier)``."""

    rank = 2


class Conv1D(Conv):
    """``(batch, steps, in) -> (batch, new_steps, filters)``; kernel ``(kernel_size, in, filters)``.

    ``padding`` is ``"valid"``, ``"same"`` or ``"causal"`` (left padding only: output t sees
    inputs up to t).
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(Conv):
    """``(batch, rows, cols, in) -> (batch, new_rows, new_cols, filters)``; kernel
    ``(kernel_rows, kernel_cols, in, filters)``."""

    rank = 2


class Conv3D(Conv):
    """``(batch, depth, rows, cols, in) -> (batch, new_depth, new_rows, new_cols, filters)``;
    kernel ``(kernel_depth, kernel_rows, kernel_cols, in, filters)``."""

    rank = 3
