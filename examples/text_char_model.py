"""A character-level LSTM language model: Embedding -> LSTM -> Dense(softmax).

The text is English prose, with some code and grammar snippets, from Python's own documentation:
the help topics in ``pydoc_data/topics.py``, which ships with every CPython (PSF License
Agreement; the exact text depends on the Python version), so nothing is downloaded or stored.
The topics are joined in sorted order with runs of whitespace collapsed to one space, and the
first ``TEXT_CHARS`` characters are kept; the last 10% is held out.

Each training sample is a window of ``SEQUENCE_LENGTH`` characters and, as targets, the same
window shifted by one: the LSTM returns its whole sequence, so every position predicts its next
character from the characters before it (within the window). The held-out windows do not
overlap, so each held-out character is scored at most once. The script prints the held-out
per-character cross-entropy (nats) and perplexity next to a unigram baseline (each character's
training frequency, add-one smoothed), then a sample drawn with seeded temperature sampling.
Run: ``python examples/text_char_model.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse
import math
import re

import numpy as np
from pydoc_data.topics import topics

import deepcore as dc
from deepcore.layers import LSTM, Dense, Embedding, Input
from deepcore.models import Sequential

TEXT_CHARS = 150_000
SEQUENCE_LENGTH = 32
TRAIN_STRIDE = 8  # overlapping training windows: 4 views of each character, different contexts
HELD_OUT_FRACTION = 0.1


def load_text(chars: int = TEXT_CHARS) -> str:
    """The first ``chars`` characters of the pydoc topics, whitespace collapsed."""
    joined = " ".join(topics[name] for name in sorted(topics))
    return re.sub(r"\s+", " ", joined)[:chars]


def windows(ids: np.ndarray, length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids ``(n,)`` -> inputs ``(windows, length)`` and next-id targets ``(windows, length)``."""
    starts = np.arange(0, len(ids) - length, stride)
    x = np.stack([ids[s:s + length] for s in starts])
    y = np.stack([ids[s + 1:s + length + 1] for s in starts])
    return x, y


def unigram_cross_entropy(train_ids: np.ndarray, test_ids: np.ndarray, vocabulary_size: int) -> float:
    """Mean -log p(c) over ``test_ids`` (nats), p the add-one smoothed training frequency."""
    counts = np.bincount(train_ids, minlength=vocabulary_size) + 1.0
    return float(-np.mean(np.log(counts[test_ids] / counts.sum())))


def sample(model, seed_text: str, vocabulary: str, length: int, temperature: float,
           rng: np.random.Generator) -> str:
    """Extend ``seed_text`` by ``length`` characters, each drawn from the model's next-character
    distribution sharpened by ``temperature`` (p ** (1 / temperature), renormalised)."""
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = [index[c] for c in seed_text]
    for _ in range(length):
        window = np.asarray(ids[-SEQUENCE_LENGTH:], dtype=np.float32)[None, :]
        p = model.predict(window, verbose=0)[0, -1].astype(np.float64)
        logits = np.log(np.maximum(p, 1e-12)) / temperature
        weights = np.exp(logits - logits.max())
        ids.append(int(rng.choice(len(vocabulary), p=weights / weights.sum())))
    return "".join(vocabulary[i] for i in ids[len(seed_text):])


def main(epochs: int = 8, verbose: int = 0, text_chars: int = TEXT_CHARS,
         sample_length: int = 200) -> tuple[float, float]:
    """Train, print the held-out metrics and a sample; return (held-out loss, unigram loss) in nats."""
    dc.utils.set_random_seed(0)
    text = load_text(text_chars)
    vocabulary = "".join(sorted(set(text)))
    ids = np.array([vocabulary.index(c) for c in text], dtype=np.int64)
    split = int(len(ids) * (1.0 - HELD_OUT_FRACTION))
    x_train, y_train = windows(ids[:split], SEQUENCE_LENGTH, TRAIN_STRIDE)
    x_test, y_test = windows(ids[split:], SEQUENCE_LENGTH, SEQUENCE_LENGTH)

    model = Sequential([
        Input(shape=(SEQUENCE_LENGTH,)),
        Embedding(len(vocabulary), 32),                # (32, 32)
        LSTM(128, return_sequences=True),              # (32, 128)
        Dense(len(vocabulary), activation="softmax"),  # (32, vocabulary)
    ])
    model.compile(optimizer=dc.optimizers.Adam(learning_rate=0.005),
                  loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=verbose)
    loss = float(model.evaluate(x_test, y_test, verbose=0))
    baseline = unigram_cross_entropy(ids[:split], y_test.reshape(-1), len(vocabulary))
    print(f"text_char_model: {len(text)} characters, vocabulary {len(vocabulary)}, "
          f"{len(x_train)} training windows of {SEQUENCE_LENGTH}")
    print(f"text_char_model: held-out cross-entropy {loss:.3f} nats/char (perplexity {math.exp(loss):.2f})"
          f" vs unigram baseline {baseline:.3f} (perplexity {math.exp(baseline):.2f})")
    seed_text = text[split:split + SEQUENCE_LENGTH]
    generated = sample(model, seed_text, vocabulary, sample_length, temperature=0.7,
                       rng=np.random.default_rng(0))
    print(f"text_char_model: sample after {seed_text!r}:\n{generated}")
    return loss, baseline


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    main(parser.parse_args().epochs, verbose=2)
