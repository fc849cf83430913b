"""Small user-facing helpers, Keras names."""

from __future__ import annotations

import random

import numpy as np

from deepcore import random as host_random


def set_random_seed(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and deepcore's host generator, so
    initial weights, shuffling and dropout repeat exactly (on every backend)."""
    random.seed(seed)
    np.random.seed(seed)
    host_random.set_seed(seed)


def clear_session(free_memory: bool = True) -> None:
    """Keras's fresh start: layer names count from the beginning again (``dense``,
    ``dense_1``...); with ``free_memory`` Python's garbage collector runs."""
    import gc

    from deepcore.layers.base import reset_names

    reset_names()
    if free_memory:
        gc.collect()


def to_categorical(y, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """Integer class ids ``(n,)`` -> one-hot rows ``(n, num_classes)`` (a NumPy array)."""
    labels = np.asarray(y, dtype=int).reshape(-1)
    if labels.size and labels.min() < 0:
        raise ValueError("to_categorical: class ids must be non-negative.")
    num_classes = num_classes or int(labels.max()) + 1
    return np.eye(num_classes, dtype=dtype)[labels]
