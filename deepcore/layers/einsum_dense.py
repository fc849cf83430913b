"""EinsumDense: a dense layer written as an einsum equation, Keras 3's arguments, shapes and
formulas (``y = activation(einsum(equation, x, kernel) + bias)``).

``equation`` is ``"<input>,<kernel>-><output>"`` in letters, one per axis, the batch axis
first: ``"ab,bc->ac"`` is Dense, ``"abc,cde->abde"`` projects into heads (MultiHeadAttention's
query), ``"abcd,cde->abe"`` merges them. ``...`` may stand for leading axes (``"...b,bc->...c"``)
or, after at least two letters, trailing ones (``"abc...,cd->abd..."``). ``output_shape``
gives the output's sizes after the batch axis (None where the input decides); ``bias_axes``
the output letters that get a bias.

The standard array API has no einsum, so the layer sorts the letters into the input's free
axes (kept in the output), the contracted axes (input and kernel) and the kernel's free axes
(output), and computes one matmul between the permuted, reshaped input and kernel; the
backward is the two matmuls of that product. A letter of the input missing from both kernel
and output (a sum over an input axis), or one shared by all three (a batched product), is
refused by name.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from deepcore.backend import array_namespace
from deepcore.initializers import VarianceScaling
from deepcore.layers.base import Layer


class EinsumDense(Layer):
    """See the module docstring. Kernel shape from the equation (Keras's rules): each kernel
    letter takes the size of the same letter in the output (``output_shape``) or else in the
    input; bias ``(sizes of the output from its first bias letter on, 1 for letters without
    a bias)``."""

    constraint_names = ("kernel", "bias")

    def __init__(self, equation: str, output_shape, activation=None, bias_axes: str | None = None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.equation = equation
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self.bias_axes = bias_axes
        self.set_options(activation=activation, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer)
        _split(equation)  # an unusable equation is refused at once

    # --- shapes -----------------------------------------------------------------------------
    def _labels(self, rank: int) -> tuple[list, list, list]:
        """The input, kernel and output letters, with ``...`` expanded to one label per elided
        axis of an input of ``rank`` axes."""
        input_spec, kernel_spec, output_spec, side = _split(self.equation)
        elided = rank - len(input_spec)
        if elided < 0 or (elided > 0 and side is None):
            raise ValueError(f"EinsumDense layer {self.name!r}: equation {self.equation!r} names {len(input_spec)} "
                             f"input axes; the input has {rank}.")
        extra = [f"...{i}" for i in range(elided)]
        if side == "left":
            return extra + list(input_spec), list(kernel_spec), extra + list(output_spec)
        return list(input_spec) + extra, list(kernel_spec), list(output_spec) + extra

    def _sizes(self, input_shape: tuple) -> dict:
        """Each label's size: from the input, and from ``output_shape`` for the others."""
        inputs, kernel, outputs = self._labels(len(input_shape))
        sizes = dict(zip(inputs, input_shape))
        named = [label for label in outputs if not label.startswith("...")]
        # output_shape has a size per output letter after the batch letter; with a leading
        # "...", the batch axis is in the ellipsis and every letter has one.
        leading_ellipsis = _split(self.equation)[3] == "left"
        given = list(self.partial_output_shape) if leading_ellipsis else [input_shape[0], *self.partial_output_shape]
        if len(given) != len(named):
            raise ValueError(f"EinsumDense layer {self.name!r}: output_shape {self.partial_output_shape} does not "
                             f"fit the output {''.join(named)!r} of {self.equation!r} (one size per output letter"
                             f"{'' if leading_ellipsis else ' after the batch axis'}).")
        for label, size in zip(named, given):
            if label in sizes and size is not None and sizes[label] is not None and size != sizes[label]:
                raise ValueError(f"EinsumDense layer {self.name!r}: axis {label!r} has size {sizes[label]} in the "
                                 f"input but {size} in output_shape.")
            if size is not None:
                sizes.setdefault(label, size)
        for label in kernel + outputs:
            if sizes.get(label) is None and label != inputs[0]:
                raise ValueError(f"EinsumDense layer {self.name!r}: the size of axis {label!r} of {self.equation!r} "
                                 "is unknown: give it in output_shape or in the input shape.")
        for label in inputs:
            if label not in kernel and label not in outputs:
                raise NotImplementedError(f"EinsumDense layer {self.name!r}: input axis {label!r} of "
                                          f"{self.equation!r} is summed over; not supported.")
            if label in kernel and label in outputs:
                raise NotImplementedError(f"EinsumDense layer {self.name!r}: axis {label!r} of {self.equation!r} is "
                                          "in the input, the kernel and the output (a batched product); not supported.")
        for label in outputs:
            if label not in inputs and label not in kernel:
                raise ValueError(f"EinsumDense layer {self.name!r}: output axis {label!r} of {self.equation!r} is in "
                                 "neither the input nor the kernel.")
        return sizes

    def build(self, input_shape):
        super().build(input_shape)
        inputs, kernel, outputs = self._labels(len(input_shape))
        sizes = self._sizes(tuple(input_shape))
        kernel_shape = tuple(sizes[label] for label in kernel)
        initializer = self.kernel_initializer
        if isinstance(initializer, VarianceScaling):  # Keras counts the fans over these axes
            initializer = initializer.with_axes([i for i, label in enumerate(kernel) if label not in outputs],
                                                [i for i, label in enumerate(kernel) if label in outputs])
        self.kernel = self.add_weight("kernel", kernel_shape, initializer, regularizer=self.kernel_regularizer)
        self.bias = None
        if self.bias_axes is not None:
            missing = [label for label in self.bias_axes if label not in outputs]
            if missing:
                raise ValueError(f"EinsumDense layer {self.name!r}: bias axes {missing} are not in the output of "
                                 f"{self.equation!r}.")
            first = min(outputs.index(label) for label in self.bias_axes)
            bias_shape = tuple(sizes[label] if label in self.bias_axes else 1 for label in outputs[first:])
            self.bias = self.add_weight("bias", bias_shape, self.bias_initializer, regularizer=self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        inputs, _, outputs = self._labels(len(input_shape))
        sizes = self._sizes(tuple(input_shape))
        return tuple(input_shape[0] if label == inputs[0] else sizes[label] for label in outputs)

    # --- computation ------------------------------------------------------------------------
    def forward(self, x, training=False) -> tuple[Any, Callable]:
        """``(batch, ...) -> (batch, ...)`` as the equation says."""
        xp = array_namespace(x)
        inputs, kernel, outputs = self._labels(x.ndim)
        sizes = {**dict(zip(inputs, x.shape)), **dict(zip(kernel, self.kernel.shape))}
        free = [label for label in inputs if label in outputs]  # kept from the input
        contracted = [label for label in inputs if label in kernel]
        kernel_free = [label for label in kernel if label in outputs]
        rows, inner = math.prod(sizes[l] for l in free), math.prod(sizes[l] for l in contracted)
        columns = math.prod(sizes[l] for l in kernel_free)
        x_matrix = xp.reshape(xp.permute_dims(x, _order(inputs, free + contracted)), (rows, inner))
        kernel_value = self.kernel.value
        k_matrix = xp.reshape(xp.permute_dims(kernel_value, _order(kernel, contracted + kernel_free)), (inner, columns))
        product_labels = free + kernel_free
        product_shape = tuple(sizes[l] for l in product_labels)
        to_output = _order(product_labels, outputs)
        z = xp.permute_dims(xp.reshape(x_matrix @ k_matrix, product_shape), to_output)
        bias = None if self.bias is None else self.bias.value
        if bias is not None:
            z = z + bias  # bias covers the output's last axes, from the first bias letter on
        y, activation_backprop = self.activation.forward(z)

        def parameter_gradients(dy):
            """Store the gradients; return ``dz`` as the ``(rows, columns)`` matrix."""
            dz = activation_backprop(dy)
            if self.bias is not None:
                summed = tuple(range(dz.ndim - bias.ndim)) + tuple(
                    dz.ndim - bias.ndim + i for i, size in enumerate(bias.shape) if size == 1)
                self.bias.grad = xp.reshape(xp.sum(dz, axis=summed), tuple(bias.shape))
            dz_matrix = xp.reshape(xp.permute_dims(dz, _order(outputs, product_labels)), (rows, columns))
            k_grad = xp.reshape(xp.matrix_transpose(x_matrix) @ dz_matrix,
                                tuple(sizes[l] for l in contracted + kernel_free))
            self.kernel.grad = xp.permute_dims(k_grad, _order(contracted + kernel_free, kernel))
            return dz_matrix

        def backprop(dy):
            dx_matrix = parameter_gradients(dy) @ xp.matrix_transpose(k_matrix)
            dx = xp.reshape(dx_matrix, tuple(sizes[l] for l in free + contracted))
            return xp.permute_dims(dx, _order(free + contracted, inputs))

        backprop.parameters_only = parameter_gradients
        return y, backprop

    def get_config(self):
        return {**super().get_config(), "equation": self.equation, "output_shape": list(self.partial_output_shape),
                "bias_axes": self.bias_axes}


def _order(source: list, target: list) -> tuple[int, ...]:
    """The permutation taking axes labelled ``source`` to the order of ``target``."""
    return tuple(source.index(label) for label in target)


def _split(equation: str) -> tuple[str, str, str, str | None]:
    """``(input, kernel, output, side of the ellipsis or None)``, Keras's three forms."""
    plain = re.fullmatch(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", equation)
    if plain:
        return (*plain.groups(), None)
    left = re.fullmatch(r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)", equation)
    if left:
        return (*left.groups(), "left")
    right = re.fullmatch(r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.", equation)
    if right:
        return (*right.groups(), "right")
    raise ValueError(f"EinsumDense: invalid equation {equation!r}. Equations must be in the form [X],[Y]->[Z], "
                     "...[X],[Y]->...[Z] or [X]...,[Y]->[Z]... (letters, one per axis, the batch axis first).")
