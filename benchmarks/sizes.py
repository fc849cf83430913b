"""Workload sizes: the issue's full sizes, and a tiny set that only proves the code runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Sizes:
    samples: int = 8192          # training set of the MLP workloads
    inputs: int = 784
    width: int = 512
    classes: int = 10
    batch: int = 128
    # The seed network: 256 steps of 32 per timed epoch. With 32 steps a timed run lasted ~3 ms,
    # and waking up after timing.SETTLE_SECONDS of idling cost deepcore ~15% of it; a longer
    # epoch measures the per-step overhead itself.
    tiny_samples: int = 8192
    tiny_batch: int = 32
    predict_batch: int = 1024
    gpu_width: int = 4096
    gpu_batch: int = 1024
    gpu_samples: int = 16384
    denormal_epochs: int = 16    # 16 x 64 steps: Adam's first moments reach denormals after ~800
    rss_epochs: int = 2
    image: int = 28              # the CNN workload: image x image x 1 inputs, 10 classes
    cnn_samples: int = 2048
    cnn_batch: int = 64
    seq_steps: int = 50          # the LSTM workload: (steps, features) inputs, 10 classes
    seq_features: int = 32
    lstm_units: int = 128
    seq_samples: int = 2048
    seq_batch: int = 64

    def as_dict(self) -> dict:
        return asdict(self)


FULL = Sizes()
TINY = replace(
    FULL, samples=256, inputs=20, width=16, classes=3, batch=32, tiny_samples=64,
    predict_batch=64, gpu_width=32, gpu_batch=32, gpu_samples=128, denormal_epochs=2, rss_epochs=1,
    image=10, cnn_samples=64, cnn_batch=32, seq_steps=4, seq_features=4, lstm_units=8, seq_samples=64,
    seq_batch=32,
)


def classification_data(samples: int, inputs: int, classes: int, seed: int = 0):
    """Random float32 inputs ``(samples, inputs)`` and one-hot float32 targets ``(samples, classes)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, inputs), dtype=np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, samples)]
    return x, y


def sparse_data(shape: tuple[int, ...], classes: int, seed: int = 0):
    """Random float32 inputs ``(samples, *shape[1:])`` and int64 class labels ``(samples,)``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape, dtype=np.float32), rng.integers(0, classes, shape[0])


def binary_data(samples: int, seed: int = 0):
    """The seed network's data: ``(samples, 10)`` inputs and ``(samples, 1)`` 0/1 targets."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, 10), dtype=np.float32)
    y = (x[:, :1] + x[:, 1:2] > 0).astype(np.float32)
    return x, y
