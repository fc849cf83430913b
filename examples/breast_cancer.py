"""Binary classification of the Wisconsin breast-cancer data (569 samples, 30 features).

The features are standardized inside the model by a `Normalization` layer adapted on the
training split; a small MLP then predicts malignant/benign. Prints the held-out accuracy.
Run: ``python examples/breast_cancer.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import deepcore as dc
from deepcore.layers import Dense, Input, Normalization
from deepcore.models import Sequential


def main(epochs: int = 30, verbose: int = 0) -> float:
    """Train, then return the test accuracy."""
    dc.utils.set_random_seed(0)
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)

    normalization = Normalization()
    normalization.adapt(x_train)
    model = Sequential([
        Input(shape=(x.shape[1],)),
        normalization,
        Dense(16, activation="relu"),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"breast_cancer: test accuracy {accuracy:.4f} ({len(y_test)} samples)")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    main(parser.parse_args().epochs, verbose=2)
