"""Keras's generic ``RNN`` layer over its built-in cells: ``RNN(LSTMCell(64))`` is
``LSTM(64)``, and ``RNN([LSTMCell(64), GRUCell(32)])`` stacks cells, each step of a cell
feeding the cell above it.

deepcore has no autograd, so a cell is a description rather than code: `SimpleRNNCell`,
`LSTMCell` and `GRUCell` take the arguments of Keras's cells (those of `SimpleRNN`, `LSTM` and
`GRU` without the sequence options), and `RNN` runs each as the matching recurrent layer. A
stack of cells runs as a stack of those layers, the lower ones returning sequences: the same
numbers as Keras's step-by-step interleaving, since a cell's step reads only its own past and
the step of the cell below. Weights sit where Keras's files keep them: ``cell/vars/<i>``, and
for a stack ``cell/cells/<lstm_cell, lstm_cell_1, gru_cell...>/vars/<i>``.
"""

from __future__ import annotations

from deepcore.backend import array_namespace
from deepcore.layers.base import Layer
from deepcore.layers.recurrent import GRU, LSTM, Recurrent, SimpleRNN
from deepcore.layers.wrappers import Wrapper

# The options of a recurrent layer that belong to the RNN around a cell, not to the cell.
SEQUENCE_OPTIONS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")


class RecurrentCell(Layer):
    """One cell's options, checked and kept by a template of its recurrent layer
    (``layer_class``). A cell computes nothing by itself: `RNN` runs it."""

    layer_class: type[Recurrent] = Recurrent

    def __init__(self, units: int, name: str | None = None, trainable: bool = True, **options):
        misplaced = sorted(set(options) & set(SEQUENCE_OPTIONS))
        if misplaced:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {misplaced} (options of the "
                            "RNN layer around a cell, not of the cell).")
        super().__init__(name=name, trainable=trainable)
        self._template = self.layer_class(units, name=self.name, trainable=trainable, **options)
        self.units = units

    @property
    def state_size(self):
        """Keras's: the width of the one state, or a list of widths (LSTM: ``[h, c]``)."""
        sizes = self._template.state_sizes
        return sizes[0] if len(sizes) == 1 else sizes

    @property
    def output_size(self) -> int:
        return self.units

    def recurrent_layer(self, **sequence_options) -> Recurrent:
        """A new recurrent layer running this cell over a sequence, named as the cell."""
        return self.layer_class.from_config({**self.get_config(), **sequence_options})

    def forward(self, x, training=False):
        raise TypeError(
            f"{type(self).__name__} {self.name!r} is a cell: wrap it in RNN(...) (or use "
            f"{self.layer_class.__name__}(...)); deepcore does not call cells step by step."
        )

    def get_config(self):
        config = self._template.get_config()
        for key in (*SEQUENCE_OPTIONS, "input_shape"):
            config.pop(key, None)
        return {**config, "name": self.name, "trainable": self.trainable}


class SimpleRNNCell(RecurrentCell):
    """The cell of `SimpleRNN` (its arguments without the sequence options)."""

    layer_class = SimpleRNN


class LSTMCell(RecurrentCell):
    """The cell of `LSTM` (its arguments without the sequence options)."""

    layer_class = LSTM


class GRUCell(RecurrentCell):
    """The cell of `GRU` (its arguments without the sequence options)."""

    layer_class = GRU


