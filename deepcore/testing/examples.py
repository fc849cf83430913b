"""Built-in example models and data for consistency checks (``deepcore check mlp``).

Each example is ``name -> (model, x, y)``: a compiled model with seeded weights and seeded
random data, so every call (and every machine) gets the same numbers.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from deepcore import activations, initializers
from deepcore.layers import Dense, Dropout, Input
from deepcore.models import Sequential

# Every distinct activation except the normalising ones, which end a model, and glu, which
# halves its input's width (swish and hard_swish are aliases of silu and hard_silu).
HIDDEN_ACTIVATIONS = tuple(
    name for name in activations.names()
    if name not in ("softmax", "log_softmax", "sparsemax", "glu", "swish", "hard_swish")
)


def mlp(seed: int = 0, samples: int = 64, features: int = 8, width: int = 16,
        classes: int = 4) -> tuple[Sequential, np.ndarray, np.ndarray]:
    """A Dense layer per hidden activation (``width`` units, named ``dense_<activation>``), a
    Dropout, and a softmax output
    trained with categorical cross-entropy and Adam; x ``(samples, features)`` standard
    normal, y one-hot ``(samples, classes)``."""
    model = Sequential([Input((features,))])
    for i, name in enumerate(HIDDEN_ACTIVATIONS):
        model.add(Dense(width, activation=name, name=f"dense_{name}",
                        kernel_initializer=initializers.GlorotUniform(seed=seed + i)))
    model.add(Dropout(0.25, seed=seed, name="dropout"))
    model.add(Dense(classes, activation="softmax", name="dense_softmax",
                    kernel_initializer=initializers.GlorotUniform(seed=seed + len(HIDDEN_ACTIVATIONS))))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, features))
    y = np.eye(classes)[rng.integers(0, classes, size=samples)]
    return model, x, y


EXAMPLES: dict[str, Callable[..., tuple[Sequential, np.ndarray, np.ndarray]]] = {"mlp": mlp}


def example(name: str, seed: int = 0) -> tuple[Sequential, np.ndarray, np.ndarray]:
    """The example ``name`` built from ``seed``: ``(model, x, y)``."""
    if name not in EXAMPLES:
        raise ValueError(f"Unknown example {name!r}; built-in examples: {', '.join(EXAMPLES)}.")
    return EXAMPLES[name](seed=seed)
