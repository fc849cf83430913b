"""Regression on the diabetes data (442 patients, 10 features, disease progression 25..346).

Inputs are standardized by an adapted `Normalization`; the target is learned in standardized
units and mapped back by a second, inverting `Normalization` adapted on the training targets,
so the loss (MSE) and the metric (MAE) are in the original units. Prints the test MAE next to
the naive baseline that always predicts the training mean.
Run: ``python examples/diabetes_regression.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

import deepcore as dc
from deepcore.layers import Dense, Input, Normalization
from deepcore.models import Sequential


def main(epochs: int = 50, verbose: int = 0) -> tuple[float, float]:
    """Train, then return ``(test MAE, baseline MAE)``."""
    dc.utils.set_random_seed(0)
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    y_train, y_test = y_train.reshape(-1, 1), y_test.reshape(-1, 1)

    inputs, targets = Normalization(), Normalization(invert=True)
    inputs.adapt(x_train)
    targets.adapt(y_train)
    model = Sequential([
        Input(shape=(x.shape[1],)),
        inputs,
        Dense(16, activation="relu"),
        Dense(1),
        targets,
    ])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    _, mae = model.evaluate(x_test, y_test, verbose=0)
    baseline = float(np.mean(np.abs(y_test - y_train.mean())))
    print(f"diabetes_regression: test MAE {mae:.2f} (predicting the training mean: {baseline:.2f})")
    return mae, baseline


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    main(parser.parse_args().epochs, verbose=2)
