"""Saving and loading models: one safetensors file with a JSON config, never a pickle.

A file (format version 1) is a safetensors file. Its ``__metadata__`` holds
``format = "deepcore"``, ``format_version`` and ``deepcore``: a JSON document with the deepcore
version, the ``kind`` of file (``"model"`` or ``"weights"``), the model's architecture, its
compile config (optimizer, loss, metrics), the optimizer's step counter and an index of which
tensors belong to which layer. The tensors are the weights, named ``<layer>/<variable>``
(``dense/kernel``), and the optimizer's state, ``optimizer/<layer>/<variable>/<slot>``.

Loading parses a JSON header and raw little-endian buffers: nothing is unpickled or executed,
and classes are looked up only among deepcore's own and those registered with
`register_serializable`. Files are written atomically (a temporary file in the same directory,
fsync, `os.replace`), so an interrupted save leaves the previous file as it was. Weights are
stored on the host, so a file saved on one backend loads on any other.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from typing import Any, Callable

import numpy as np
import safetensors.numpy

from deepcore.registry import get_backend

FORMAT = "deepcore"
FORMAT_VERSION = 1
OPTIMIZER_PREFIX = "optimizer/"

_custom_objects: dict[str, type] = {}   # "package>name" -> class
_registered_names: dict[type, str] = {}  # class -> "package>name"


class InvalidFileError(ValueError):
    """A file is not a deepcore file, is truncated or damaged, or cannot be used as asked."""


# --- the registry of serializable classes ------------------------------------------------------
def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[type], type]:
    """Class decorator: make a custom layer, loss, optimizer, metric or model loadable.

    The class is saved under ``"package>name"`` (``name`` defaults to the class name), Keras's
    convention; it must implement ``get_config()`` (and ``from_config`` when its constructor does
    not take the config as keyword arguments). Import the module defining it before loading.
    """
    if ">" in package:
        raise ValueError(f"register_serializable: package must not contain '>'; received {package!r}.")

    def decorator(cls: type) -> type:
        key = f"{package}>{name or cls.__name__}"
        if _custom_objects.get(key, cls) is not cls:
            raise ValueError(
                f"register_serializable: {key!r} is already registered for "
                f"{_custom_objects[key].__qualname__}; choose another package or name."
            )
        _custom_objects[key] = cls
        _registered_names[cls] = key
        return cls

    return decorator


def get_registered_name(cls: type) -> str:
    """``"package>name"`` for a registered class, else the class name."""
    return _registered_names.get(cls, cls.__name__)


def get_registered_object(name: str) -> type | None:
    """The class registered under ``"package>name"``, or None."""
    return _custom_objects.get(name)


def _module_and_base(kind: str) -> tuple[Any, type]:
    from deepcore import layers, losses, metrics, models, optimizers

    return {
        "layer": (layers, layers.Layer),
        "loss": (losses, losses.Loss),
        "optimizer": (optimizers, optimizers.Optimizer),
        "metric": (metrics, metrics.Metric),
        "model": (models, models.Model),
    }[kind]


def _builtin_classes(kind: str) -> dict[str, type]:
    """deepcore's own classes of one kind, by the names its modules export (aliases included)."""
    module, base = _module_and_base(kind)
    return {name: obj for name, obj in vars(module).items() if isinstance(obj, type) and issubclass(obj, base)}


def serialize_object(obj: Any, kind: str) -> dict:
    """``{"class_name", "config"}`` for a layer, loss, optimizer, metric or model.

    Raises a clear error for a custom class that is not registered (it could not be loaded).
    """
    cls = type(obj)
    class_name = get_registered_name(cls)
    if cls not in _registered_names and _builtin_classes(kind).get(class_name) is not cls:
        raise ValueError(
            f"Cannot save the {kind} {cls.__qualname__}: it is not a deepcore class and is not "
            "registered. Decorate it with @deepcore.saving.register_serializable() and give it "
            "a get_config() method."
        )
    return {"class_name": class_name, "config": obj.get_config()}


