"""Conv1DTranspose, Conv2DTranspose and Conv3DTranspose: the transpose (adjoint) of a convolution, as Keras.

``(batch, *spatial, in) -> (batch, *out_spatial, filters)``; kernel ``(*kernel_size, filters,
in)`` and bias ``(filters,)`` as Keras stores them. The forward is what a convolution's input
gradient computes: each input position's product with the kernel, per window offset, added
into the output through strided slices (`conv_utils.fold_patches`); the backward gathers the
windows of the output gradient (`conv_utils.extract_patches`) and multiplies them by the
kernel, i.e. it is a convolution.

Output length per axis, Keras's rule (``k`` the dilated kernel length): ``valid``: ``n * stride
+ max(k - stride, 0)``; ``same``: ``n * stride``; with ``output_padding`` p: ``(n - 1) * stride +
k - 2 * pad + p`` (``pad`` 0 for valid, ``k // 2`` for same). The output is the full fold, of
length ``(n - 1) * stride + k``, shifted by TensorFlow's SAME padding for ``same`` and cut or
extended with zeros to that length.
"""

from __future__ import annotations

import math

from deepcore.backend import array_namespace
from deepcore.layers import conv_utils
from deepcore.layers.base import column_sums
from deepcore.layers.convolutional import BaseConv


def output_length(length: int | None, window: int, stride: int, dilation: int, padding: str,
                  output_padding: int | None) -> int | None:
    """Keras's ``deconv_output_length`` for one axis."""
    if length is None:
        return None
    effective = (window - 1) * dilation + 1
    if output_padding is None:
        return length * stride + max(effective - stride, 0) if padding == "valid" else length * stride
    pad = 0 if padding == "valid" else effective // 2
    return (length - 1) * stride + effective - 2 * pad + output_padding


class ConvTranspose(BaseConv):
    """The transposed convolution over ``rank`` spatial axes; `Conv1DTranspose`,
    `Conv2DTranspose` and `Conv3DTranspose` fix the rank."""

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", output_padding=None,
                 data_format: str | None = None, dilation_rate=1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer, **kwargs)
        self.output_padding = self._output_padding(output_padding)

    def _output_padding(self, value) -> tuple | None:
        """None, or one non-negative int per axis, each below its stride (as Keras)."""
        if value is None:
            return None
        values = (value,) * self.rank if isinstance(value, int) else tuple(value)
        valid = len(values) == self.rank and all(
            isinstance(p, int) and not isinstance(p, bool) and 0 <= p < s for p, s in zip(values, self.strides)
        )
        if not valid:
            raise ValueError(
                f"{type(self).__name__}: output_padding must be None or {self.rank} non-negative int(s), each "
                f"lower than its stride {self.strides}. Received: output_padding={value!r}"
            )
        return values

    def build(self, input_shape):
        self.check_input_rank(input_shape)
        self.build_weights(input_shape, (*self.kernel_size, self.filters, input_shape[-1]))

    def _lengths(self, spatial) -> list:
        paddings = self.output_padding or (None,) * self.rank
        return [output_length(n, k, s, d, self.padding, p)
                for n, k, s, d, p in zip(spatial, self.kernel_size, self.strides, self.dilation_rate, paddings)]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._lengths(input_shape[1:-1]), self.filters)

    def _placement(self, spatial) -> tuple[tuple, conv_utils.Padding]:
        """The fold's buffer shape per axis, and the (before, after) amounts to crop from it
        to get the output: the buffer is the full fold, ``(n - 1) * stride + k`` long, plus the
        zeros of an output that is longer still; ``before`` is TensorFlow's SAME split (0 for
        valid)."""
        buffer, amounts = [], []
        for n, k, s, d, length in zip(spatial, self.kernel_size, self.strides, self.dilation_rate,
                                      self._lengths(spatial)):
            full = (n - 1) * s + (k - 1) * d + 1
            before = 0 if self.padding == "valid" else max(full - length, 0) // 2
            size = max(full, before + length)
            buffer.append(size)
            amounts.append((before, size - before - length))
        return tuple(buffer), tuple(amounts)

    def forward(self, x, training=False):
        xp = array_namespace(x)
        batch, spatial, channels = x.shape[0], tuple(x.shape[1:-1]), x.shape[-1]
        window = math.prod(self.kernel_size)
        buffer, amounts = self._placement(spatial)
        rows = xp.reshape(x, (batch * math.prod(spatial), channels))
        kernel_value = self.kernel.value
        by_offset = xp.matrix_transpose(xp.reshape(kernel_value, (window, self.filters, channels)))
        products = xp.expand_dims(rows, axis=0) @ by_offset  # (window, rows, filters)
        folded = conv_utils.fold_patches(xp.reshape(products, (window, batch, *spatial, self.filters)),
                                         (batch, *buffer, self.filters), self.kernel_size, self.strides,
                                         self.dilation_rate)
        z = conv_utils.crop(folded, amounts)
        if self.bias is not None:
            z = z + self.bias.value
        y, activation_backprop = self.activation.forward(z)

        def parameter_gradients(dy):
            """Store the kernel and bias gradients; return the windows of dz, ``(rows, window *
            filters)`` (one per input position)."""
            dz = activation_backprop(dy)
            dfolded = conv_utils.pad(dz, amounts)
            patches = conv_utils.extract_patches(dfolded, self.kernel_size, self.strides, self.dilation_rate)
            patches = patches[(slice(None), *(slice(0, n) for n in spatial), ...)]
            columns = xp.reshape(patches, (batch * math.prod(spatial), window * self.filters))
            kernel_grad = xp.matrix_transpose(rows) @ columns  # (in, window * filters)
            self.kernel.grad = xp.reshape(xp.matrix_transpose(kernel_grad), self.kernel.shape)
            if self.bias is not None:
                self.bias.grad = column_sums(xp.reshape(dz, (-1, self.filters)))
            return columns

        def backprop(dy):
            columns = parameter_gradients(dy)
            kernel_matrix = xp.reshape(kernel_value, (window * self.filters, channels))
            return xp.reshape(columns @ kernel_matrix, x.shape)

        backprop.parameters_only = parameter_gradients
        return y, backprop

    def get_config(self):
        return {**super().get_config(),
                "output_padding": None if self.output_padding is None else list(self.output_padding)}


class Conv1DTranspose(ConvTranspose):
    """``(batch, steps, in) -> (batch, new_steps, filters)``; kernel ``(kernel_size, filters, in)``."""

    rank = 1


class Conv2DTranspose(ConvTranspose):
    """``(batch, rows, cols, in) -> (batch, new_rows, new_cols, filters)``; kernel
    ``(kernel_rows, kernel_cols, filters, in)``."""

    rank = 2


class Conv3DTranspose(ConvTranspose):
    """``(batch, depth, rows, cols, in) -> (batch, new_depth, new_rows, new_cols, filters)``;
    kernel ``(kernel_depth, kernel_rows, kernel_cols, filters, in)``."""

    rank = 3
