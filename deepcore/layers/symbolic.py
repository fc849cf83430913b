"""Symbolic tensors and nodes: how a functional model (``Model(inputs, outputs)``) is written
down before any data flows.

``Input(shape)`` gives a `SymbolicTensor`; calling a layer on symbolic tensors builds the layer
for their shapes and returns new symbolic tensors for its outputs, each remembering the `Node`
(the layer and its input tensors) that makes it. `deepcore.models.functional` walks these nodes
back from the outputs to run the layers in order, forward and backward.
"""

from __future__ import annotations

from typing import Any


class Node:
    """One call of ``layer`` on ``inputs`` (symbolic tensors), with the tensors it outputs.
    ``multiple_inputs``: the layer took a list (a merge layer); ``multiple_outputs``: it
    returns a list (a recurrent layer with ``return_state``)."""

    def __init__(self, layer, inputs: list, multiple_inputs: bool, output_shapes: list, multiple_outputs: bool):
        self.layer = layer
        self.inputs = inputs
        self.multiple_inputs = multiple_inputs
        self.multiple_outputs = multiple_outputs
        self.outputs = [SymbolicTensor(shape, self, index) for index, shape in enumerate(output_shapes)]

    def arguments(self, values: list) -> Any:
        """The layer's argument from one value per input: the list itself or its one entry."""
        return values if self.multiple_inputs else values[0]

    def per_input(self, value: Any) -> list:
        """One value per input from what the layer's backprop returned (the inputs' gradients)."""
        return list(value) if self.multiple_inputs else [value]

    def results(self, value: Any) -> list:
        """One value per output from what the layer returned."""
        return list(value) if self.multiple_outputs else [value]


class SymbolicTensor:
    """A placeholder for an array of ``shape`` (batch axis first, None where unknown) in a
    functional model's definition, as Keras's ``KerasTensor``. It holds no data."""

    def __init__(self, shape: tuple, node: Node, index: int):
        self.shape = tuple(shape)
        self.node = node
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def name(self) -> str:
        """The name of the layer that makes this tensor (and the output's index when it makes several)."""
        layer = self.node.layer.name
        return layer if len(self.node.outputs) == 1 else f"{layer}_{self.index}"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is a symbolic tensor of a functional model's definition and has no values. "
            "Build the model with Model(inputs, outputs) and call it (or predict) on data."
        )

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} name={self.name!r}>"


def is_symbolic(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor or a list/tuple holding one."""
    if isinstance(x, (list, tuple)):
        return any(isinstance(item, SymbolicTensor) for item in x)
    return isinstance(x, SymbolicTensor)


def call(layer, inputs: Any, **kwargs) -> Any:
    """``layer(inputs)`` on symbolic tensors: build (or check) the layer for their shapes and
    return the symbolic output (a list of them for a layer with several outputs)."""
    name = f"{type(layer).__name__} layer {layer.name!r}"
    unsupported = sorted(key for key, value in kwargs.items() if value is not None and key != "training")
    if unsupported:
        raise NotImplementedError(
            f"{name}: calling a layer with {unsupported} in a functional model is not supported yet "
            "(masks flow from the layers that make them, e.g. Embedding(mask_zero=True))."
        )
    multiple = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if multiple else [inputs]
    for tensor in tensors:
        if not isinstance(tensor, SymbolicTensor):
            raise TypeError(f"{name}: every input of a functional model's layer must come from Input() or "
                            f"another layer; received {tensor!r}.")
    if multiple != layer.multiple_inputs:
        expected = "a list of inputs" if layer.multiple_inputs else "one input"
        raise ValueError(f"{name} takes {expected}; received {len(tensors) if multiple else 'one'} "
                         f"({[tensor.shape for tensor in tensors]}).")
    shapes = [tensor.shape for tensor in tensors]
    shape = shapes if multiple else shapes[0]
    if not layer.built:
        layer.build(shape)
    else:
        layer.check_input_shape(shape)
    output = layer.compute_output_shape(shape)
    multiple_outputs = isinstance(output, list)
    node = Node(layer, tensors, multiple, output if multiple_outputs else [output], multiple_outputs)
    return list(node.outputs) if multiple_outputs else node.outputs[0]
