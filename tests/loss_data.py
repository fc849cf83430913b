"""Random targets for each loss, shared by the loss value and loss gradient tests."""

import numpy as np


def random_targets(name: str, rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    """Targets a loss expects: class ids ``(n,)`` for sparse cross-entropy, 0/1 labels for
    binary cross-entropy and hinge, one-hot rows, probability rows for KL, else normals."""
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, classes, size=n).astype(np.float64)
    if name in ("binary_crossentropy", "binary_focal_crossentropy", "hinge", "squared_hinge"):
        return rng.integers(0, 2, size=(n, classes)).astype(np.float64)
    if name in ("poisson", "mean_squared_logarithmic_error"):
        return rng.uniform(0.0, 3.0, size=(n, classes))  # counts, rates: non-negative
    if name == "mean_absolute_percentage_error":  # away from 0, where the percentage explodes
        return rng.choice([-1.0, 1.0], size=(n, classes)) * rng.uniform(0.5, 2.0, size=(n, classes))
    if name in ("categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge"):
        return np.eye(classes)[rng.integers(0, classes, size=n)]
    if name == "kl_divergence":
        return rng.dirichlet(np.ones(classes), size=n)
    return rng.standard_normal((n, classes))
