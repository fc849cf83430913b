"""`Sequential`: a stack of layers, each feeding the next."""

from __future__ import annotations

from typing import Callable

from deepcore.layers.base import Layer, unique_name
from deepcore.layers.core import InputLayer
from deepcore.layers.symbolic import SymbolicTensor
from deepcore.models.model import Model
from deepcore.models.summary import print_summary


class Sequential(Model):
    """A linear stack of layers, Keras style.

    The input shape comes from an `Input` layer, an ``input_shape=`` argument of the first
    layer, an explicit `build`, or (lazily) the first data seen.
    """

    def __init__(self, layers: list[Layer] | None = None, name: str | None = None):
        super().__init__(name=name or unique_name("sequential"))
        self.layers: list[Layer] = []
        self.input_shape: tuple | None = None
        self.built = False
        self._graph_input = None  # the symbolic graph of `inputs`: its Input tensor,
        self._graph_outputs: list = []  # and each layer's symbolic output, in order
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append a layer; builds the model right away when its input shape is known.

        A `Sequential` (e.g. a data-augmentation block or a feature extractor) joins with its
        layers, which stay shared with it: training either model trains both, as in Keras
        (here `layers` and `summary` list them one by one)."""
        if isinstance(layer, Sequential):
            if not self.layers and self.input_shape is None and layer.input_shape is not None:
                self.input_shape = layer.input_shape
            for inner in layer.layers:
                self.add(inner)
            return
        if isinstance(layer, Model):
            raise TypeError(
                f"Sequential.add(): the functional model {layer.name!r} cannot be a layer of a Sequential "
                "here; build the outer model with the functional API instead: inputs = Input(...); "
                "outputs = Dense(...)(base(inputs)); Model(inputs, outputs)."
            )
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer  # Input(shape) as the first entry, as Keras
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add() takes a deepcore layer or an Input(); received {layer!r}.")
        if isinstance(layer, InputLayer):
            if self.layers:
                raise ValueError("An Input can only be the first entry of a Sequential model.")
            self.input_shape = layer.input_shape
            return
        if not self.layers and self.input_shape is None and layer.input_shape is not None:
            self.input_shape = layer.input_shape
        self.layers.append(layer)
        self.built = False
        if self.input_shape is not None:
            self.build(self.input_shape)

    def call_symbolic(self, x):
        """The layers applied one after another to the symbolic tensor ``x``, shared."""
        for layer in self.layers:
            x = layer(x)
        return x

    def pop(self) -> Layer:
        layer = self.layers.pop()
        self.built = False
        del self._graph_outputs[len(self.layers):]
        if self.input_shape is not None:
            self.build(self.input_shape)
        return layer

    @property
    def inputs(self) -> list:
        """The symbolic input of the built model, as a list (Keras): building calls the layers
        on an Input of the model's input shape (each new layer once), so that ``model.input``
        and each ``layer.output`` can define new functional models."""
        return self._symbolic_graph()[0]

    @property
    def outputs(self) -> list:
        """The symbolic output, as a list (see `inputs`)."""
        return self._symbolic_graph()[1]

    def _symbolic_graph(self) -> tuple[list, list]:
        if not self.built:
            raise AttributeError(f"Sequential model {self.name!r} has no input yet: give it an Input or "
                                 "input_shape=, or build it, first.")
        if self._graph_input is None or self._graph_input.shape[1:] != self.input_shape[1:]:
            self._graph_input, self._graph_outputs = InputLayer(batch_shape=self.input_shape).output, []
        while len(self._graph_outputs) < len(self.layers):
            previous = self._graph_outputs[-1] if self._graph_outputs else self._graph_input
            self._graph_outputs.append(self.layers[len(self._graph_outputs)](previous))
        return [self._graph_input], [self._graph_outputs[-1] if self._graph_outputs else self._graph_input]

    def build(self, input_shape: tuple) -> None:
        """Create every layer's weights for inputs of ``input_shape`` (batch axis first)."""
        shape = tuple(input_shape)
        self.input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            else:
                layer.check_input_shape(shape)
            shape = layer.compute_output_shape(shape)
        self.output_shape = shape
        self.built = True
        self._symbolic_graph()  # each layer's input and output, as Keras (new layers only)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer at ``index`` (which takes precedence, as Keras) or named ``name``."""
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: index {index} is out of range for the {len(self.layers)} layers of "
                                 f"model {self.name!r}.")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: {[layer.name for layer in self.layers]}.")

    def check_input_shape(self, shape: tuple) -> None:
        if self.layers:
            self.layers[0].check_input_shape(shape)

    def check_input_values(self, x) -> None:
        if self.layers:
            self.layers[0].check_input_values(x)

    def forward_with_mask(self, x, training: bool = False) -> tuple:
        """``(batch, ...in) -> ((batch, ...out), output mask or None, backprop)``; ``backprop(dy)``
        runs the layers' closures in reverse and returns ``dx``. ``backprop.parameters_only(dy)``
        fills the same parameter gradients without dx: it stops at the first layer with
        trainable weights and uses that layer's ``parameters_only`` when its closure offers one
        (training never reads the gradient of the data). The output mask is what the last layer
        passes on (see `Layer.compute_mask`), e.g. ``(batch, timesteps)`` after a masked
        sequence; the loss weights by it."""
        backprops = []
        mask = None  # Keras's masks: see Layer
        for layer in self.layers:
            inputs = x
            if mask is not None and layer.uses_mask:
                x, backprop = layer.forward(x, training, mask=mask)
            else:
                x, backprop = layer.forward(x, training)
            mask = layer.compute_mask(inputs, mask)
            backprops.append(backprop)

        def backprop(dy):
            for layer_backprop in reversed(backprops):
                dy = layer_backprop(dy)
            return dy

        def parameters_only(dy):
            # The backward stops at the first layer with trainable weights: the layers before
            # it (Rescaling, augmentations...) would only compute the data's gradient.
            first = 0
            for layer in self.layers:  # a plain loop: this runs every training step
                if layer.trainable_weights:
                    break
                first += 1
            for layer_backprop in reversed(backprops[first + 1:]):
                dy = layer_backprop(dy)
            if first < len(backprops):
                getattr(backprops[first], "parameters_only", backprops[first])(dy)

        backprop.parameters_only = parameters_only
        return x, mask, backprop

    def summary(self, line_length: int | None = None, print_fn: Callable[[str], None] | None = None,
                expand_nested: bool = False, show_trainable: bool = False) -> None:
        """Print a table of layers with output shapes and parameter counts (and, with
        ``show_trainable``, whether each layer trains), at least ``line_length`` wide. Nested
        models are already expanded (see `add`), so ``expand_nested`` changes nothing."""
        rows = []
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape) if shape is not None else None
            out = str(shape) if shape is not None else "?"
            rows.append((layer, (f"{layer.name} ({type(layer).__name__})", out, f"{layer.count_params():,}")))
        print_summary(self, ("Layer (type)", "Output Shape", "Param #"), rows, line_length, print_fn, show_trainable,
                      left=(0, 1))

    def get_config(self) -> dict:
        from deepcore.saving import serialize_layer

        return {
            "name": self.name,
            "input_shape": list(self.input_shape[1:]) if self.input_shape else None,
            "layers": [serialize_layer(layer) for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        """Rebuild from `get_config` (built right away when the input shape is known)."""
        from deepcore.saving import deserialize_layer

        model = cls([deserialize_layer(spec) for spec in config["layers"]], name=config.get("name"))
        if config.get("input_shape") is not None and not model.built:
            model.build((None, *config["input_shape"]))
        return model

