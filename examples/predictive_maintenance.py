"""Predictive maintenance: remaining useful life (RUL) of machines from their sensor history.

A seeded generator simulates a fleet run to failure (in the spirit of NASA's C-MAPSS turbofan
data): each machine has its own lifetime, manufacturing offsets and wear curve; six sensors
drift with wear (one does not), under measurement noise. The model reads the last 30 cycles
of all sensors with a 1-D convolutional network and predicts the RUL, capped at 125 cycles (a
machine far from failure looks healthy; the usual C-MAPSS convention). Machines are split
into training and test fleets, so the test machines are unseen. Prints the test RMSE next to
the naive baseline that predicts the training fleet's mean RUL.
Run: ``python examples/predictive_maintenance.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``,
else auto).
"""

from __future__ import annotations

import argparse

import numpy as np

import deepcore as dc
from deepcore.layers import Conv1D, Dense, GlobalAveragePooling1D, Input, MaxPooling1D
from deepcore.models import Sequential

WINDOW = 30          # cycles of history the model sees
MAX_RUL = 125        # RUL cap (cycles)
# How strongly each sensor responds to wear (the last one is pure noise).
SENSITIVITY = np.array([2.0, -1.5, 1.0, 0.6, -2.5, 0.0])
TRAIN_MACHINES, TEST_MACHINES = 200, 20


def simulate_fleet(machines: int, seed: int) -> list[np.ndarray]:
    """Run-to-failure sensor series, one ``(lifetime, sensors)`` array per machine.

    Wear rises from a small initial value to 1 at failure along ``(t / lifetime) ** shape``
    with a machine-specific shape; each sensor reads ``offset + sensitivity * wear + noise``.
    """
    rng = np.random.default_rng(seed)
    fleet = []
    for _ in range(machines):
        lifetime = int(rng.integers(150, 350))
        progress = np.arange(lifetime) / (lifetime - 1)
        initial = rng.uniform(0.0, 0.1)
        wear = initial + (1.0 - initial) * progress ** rng.uniform(1.5, 3.0)
        offsets = rng.normal(0.0, 0.1, size=SENSITIVITY.shape)
        noise = rng.normal(0.0, 0.25, size=(lifetime, SENSITIVITY.size))
        fleet.append(offsets + wear[:, None] * SENSITIVITY + noise)
    return fleet


def windows(fleet: list[np.ndarray], step: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ``step``-th window of ``WINDOW`` cycles -> ``x (n, WINDOW, sensors)`` and the
    capped RUL at the window's last cycle ``y (n,)``."""
    xs, ys = [], []
    for series in fleet:
        lifetime = series.shape[0]
        for end in range(WINDOW, lifetime + 1, step):
            xs.append(series[end - WINDOW:end])
            ys.append(min(lifetime - end, MAX_RUL))
    return np.stack(xs), np.array(ys, dtype=float)


def main(epochs: int = 15, verbose: int = 0) -> tuple[float, float]:
    """Train, then return ``(test RMSE, baseline RMSE)`` in cycles."""
    dc.utils.set_random_seed(0)
    x_train, y_train = windows(simulate_fleet(TRAIN_MACHINES, seed=1), step=4)
    x_test, y_test = windows(simulate_fleet(TEST_MACHINES, seed=2), step=1)
    mean, std = x_train.mean(axis=(0, 1)), x_train.std(axis=(0, 1))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    model = Sequential([
        Input(shape=(WINDOW, SENSITIVITY.size)),
        Conv1D(16, 5, activation="relu"),   # (26, 16)
        MaxPooling1D(2),                    # (13, 16)
        Conv1D(16, 3, activation="relu"),   # (11, 16)
        GlobalAveragePooling1D(),           # (16,)
        Dense(1),
    ])
    # The target is scaled to [0, 1] for training and scaled back for the report.
    model.compile(optimizer=dc.optimizers.Adam(2e-3), loss="mse")
    model.fit(x_train, y_train / MAX_RUL, epochs=epochs, batch_size=64, verbose=verbose)
    predictions = model.predict(x_test, verbose=0).reshape(-1) * MAX_RUL
    rmse = float(np.sqrt(np.mean((predictions - y_test) ** 2)))
    baseline = float(np.sqrt(np.mean((y_train.mean() - y_test) ** 2)))
    print(f"predictive_maintenance: test RMSE {rmse:.1f} cycles vs {baseline:.1f} for predicting the "
          f"mean RUL ({len(y_test)} windows of {TEST_MACHINES} unseen machines)")
    return rmse, baseline


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    main(parser.parse_args().epochs, verbose=2)