def deserialize_object(spec: dict, kind: str) -> Any:
    """Rebuild an object from ``{"class_name", "config"}``, looking the class up only among
    deepcore's own classes of ``kind`` and registered custom classes."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"Expected a {kind} as {{'class_name': ..., 'config': {{...}}}}; received {spec!r}.")
    class_name = spec["class_name"]
    cls = _custom_objects.get(class_name) or _builtin_classes(kind).get(class_name)
    base = _module_and_base(kind)[1]
    if cls is not None and not issubclass(cls, base):
        raise ValueError(f"{class_name!r} is registered as a {cls.__qualname__}, which is not a {base.__qualname__}.")
    if cls is None:
        known = ", ".join(sorted(_builtin_classes(kind)))
        raise ValueError(
            f"Unknown {kind} class {class_name!r}. Known {kind}s: {known}. A custom class must be "
            "decorated with @deepcore.saving.register_serializable() and imported before loading."
        )
    config = spec.get("config") or {}
    from_config = getattr(cls, "from_config", None)
    return from_config(config) if from_config is not None else cls(**config)


def serialize_layer(layer) -> dict:
    """``{"class_name", "config"}`` of a layer (used by `Sequential.get_config`)."""
    return serialize_object(layer, "layer")


def deserialize_layer(spec: dict):
    """A new layer from ``{"class_name", "config"}``: a deepcore layer or a registered one."""
    return deserialize_object(spec, "layer")


# --- saving -------------------------------------------------------------------------------------
def save_model(model, filepath, overwrite: bool = True) -> None:
    """Write ``model``'s architecture, weights, compile config and optimizer state to ``filepath``;
    a name ending in ``.keras`` gets Keras 3's model file instead (architecture and weights),
    which Keras's ``load_model`` reads."""
    if os.fspath(filepath).endswith(".keras"):
        from deepcore.keras_model import save_keras_model

        save_keras_model(model, os.fspath(filepath), overwrite)
        return
    document = {"kind": "model", "model": serialize_object(model, "model"), "compile": None}
    tensors = _weight_tensors(model, document)
    optimizer = model.optimizer
    if optimizer is not None and model.loss is not None:
        document["compile"] = {
            "optimizer": serialize_object(optimizer, "optimizer"),
            "loss": serialize_object(model.loss, "loss"),
            "metrics": [serialize_object(metric, "metric") for metric in model.compiled_metrics],
            "weighted_metrics": [serialize_object(metric, "metric") for metric in model.compiled_weighted_metrics],
        }
        document["optimizer"] = {"iterations": int(optimizer.iterations), "slots": []}
        if optimizer.iterations:  # before the first step every slot holds its initial value
            variables = model.trainable_variables
            backend = _weights_backend(model)
            keys = [f"{OPTIMIZER_PREFIX}{v.name}/{slot}" for v in variables for slot in optimizer.state_names()]
            for key, array in zip(keys, optimizer.state(variables)):
                tensors[key] = np.asarray(backend.to_numpy(array), order="C")  # keeps 0-d (scalar) weights 0-d
            document["optimizer"]["slots"] = keys
    _write(filepath, document, tensors, overwrite)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write only ``model``'s weights to ``filepath`` (read back with `load_weights`); a name
    ending in ``.h5`` (Keras's ``.weights.h5``) gets Keras's weights file, which Keras reads."""
    if os.fspath(filepath).endswith(".h5"):
        from deepcore import keras_weights

        keras_weights.save_weights(model, os.fspath(filepath), overwrite)
        return
    document = {"kind": "weights"}
    tensors = _weight_tensors(model, document)
    _write(filepath, document, tensors, overwrite)


def _weight_tensors(model, document: dict) -> dict[str, np.ndarray]:
    """The host copies of the weights, and their per-layer index in ``document["layers"]``."""
    tensors: dict[str, np.ndarray] = {}
    index = []
    for layer in model.layers:
        if not layer.weights:
            continue
        keys = [variable.name for variable in layer.weights]
        for key, array in zip(keys, layer.get_weights()):
            if key in tensors:
                raise ValueError(
                    f"Cannot save: two weights are both named {key!r}. Give the model's layers "
                    "unique names (e.g. Dense(8, name='hidden_1'))."
                )
            tensors[key] = np.asarray(array, order="C")  # ascontiguousarray would make a scalar 1-d
        index.append({"name": layer.name, "weights": keys})
    document["layers"] = index
    return tensors


def _weights_backend(model):
    return model.backend or next(layer.backend for layer in model.layers if layer.backend is not None)


def refuse_to_overwrite(path: str, overwrite: bool) -> None:
    """A FileExistsError when ``path`` exists and ``overwrite`` is False (every writer checks
    before it does any work)."""
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"'{path}' already exists; pass overwrite=True to replace it.")


def _write(filepath, document: dict, tensors: dict[str, np.ndarray], overwrite: bool) -> None:
    import deepcore

    path = os.fspath(filepath)
    refuse_to_overwrite(path, overwrite)
    document = {"deepcore_version": deepcore.__version__, **document}
    try:
        text = json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Cannot save to '{path}': a config holds a value JSON cannot represent ({exc}). "
            "get_config() must return only str, int, float, bool, None, lists and dicts."
        ) from None
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "deepcore": text}
    write_atomically(path, safetensors.numpy.save(tensors, metadata=metadata))


def write_atomically(path: str, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file next to ``path`` (same file system, so the rename is
    atomic), are flushed to disk, and the file is renamed over ``path``; on any failure the
    temporary file is removed and ``path`` is untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Persist the rename itself (POSIX; directories cannot be opened this way on Windows)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- loading ------------------------------------------------------------------------------------
def load_model(filepath, compile: bool = True):
    """The model saved at ``filepath`` by ``model.save``, with its weights on the active backend,
    compiled (optimizer state and step counter restored) unless ``compile=False``. A Keras 3
    ``.keras`` file is rebuilt as the same deepcore model (`deepcore.keras_model`)."""
    path = os.fspath(filepath)
    if zipfile.is_zipfile(path):  # .keras files are zips; deepcore's are safetensors
        from deepcore.keras_model import load_keras_model

        return load_keras_model(path, compile=compile)
    document, tensors = read_file(path)
    kind = _field(document, "kind", path)
    if kind == "weights":
        raise InvalidFileError(
            f"'{path}' holds only weights (written by save_weights), not a model. Build the same "
            f"model in code and call model.load_weights({path!r})."
        )
    if kind != "model":
        raise InvalidFileError(f"'{path}' is damaged: it says it holds {kind!r}, not 'model' or 'weights'.")
    model = _rebuild(path, "model", lambda: deserialize_object(_field(document, "model", path), "model"))
    assign_weights(model, document, tensors, path)
    # The weights (and the optimizer state below) live on the active backend; recording it lets
    # a later fit on another backend move the optimizer state along with the weights.
    model.backend = get_backend()
    compile_config = document.get("compile")
    if compile and compile_config:
        optimizer, loss, metrics, weighted = _rebuild(path, "compile config", lambda: (
            deserialize_object(compile_config["optimizer"], "optimizer"),
            deserialize_object(compile_config["loss"], "loss"),
            [deserialize_object(metric, "metric") for metric in compile_config["metrics"]],
            [deserialize_object(metric, "metric") for metric in compile_config.get("weighted_metrics", [])],
        ))
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted)
        _restore_optimizer(model, _field(document, "optimizer", path), tensors, path)
    return model


def load_weights(model, filepath) -> None:
    """Set ``model``'s weights from a file written by `save_weights` or `save_model`, matching
    layers with weights in order, or from Keras's ``.weights.h5`` file (HDF5); shapes are
    checked for every layer before any is changed."""
    path = os.fspath(filepath)
    from deepcore import keras_weights

    if keras_weights.is_hdf5(path):
        keras_weights.load_weights(model, path)
        return
    document, tensors = read_file(path)
    assign_weights(model, document, tensors, path)


def load_training_state(model, filepath) -> None:
    """Set ``model``'s weights and, when both are compiled, its optimizer state and step counter
    from a file written by `save_model`: training goes on exactly where that model stopped."""
    path = os.fspath(filepath)
    document, tensors = read_file(path)
    assign_weights(model, document, tensors, path)
    if model.optimizer is not None and document.get("compile"):
        _restore_optimizer(model, _field(document, "optimizer", path), tensors, path)


def _rebuild(path: str, what: str, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidFileError(f"Cannot rebuild the {what} saved in '{path}': {exc}") from exc


def assign_weights(model, document: dict, tensors: dict[str, np.ndarray], path: str) -> None:
    """Check every saved weight against ``model`` (names the layer and both shapes on a
    mismatch), then set them all."""
    saved = _field(document, "layers", path)
    if saved and not model.built:
        raise ValueError(
            f"Cannot load weights from '{path}' into model {model.name!r}: it is not built yet. "
            "Give the first layer input_shape=..., or call model.build(input_shape) first."
        )
    layers = [layer for layer in model.layers if layer.weights]
    if len(saved) != len(layers):
        raise ValueError(
            f"Cannot load weights from '{path}': the file has weights for {len(saved)} layer(s) "
            f"{[entry['name'] for entry in saved]}, the model has {len(layers)} layer(s) with "
            f"weights {[layer.name for layer in layers]}."
        )
    values = []
    for layer, entry in zip(layers, saved):
        keys = entry["weights"]
        if len(keys) != len(layer.weights):
            raise ValueError(
                f"Cannot load weights from '{path}' into layer {layer.name!r}: the model's layer "
                f"has {len(layer.weights)} weight(s), the file's layer {entry['name']!r} has {len(keys)}."
            )
        arrays = [_tensor(tensors, key, path) for key in keys]
        for variable, key, array in zip(layer.weights, keys, arrays):
            if tuple(array.shape) != variable.shape:
                raise ValueError(
                    f"Cannot load weights from '{path}' into layer {layer.name!r}: weight "
                    f"{variable.name!r} has shape {variable.shape} in the model but the file's "
                    f"{key!r} has shape {tuple(array.shape)}."
                )
        values.append(arrays)
    for layer, arrays in zip(layers, values):
        layer.set_weights(arrays)


def _restore_optimizer(model, saved: dict, tensors: dict[str, np.ndarray], path: str) -> None:
    optimizer = model.optimizer
    iterations = int(saved["iterations"])
    if not saved["slots"]:
        optimizer.iterations = iterations
        return
    backend = get_backend()
    arrays = [_tensor(tensors, key, path) for key in saved["slots"]]
    optimizer.set_state(
        model.trainable_variables,
        [backend.asarray(a, dtype=backend.dtype(str(a.dtype))) for a in arrays],
        iterations,
    )


def _tensor(tensors: dict, key: str, path: str) -> np.ndarray:
    if key not in tensors:
        raise InvalidFileError(
            f"'{path}' is damaged: its index names tensor {key!r}, which it does not contain."
        )
    return tensors[key]


def _field(document: dict, key: str, path: str) -> Any:
    if key not in document:
        raise InvalidFileError(f"'{path}' is damaged: its deepcore metadata has no {key!r} entry.")
    return document[key]


# --- reading and checking a file ----------------------------------------------------------------
_SIGNATURES = (
    (b"\x80", "a Python pickle (pickle.dump, joblib, torch.save's legacy format); deepcore never "
              "unpickles files"),
    (b"PK\x03\x04", "a zip archive (e.g. a Keras .keras file or a torch.save file)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (e.g. a Keras .h5 file)"),
    (b"\x93NUMPY", "a NumPy .npy file"),
)


def read_file(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The deepcore document and the tensors (host NumPy arrays) of the file at ``path``.

    Raises `FileNotFoundError` or `InvalidFileError`, each naming the file and what is wrong.
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"No such file: '{path}'. Model files are written by model.save(path)."
        ) from None
    except IsADirectoryError:
        raise IsADirectoryError(f"'{path}' is a directory; expected a file written by model.save().") from None
    metadata = _metadata(data, path)
    try:
        document = json.loads(metadata["deepcore"])
    except (KeyError, ValueError) as exc:
        raise InvalidFileError(
            f"'{path}' is damaged: its deepcore metadata is not valid JSON ({exc})."
        ) from None
    if not isinstance(document, dict):
        raise InvalidFileError(f"'{path}' is damaged: its deepcore metadata is not a JSON object.")
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as exc:  # SafetensorError has no public import path
        raise InvalidFileError(
            f"'{path}' is truncated or damaged: its tensors cannot be read ({exc})."
        ) from None
    return document, tensors


def _metadata(data: bytes, path: str) -> dict:
    """The ``__metadata__`` of a safetensors file written by deepcore, or a clear error."""
    if len(data) < 8:
        raise InvalidFileError(f"'{path}' is not a deepcore file: it has only {len(data)} byte(s).")
    size = int.from_bytes(data[:8], "little")
    header = data[8:8 + size]
    looks_like_safetensors = data[8:9] == b"{"
    if not looks_like_safetensors:
        raise InvalidFileError(f"'{path}' is not a deepcore file: it looks like {_describe(data)}.")
    if 8 + size > len(data):
        raise InvalidFileError(
            f"'{path}' is truncated: its header announces {size} bytes but the file has only "
            f"{len(data) - 8} after the length field. Save the model again."
        )
    try:
        parsed = json.loads(header)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidFileError(f"'{path}' is damaged: its header is not valid JSON ({exc}).") from None
    metadata = parsed.get("__metadata__") if isinstance(parsed, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise InvalidFileError(
            f"'{path}' is a safetensors file but was not written by deepcore (no format='deepcore' "
            "metadata). Build the model in code and copy the arrays in with set_weights()."
        )
    version = metadata.get("format_version", "")
    if not version.isdigit():
        raise InvalidFileError(f"'{path}' is damaged: its format_version is {version!r}, not a number.")
    if int(version) > FORMAT_VERSION:
        raise InvalidFileError(
            f"'{path}' uses deepcore file format {version}; this deepcore reads up to format "
            f"{FORMAT_VERSION}. Upgrade deepcore (pip install -U deepcore)."
        )
    return metadata


def _describe(data: bytes) -> str:
    for signature, description in _SIGNATURES:
        if data.startswith(signature):
            return description
    if data.lstrip()[:1] in (b"{", b"["):
        return "JSON text, not a safetensors file"
    return f"unknown data (first bytes {data[:8]!r}), not a safetensors file"
