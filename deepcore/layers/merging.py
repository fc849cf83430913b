"""Merge layers, Keras 3 names and arguments: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate and Dot combine a list of inputs into one output; ``add``, ``concatenate``... are
Keras's functional forms (``add(inputs, **kwargs) == Add(**kwargs)(inputs)``).

A merge layer takes a list of arrays, each with the batch axis first:
``forward([x_1, ..., x_n], training) -> (y, backprop)`` with ``backprop(dy) -> [dx_1, ..., dx_n]``,
one gradient per input in order, each shaped as its input. ``build``, ``check_input_shape`` and
``compute_output_shape`` take the list of the inputs' shapes.
"""

from __future__ import annotations

import functools
import itertools
import operator
from typing import Any, Callable, Sequence

from deepcore import config
from deepcore.backend import array_device, array_namespace
from deepcore.layers import symbolic
from deepcore.layers.base import Layer, Shape
from deepcore.layers.normalization import l2_normalize


class Merge(Layer):
    """Base class of the layers that take a list of inputs: at least one, as Keras 3 (one input
    passes through), or exactly ``exact_inputs``.

    Masks (Keras 3's rule): the output has a mask only when every input has one, and it is
    their logical OR (an entry is kept when any input keeps it). `Multiply`, `Maximum` and
    `Minimum` also leave masked entries out of their values (see each).
    """

    multiple_inputs = True
    supports_masking = True
    exact_inputs: int | None = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_shapes: list[Shape] | None = None  # set by build, batch axis first

    # --- shapes -----------------------------------------------------------------------------
    def build(self, input_shapes: Sequence[Shape]) -> None:
        """Check that inputs of ``input_shapes`` (a list, batch axis first, None where unknown)
        can be merged, and remember the shapes for `check_input_shape`."""
        shapes = self._shape_list(input_shapes)
        self.compute_output_shape(shapes)
        self.input_shapes = shapes
        self.built = True

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        raise NotImplementedError

    def check_input_shape(self, shapes: Sequence[Shape]) -> None:
        """Raise a clear error when ``shapes`` (one per input, with batch axis) do not fit the
        shapes the layer was built for (None there matches any size)."""
        shapes = self._shape_list(shapes)
        expected = self.input_shapes
        if expected is None:
            return
        fits = len(shapes) == len(expected) and all(
            len(shape) == len(built) and all(e is None or e == s for e, s in zip(built[1:], shape[1:]))
            for shape, built in zip(shapes, expected)
        )
        if not fits:
            raise ValueError(
                f"Inputs of {self._title()} are incompatible with the layer: expected shapes {expected}, "
                f"received inputs with shapes {shapes}."
            )

    # --- calling ----------------------------------------------------------------------------
    def __call__(self, inputs: Sequence, training: bool = False, **kwargs) -> Any:
        """Run the layer on a list of backend arrays (building it on first use) and return ``y``."""
        if kwargs or symbolic.is_symbolic(inputs):  # a functional model's definition, or a misuse
            return super().__call__(inputs, training, **kwargs)  # that the base class reports
        inputs = self._input_list(inputs)
        shapes = [tuple(x.shape) for x in inputs]
        if not self.built:
            self.build([(None, *shape[1:]) for shape in shapes])
        self.check_input_shape(shapes)
        return self.forward(inputs, training)[0]

    def compute_mask(self, inputs: Sequence, mask: Sequence | None = None) -> Any:
        """The OR of the inputs' masks; None when an input has none."""
        masks = self._mask_list(inputs, mask)
        if any(m is None for m in masks):
            return None
        return functools.reduce(array_namespace(masks[0]).logical_or, masks)

    # --- checks and messages ----------------------------------------------------------------
    def _title(self) -> str:
        return f"{type(self).__name__} layer {self.name!r}"

    def _count_error(self, received: str) -> ValueError:
        count = f"exactly {self.exact_inputs}" if self.exact_inputs else "at least 1"
        return ValueError(f"{self._title()} expects a list of {count} inputs; received {received}.")

    def _check_count(self, items: list, received: Callable[[], str]) -> None:
        if not items or (self.exact_inputs is not None and len(items) != self.exact_inputs):
            raise self._count_error(received())

    def _input_list(self, inputs: Any) -> list:
        """``inputs`` as a list of arrays, or a clear error when it is not a list of enough."""
        if not isinstance(inputs, (list, tuple)):
            shape = getattr(inputs, "shape", None)
            raise self._count_error(f"a single {type(inputs).__name__}"
                                    + (f" of shape {tuple(shape)}" if shape is not None else f": {inputs!r}"))
        inputs = list(inputs)
        self._check_count(inputs, lambda: f"a list of {len(inputs)} with shapes "
                                          f"{[tuple(getattr(x, 'shape', ())) for x in inputs]}")
        return inputs

    def _shape_list(self, shapes: Any) -> list[Shape]:
        """``shapes`` as a list of tuples, or a clear error when it is not a list of enough shapes."""
        if not isinstance(shapes, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise self._count_error(f"input_shape={shapes!r}, not a list of shapes (one per input)")
        shapes = [tuple(s) for s in shapes]
        self._check_count(shapes, lambda: f"{len(shapes)} input shape(s): {shapes}")
        return shapes

    def _mask_list(self, inputs: Sequence, mask: Any) -> list:
        """One mask (or None) per input."""
        if mask is None:
            return [None] * len(inputs)
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError(f"{self._title()}: expected one mask (or None) per input, {len(inputs)} in all; "
                             f"received mask={mask!r}.")
        return list(mask)

    def _incompatible(self, shapes: list[Shape], reason: str) -> ValueError:
        return ValueError(f"{self._title()} cannot merge inputs of shapes {shapes}: {reason}.")


# --- elementwise merges --------------------------------------------------------------------------

class _Elementwise(Merge):
    """A merge computed elementwise: a subclass gives ``combine(xp, xs, masks) -> (y, backprop)``
    on the inputs brought to the output's rank, with ``masks`` one per input, each None or
    broadcast to the output's shape; ``backprop(dy)`` gives one gradient per input, in the
    output's shape.

    Shapes follow Keras's broadcasting rule: the batch sizes agree, and the other axes are
    aligned from the right (an input of lower rank gains axes of size 1 after its batch axis);
    on each axis the known sizes other than 1 must agree, and a size 1 is broadcast. The
    backward sums each gradient back to its input's shape.
    """

    uses_mask = True

    def combine(self, xp: Any, xs: list, masks: list) -> tuple[Any, Callable]:
        raise NotImplementedError

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        shapes = self._shape_list(input_shapes)
        batch = _common_size(self, shapes, [shape[0] for shape in shapes], "different batch sizes")
        rank = max(len(shape) for shape in shapes)
        dims = []
        for axis, column in enumerate(zip(*(_aligned(shape, rank)[1:] for shape in shapes)), start=1):
            known = {d for d in column if d is not None and d != 1}
            if len(known) > 1:
                raise self._incompatible(shapes, f"sizes {sorted(known)} on axis {axis} (counted after "
                                                 "aligning the shapes from the right) neither agree nor are 1")
            dims.append(known.pop() if known else None if None in column else 1)
        return (batch, *dims)

    def forward(self, inputs: Sequence, training: bool = False, mask: Sequence | None = None) -> tuple[Any, Callable]:
        """``[x_1, ..., x_n] -> y`` of the broadcast shape; ``backprop(dy) -> [dx_1, ..., dx_n]``.
        ``mask``: one mask (or None) per input, each shaped as its input without the last axis
        (e.g. ``(batch, timesteps)``), as Keras's."""
        inputs = self._input_list(inputs)
        xp = array_namespace(inputs[0])
        shape = tuple(self.compute_output_shape([tuple(x.shape) for x in inputs]))
        rank = len(shape)
        xs = [x if x.ndim == rank else xp.reshape(x, _aligned(tuple(x.shape), rank)) for x in inputs]
        masks = [None if m is None else xp.broadcast_to(xp.reshape(m, _aligned((*m.shape, 1), rank)), shape)
                 for m in self._mask_list(inputs, mask)]
        y, combine_backprop = self.combine(xp, xs, masks)

        def backprop(dy):
            return [_sum_to_shape(xp, gradient, tuple(x.shape)) for gradient, x in zip(combine_backprop(dy), inputs)]

        return y, backprop


class Add(_Elementwise):
    """``y = x_1 + ... + x_n``, elementwise (masked entries included, as Keras)."""

    def combine(self, xp, xs, masks):
        return functools.reduce(operator.add, xs), lambda dy: [dy] * len(xs)


class Subtract(_Elementwise):
    """``y = x_1 - x_2`` for exactly two inputs (masked entries included, as Keras)."""

    exact_inputs = 2

    def combine(self, xp, xs, masks):
        return xs[0] - xs[1], lambda dy: [dy, -dy]


class Multiply(_Elementwise):
    """``y = x_1 * ... * x_n``, elementwise. As Keras 3, a masked entry of an input counts as 1;
    when every input has a mask, entries that all inputs mask are 0."""

    def combine(self, xp, xs, masks):
        factors = [x if m is None else xp.where(m, x, 1.0) for x, m in zip(xs, masks)]
        kept = functools.reduce(xp.logical_or, masks) if all(m is not None for m in masks) else None
        y = functools.reduce(operator.mul, factors)
        if kept is not None:
            y = xp.where(kept, y, 0.0)

        def backprop(dy):  # an entry that every input masks gets 0 through each input's own mask
            gradients = []
            for i, m in enumerate(masks):
                gradient = functools.reduce(operator.mul, factors[:i] + factors[i + 1:], dy)  # the others' product
                gradients.append(gradient if m is None else xp.where(m, gradient, 0.0))
            return gradients

        return y, backprop


class Average(_Elementwise):
    """``y = (x_1 + ... + x_n) / n``, elementwise (masked entries included, as Keras)."""

    def combine(self, xp, xs, masks):
        return functools.reduce(operator.add, xs) / len(xs), lambda dy: [dy / len(xs)] * len(xs)


class _Extremum(_Elementwise):
    """Maximum and Minimum, folded over the inputs in order. Each output element comes from
    one input, which gets its gradient: the earlier one on a tie (TensorFlow's gradient), the
    first NaN. Masks as Keras 3: a masked entry takes the running result's value, so it never
    wins, and the running result takes the next input's value where it is itself masked."""

    def keeps(self, xp, running, x):
        """Where the running result stays the extremum against ``x``."""
        raise NotImplementedError

    def combine(self, xp, xs, masks):
        xs = xp.broadcast_arrays(*xs)
        y, kept = xs[0], masks[0]
        source = xp.zeros(y.shape, dtype=xp.int32, device=array_device(y))  # the input each entry comes from
        for i, (x, m) in enumerate(zip(xs[1:], masks[1:]), start=1):
            x_source = xp.full(y.shape, i, dtype=xp.int32, device=array_device(y))
            if m is not None:
                x, x_source = xp.where(m, x, y), xp.where(m, x_source, source)
            if kept is not None:
                y, source = xp.where(kept, y, x), xp.where(kept, source, x_source)
            kept = xp.logical_or(kept, m) if kept is not None and m is not None else None
            stays = self.keeps(xp, y, x)
            y, source = xp.where(stays, y, x), xp.where(stays, source, x_source)
        return y, lambda dy: [xp.where(source == i, dy, 0.0) for i in range(len(xs))]


class Maximum(_Extremum):
    """``y = max(x_1, ..., x_n)``, elementwise; a tie's gradient goes to the first input holding it."""

    def keeps(self, xp, running, x):
        return xp.logical_or(running >= x, xp.isnan(running))


class Minimum(_Extremum):
    """``y = min(x_1, ..., x_n)``, elementwise; a tie's gradient goes to the first input holding it."""

    def keeps(self, xp, running, x):
        return xp.logical_or(running <= x, xp.isnan(running))


# --- Concatenate -----------------------------------------------------------------------------------

class Concatenate(Merge):
    """Joins the inputs along ``axis`` (not the batch axis): inputs of one rank, equal sizes on
    every other axis. ``[(batch, a, c), (batch, b, c)] -> (batch, a + b, c)`` for ``axis=1``.

    Masks (Keras 3's rule): each mask is broadcast to its input's shape (a missing one as all
    True), the results are joined along ``axis`` and OR-ed over the last axis; along the last
    axis this is the OR of the masks, along a sequence axis the masks are joined.
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(f"Concatenate: axis must be an integer. Received: axis={axis!r}")
        self.axis = axis

    def _resolved_axis(self, shapes: list[Shape]) -> int:
        rank = len(shapes[0])
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise self._incompatible(shapes, f"axis={self.axis} is not a non-batch axis of inputs of rank {rank}")
        return axis

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        shapes = self._shape_list(input_shapes)
        if len({len(shape) for shape in shapes}) > 1:
            raise self._incompatible(shapes, "their ranks differ")
        axis = self._resolved_axis(shapes)
        dims = []
        for k, column in enumerate(zip(*shapes)):
            if k == axis:
                dims.append(None if None in column else sum(column))
            else:
                dims.append(_common_size(self, shapes, column, f"they differ on axis {k}, which is not the "
                                                               f"concatenation axis {axis}"))
        return tuple(dims)

    def forward(self, inputs: Sequence, training: bool = False) -> tuple[Any, Callable]:
        """``[x_1, ..., x_n] -> y``, the inputs joined along the axis; ``backprop`` slices ``dy``."""
        inputs = self._input_list(inputs)
        shapes = [tuple(x.shape) for x in inputs]
        self.compute_output_shape(shapes)
        axis = self._resolved_axis(shapes)
        xp = array_namespace(inputs[0])
        ends = list(itertools.accumulate(shape[axis] for shape in shapes))  # where each input ends

        def backprop(dy):
            before = (slice(None),) * axis
            return [dy[(*before, slice(end - shape[axis], end), ...)] for shape, end in zip(shapes, ends)]

        return xp.concat(inputs, axis=axis), backprop

    def compute_mask(self, inputs: Sequence, mask: Sequence | None = None) -> Any:
        masks = self._mask_list(inputs, mask)
        if all(m is None for m in masks):
            return None
        xp = array_namespace(next(m for m in masks if m is not None))
        full = []
        for x, m in zip(inputs, masks):
            shape = tuple(x.shape)
            if m is None:
                full.append(xp.ones(shape, dtype=xp.bool, device=array_device(x)))
            else:
                full.append(xp.broadcast_to(xp.reshape(m, (*m.shape, *(1,) * (len(shape) - m.ndim))), shape))
        return xp.any(xp.concat(full, axis=self._resolved_axis([tuple(x.shape) for x in inputs])), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


# --- Dot ---------------------------------------------------------------------------------------------

class Dot(Merge):
    """The dot product of two inputs along ``axes`` (one axis per input, or one int for both;
    not the batch axis), sample by sample; inputs of rank 2 ``(batch, n)`` or 3 ``(batch, n, m)``.

    The output holds the first input's other axes, then the second's:
    ``[(batch, n), (batch, n)] -> (batch, 1)``; ``[(batch, a, k), (batch, b, k)]`` with
    ``axes=2`` ``-> (batch, a, b)``. With ``normalize=True`` each input is first divided by its
    L2 norm along its axis (at least Keras's epsilon, 1e-7), so the output is the cosine
    similarity. The output has no mask (as Keras).
    """

    exact_inputs = 2

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        pair = isinstance(axes, (list, tuple)) and len(axes) == 2
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in (axes if pair else [axes])):
            raise ValueError(f"Dot: axes must be an integer or a pair of integers. Received: axes={axes!r}")
        self.axes = tuple(axes) if pair else axes
        self.normalize = normalize

    def _resolved_axes(self, shapes: list[Shape]) -> tuple[int, int]:
        ranks = [len(shape) for shape in shapes]
        if any(rank not in (2, 3) for rank in ranks):
            raise self._incompatible(shapes, "Dot supports inputs of rank 2 (batch, n) and 3 (batch, n, m) only")
        axes = self.axes if isinstance(self.axes, tuple) else (self.axes, self.axes)
        resolved = tuple(a + rank if a < 0 else a for a, rank in zip(axes, ranks))
        if not all(1 <= a < rank for a, rank in zip(resolved, ranks)):
            raise self._incompatible(shapes, f"axes={self.axes} must name a non-batch axis of each input")
        return resolved

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        shapes = self._shape_list(input_shapes)
        a, b = self._resolved_axes(shapes)
        first, second = shapes
        batch = _common_size(self, shapes, [first[0], second[0]], "different batch sizes")
        _common_size(self, shapes, [first[a], second[b]], f"axis {a} of the first and axis {b} of the second "
                                                          "differ in size")
        rest = ([d for k, d in enumerate(first) if k not in (0, a)]
                + [d for k, d in enumerate(second) if k not in (0, b)])
        return (batch, *(rest or [1]))

    def forward(self, inputs: Sequence, training: bool = False) -> tuple[Any, Callable]:
        """``[x_1, x_2] -> y`` (shape: `compute_output_shape`); ``backprop(dy) -> [dx_1, dx_2]``."""
        inputs = self._input_list(inputs)
        shapes = [tuple(x.shape) for x in inputs]
        output_shape = self.compute_output_shape(shapes)
        a_axis, b_axis = self._resolved_axes(shapes)
        xp = array_namespace(inputs[0])
        a, b = inputs
        if self.normalize:
            a, a_normalize_backprop = l2_normalize(xp, a, a_axis, config.epsilon())
            b, b_normalize_backprop = l2_normalize(xp, b, b_axis, config.epsilon())
        # As a batched matrix product: a -> (batch, p, k) (its axis last), b -> (batch, k, q).
        a_order = (0, *(k for k in range(1, a.ndim) if k != a_axis), a_axis)
        b_order = (0, b_axis, *(k for k in range(1, b.ndim) if k != b_axis))
        a_moved, b_moved = xp.permute_dims(a, a_order), xp.permute_dims(b, b_order)
        batch, size = a_moved.shape[0], a_moved.shape[-1]
        a3 = xp.reshape(a_moved, (batch, -1, size))
        b3 = xp.reshape(b_moved, (batch, size, -1))
        y = xp.reshape(a3 @ b3, output_shape)

        def backprop(dy):
            dz = xp.reshape(dy, (batch, a3.shape[1], b3.shape[2]))
            da = xp.permute_dims(xp.reshape(dz @ xp.matrix_transpose(b3), a_moved.shape), _inverse(a_order))
            db = xp.permute_dims(xp.reshape(xp.matrix_transpose(a3) @ dz, b_moved.shape), _inverse(b_order))
            if self.normalize:
                return [a_normalize_backprop(da), b_normalize_backprop(db)]
            return [da, db]

        return y, backprop

    def compute_mask(self, inputs: Sequence, mask: Sequence | None = None) -> None:
        return None

    def get_config(self) -> dict:
        axes = list(self.axes) if isinstance(self.axes, tuple) else self.axes
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


# --- Keras's functional forms ------------------------------------------------------------------------

def add(inputs: Sequence, **kwargs) -> Any:
    """``Add(**kwargs)(inputs)``: the elementwise sum of the inputs."""
    return Add(**kwargs)(inputs)


def subtract(inputs: Sequence, **kwargs) -> Any:
    """``Subtract(**kwargs)(inputs)``: ``inputs[0] - inputs[1]``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: Sequence, **kwargs) -> Any:
    """``Multiply(**kwargs)(inputs)``: the elementwise product of the inputs."""
    return Multiply(**kwargs)(inputs)


def average(inputs: Sequence, **kwargs) -> Any:
    """``Average(**kwargs)(inputs)``: the elementwise mean of the inputs."""
    return Average(**kwargs)(inputs)


def maximum(inputs: Sequence, **kwargs) -> Any:
    """``Maximum(**kwargs)(inputs)``: the elementwise maximum of the inputs."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: Sequence, **kwargs) -> Any:
    """``Minimum(**kwargs)(inputs)``: the elementwise minimum of the inputs."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: Sequence, axis: int = -1, **kwargs) -> Any:
    """``Concatenate(axis, **kwargs)(inputs)``: the inputs joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: Sequence, axes: int | Sequence[int] = -1, normalize: bool = False, **kwargs) -> Any:
    """``Dot(axes, normalize, **kwargs)(inputs)``: the samples' dot products along ``axes``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)


# --- helpers -------------------------------------------------------------------------------------------

def _aligned(shape: Shape, rank: int) -> Shape:
    """``shape`` with axes of size 1 inserted after the batch axis up to ``rank`` (Keras's rule)."""
    return (shape[0], *(1,) * (rank - len(shape)), *shape[1:])


def _common_size(layer: Merge, shapes: list[Shape], sizes: Sequence, reason: str) -> int | None:
    """The one known size among ``sizes`` (None: none is known), or the layer's clear error."""
    known = set(sizes) - {None}
    if len(known) > 1:
        raise layer._incompatible(shapes, reason)
    return known.pop() if known else None


def _sum_to_shape(xp: Any, gradient: Any, shape: Shape) -> Any:
    """``gradient`` (the broadcast output's shape) summed over the axes that ``shape`` broadcast."""
    aligned = _aligned(shape, gradient.ndim)
    axes = tuple(k for k, (n, g) in enumerate(zip(aligned, gradient.shape)) if n == 1 and g != 1)
    if axes:
        gradient = xp.sum(gradient, axis=axes, keepdims=True)
    return gradient if tuple(gradient.shape) == shape else xp.reshape(gradient, shape)


def _inverse(order: tuple) -> tuple:
    """The permutation that undoes ``permute_dims(x, order)``."""
    return tuple(sorted(range(len(order)), key=order.__getitem__))
