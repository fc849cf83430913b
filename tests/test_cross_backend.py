"""The same seeded training run on every backend matches the NumPy run.

Initial weights, the shuffling order and the dropout masks are drawn on the host from the seed,
so every backend does the same arithmetic; only rounding may differ (another BLAS, another
reduction order, a GPU). The tolerance follows from that:

  Each step's gradients come from reductions of at most K = 32 terms (the batch of 16, the
  widest layer of 32), so each carries a rounding error of about K eps relative. Adam divides
  by the gradient's own running scale, so an update (at most ~lr in size) inherits that
  relative error, and earlier weight differences feed back through later gradients by at most
  another factor K; writing the update rounds the weight by eps |w|. Over S steps this stays
  below S (K + 1) eps max(1, |w|) for the weights, and S (K + 1) eps relative for the
  per-epoch losses (means of batch losses computed from those weights).

With S = 18 steps and K = 32 that is 594 eps: 7.1e-5 in float32, 1.3e-13 in float64.
Measured on CPU (torch vs NumPy): weights within 11 eps, losses within 1 eps.
"""

from __future__ import annotations

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import Dense, Dropout
from deepcore.models import Sequential

SAMPLES, BATCH, EPOCHS, WIDEST = 96, 16, 3, 32
STEPS = EPOCHS * (SAMPLES // BATCH)
K = max(BATCH, WIDEST)


def tolerance(floatx: str) -> float:
    return STEPS * (K + 1) * float(np.finfo(floatx).eps)


def train(floatx: str, seed: int = 0):
    """Train the seeded MLP on the active backend; returns (weights, per-epoch losses)."""
    dc.set_floatx(floatx)
    dc.utils.set_random_seed(seed)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((SAMPLES, 10))
    y = np.eye(3)[rng.integers(0, 3, size=SAMPLES)]
    model = Sequential([
        Dense(WIDEST, activation="relu", input_shape=(10,)),
        Dropout(0.2),
        Dense(16, activation="tanh"),
        Dropout(0.1),
        Dense(16, activation="gelu"),
        Dense(8, activation="elu"),
        Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.01), loss="categorical_crossentropy")
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0)
    return model.get_weights(), history.history["loss"]


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_training_matches_numpy(backend, floatx):
    weights, losses = train(floatx)
    with dc.use_backend("numpy"):
        expected_weights, expected_losses = train(floatx)
    tol = tolerance(floatx)
    assert len(losses) == EPOCHS
    np.testing.assert_allclose(losses, expected_losses, rtol=tol, atol=0)
    for got, want in zip(weights, expected_weights, strict=True):
        assert got.dtype == np.dtype(floatx)
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(1.0, np.abs(want).max()))


def test_the_comparison_has_teeth():
    """Another seed (other initial weights, order and masks) moves the result far beyond the
    tolerance, so agreement above means the backends really did the same computation."""
    with dc.use_backend("numpy"):
        weights, _ = train("float32", seed=0)
        other, _ = train("float32", seed=1)
    difference = max(np.abs(a - b).max() for a, b in zip(weights, other))
    assert difference > 1000 * tolerance("float32")
