"""A small Transformer encoder sorts sequences of digits: MultiHeadAttention, residual
connections and LayerNormalization in a functional model.

The data are synthetic and exactly labelled: ``LENGTH`` random digits in, the same digits in
ascending order out (one softmax over the ten digits per position). Sorting needs every
position to compare its digit with all the others, which is what self-attention does; the
positions enter through a second input (``0 .. LENGTH - 1``) and their own embedding, as
Transformers add position embeddings. Prints the held-out per-digit and whole-sequence accuracy
next to the best answer that ignores the input digits (for each output position, the digit
most often found there in training).
Run: ``python examples/transformer_sorting.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse

import numpy as np

import deepcore as dc
from deepcore.layers import Add, Dense, Embedding, Input, LayerNormalization, MultiHeadAttention
from deepcore.models import Model

LENGTH = 8
DIGITS = 10
WIDTH = 32
SAMPLES = 20_000
TEST_SAMPLES = 2_000


def make_dataset(samples: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``[digits (samples, LENGTH), positions (samples, LENGTH)]`` and the sorted digits."""
    digits = np.random.default_rng(seed).integers(0, DIGITS, (samples, LENGTH))
    positions = np.tile(np.arange(LENGTH), (samples, 1))
    return [digits, positions], np.sort(digits, axis=1)


def encoder_block(x, heads: int = 4):
    """Self-attention then a position-wise feed-forward layer, each added back to its input
    and normalized (the post-norm Transformer block): ``(batch, LENGTH, WIDTH)`` -> same."""
    attended = MultiHeadAttention(num_heads=heads, key_dim=WIDTH // heads)(x, x)
    x = LayerNormalization()(Add()([x, attended]))
    fed = Dense(WIDTH)(Dense(2 * WIDTH, activation="relu")(x))
    return LayerNormalization()(Add()([x, fed]))


def build_model() -> Model:
    digits, positions = Input((LENGTH,), dtype="int32", name="digits"), Input((LENGTH,), dtype="int32",
                                                                             name="positions")
    x = Add()([Embedding(DIGITS, WIDTH)(digits), Embedding(LENGTH, WIDTH)(positions)])
    x = encoder_block(encoder_block(x))
    return Model([digits, positions], Dense(DIGITS, activation="softmax")(x))  # (batch, LENGTH, DIGITS)


def main(epochs: int = 10, verbose: int = 0, samples: int = SAMPLES) -> tuple[float, float, float]:
    """Train, then return (held-out digit accuracy, whole-sequence accuracy, input-blind baseline)."""
    dc.utils.set_random_seed(0)
    x_train, y_train = make_dataset(samples, seed=0)
    x_test, y_test = make_dataset(TEST_SAMPLES, seed=1)
    model = build_model()
    model.compile(optimizer=dc.optimizers.Adam(learning_rate=0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=verbose)
    predicted = np.argmax(model.predict(x_test, verbose=0), axis=-1)
    digit_accuracy = float(np.mean(predicted == y_test))
    sequence_accuracy = float(np.mean(np.all(predicted == y_test, axis=1)))
    blind = np.array([np.bincount(column, minlength=DIGITS).argmax() for column in y_train.T])
    baseline = float(np.mean(y_test == blind))
    print(f"transformer_sorting: held-out digit accuracy {digit_accuracy:.4f}, whole sequences "
          f"{sequence_accuracy:.4f}, vs {baseline:.4f} for the best input-blind answer "
          f"({TEST_SAMPLES} sequences of {LENGTH} digits)")
    example = x_test[0][0]
    print(f"  {' '.join(map(str, example))} -> {' '.join(map(str, predicted[0]))}")
    return digit_accuracy, sequence_accuracy, baseline


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    main(parser.parse_args().epochs, verbose=2)
