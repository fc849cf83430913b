"""`Functional`: the model that ``Model(inputs, outputs)`` makes from a graph of layer calls.

The layers' calls on symbolic tensors (see `deepcore.layers.symbolic`) form a directed acyclic
graph from the `Input` tensors to the output. The forward runs its nodes in a topological order,
each on the arrays of its input tensors; the backward runs their closures in reverse, summing
the gradients of a tensor that feeds several layers (a residual branch, a shared embedding).
A layer called at several nodes (shared weights) gets the sum of its nodes' weight gradients.
"""

from __future__ import annotations

from typing import Any, Callable

from deepcore.layers.core import InputLayer
from deepcore.layers.symbolic import Node, SymbolicTensor, call_again
from deepcore.layers.wrappers import Wrapper
from deepcore.models.model import Model
from deepcore.models.model import _activity_penalty as layer_activity_penalty
from deepcore.models.summary import print_summary


class Functional(Model):
    """A model from ``inputs`` (one `Input` tensor or a list of them) to ``outputs`` (one
    symbolic tensor or a list), Keras's functional API: branches, merges
    (`deepcore.layers.Add`, `Concatenate`...) and shared layers. With several inputs (or
    outputs), fit/evaluate/predict take the arrays (or targets) as a list in their order or a
    dict keyed by the Input (output layer) names; predict returns a list.

    ``inputs`` or ``outputs`` given as a dict (Keras 3) are ordered by key, and the keys name
    them: the data, targets, per-output losses, metrics and logs are keyed by them, and with
    dict outputs predict and calls return a dict (``output_names`` stays the output layers'
    names, as Keras)."""

    def __init__(self, inputs=None, outputs=None, name: str | None = None, **kwargs):
        if inputs is None or outputs is None:
            raise TypeError(
                "Model() needs inputs= and outputs=: the functional API, e.g. inputs = Input((4,)); "
                "outputs = Dense(1)(inputs); Model(inputs, outputs). (Subclassing Model with a call() "
                "method is not supported: deepcore has no autograd to differentiate it.)"
            )
        if kwargs:
            raise TypeError(f"Model() got unexpected keyword argument(s): {sorted(kwargs)}.")
        from deepcore.layers.base import unique_name

        super().__init__(name=name or unique_name("functional"))
        # Inputs as a dict (Keras): the data are matched by its keys; model.inputs sorted by key.
        self._input_keys = sorted(str(key) for key in inputs) if isinstance(inputs, dict) else None
        self.inputs = _tensors([inputs[key] for key in sorted(inputs)] if isinstance(inputs, dict) else inputs,
                               "inputs")
        self._output_keys = sorted(str(key) for key in outputs) if isinstance(outputs, dict) else None
        self.outputs = _tensors([outputs[key] for key in sorted(outputs)] if isinstance(outputs, dict) else outputs,
                                "outputs")
        for tensor in self.inputs:
            if not isinstance(tensor.node.layer, InputLayer):
                raise ValueError(f"Model {self.name!r}: every entry of inputs must come from Input(); "
                                 f"{tensor!r} is made by layer {tensor.node.layer.name!r}.")
        if len({id(tensor) for tensor in self.inputs}) != len(self.inputs):
            raise ValueError(f"Model {self.name!r}: the same Input is listed twice in inputs.")
        # The operations: layers, and models called as layers as a whole (Keras's model.layers,
        # which its weights files follow); `layers` lists the layers of those models one by one.
        self._nodes, self._operations = _graph_order(self.outputs, self.inputs, self.name)
        self.layers = _layers_of(self._operations)
        self._called_models = []  # models called as layers in the graph, for get_layer
        for node in self._nodes:
            if node.model_call is not None and all(m is not node.model_call.model for m in self._called_models):
                self._called_models.append(node.model_call.model)
        self._number_tensors()
        self._latest_activity: Any = 0.0
        self._calls = {id(layer): sum(node.layer is layer for node in self._nodes) for layer in self.layers}
        names = [layer.name for layer in self.layers]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"Model {self.name!r}: layer names must be unique; {repeated} are used twice.")
        self.output_names = _distinct([tensor.name for tensor in self.outputs])
        shapes = [tensor.shape for tensor in self.inputs]
        self.input_shape = shapes[0] if len(shapes) == 1 else shapes
        output_shapes = [tensor.shape for tensor in self.outputs]
        self.output_shape = output_shapes[0] if len(output_shapes) == 1 else output_shapes
        self.built = True

    @property
    def input_names(self) -> list[str]:
        """The keys of the data of each input, in the order fit/evaluate/predict take a list:
        the names of the Input layers, or the keys of ``inputs`` given as a dict. (The
        outputs' names, ``output_names``, are their layers' names, made distinct with ``_1``,
        ``_2``... for outputs of one layer: the keys of per-output losses, metrics and logs.)"""
        return self._input_keys or [tensor.node.layer.name for tensor in self.inputs]

    def _input_names(self) -> list[str] | None:
        return self.input_names if len(self.inputs) > 1 else None

    def _output_names(self) -> list[str] | None:
        # Keras 3: with outputs given as a dict, its keys (not the layers' names) key the
        # targets, losses, metrics and logs.
        return (self._output_keys or self.output_names) if len(self.outputs) > 1 else None

    def _structured_outputs(self, values: list) -> Any:
        if self._output_keys is not None:
            return dict(zip(self._output_keys, values))
        return super()._structured_outputs(values)

    def build(self, input_shape) -> None:
        """Built already from its inputs; checks that ``input_shape`` fits them."""
        self.check_input_shape(input_shape)

    def get_layer(self, name: str | None = None, index: int | None = None):
        """The layer at ``index`` in `layers` or named ``name``; also a model called as a layer,
        by its name (Keras's ``get_layer("backbone")``: its layers are listed one by one in
        `layers`, shared with it, so ``get_layer("backbone").trainable = False`` freezes them)."""
        if index is not None:
            return self.layers[index]
        for candidate in [*self.layers, *self._called_models]:
            if candidate.name == name:
                return candidate
        known = [candidate.name for candidate in [*self.layers, *self._called_models]]
        raise ValueError(f"No such layer: {name!r}. Existing layers are: {known}.")

    # --- checks (once per fit/evaluate/predict call, for all the data) ----------------------
    def check_input_shape(self, shape) -> None:
        shapes = [tuple(shape)] if len(self.inputs) == 1 else list(shape)
        for tensor, given in zip(self.inputs, shapes):
            expected = (None, *tensor.shape[1:])
            fits = len(given) == len(expected) and all(e is None or e == g for e, g in zip(expected, given))
            if not fits:
                raise ValueError(f"Input {tensor.node.layer.name!r} of model {self.name!r} expects shape "
                                 f"{expected}; received input with shape {tuple(given)}.")

    def check_input_values(self, x) -> None:
        values = [None] * self._slot_count
        for slot, value in zip(self._input_slots, x if len(self.inputs) > 1 else [x]):
            values[slot] = value
        for node, ins, _ in self._plan:
            if not node.multiple_inputs and values[ins[0]] is not None:
                node.layer.check_input_values(values[ins[0]])

    def _number_tensors(self) -> None:
        """Give every tensor of the graph a slot (an index into the per-call lists of values,
        masks and gradients) and each node the slots it reads and writes: no dict lookups in
        the forward and backward."""
        slots: dict[int, int] = {}
        for tensor in self.inputs + [t for node in self._nodes for t in node.outputs]:
            slots.setdefault(id(tensor), len(slots))
        self._slot_count = len(slots)
        self._input_slots = [slots[id(t)] for t in self.inputs]
        self._output_slots = [slots[id(t)] for t in self.outputs]
        self._plan = [(node, [slots[id(t)] for t in node.inputs], [slots[id(t)] for t in node.outputs])
                      for node in self._nodes]

    # --- forward and backward ---------------------------------------------------------------
    def forward_with_mask(self, x, training: bool = False, trace: list | None = None) -> tuple:
        """``x`` (an array, or a tuple of arrays in the order of ``inputs``) -> ``(y, output
        mask or None, backprop)``, with ``y`` (and the mask, when an output has one) a tuple
        for several outputs; ``backprop(dy)`` (dy: likewise a tuple) returns the inputs'
        gradients (a tuple for several inputs) and ``backprop.parameters_only(dy)`` only the
        weights' gradients. A ``trace`` list receives ``(node, its outputs)`` per node, in order
        (`deepcore.testing.compare_backends` compares them)."""
        values: list = [None] * self._slot_count
        masks: list | None = None  # made when a layer first outputs a mask
        for slot, value in zip(self._input_slots, x if len(self.inputs) > 1 else [x]):
            values[slot] = value
        backprops = []
        activity = 0.0  # per call: a shared layer's activity_loss holds only its latest
        for node, ins, outs in self._plan:
            y, output_mask, backprop = node.forward([values[slot] for slot in ins],
                                                    None if masks is None else [masks[slot] for slot in ins],
                                                    training)
            results = node.results(y)
            for slot, value in zip(outs, results):
                values[slot] = value
            if output_mask is not None:
                masks = masks or [None] * self._slot_count
                # A layer with several outputs gives a list of masks, or one for its first output.
                for slot, out_mask in zip(outs, output_mask if isinstance(output_mask, list) else [output_mask]):
                    masks[slot] = out_mask
            if trace is not None:
                trace.append((node, results))
            if node.layer.activity_regularizer is not None or isinstance(node.layer, Wrapper):
                activity = activity + layer_activity_penalty([node.layer])
            backprops.append(backprop)
        self._latest_activity = activity
        several = len(self.outputs) > 1

        def run_backward(dy, inputs_gradient: bool):
            needed, runs = self._needs_gradient(inputs_gradient)
            grads: list = [None] * self._slot_count
            for slot, d in zip(self._output_slots, dy if several else [dy]):
                grads[slot] = d if grads[slot] is None else grads[slot] + d  # one tensor listed twice
            done: set[int] = set()  # layers whose gradients are in variable.grad already
            # Plain loops, no generators: this runs every training step.
            for (node, ins, outs), backprop, node_runs in zip(reversed(self._plan), reversed(backprops),
                                                             reversed(runs)):
                if not node_runs:
                    continue
                if node.multiple_outputs:
                    dy_node = [grads[slot] for slot in outs]
                    if all(d is None for d in dy_node):
                        continue
                else:
                    dy_node = grads[outs[0]]
                    if dy_node is None:
                        continue
                layer = node.layer
                earlier = None
                if id(layer) in done:  # a shared layer: its earlier calls' gradients are summed in
                    earlier = [v.grad for v in layer.trainable_weights]
                wants_dx = False
                for slot in ins:
                    wants_dx = wants_dx or needed[slot]
                if not wants_dx:
                    getattr(backprop, "parameters_only", backprop)(dy_node)
                else:
                    for slot, dx in zip(ins, node.per_input(backprop(dy_node))):
                        if needed[slot] and dx is not None:  # None: an input with no gradient (a mask)
                            grads[slot] = dx if grads[slot] is None else grads[slot] + dx
                if earlier is not None:
                    for variable, grad in zip(layer.trainable_weights, earlier):
                        variable.grad = grad + variable.grad
                if self._calls[id(layer)] > 1:
                    done.add(id(layer))
            if not inputs_gradient:
                return None
            dxs = [grads[slot] for slot in self._input_slots]
            return dxs[0] if len(dxs) == 1 else tuple(dxs)

        def backprop(dy):
            return run_backward(dy, inputs_gradient=True)

        backprop.parameters_only = lambda dy: run_backward(dy, inputs_gradient=False)
        output_masks = [None if masks is None else masks[slot] for slot in self._output_slots]
        if not several:
            return values[self._output_slots[0]], output_masks[0], backprop
        return (tuple(values[slot] for slot in self._output_slots),
                tuple(output_masks) if any(m is not None for m in output_masks) else None, backprop)

    def _activity_penalty(self) -> Any:
        """The activity penalties of the latest forward, summed over the calls of each layer."""
        return self._latest_activity

    def _needs_gradient(self, inputs_gradient: bool) -> tuple[list[bool], list[bool]]:
        """Which tensors (by slot) the backward must reach, and which nodes must run: a tensor
        needs its gradient when a trainable weight lies upstream of it (or an input, when the
        inputs' gradient is asked for); a node runs when it or a node upstream has trainable
        weights. Asked every step: a layer frozen by a callback counts at once."""
        needed = [False] * self._slot_count
        for slot in self._input_slots:
            needed[slot] = inputs_gradient
        runs = []
        for node, ins, outs in self._plan:
            node_runs = bool(node.layer.trainable_weights)
            for slot in ins:
                node_runs = node_runs or needed[slot]
            runs.append(node_runs)
            for slot in outs:
                needed[slot] = node_runs
        return needed, runs

    # --- a model inside a model -------------------------------------------------------------
    def call_symbolic(self, x):
        """This model's graph applied to other symbolic tensors, its layers shared."""
        given = _tensors(x, "inputs")
        if len(given) != len(self.inputs):
            raise ValueError(f"Model {self.name!r} takes {len(self.inputs)} input(s); received {len(given)}.")
        made = {id(tensor): value for tensor, value in zip(self.inputs, given)}
        for node in self._nodes:
            result = node.call([made[id(tensor)] for tensor in node.inputs])
            for tensor, value in zip(node.outputs, node.results(result)):
                made[id(tensor)] = value
        return self._structured_outputs([made[id(tensor)] for tensor in self.outputs])

    # --- description and configuration -----------------------------------------------------
    def summary(self, line_length: int | None = None, print_fn: Callable[[str], None] | None = None,
                expand_nested: bool = False, show_trainable: bool = False) -> None:
        """Print the layers with output shapes, parameter counts and the layers each is
        connected to (Keras's functional summary)."""
        rows = []
        for node in [tensor.node for tensor in self.inputs] + self._nodes:
            layer = node.layer
            shapes = ", ".join(str(tensor.shape) for tensor in node.outputs)
            sources = "  " + (", ".join(tensor.name for tensor in node.inputs) or "-")
            rows.append((layer, (f"{layer.name} ({type(layer).__name__})", shapes, f"{layer.count_params():,}",
                                 sources)))
        print_summary(self, ("Layer (type)", "Output Shape", "Param #", "  Connected to"), rows, line_length,
                      print_fn, show_trainable, left=(0, 1, 3))

    def get_config(self) -> dict:
        """The layers (Input layers included) and, for each node in order, the layer it calls
        and its inputs as ``[layer name, call index, output index]``."""
        from deepcore.saving import serialize_layer

        call_index: dict[int, int] = {}
        calls = {}
        for node in [tensor.node for tensor in self.inputs] + self._nodes:
            calls[id(node)] = call_index.get(id(node.layer), 0)
            call_index[id(node.layer)] = calls[id(node)] + 1

        def reference(tensor: SymbolicTensor) -> list:
            return [tensor.node.layer.name, calls[id(tensor.node)], tensor.index]

        return {
            "name": self.name,
            "layers": [serialize_layer(layer) for layer in self.layers],
            "nodes": [{"layer": node.layer.name, "inputs": [reference(t) for t in node.inputs],
                       "multiple_inputs": node.multiple_inputs, "initial_states": node.initial_states,
                       "options": node.options}
                      for node in self._nodes],
            "inputs": [reference(tensor) for tensor in self.inputs],
            "input_keys": self._input_keys,
            "outputs": [reference(tensor) for tensor in self.outputs],
            "output_keys": self._output_keys,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Functional":
        """Rebuild from `get_config`: new layers, called in the saved order."""
        from deepcore.saving import deserialize_layer

        layers = {}
        for spec in config["layers"]:
            layer = deserialize_layer(spec)
            layers[layer.name] = layer
        made: dict[str, list] = {name: [[layer.output]] for name, layer in layers.items()
                                 if isinstance(layer, InputLayer)}

        def tensor(reference: list) -> SymbolicTensor:
            name, call, index = reference
            return made[name][call][index]

        for spec in config["nodes"]:
            inputs = [tensor(reference) for reference in spec["inputs"]]
            result = call_again(layers[spec["layer"]], inputs, spec["multiple_inputs"], spec.get("initial_states", 0),
                                spec.get("options", {}))
            made.setdefault(spec["layer"], []).append(result if isinstance(result, list) else [result])
        inputs = [tensor(reference) for reference in config["inputs"]]
        outputs = [tensor(reference) for reference in config["outputs"]]
        keys, output_keys = config.get("input_keys"), config.get("output_keys")
        given = dict(zip(keys, inputs)) if keys else inputs if len(inputs) > 1 else inputs[0]
        made_outputs = dict(zip(output_keys, outputs)) if output_keys else outputs if len(outputs) > 1 else outputs[0]
        model = cls(given, made_outputs, name=config.get("name"))
        # The saved layer order (it placed the layers of models called as layers, which the
        # rebuilt graph no longer groups): get_weights keeps its order across save and load.
        saved_order = [layers[spec["config"]["name"]] for spec in config["layers"]]
        if {id(layer) for layer in saved_order} == {id(layer) for layer in model.layers}:
            model.layers = saved_order
        return model


def _distinct(names: list[str]) -> list[str]:
    """``names`` with repeats numbered: ``["enc", "enc"] -> ["enc", "enc_1"]``."""
    seen: dict[str, int] = {}
    distinct = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        distinct.append(name if count == 0 else f"{name}_{count}")
    return distinct


def _tensors(value, what: str) -> list[SymbolicTensor]:
    """One symbolic tensor or a list/tuple of them -> a list."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not isinstance(item, SymbolicTensor):
            raise TypeError(f"Model(): {what} must be symbolic tensors from Input() and layer calls; "
                            f"received {item!r}.")
    if not items:
        raise ValueError(f"Model(): {what} is empty.")
    return items


def _graph_order(outputs: list[SymbolicTensor], inputs: list[SymbolicTensor], model: str) -> tuple[list, list]:
    """The nodes that ``outputs`` depend on, each after the nodes of its inputs (the Input
    nodes left out), and the operations in Keras's order (see `_keras_operations`). An error
    when the graph reaches an Input not in ``inputs``."""
    listed = {id(tensor.node) for tensor in inputs}

    def reached(node: Node) -> None:
        if isinstance(node.layer, InputLayer) and id(node) not in listed:
            raise ValueError(
                f"Model {model!r}: the graph is disconnected: the output depends on Input "
                f"{node.layer.name!r}, which is not among the model's inputs "
                f"{[tensor.node.layer.name for tensor in inputs]}."
            )

    post_order = _post_order([tensor.node for tensor in outputs], lambda node: [t.node for t in node.inputs],
                             reached)  # the Input nodes included
    in_graph = {id(node) for node in post_order}
    return [node for node in post_order if id(node) not in listed], _keras_operations(outputs, inputs, in_graph)


def _post_order(starts: list, upstream: Callable[[Any], list], reached: Callable[[Any], None]) -> list:
    """Every unit reachable from ``starts`` through ``upstream`` (a unit's producers, in
    order), each after its producers; ``reached(unit)`` at each unit's first visit, in
    depth-first order from the starts (Keras's traversal order)."""
    post_order: list = []
    state: dict[int, str] = {}  # "in progress" (impossible to meet again in a DAG) or "done"
    stack: list = [(unit, False) for unit in reversed(starts)]
    while stack:
        unit, expanded = stack.pop()
        if expanded:
            state[id(unit)] = "done"
            post_order.append(unit)
            continue
        if id(unit) in state:
            continue
        reached(unit)
        state[id(unit)] = "in progress"
        stack.append((unit, True))
        for producer in reversed(upstream(unit)):
            if id(producer) not in state:
                stack.append((producer, False))
    return post_order


def _keras_operations(outputs: list[SymbolicTensor], inputs: list[SymbolicTensor], in_graph: set) -> list:
    """The operations in Keras's order (its ``map_graph``), which `get_weights` follows: by
    decreasing depth (distance from the outputs), then by first visit going back from the
    outputs. As Keras, a model called as a layer is one operation, at its place, when the
    whole call is in the graph (``in_graph``: the nodes); `_layers_of` lists its layers."""

    def unit_of(node: Node) -> Any:
        call = node.model_call
        return call if call is not None and all(id(n) in in_graph for n in call.nodes) else node

    def producers(unit) -> list[Node]:
        if isinstance(unit, Node):
            return [tensor.node for tensor in unit.inputs]
        members = {id(node) for node in unit.nodes}
        return [tensor.node for node in unit.nodes for tensor in node.inputs if id(tensor.node) not in members]

    def operation(unit) -> Any:
        return unit.layer if isinstance(unit, Node) else unit.model

    first_visit: dict[int, int] = {}
    operations: dict[int, Any] = {}

    def reached(unit) -> None:
        first_visit.setdefault(id(operation(unit)), len(first_visit))
        operations[id(operation(unit))] = operation(unit)

    post_order = _post_order([unit_of(tensor.node) for tensor in outputs],
                             lambda unit: [unit_of(producer) for producer in producers(unit)], reached)
    unit_depth: dict[int, int] = {}
    depth_of: dict[int, int] = {}  # per operation
    for unit in reversed(post_order):  # every consumer before the units it reads
        key = id(operation(unit))
        depth = max(unit_depth.get(id(unit), 0), depth_of.get(key, 0))
        depth_of[key] = unit_depth[id(unit)] = depth
        for producer in producers(unit):
            upstream = id(unit_of(producer))
            unit_depth[upstream] = max(depth + 1, unit_depth.get(upstream, 0))
    for tensor in inputs:  # an input that leads nowhere (Keras accepts it) comes first
        layer = tensor.node.layer
        if id(layer) not in operations:
            operations[id(layer)], depth_of[id(layer)], first_visit[id(layer)] = layer, 0, -1
    return sorted(operations.values(), key=lambda op: (-depth_of[id(op)], first_visit[id(op)]))


def _layers_of(operations: list) -> list:
    """The layers of ``operations``, each once: a model called as a layer gives its layers
    but its Input layers, in its own order."""
    layers: list = []
    for op in operations:
        for layer in [l for l in op.layers if not isinstance(l, InputLayer)] if isinstance(op, Model) else [op]:
            if all(layer is not listed for listed in layers):
                layers.append(layer)
    return layers
