"""Symbolic tensors and nodes: how a functional model (``Model(inputs, outputs)``) is written
down before any data flows.

``Input(shape)`` gives a `SymbolicTensor`; calling a layer on symbolic tensors builds the layer
for their shapes and returns new symbolic tensors for its outputs, each remembering the `Node`
(the layer and its input tensors) that makes it. `deepcore.models.functional` walks these nodes
back from the outputs to run the layers in order, forward and backward.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

_recording: list[list] = []  # the node lists of the model calls being recorded (`recording`)


class Node:
    """One call of ``layer`` on ``inputs`` (symbolic tensors), with the tensors it outputs.
    ``multiple_inputs``: the layer took a list (a merge layer); ``multiple_outputs``: it
    returns a list (a recurrent layer with ``return_state``); ``initial_states``: how many of
    the inputs, after the first, are a recurrent layer's ``initial_state``; ``options``: the
    call's keyword arguments named in the layer's ``call_options`` (e.g. ``use_causal_mask``),
    given to its forward every time."""

    def __init__(self, layer, inputs: list, multiple_inputs: bool, output_shapes: list, multiple_outputs: bool,
                 initial_states: int = 0, options: dict | None = None):
        self.layer = layer
        self.inputs = inputs
        self.multiple_inputs = multiple_inputs
        self.multiple_outputs = multiple_outputs
        self.initial_states = initial_states
        self.options = options or {}
        self.outputs = [SymbolicTensor(shape, self, index) for index, shape in enumerate(output_shapes)]
        self.model_call: ModelCall | None = None  # set when a model called as a layer made this node
        layer.inbound_nodes.append(self)
        for nodes in _recording:
            nodes.append(self)

    def arguments(self, values: list) -> Any:
        """The layer's argument from one value per input: the list itself or its first entry."""
        return values if self.multiple_inputs else values[0]

    def forward(self, values: list, masks: list | None, training: bool) -> tuple[Any, Any, Any]:
        """Run the layer on one array per input (and one mask or None per input, or None for
        no masks at all): ``(y, output mask, backprop)``."""
        if masks is not None and self.initial_states:
            masks = masks[:1]  # states carry no mask
        mask = self.arguments(masks) if masks is not None and any(m is not None for m in masks) else None
        argument = self.arguments(values)
        keywords = {"initial_state": values[1:]} if self.initial_states else dict(self.options)
        # Keras 3 hands a layer the incoming mask only when its call has a single tensor
        # argument: a recurrent layer given initial_state runs unmasked (its output still
        # carries the input's mask, below).
        if mask is not None and self.layer.uses_mask and not self.initial_states:
            keywords["mask"] = mask
        y, backprop = self.layer.forward(argument, training, **keywords)
        return y, self.layer.compute_mask(argument, mask), backprop

    def call(self, tensors: list) -> Any:
        """The layer called again, on other symbolic tensors (one per input)."""
        return call_again(self.layer, tensors, self.multiple_inputs, self.initial_states, self.options)

    def per_input(self, value: Any) -> list:
        """One value per input from what the layer's backprop returned (the inputs' gradients)."""
        return list(value) if self.multiple_inputs or self.initial_states else [value]

    def results(self, value: Any) -> list:
        """One value per output from what the layer returned."""
        return list(value) if self.multiple_outputs else [value]


class ModelCall:
    """A model called as a layer on symbolic tensors: its layers join the caller's graph as
    ``nodes``; Keras counts the call as one operation when it orders a model's layers.
    ``inputs`` and ``outputs``: the tensors it was given and returned (lists)."""

    def __init__(self, model, nodes: list, inputs: list | None = None, outputs: list | None = None):
        self.model = model
        self.nodes = nodes
        self.inputs = inputs or []
        self.outputs = outputs or []
        for node in nodes:
            node.model_call = self  # the outermost call wins: it is recorded last


@contextlib.contextmanager
def recording() -> Iterator[list]:
    """Collect the nodes made inside the ``with`` block (calls of a model used as a layer)."""
    nodes: list = []
    _recording.append(nodes)
    try:
        yield nodes
    finally:
        _recording.pop()


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


def node_tensors(layer, what: str) -> Any:
    """The input or output tensor(s) of ``layer``'s first call on symbolic tensors (Keras's
    ``layer.input`` / ``layer.output``, which read node 0): one tensor, or a list for several."""
    nodes = layer.inbound_nodes
    if not nodes:
        raise AttributeError(f"Layer {layer.name!r} has no {what}: it has not been called on symbolic tensors "
                             "(Input() or another layer's output) yet.")
    tensors = nodes[0].outputs if what == "output" or not nodes[0].inputs else nodes[0].inputs  # an Input's is itself
    return tensors[0] if len(tensors) == 1 else list(tensors)


def is_symbolic(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor or a list/tuple holding one."""
    if isinstance(x, (list, tuple)):
        return any(isinstance(item, SymbolicTensor) for item in x)
    return isinstance(x, SymbolicTensor)


def call_again(layer, tensors: list, multiple_inputs: bool, initial_states: int, options: dict) -> Any:
    """A node's call (its layer, its kind of inputs, its options) on other symbolic tensors,
    one per input of the node: a model called as a layer, or a model loaded from its config."""
    if initial_states:
        return call(layer, tensors[0], initial_state=tensors[1:])
    return call(layer, tensors if multiple_inputs else tensors[0], **options)


def call(layer, inputs: Any, **kwargs) -> Any:
    """``layer(inputs)`` on symbolic tensors: build (or check) the layer for their shapes and
    return the symbolic output (a list of them for a layer with several outputs). Keyword
    arguments named in the layer's ``call_options`` are kept for its forward."""
    name = f"{type(layer).__name__} layer {layer.name!r}"
    initial_state = kwargs.pop("initial_state", None)
    given = {key: kwargs.pop(key) for key in getattr(layer, "call_options", ()) if key in kwargs}
    options = {key: value for key, value in given.items() if value}
    unsupported = sorted(key for key, value in kwargs.items() if value is not None and key != "training")
    if initial_state is not None and not getattr(layer, "takes_initial_state", False):
        unsupported.append("initial_state")
    if unsupported:
        raise NotImplementedError(
            f"{name}: calling it with {unsupported} in a functional model is not supported "
            "(masks flow from the layers that make them, e.g. Embedding(mask_zero=True); "
            "initial_state= is taken by SimpleRNN, LSTM, GRU and Bidirectional)."
        )
    multiple = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if multiple else [inputs]
    states = [] if initial_state is None else (
        list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state])
    for tensor in tensors + states:
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
    if states:
        from deepcore.layers.recurrent import per_sample

        shapes = [per_sample(size) for size in layer.state_sizes]
        if len(states) != len(shapes) or any(s.shape[1:] != shape for s, shape in zip(states, shapes)):
            written = [f"(batch, {', '.join(map(str, shape))})" for shape in shapes]
            expected = f"of shape {written[0]}" if len(set(shapes)) == 1 else f"of shapes {written}"
            raise ValueError(f"{name}: initial_state must be {len(shapes)} tensor(s) {expected}; "
                             f"received {[s.shape for s in states]}.")
    output = layer.compute_output_shape(shape, **options)
    multiple_outputs = isinstance(output, list)
    node = Node(layer, tensors + states, multiple, output if multiple_outputs else [output], multiple_outputs,
                initial_states=len(states), options=options)
    return list(node.outputs) if multiple_outputs else node.outputs[0]
