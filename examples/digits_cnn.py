"""Handwritten digits (8x8 images, 1797 samples): a small convolutional network.

The images keep their 2-D layout, ``(8, 8, 1)`` channels_last, pixel intensities scaled to
[0, 1]; two 3x3 convolutions with max pooling, dropout, then a softmax over the 10 digits. Prints the
held-out accuracy (goal: at least 0.97).
Run: ``python examples/digits_cnn.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import deepcore as dc
from deepcore.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from deepcore.models import Sequential


def main(epochs: int = 20, verbose: int = 0) -> float:
    """Train, then return the test accuracy."""
    dc.utils.set_random_seed(0)
    images, y = load_digits(return_X_y=True)
    x = images.reshape(-1, 8, 8, 1) / 16.0
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)

    model = Sequential([
        Input(shape=(8, 8, 1)),
        Conv2D(32, 3, padding="same", activation="relu"),  # (8, 8, 32)
        MaxPooling2D(),                                      # (4, 4, 32)
        Conv2D(64, 3, padding="same", activation="relu"),  # (4, 4, 64)
        MaxPooling2D(),                                      # (2, 2, 64)
        Flatten(),
        Dropout(0.3),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"digits_cnn: test accuracy {accuracy:.4f} ({len(y_test)} samples)")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    main(parser.parse_args().epochs, verbose=2)
