"""Sequence classification: are the brackets balanced? Embedding -> LSTM -> Dense(sigmoid).

The data are synthetic and exactly labelled. Every sequence has ``LENGTH`` characters from
``"()[]"``. Half are balanced (every closing bracket closes the innermost open one, of its own
kind, and none stays open), drawn by opening a random kind or closing the innermost one. The
other half are unbalanced, in two equal kinds: one bracket replaced by another of the four (an
odd count or a mismatched pair), and a shuffle of a balanced sequence that is not balanced
(the same counts, in an impossible order). The second kind defeats counting characters: the
model has to track the open brackets in order. Sequences are unique, so no held-out sequence
appears in training. Prints the held-out accuracy next to the majority-class baseline (the
held-out frequency of the label most common in training; the labels are balanced, so about 0.5).
Run: ``python examples/sequence_classification.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse

import numpy as np

import deepcore as dc
from deepcore.layers import LSTM, Dense, Embedding, Input
from deepcore.models import Sequential

VOCABULARY = "()[]"
PAIRS = {"(": ")", "[": "]"}
LENGTH = 20
SAMPLES = 6000
TEST_FRACTION = 0.2


def is_balanced(sequence: str) -> bool:
    """Every closing bracket closes the innermost open one, of its own kind, and none stays open."""
    stack = []
    for c in sequence:
        if c in PAIRS:
            stack.append(PAIRS[c])
        elif not stack or stack.pop() != c:
            return False
    return not stack


def random_balanced(rng: np.random.Generator) -> str:
    """``LENGTH`` brackets: at each position, open a random kind or close the innermost open one
    (with even odds, when both keep the sequence completable)."""
    chars, stack = [], []
    for position in range(LENGTH):
        must_open = not stack
        must_close = len(stack) == LENGTH - position
        if must_open or (not must_close and rng.random() < 0.5):
            opening = "([" [int(rng.integers(2))]
            chars.append(opening)
            stack.append(PAIRS[opening])
        else:
            chars.append(stack.pop())
    return "".join(chars)


def random_unbalanced(rng: np.random.Generator, shuffled: bool) -> str:
    """A balanced sequence with one bracket replaced by another of the four, or shuffled until it
    is unbalanced."""
    chars = list(random_balanced(rng))
    if shuffled:
        while is_balanced("".join(chars)):
            rng.shuffle(chars)
    else:
        i = int(rng.integers(LENGTH))
        chars[i] = rng.choice([c for c in VOCABULARY if c != chars[i]])
    return "".join(chars)


def make_dataset(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` unique sequences as ids ``(samples, LENGTH)`` ("(" = 0, ")" = 1) and labels
    ``(samples,)`` (1 = balanced), half of each label, in random order."""
    rng = np.random.default_rng(seed)
    labelled: dict[str, int] = {}
    while len(labelled) < samples:
        kind = len(labelled) % 4  # cycles balanced, balanced, flipped, shuffled
        sequence = random_balanced(rng) if kind < 2 else random_unbalanced(rng, shuffled=kind == 3)
        labelled.setdefault(sequence, int(is_balanced(sequence)))
    sequences = list(labelled)
    order = rng.permutation(samples)
    x = np.array([[VOCABULARY.index(c) for c in sequences[i]] for i in order], dtype=np.int64)
    y = np.array([labelled[sequences[i]] for i in order], dtype=np.float32)
    return x, y


def main(epochs: int = 40, verbose: int = 0, samples: int = SAMPLES) -> tuple[float, float]:
    """Train, then return (held-out accuracy, majority-class accuracy on the held-out set)."""
    dc.utils.set_random_seed(0)
    x, y = make_dataset(samples)
    split = int(samples * (1.0 - TEST_FRACTION))
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]

    model = Sequential([
        Input(shape=(LENGTH,)),
        Embedding(len(VOCABULARY), 8),              # (20, 8)
        LSTM(32),                        # (32,): the state after the last bracket
        Dense(1, activation="sigmoid"),  # P(balanced)
    ])
    model.compile(optimizer=dc.optimizers.Adam(learning_rate=0.003), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    majority_label = float(y_train.mean() >= 0.5)
    baseline = float(np.mean(y_test == majority_label))
    print(f"sequence_classification: held-out accuracy {accuracy:.4f} vs majority class "
          f"{baseline:.4f} ({len(y_test)} sequences of {LENGTH} brackets)")
    return float(accuracy), baseline


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    main(parser.parse_args().epochs, verbose=2)
