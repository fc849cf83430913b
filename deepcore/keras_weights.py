"""Keras 3's weights files (``.weights.h5``): deepcore models read and write them.

Keras (``keras/src/saving/saving_lib.py``) stores weights by object path, not by name. The
model's layers, in ``model.layers`` order, are the groups ``layers/<class name in snake
case>``, numbered per class in that order (``dense``, ``dense_1``...); a layer's own variables
are the datasets ``vars/0``, ``vars/1``... in creation order, and a layer made of sublayers
keeps theirs below it (``lstm/cell/vars/0``, ``bidirectional/forward_layer/cell/vars/0``,
``multi_head_attention/query_dense/vars/0``). Each deepcore layer names these paths for its
weights, in `get_weights` order (`Layer.keras_weight_paths`). The optimizer's state is
``optimizer/vars/<i>`` in Keras's order (`optimizer_arrays`), read into a compiled model.

A model called as a layer inside a functional model keeps its own group with its layers
below it, as Keras's. Reading and writing need h5py (``pip install "deepcore[h5]"``); loading never executes code.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np

from deepcore.identifiers import snake_case
from deepcore.registry import get_backend

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str) -> bool:
    """Whether the file at ``path`` starts with the HDF5 signature (a Keras weights file)."""
    try:
        with open(path, "rb") as file:
            return file.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except (FileNotFoundError, IsADirectoryError):
        return False


def status() -> str:
    """One line for ``deepcore info``: whether Keras's files can be read and written here."""
    import importlib.util

    if importlib.util.find_spec("h5py") is None:
        return 'off (h5py is not installed: pip install "deepcore[h5]")'
    from importlib.metadata import version

    return f"on (h5py {version('h5py')})"


def h5py_module():
    """h5py, or an ImportError that says how to install it."""
    try:
        import h5py
    except ImportError:
        raise ImportError('Keras weights files (.h5) need h5py: pip install "deepcore[h5]"') from None
    return h5py


def layer_groups(model, prefix: str = "layers") -> list[tuple[Any, str]]:
    """``(layer, its group)`` for every layer of ``model``, in Keras's numbering; a model
    called as a layer is a group of its own, its layers below it (``layers/functional/layers/
    dense``). A functional model's operations keep those models whole; a Sequential's
    nested Sequentials joined it, so it has only layers."""
    from deepcore.models.model import Model

    groups = []
    operations = getattr(model, "_operations", model.layers)
    for operation, name in zip(operations, keras_names(operations)):
        group = f"{prefix}/{name}"
        if isinstance(operation, Model):
            groups += layer_groups(operation, f"{group}/layers")
        else:
            groups.append((operation, group))
    return groups


def keras_names(objects) -> list[str]:
    """The names Keras's weights files give a list of objects (layers, cells): the class name
    in snake case, numbered from the second of a class on (``dense``, ``dense_1``...)."""
    counts: dict[str, int] = {}
    names = []
    for obj in objects:
        base = snake_case(type(obj).__name__)
        count = counts.get(base, 0)
        counts[base] = count + 1
        names.append(base if count == 0 else f"{base}_{count}")
    return names


def load_weights(model, path: str) -> None:
    """Set ``model``'s weights from the Keras weights file at ``path``; every weight is found
    and its shape checked before any is changed. A compiled model also takes the optimizer's
    state when the file has it (`assign_optimizer_from`)."""
    with h5py_module().File(path, "r") as file:
        assign_from(model, file, path)
        assign_optimizer_from(model, file, path)


def assign_from(model, file, path: str) -> None:
    """`load_weights` from an open h5py ``file`` (``path`` names it in errors)."""
    if not model.built:
        raise ValueError(f"Cannot load weights from '{path}' into model {model.name!r}: it is not built yet. "
                         "Give the first layer input_shape=..., or call model.build(input_shape) first.")
    updates = []
    for layer, group in layer_groups(model):
        paths = layer.keras_weight_paths()
        if not paths:  # no weights, or none Keras keeps (given constants)
            continue
        arrays = []
        for variable, relative in zip(layer.weights, paths):
            key = f"{group}/{relative}"
            if key not in file:
                present = sorted(file[group].keys()) if group in file else sorted(file["layers"].keys())
                where = f"group '{group}' holds {present}" if group in file else f"its layers are {present}"
                raise ValueError(f"Cannot load weights from '{path}' into layer {layer.name!r}: the file has no "
                                 f"'{key}' ({where}). Is it the same architecture, built the same way?")
            array = np.asarray(file[key])
            if tuple(array.shape) != variable.shape:
                raise ValueError(f"Cannot load weights from '{path}' into layer {layer.name!r}: weight "
                                 f"{variable.name!r} has shape {variable.shape} in the model but the file's "
                                 f"'{key}' has shape {tuple(array.shape)}.")
            arrays.append(array)
        updates.append((layer, arrays))
    for layer, arrays in updates:
        layer.set_weights(arrays)