class StackedRNNCells(Layer):
    """Cells run one above the other at every step (what `RNN` makes of a list of cells)."""

    def __init__(self, cells: list, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells or not all(isinstance(cell, RecurrentCell) for cell in cells):
            raise TypeError(f"StackedRNNCells takes a list of deepcore cells (SimpleRNNCell, LSTMCell, GRUCell); "
                            f"received {cells!r}.")
        self.cells = cells

    @property
    def state_size(self) -> list:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def forward(self, x, training=False):
        raise TypeError(f"StackedRNNCells {self.name!r} holds cells: wrap it in RNN(...).")

    def get_config(self):
        from deepcore.saving import serialize_layer

        return {**super().get_config(), "cells": [serialize_layer(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config):
        from deepcore.saving import deserialize_layer

        return cls(**{**config, "cells": [cell if isinstance(cell, Layer) else deserialize_layer(cell)
                                          for cell in config["cells"]]})


class RNN(Wrapper):
    """Keras's ``RNN(cell, return_sequences, return_state, go_backwards, stateful, unroll,
    zero_output_for_mask)``: ``(batch, timesteps, features) -> (batch, units)`` of the last
    cell, or ``(batch, timesteps, units)`` with ``return_sequences``.

    ``cell``: a cell, a list of cells or `StackedRNNCells`. One cell behaves exactly as its
    recurrent layer, ``return_state`` and ``initial_state`` included. A stack refuses
    ``return_state`` and ``initial_state``: Keras gives and takes those as one nested list per
    cell, which deepcore's models do not carry (stack recurrent layers instead, each with its
    own states). A mask applies to every cell, as in Keras.
    """

    uses_mask = True
    takes_initial_state = True

    def __init__(self, cell, return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, zero_output_for_mask: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not isinstance(cell, (RecurrentCell, StackedRNNCells)):
            raise TypeError(f"RNN {self.name!r} runs deepcore's cells (SimpleRNNCell, LSTMCell, GRUCell, or a list "
                            f"of them); received {cell!r}. A custom cell's call() cannot run without autograd.")
        cells = cell.cells if isinstance(cell, StackedRNNCells) else [cell]
        if len(cells) > 1 and return_state:
            raise NotImplementedError(
                f"RNN {self.name!r}: return_state with stacked cells is not supported (Keras returns one nested list "
                "of states per cell). Stack recurrent layers (e.g. LSTM(..., return_sequences=True), then "
                "LSTM(..., return_state=True)) to get each one's states."
            )
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        last = len(cells) - 1
        # The cells above the first read its outputs in processing order, so only the first
        # goes backwards.
        self._layers = [
            cell.recurrent_layer(return_sequences=return_sequences or index < last, return_state=return_state,
                                 go_backwards=go_backwards and index == 0, stateful=stateful, unroll=unroll)
            for index, cell in enumerate(cells)
        ]
        self.zero_output_for_mask = zero_output_for_mask

    @property
    def zero_output_for_mask(self) -> bool:
        """Keras's option, held by the last cell's layer: a lower cell's outputs at masked steps
        feed nothing (a masked step keeps the states above it). `Bidirectional` sets it."""
        return self._layers[-1].zero_output_for_mask

    @zero_output_for_mask.setter
    def zero_output_for_mask(self, value: bool) -> None:
        self._layers[-1].zero_output_for_mask = value

    def inner_layers(self):
        return list(self._layers)

    def keras_weight_paths(self) -> list[str]:
        if len(self._layers) == 1:
            return self._layers[0].keras_weight_paths()  # cell/vars/<i>, as the recurrent layer's
        from deepcore.keras_weights import keras_names

        return [f"cell/cells/{name}/{path.removeprefix('cell/')}"
                for name, layer in zip(keras_names(self.cell.cells), self._layers)
                for path in layer.keras_weight_paths()]

    def build(self, input_shape):
        super().build(input_shape)
        shape = tuple(input_shape)
        for layer in self._layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._adopt_weights()

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def compute_mask(self, x, mask=None):
        return self._layers[-1].compute_mask(x, mask)

    @property
    def state_sizes(self) -> list[int]:
        return [size for layer in self._layers for size in layer.state_sizes]

    def forward(self, x, training=False, mask=None, initial_state=None):
        """See the class; one cell's forward is its recurrent layer's."""
        if len(self._layers) == 1:
            return self._layers[0].forward(x, training, mask=mask, initial_state=initial_state)
        if initial_state is not None:
            raise NotImplementedError(
                f"RNN {self.name!r}: initial_state with stacked cells is not supported (Keras takes one nested list "
                "of states per cell); stack recurrent layers, each with its own initial_state."
            )
        backprops = []
        for layer in self._layers:
            x, backprop = layer.forward(x, training, mask=mask)
            backprops.append(backprop)
            if layer.go_backwards and mask is not None:
                mask = array_namespace(mask).flip(mask, axis=1)  # the next cell reads the outputs reversed

        def above_first(dy):
            """The gradient reaching the first cell's outputs."""
            for backprop in reversed(backprops[1:]):
                dy = backprop(dy)
            return dy

        def backprop(dy):
            return backprops[0](above_first(dy))

        # For a model's first layer, whose dx nobody reads.
        backprop.parameters_only = lambda dy: backprops[0].parameters_only(above_first(dy))
        return x, backprop

    def get_config(self):
        from deepcore.saving import serialize_layer

        return {**super().get_config(), **{key: getattr(self, key) for key in SEQUENCE_OPTIONS},
                "cell": serialize_layer(self.cell)}

    @classmethod
    def from_config(cls, config):
        from deepcore.saving import deserialize_layer

        cell = config["cell"]
        return cls(**{**config, "cell": cell if isinstance(cell, Layer) else deserialize_layer(cell)})
