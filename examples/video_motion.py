"""Which way does it move? Short noisy videos -> ConvLSTM2D -> the direction of motion.

The data are synthetic and exactly labelled. A clip is ``FRAMES`` grayscale frames of
``SIZE`` x ``SIZE`` pixels with Gaussian noise (std ``NOISE``) and two bright 3x3 squares: one
moves one pixel per frame up, down, left or right (the label, a quarter of the clips each),
wrapping around the edges, the other stands still. Both start anywhere, uniformly, so every
single frame is two uniformly placed squares whatever the direction: no frame on its own says
anything about the label. The direction exists only across frames, and the ConvLSTM's state
has to carry where the squares were. Prints the held-out accuracy next to the majority-class
baseline (about 0.25), which is the best any model of one frame can do; the goal is 0.9.
Run: ``python examples/video_motion.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse

import numpy as np

import deepcore as dc
from deepcore.layers import ConvLSTM2D, Dense, GlobalMaxPooling2D, Input
from deepcore.models import Sequential

FRAMES, SIZE, SQUARE, NOISE = 6, 16, 3, 0.3
DIRECTIONS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
SAMPLES = 2000
TEST_FRACTION = 0.2


def make_clips(samples: int, seed: int = 0, noise: float = NOISE) -> tuple[np.ndarray, np.ndarray]:
    """``(samples, FRAMES, SIZE, SIZE, 1)`` float32 clips and their direction ids ``(samples,)``
    (the order of `DIRECTIONS`), a quarter of each."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, noise, (samples, FRAMES, SIZE, SIZE, 1)).astype(np.float32)
    y = np.arange(samples) % len(DIRECTIONS)
    rng.shuffle(y)
    square = np.zeros((SIZE, SIZE, 1), dtype=np.float32)
    square[:SQUARE, :SQUARE] = 1.0
    for clip, label in zip(x, y):
        d_row, d_col = list(DIRECTIONS.values())[label]
        (row, col), still = rng.integers(0, SIZE, size=(2, 2))
        for t, frame in enumerate(clip):
            frame += np.roll(square, tuple(still), axis=(0, 1))
            frame += np.roll(square, (row + t * d_row, col + t * d_col), axis=(0, 1))
    return x, y.astype(np.int64)


def main(epochs: int = 12, verbose: int = 0, samples: int = SAMPLES) -> tuple[float, float]:
    """Train, then return (held-out accuracy, majority-class accuracy on the held-out set)."""
    dc.utils.set_random_seed(0)
    x, y = make_clips(samples)
    split = int(samples * (1.0 - TEST_FRACTION))
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]

    model = Sequential([
        Input(shape=(FRAMES, SIZE, SIZE, 1)),
        ConvLSTM2D(8, 3, padding="same"),  # (16, 16, 8): what moved where, after the last frame
        GlobalMaxPooling2D(),              # (8,): the strongest response anywhere
        Dense(len(DIRECTIONS), activation="softmax"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    majority = float(np.mean(y_test == np.bincount(y_train).argmax()))
    print(f"video_motion: held-out accuracy {accuracy:.4f} vs majority class {majority:.4f} "
          f"({len(y_test)} clips of {FRAMES} frames, {SIZE}x{SIZE})")
    return float(accuracy), majority


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    main(parser.parse_args().epochs, verbose=2)