def _keras_slot_order(optimizer, count: int) -> list[tuple[int, str]]:
    """(variable index, slot name) of each slot Keras keeps, in its order, for ``count``
    trainable variables."""
    return [(i, name) for block in optimizer.keras_slot_blocks() for i in range(count) for name in block]


def optimizer_arrays(model) -> list:
    """The optimizer's state as Keras 3 keeps it: ``iterations``, the learning rate (unless a
    schedule gives it), then the slots in `Optimizer.keras_slot_blocks` order and the
    optimizer's extra scalars."""
    optimizer = model.optimizer
    variables = model.trainable_variables
    names = optimizer.state_names()
    backend = get_backend()
    host = [np.asarray(backend.to_numpy(a)) for a in optimizer.state(variables)]
    by_slot = {(i, name): host[i * len(names) + k] for i in range(len(variables)) for k, name in enumerate(names)}
    arrays = [np.asarray(optimizer.iterations, dtype=np.int64)]
    if not callable(optimizer.learning_rate):
        arrays.append(np.asarray(optimizer.learning_rate, dtype=np.float32))
    arrays += [by_slot[slot] for slot in _keras_slot_order(optimizer, len(variables))]
    return arrays + [np.asarray(value, dtype=np.float32) for value in optimizer.keras_extra_variables()]


def assign_optimizer_from(model, file, path: str) -> None:
    """Restore the optimizer's state from the file's ``optimizer/vars`` (Keras's layout, see
    `optimizer_arrays`), when the model is compiled and the file has one; a layout that does
    not fit (another optimizer or settings) is skipped with a warning, as Keras does."""
    optimizer = model.optimizer
    if optimizer is None or "optimizer/vars" not in file:
        return
    stored = file["optimizer/vars"]
    expected = optimizer_arrays(model)
    found = [np.asarray(stored[str(i)]) for i in range(len(stored))]
    if len(found) != len(expected) or any(a.shape != b.shape for a, b in zip(found, expected)):
        warnings.warn(f"'{path}': skipping the optimizer state: it has {len(found)} variables, optimizer "
                      f"{optimizer.name!r} keeps {len(expected)} (another optimizer or other settings).",
                      UserWarning, stacklevel=3)
        return
    iterations, first_slot = int(found[0]), 1
    if not callable(optimizer.learning_rate):
        optimizer.learning_rate, first_slot = float(found[1]), 2
    variables = model.trainable_variables
    order = _keras_slot_order(optimizer, len(variables))
    by_slot = dict(zip(order, found[first_slot:first_slot + len(order)]))
    backend = get_backend()
    optimizer.set_state(variables, [backend.asarray(by_slot[(i, name)], dtype=variables[i].value.dtype)
                                    for i in range(len(variables)) for name in optimizer.state_names()], iterations)


def save_weights(model, path: str, overwrite: bool = True) -> None:
    """Write ``model``'s weights to ``path`` in Keras's layout (Keras's ``load_weights``
    reads it), atomically."""
    from deepcore.saving import refuse_to_overwrite, write_atomically

    refuse_to_overwrite(path, overwrite)
    write_atomically(os.fspath(path), weights_bytes(model))


def weights_bytes(model) -> bytes:
    """``model``'s weights as the bytes of a Keras weights file, with the optimizer's state
    once it has taken a step."""
    buffer = io.BytesIO()
    with h5py_module().File(buffer, "w") as file:
        file.create_group("vars")
        if model.optimizer is not None and model.optimizer.iterations:
            for index, array in enumerate(optimizer_arrays(model)):
                file.create_dataset(f"optimizer/vars/{index}", data=array)
        for layer, group in layer_groups(model):
            file.create_group(f"{group}/vars")
            for relative, array in [*zip(layer.keras_weight_paths(), layer.get_weights()),
                                    *layer.keras_only_variables().items()]:
                file.create_dataset(f"{group}/{relative}", data=array)
    return buffer.getvalue()
