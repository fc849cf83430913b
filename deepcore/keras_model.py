"""Keras 3's model files (``.keras``): `load_model` rebuilds them as deepcore models.

A ``.keras`` file is a zip of ``config.json`` (the architecture, Keras's ``get_config`` of the
model and of every layer, and the compile settings), ``metadata.json`` and
``model.weights.h5`` (read by `deepcore.keras_weights`). deepcore's layers take Keras's names
and arguments, so a layer's config becomes its constructor arguments once Keras's
bookkeeping keys are dropped: the dtype policy (float32 only), ``build_config``, and options
deepcore does not have, when they hold Keras's default (``quantization_config``,
``lora_rank``...). Anything else deepcore cannot honour is refused by name, never ignored.

Supported: ``Sequential`` and functional models of deepcore's layers, with their compile
settings (optimizer, losses, metrics; the optimizer's state is not restored). A functional
graph's explicit ``mask`` arguments are Keras's record of masks that deepcore's layers pass on
by themselves (``not_equal(tokens, 0)`` from ``Embedding(mask_zero=True)``); other Keras
operations in the graph (``x[:, 0]``, ``keras.ops`` calls), custom and ``Lambda`` layers are
refused by name. A model used as a layer (a pretrained base inside a model) is rebuilt as a
model called as a layer; a Sequential holding one becomes the same stack as a functional
model. Nothing in the file is executed.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from deepcore.layers.symbolic import SymbolicTensor

# Keras's configuration keys that record nothing deepcore needs, and Keras-only options
# accepted at these (default) values: for every class ("*") and for some classes.
_BOOKKEEPING = ("dtype", "build_config", "registered_name", "module", "shared_object_id")
_KERAS_DEFAULTS = {
    "*": {"quantization_config": None, "lora_rank": None, "lora_alpha": None, "sparse": False, "ragged": False,
          "optional": False, "loss_scale_factor": None, "gradient_accumulation_steps": None, "autocast": True,
          "synchronized": False, "flash_attention": None, "use_cudnn": "auto", "renorm": False,
          "renorm_clipping": None, "renorm_momentum": 0.99},
    "Resizing": {"antialias": False, "fill_mode": "constant", "fill_value": 0.0, "pad_to_aspect_ratio": False},
}
_OPERATIONS = "keras.src.ops"  # the module of Keras's operations recorded in a functional graph


def load_keras_model(path: str, compile: bool = True):
    """The model in the ``.keras`` file at ``path``, with its weights, compiled with its saved
    settings unless ``compile=False``."""
    from deepcore import keras_weights

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "config.json" not in names or "model.weights.h5" not in names:
            raise ValueError(f"'{path}' is not a Keras model file: it lacks config.json or model.weights.h5 "
                             f"(it holds {sorted(names)}).")
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    model = model_from_keras_config(config)
    h5py = keras_weights.h5py_module()
    with h5py.File(io.BytesIO(weights), "r") as file:
        keras_weights.assign_from(model, file, path)
    compile_config = config.get("compile_config")
    if compile and compile_config:
        model.compile(**_compile_arguments(compile_config))
        with h5py.File(io.BytesIO(weights), "r") as file:
            keras_weights.assign_optimizer_from(model, file, path)
    return model


def model_from_keras_config(spec: dict):
    """A deepcore ``Sequential`` or functional model from Keras's ``{"class_name", "config"}``."""
    kind = spec.get("class_name")
    if kind == "Sequential":
        return _sequential(spec["config"])
    if kind in ("Functional", "Model"):
        return _functional(spec["config"])
    raise NotImplementedError(f"Keras model class {kind!r} is not supported: only Sequential and functional "
                              "models (a subclassed Model's call() cannot be rebuilt without its code).")


def _sequential(config: dict):
    from deepcore.models import Model, Sequential

    layers = []
    for spec in config["layers"]:
        if spec["class_name"] == "InputLayer":
            layers.append(_input(spec["config"]))
        else:
            layers.append(layer_from_keras(spec))
    if any(isinstance(layer, Model) for layer in layers):
        # A model inside a Sequential (a pretrained base, then a head): the same stack as a
        # functional model, which keeps the inner model whole, as Keras's weights file does.
        if not isinstance(layers[0], SymbolicTensor):
            shape = config.get("build_input_shape")
            if shape is None:
                raise ValueError("Cannot rebuild a Keras Sequential that holds a model but no input shape.")
            layers.insert(0, _input({"batch_shape": shape}))
        x = layers[0]
        for layer in layers[1:]:
            x = layer(x)
        return Model(layers[0], x, name=config.get("name"))
    model = Sequential(layers, name=config.get("name"))
    build_shape = config.get("build_input_shape")
    if not model.built and build_shape is not None:
        model.build(tuple(build_shape))
    return model


