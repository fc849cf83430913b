"""The layer protocol: weights as `Variable`s, and ``forward(x, training) -> (y, backprop)``.

A layer's backward sits next to its forward as a closure (thinc's pattern): ``backprop(dy)``
stores the parameter gradients in ``variable.grad`` and returns ``dx``. Layers are written in
array-API code only and never ask which backend they run on.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any, Callable

from deepcore import activations, constraints, initializers, regularizers
from deepcore.backend import array_device, array_namespace
from deepcore.identifiers import snake_case
from deepcore.layers import symbolic
from deepcore.registry import get_backend

Shape = tuple  # with the batch axis first, None when unknown: (None, 10)

_name_counts: dict[str, int] = defaultdict(int)
_names_given: set[str] = set()  # names passed explicitly (e.g. by load_model): never handed out again


def unique_name(prefix: str) -> str:
    """``dense``, ``dense_1``, ``dense_2``... as Keras names layers, skipping names given
    explicitly: a model loaded in a new process and new layers joined with it (transfer
    learning) get distinct names."""
    while True:
        count = _name_counts[prefix]
        _name_counts[prefix] += 1
        name = prefix if count == 0 else f"{prefix}_{count}"
        if name not in _names_given:
            return name


def reset_names() -> None:
    """Let `unique_name` count from zero again (`deepcore.utils.clear_session`)."""
    _name_counts.clear()
    _names_given.clear()


class Variable:
    """A weight array on the device, its latest gradient, and how it is trained."""

    __slots__ = ("name", "value", "grad", "trainable", "regularizer", "constraint")

    def __init__(self, name: str, value: Any, trainable: bool = True,
                 regularizer: regularizers.Regularizer | None = None,
                 constraint: constraints.Constraint | None = None):
        self.name = name
        self.value = value
        self.grad: Any = None
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint  # applied by the optimizer after each update

    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape)

    def __repr__(self) -> str:
        return f"<Variable {self.name} shape={self.shape}>"


class Layer:
    """Base class of all layers.

    Subclasses implement `forward`, and, when they own weights, `build(input_shape)` creating
    them with `add_weight`; `compute_output_shape` when the shape changes.

    Masks (Keras's rules): a layer's `compute_mask` gives the mask of its output (the layer
    that makes one, e.g. ``Embedding(mask_zero=True)``, overrides it); layers with
    ``supports_masking`` pass an incoming mask on, the others drop it; a layer with
    ``uses_mask`` (the recurrent layers) receives it as ``forward(x, training, mask=...)``.
    """

    supports_masking = False
    uses_mask = False
    multiple_inputs = False  # True: forward takes a list of inputs (merge layers)
    # The weights that take Keras's ``<name>_constraint`` arguments (a weight named
    # ``<name>_kernel`` or ``<name>``, e.g. recurrent -> recurrent_kernel).
    constraint_names: tuple[str, ...] = ()

    def __init__(self, name: str | None = None, trainable: bool = True,
                 input_shape: tuple | None = None, dtype: Any = None,
                 activity_regularizer=None, input_dim: int | None = None, **kwargs):
        self._constraints: dict[str, constraints.Constraint] = {}
        for weight in self.constraint_names:
            constraint = constraints.get(kwargs.pop(f"{weight}_constraint", None))
            if constraint is not None:
                self._constraints[weight] = constraint
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {sorted(kwargs)}.")
        if name:
            _names_given.add(name)
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.built = False
        if input_dim is not None and input_shape is None:  # Keras 2's Dense(12, input_dim=8)
            input_shape = (input_dim,)
        self.input_shape: Shape | None = (None, *input_shape) if input_shape is not None else None
        self._variables: list[Variable] = []
        self.backend = None  # the backend holding this layer's weights, set when they are made
        self.activity_loss: Any = 0.0  # the activity penalty of the latest forward
        self.activity_regularizer = activity_regularizer
        self._option_names: list[str] = []
        self.inbound_nodes: list[symbolic.Node] = []  # its calls on symbolic tensors, in order

    def set_options(self, **options) -> None:
        """Resolve activation, ``*_initializer`` and ``*_regularizer`` arguments (names, config
        dicts or objects) into attributes of the same names, serialized again by `get_config`."""
        for name, value in options.items():
            setattr(self, name, _option_module(name).get(value))
            self._option_names.append(name)

    # --- weights --------------------------------------------------------------------------
    def add_weight(self, name: str, shape: tuple, initializer="glorot_uniform",
                   trainable: bool = True, regularizer=None) -> Variable:
        self.backend = get_backend()
        value = initializers.get(initializer)(shape)
        short = name.rsplit("/", 1)[-1]  # "query/kernel" (a sublayer's, as Keras names it) -> "kernel"
        constraint = self._constraints.get(short[:-len("_kernel")] if short.endswith("_kernel") else short)
        variable = Variable(f"{self.name}/{name}", value, trainable, regularizers.get(regularizer), constraint)
        self._variables.append(variable)
        return variable

    @property
    def weights(self) -> list[Variable]:
        """Trainable then non-trainable variables, Keras's order."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Variable]:
        return [v for v in self._variables if v.trainable and self.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [v for v in self._variables if not (v.trainable and self.trainable)]

    def count_params(self) -> int:
        total = 0
        for variable in self._variables:
            size = 1
            for dim in variable.shape:
                size *= dim
            total += size
        return total

    def keras_weight_paths(self) -> list[str]:
        """Where Keras's weights files keep each weight (`get_weights` order), relative to the
        layer's group: its own variables are ``vars/0``, ``vars/1``... (a layer made of Keras
        sublayers overrides this; see `deepcore.keras_weights`)."""
        return [f"vars/{i}" for i in range(len(self.weights))]

    def keras_only_variables(self) -> dict:
        """Variables Keras keeps for this layer that deepcore has no use for, as its weights
        files hold them (``{relative path: value}``, a number or host array; written, never
        read)."""
        return {}

    def get_weights(self) -> list:
        """Copies of the weights as NumPy arrays (Dense: kernel ``(in, out)``, then bias)."""
        # Copies: on CPU backends to_numpy may share memory with the weights, which the
        # optimizer updates in place.
        return [self.backend.to_numpy(v.value).copy() for v in self.weights]

    def set_weights(self, weights: list) -> None:
        """Replace the weights with host arrays of the same shapes, in `get_weights` order."""
        variables = self.weights
        if len(weights) != len(variables):
            raise ValueError(
                f"Layer {self.name!r} expects {len(variables)} weight arrays; received {len(weights)}."
            )
        for variable, value in zip(variables, weights):
            if tuple(value.shape) != variable.shape:
                raise ValueError(
                    f"Layer {self.name!r}, weight {variable.name!r}: expected shape {variable.shape}, "
                    f"received {tuple(value.shape)}."
                )
            # A copy, so training never writes into the caller's array (CPU backends share memory).
            variable.value = self.backend.asarray(value.copy(), dtype=variable.value.dtype)

    def move_to(self, backend) -> None:
        """Move the weights to another backend (through the host)."""
        if self.backend is None or backend is self.backend:
            return
        for variable in self._variables:
            variable.value = self.transfer(variable.value, backend)
            variable.grad = None
        self.backend = backend

    def transfer(self, array: Any, backend) -> Any:
        """``array`` of this layer's backend, copied to ``backend`` through the host in its dtype."""
        host = self.backend.to_numpy(array)
        return backend.asarray(host, dtype=backend.dtype(str(host.dtype)))

    # --- shapes -----------------------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def check_input_shape(self, shape: tuple) -> None:
        """Raise a clear error when ``shape`` (with batch axis) does not fit the built layer."""
        expected = self.input_shape
        if expected is None:
            return
        fits = len(shape) == len(expected) and all(
            e is None or e == s for e, s in zip(expected[1:], shape[1:])
        )
        if not fits:
            raise ValueError(
                f"Input of layer {self.name!r} is incompatible with the layer: expected shape "
                f"{expected}, received input with shape {tuple(shape)}."
            )

    def check_input_values(self, x) -> None:
        """Raise a clear error when the values of ``x`` cannot be this layer's input. A model
        asks its first layer once per fit/evaluate/predict call, for all the data at once
        (never per batch: no host read in the training loop). By default any values do."""

    # --- computation ------------------------------------------------------------------------
    def forward(self, x, training: bool = False) -> tuple[Any, Callable]:
        """``x -> (y, backprop)``; ``backprop(dy) -> dx``. Subclasses implement this."""
        raise NotImplementedError

    def compute_mask(self, x, mask=None):
        """The mask of the output for input ``x`` carrying ``mask`` (None: no mask)."""
        return mask if self.supports_masking else None

    # --- activity regularization ------------------------------------------------------------
    @property
    def activity_regularizer(self) -> regularizers.Regularizer | None:
        """A penalty on the layer's output ``y``; in training, ``penalty(y) / batch`` (as Keras 3)
        is kept in `activity_loss` for the model to add to the loss, and its gradient to ``dy``."""
        return self._activity_regularizer

    @activity_regularizer.setter
    def activity_regularizer(self, value) -> None:
        self._activity_regularizer = regularizers.get(value)
        # Only a layer with a penalty gets its forward wrapped, so the others pay nothing.
        if self._activity_regularizer is None:
            self.__dict__.pop("forward", None)
        else:
            self.forward = self._forward_with_activity_penalty

    def _forward_with_activity_penalty(self, x, training: bool = False, **kwargs) -> tuple[Any, Callable]:
        y, backprop = type(self).forward(self, x, training, **kwargs)
        regularizer, scale = self._activity_regularizer, 1.0 / y.shape[0]
        self.activity_loss = regularizer(y) * scale  # in evaluation too: Keras adds it to that loss
        if not training:
            return y, backprop

        def backprop_with_penalty(dy):
            return backprop(dy + regularizer.gradient(y) * scale)

        return y, backprop_with_penalty

    def __call__(self, x, training: bool = False, **kwargs):
        """Run the layer on a backend array (building it on first use) and return ``y``; on
        symbolic tensors (``Input()`` and what layers return for it), add the call to a
        functional model's definition and return the symbolic output."""
        if symbolic.is_symbolic(x):
            return symbolic.call(self, x, **kwargs)
        if kwargs:
            raise TypeError(f"{type(self).__name__}() on arrays takes x and training; received {sorted(kwargs)}.")
        if not self.built:
            self.build((None, *x.shape[1:]))
        self.check_input_shape(tuple(x.shape))
        return self.forward(x, training)[0]

    @property
    def input(self):
        """The symbolic input of the layer's first call on symbolic tensors (Keras's ``input``)."""
        return symbolic.node_tensors(self, "input")

    @property
    def output(self):
        """The symbolic output of the layer's first call on symbolic tensors (Keras's
        ``output``, e.g. ``Model(model.input, model.get_layer("features").output)``)."""
        return symbolic.node_tensors(self, "output")

    # --- configuration ----------------------------------------------------------------------
    def get_config(self) -> dict:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape[1:])
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        for name in self._option_names:
            config[name] = _option_module(name).serialize(getattr(self, name))
        for weight, constraint in self._constraints.items():
            config[f"{weight}_constraint"] = constraints.serialize(constraint)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def column_sums(matrix: Any) -> Any:
    """``(rows, columns) -> (columns,)``: each column's sum (a bias gradient), as the product of
    a vector of ones with the matrix. BLAS reads the matrix once in row order; NumPy's axis-0
    sum is 2-4x slower on such tall matrices (measured, float32 (43264, 32): 0.93 -> 0.21 ms)."""
    xp = array_namespace(matrix)
    return _ones(xp, matrix.shape[0], matrix.dtype, array_device(matrix)) @ matrix


@functools.lru_cache(maxsize=16)
def _ones(xp, length: int, dtype, device) -> Any:
    """A vector of ones, kept: a training loop asks for the same few (one per batch length and
    layer width); creating one costs as much as the tiny network's whole bias gradient. Only
    read, never written."""
    return xp.ones(length, dtype=dtype, device=device)


def _option_module(name: str):
    """The module that resolves and serializes an option, by the option's name."""
    if name.endswith("activation"):
        return activations
    if name.endswith("_initializer"):
        return initializers
    if name.endswith("_regularizer"):
        return regularizers
    raise ValueError(f"{name!r} is not an activation, initializer or regularizer option.")
