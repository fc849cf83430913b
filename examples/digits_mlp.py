"""Handwritten digits (8x8 images, 1797 samples): a 10-class softmax MLP.

Pixel intensities 0..16 are scaled to [0, 1]; the labels stay integers
(``sparse_categorical_crossentropy``). Prints the held-out accuracy.
Run: ``python examples/digits_mlp.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import deepcore as dc
from deepcore.layers import Dense, Input
from deepcore.models import Sequential


def main(epochs: int = 30, verbose: int = 0) -> float:
    """Train, then return the test accuracy."""
    dc.utils.set_random_seed(0)
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)

    model = Sequential([
        Input(shape=(x.shape[1],)),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"digits_mlp: test accuracy {accuracy:.4f} ({len(y_test)} samples)")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    main(parser.parse_args().epochs, verbose=2)