def _input(config: dict):
    from deepcore.layers import Input

    _check_defaults(config, "InputLayer")
    shape = config.get("batch_shape") or [None, *config["shape"]]
    return Input(tuple(shape[1:]), dtype=config.get("dtype"), name=config.get("name"))


def layer_from_keras(spec: dict):
    """A deepcore layer from Keras's serialized layer ``{"class_name", "config", ...}``."""
    from deepcore import layers as layers_module
    from deepcore.layers import Layer

    class_name = spec["class_name"]
    if class_name in ("Sequential", "Functional", "Model"):  # a model used as a layer
        return model_from_keras_config(spec)
    cls = getattr(layers_module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Layer)) or class_name == "InputLayer":
        raise NotImplementedError(f"Keras layer {class_name!r} ({spec.get('name') or spec['config'].get('name')!r}) "
                                  "has no deepcore counterpart (custom and Lambda layers cannot be rebuilt).")
    config = _layer_arguments(spec["config"], class_name)
    for key in ("layer", "backward_layer", "cell"):  # wrappers and RNN hold serialized layers
        if isinstance(config.get(key), dict):
            config[key] = layer_from_keras(config[key])
    if isinstance(config.get("cells"), list):  # StackedRNNCells
        config["cells"] = [layer_from_keras(cell) for cell in config["cells"]]
    try:
        return cls(**config)
    except TypeError as exc:
        raise NotImplementedError(f"Keras layer {class_name} {config.get('name')!r}: {exc}") from None


def _layer_arguments(config: dict, class_name: str) -> dict:
    dtype = config.get("dtype")
    policy = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    if policy not in (None, "float32"):
        raise NotImplementedError(f"Keras layer {class_name} {config.get('name')!r} computes in {policy!r}; deepcore "
                                  "loads float32 models (set_floatx('float64') converts after loading).")
    return _arguments(config, class_name)


def _arguments(config: dict, owner: str) -> dict:
    """A Keras config without its bookkeeping and its Keras-only options at their defaults;
    serialized objects inside (initializers, regularizers...) cleaned the same way."""
    defaults = _check_defaults(config, owner)
    return {key: _plain(value) for key, value in config.items() if key not in _BOOKKEEPING and key not in defaults}


def _check_defaults(config: dict, class_name: str) -> dict:
    """Refuse a Keras-only option set away from its default; the options of ``class_name``."""
    defaults = {**_KERAS_DEFAULTS["*"], **_KERAS_DEFAULTS.get(class_name, {})}
    for key, default in defaults.items():
        if key in config and config[key] != default:
            raise NotImplementedError(f"Keras {class_name} {config.get('name')!r}: {key}={config[key]!r} is not "
                                      "supported by deepcore.")
    return defaults


# --- functional graphs --------------------------------------------------------------------------
def _functional(config: dict):
    from deepcore.models import Model

    specs = {spec["name"]: spec for spec in config["layers"]}
    made: dict[tuple[str, int], list] = {}  # (layer name, node index) -> its output tensors
    layers: dict[str, Any] = {}
    # Keras's operations in the graph: the masks it propagated (not_equal(tokens, 0) from
    # Embedding(mask_zero=True), logical_or of merged masks...), which deepcore's layers
    # compute themselves; any other use of them is refused in _call.
    operations: dict[str, str] = {}
    pending = [(spec, index, node) for spec in config["layers"] for index, node in enumerate(spec["inbound_nodes"])]
    for spec in config["layers"]:
        if spec["class_name"] == "InputLayer":
            made[(spec["name"], 0)] = [_input(spec["config"])]
        elif spec.get("module", "").startswith(_OPERATIONS):
            operations[spec["name"]] = spec["class_name"]
        else:
            layers[spec["name"]] = None
    while pending:
        waiting = []
        for spec, index, node in pending:
            name = spec["name"]
            if name in operations:
                continue
            references = list(_tensor_references(node))
            if any((ref[0], ref[1]) not in made and ref[0] not in operations for ref in references):
                waiting.append((spec, index, node))
                continue
            if layers[name] is None:
                layers[name] = layer_from_keras(specs[name])
            result = _call(layers[name], node, made, operations, name)
            made[(name, index)] = result if isinstance(result, list) else [result]
        if len(waiting) == len(pending):
            unknown = sorted({ref[0] for _, _, node in waiting for ref in _tensor_references(node)
                              if ref[0] not in specs})
            raise ValueError(f"Cannot rebuild the Keras functional graph: the calls of {[s['name'] for s, _, _ in waiting]} "
                             f"wait on tensors that are never made{f' (unknown layers {unknown})' if unknown else ''}.")
        pending = waiting

    def tensors(entry):
        if isinstance(entry, dict):
            return {key: tensors(value) for key, value in entry.items()}
        if entry and isinstance(entry[0], str):  # [layer name, node index, tensor index]
            return made[(entry[0], entry[1])][entry[2]]
        return [tensors(item) for item in entry]

    inputs, outputs = tensors(config["input_layers"]), tensors(config["output_layers"])
    return Model(inputs, outputs, name=config.get("name"))


def _is_tensor(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _tensor_references(node: dict):
    """Every ``[layer, node index, tensor index]`` a node's arguments read."""
    def walk(value):
        if _is_tensor(value):
            yield value["config"]["keras_history"]
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
    yield from walk(node.get("args", []))
    yield from walk(node.get("kwargs", {}))


def _call(layer, node: dict, made: dict, operations: dict, name: str):
    """Call ``layer`` on the symbolic tensors of one of Keras's recorded calls."""
    def value(item):
        if _is_tensor(item):
            history = item["config"]["keras_history"]
            if history[0] in operations:
                raise NotImplementedError(f"Keras layer {name!r} takes the output of the Keras operation "
                                          f"{operations[history[0]]} ({history[0]!r}); deepcore rebuilds graphs of "
                                          "layers only (use a layer, e.g. Reshape, Permute or Cropping1D).")
            return made[(history[0], history[1])][history[2]]
        if isinstance(item, list):
            return [value(entry) for entry in item]
        return item

    args = [value(item) for item in node.get("args", [])]
    kwargs = {}
    for key, item in node.get("kwargs", {}).items():
        if key == "training":
            continue
        if key == "mask":  # Keras's record of a mask that deepcore's layers pass on themselves
            if not all(ref[0] in operations for ref in _tensor_references({"args": [item]})):
                raise NotImplementedError(f"Keras layer {name!r} is called with the output of a layer as its mask; "
                                          "deepcore cannot rebuild that (masks flow from the layers that make them).")
            continue
        kwargs[key] = value(item)
    if len(args) != 1 and not hasattr(layer, "call_options"):
        raise NotImplementedError(f"Keras layer {name!r} is called with {len(args)} positional arguments; "
                                  "deepcore layers take one (a list for merges).")
    return layer(*args, **kwargs)


# --- compile settings ---------------------------------------------------------------------------
def _compile_arguments(config: dict) -> dict:
    from deepcore import optimizers

    optimizer = config.get("optimizer")
    if isinstance(optimizer, dict):
        optimizer = optimizers.get(_plain(optimizer))
    arguments = {"optimizer": optimizer, "loss": _plain(config.get("loss")),
                 "metrics": _metrics(_plain(config.get("metrics"))), "loss_weights": config.get("loss_weights"),
                 "weighted_metrics": _metrics(_plain(config.get("weighted_metrics")))}
    return {key: value for key, value in arguments.items() if value is not None}


def _metrics(value):
    """Serialized metrics as deepcore metrics (names stay names), in the same structure."""
    from deepcore.saving import deserialize_object

    if isinstance(value, dict) and "class_name" in value:
        return deserialize_object(value, "metric")
    if isinstance(value, dict):
        return {key: _metrics(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_metrics(item) for item in value]
    return value


def _plain(value):
    """Keras's serialized losses and metrics (``{"class_name", "config", "module"...}``) as
    ``{"class_name", "config"}``, names as they are, in the same list/dict structure."""
    if isinstance(value, dict) and "class_name" in value:
        config = value.get("config") or {}
        if not isinstance(config, dict):
            return {"class_name": value["class_name"], "config": config}
        return {"class_name": value["class_name"], "config": _arguments(config, value["class_name"])}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


# --- writing ------------------------------------------------------------------------------------
def save_keras_model(model, path: str, overwrite: bool = True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file (architecture, weights, compile settings
    and the optimizer's state; Keras's ``load_model`` reads it and goes on training where
    deepcore stopped), atomically."""
    import datetime
    import os

    import deepcore
    from deepcore import keras_weights
    from deepcore.saving import refuse_to_overwrite, write_atomically

    refuse_to_overwrite(path, overwrite)
    if not model.built:
        raise ValueError(f"Cannot save model {model.name!r} as a Keras file: it is not built yet.")
    metadata = {"keras_version": KERAS_VERSION, "saved_by": f"deepcore {deepcore.__version__}",
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        config = keras_config(model)
        compile_config = _keras_compile_config(model)
        if compile_config is not None:
            config["compile_config"] = compile_config
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", keras_weights.weights_bytes(model))
    write_atomically(os.fspath(path), buffer.getvalue())


KERAS_VERSION = "3.15.1"  # the Keras whose format these files follow (checked against it)


def _keras_compile_config(model) -> dict | None:
    """Keras's ``compile_config`` of a compiled model, or None: with several outputs the
    losses, loss weights and metrics are dicts by output name."""
    from deepcore import losses
    from deepcore.saving import serialize_object

    if model.optimizer is None or model.loss is None:
        return None

    def keras_loss(loss) -> dict:
        return _keras_object(serialize_object(loss, "loss"), "keras.losses")

    def keras_metrics(metrics: list) -> Any:
        def one(metric) -> dict:
            return _keras_object(serialize_object(metric, "metric"), "keras.metrics")

        names = model._output_names()
        if names is None:
            return [one(metric) for metric in metrics]
        return {name: [one(m.metric) for m in metrics if m.output_name == name] for name in names}

    loss = model.loss
    if isinstance(loss, losses.MultiOutputLoss):
        keras_losses = dict(zip(loss.output_names, (keras_loss(term) for term in loss.losses)))
        loss_weights = dict(zip(loss.output_names, loss.weights))
    elif isinstance(loss, losses.ScaledLoss):
        keras_losses, loss_weights = keras_loss(loss.loss), loss.weight
    else:
        keras_losses, loss_weights = keras_loss(loss), None
    optimizer = _keras_object(serialize_object(model.optimizer, "optimizer"), "keras.optimizers")
    schedule = optimizer["config"].get("learning_rate")
    if isinstance(schedule, dict):
        optimizer["config"]["learning_rate"] = _keras_object(schedule, "keras.optimizers.schedules")
    return {
        "optimizer": optimizer, "loss": keras_losses, "loss_weights": loss_weights,
        "metrics": keras_metrics(model.compiled_metrics),
        "weighted_metrics": keras_metrics(model.compiled_weighted_metrics),
        "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
    }


def _keras_object(spec: dict, module: str) -> dict:
    """deepcore's ``{"class_name", "config"}`` as Keras serializes an object of ``module``.
    Options left at None are left out: Keras takes its defaults, and some (AUC's
    ``class_id``) are deepcore's alone."""
    config = {key: value for key, value in spec["config"].items() if value is not None}
    return {"module": module, "class_name": spec["class_name"], "config": config, "registered_name": None}


def keras_config(model) -> dict:
    """Keras's serialized model: ``{"module", "class_name", "config", ...}``."""
    from deepcore.models import Sequential

    if isinstance(model, Sequential):
        shape = [None, *model.input_shape[1:]]
        layers = [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                   "config": {"batch_shape": shape, "dtype": "float32", "name": f"{model.name}_input"}}]
        layers += [_keras_layer(layer) for layer in model.layers]
        return {"module": "keras", "class_name": "Sequential", "registered_name": None,
                "config": {"name": model.name, "trainable": True, "layers": layers},
                "build_config": {"input_shape": shape}}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": _keras_functional(model), "build_config": {"input_shape": None}}


def _keras_layer(layer) -> dict:
    """Keras's serialized layer: its config without deepcore's ``input_shape``, wrapped layers
    serialized the same way."""
    from deepcore.layers import InputLayer

    if isinstance(layer, InputLayer):
        config = {"batch_shape": [None, *layer.input_shape[1:]], "dtype": "float32", "name": layer.name}
        return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "config": config}
    config = layer.get_config()
    config.pop("input_shape", None)
    if config.get("trainable") is True:  # Keras's default; some of its layers (SpatialDropout) take no such argument
        del config["trainable"]
    for key, value in config.items():
        if isinstance(value, dict) and value.get("class_name") == "Regularizer":  # Keras's L1L2
            config[key] = _keras_object({**value, "class_name": "L1L2"}, "keras.regularizers")
    if "layer" in config:  # TimeDistributed's layer; Bidirectional's forward and backward layers
        config["layer"] = _keras_layer(getattr(layer, "forward_layer", None) or layer.layer)
    if "backward_layer" in config:
        config["backward_layer"] = _keras_layer(layer.backward_layer)
    if "cell" in config:  # RNN's cell or StackedRNNCells
        config["cell"] = _keras_layer(layer.cell)
    if "cells" in config:
        config["cells"] = [_keras_layer(cell) for cell in layer.cells]
    # No build_config: Keras builds the layers by calling them, as the graph or the stack says.
    return {"module": "keras.layers", "class_name": type(layer).__name__, "registered_name": None, "config": config}


def _keras_functional(model) -> dict:
    """Keras's functional config: each layer with its calls (``inbound_nodes``), each argument
    a ``__keras_tensor__`` naming the call that made it ``[layer, call index, output index]``."""
    from deepcore.layers import MultiHeadAttention
    from deepcore.models.model import Model

    calls: dict[int, list] = {}  # per operation (a layer, or a model called as one): its calls, in order
    operations = {id(operation) for operation in model._operations}
    for node in model._nodes:
        call = node.model_call
        if call is not None and id(call.model) in operations:  # the model is one operation here
            if all(entry is not call for entry in calls.get(id(call.model), [])):
                calls.setdefault(id(call.model), []).append(call)
        else:
            calls.setdefault(id(node.layer), []).append(node)
    made_by = {id(t): (call.model, index) for entries in calls.values() for call in entries
               if not hasattr(call, "layer") for index, t in enumerate(call.outputs)}

    def tensor(value) -> dict:
        if id(value) in made_by:  # an output of a model called as a layer
            inner, index = made_by[id(value)]
            history = [inner.name, next(i for i, c in enumerate(calls[id(inner)]) if value in c.outputs), index]
        else:
            node = value.node
            if node.model_call is not None and id(node.model_call.model) in operations:
                raise NotImplementedError(f"Model {model.name!r} reads the inner tensor {value.name!r} of the model "
                                          f"{node.model_call.model.name!r} (not one of its outputs); a Keras file "
                                          "cannot record that. Save it as a .deepcore file.")
            index = calls[id(node.layer)].index(node) if id(node.layer) in calls else 0  # an Input's is 0
            history = [node.layer.name, index, value.index]
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(value.shape), "dtype": "float32", "keras_history": history}}

    def arguments(node) -> dict:
        if not hasattr(node, "layer"):  # a model called as a layer, on one tensor or a list
            given = [tensor(t) for t in node.inputs]
            return {"args": [given[0] if len(given) == 1 else given], "kwargs": {}}
        inputs, options = node.inputs, dict(node.options)
        if node.initial_states:
            return {"args": [tensor(inputs[0])], "kwargs": {"initial_state": [tensor(t) for t in inputs[1:]]}}
        if isinstance(node.layer, MultiHeadAttention):  # Keras's call(query, value, key=, attention_mask=)
            if inputs[2] is not inputs[1]:
                options["key"] = tensor(inputs[2])
            if len(inputs) == 4:
                options["attention_mask"] = tensor(inputs[3])
            return {"args": [tensor(inputs[0]), tensor(inputs[1])], "kwargs": options}
        if node.multiple_inputs:
            return {"args": [[tensor(t) for t in inputs]], "kwargs": options}
        return {"args": [tensor(inputs[0])], "kwargs": options}

    layers = []
    for layer in model._operations:
        spec = keras_config(layer) if isinstance(layer, Model) else _keras_layer(layer)
        spec["name"] = layer.name
        spec["inbound_nodes"] = [arguments(node) for node in calls.get(id(layer), [])]
        layers.append(spec)

    def endpoints(tensors, keys):
        references = [tensor(t)["config"]["keras_history"] for t in tensors]
        if keys is not None:
            return dict(zip(keys, references))
        return references[0] if len(references) == 1 else references

    return {"name": model.name, "trainable": True, "layers": layers,
            "input_layers": endpoints(model.inputs, model._input_keys),
            "output_layers": endpoints(model.outputs, model._output_keys)}
