"""The workloads on deepcore, on one backend (by name): each function returns a timing `Case`."""

from __future__ import annotations

import time

import numpy as np

import deepcore as dc
from benchmarks.sizes import Sizes, binary_data, classification_data, sparse_data
from benchmarks.timing import Case, Measurement, summarize

DEAD_BIAS = -1.0e4  # a ReLU unit with this bias never fires on unit-scale inputs: its gradients are exactly 0


def mlp(inputs: int, width: int, classes: int) -> dc.models.Sequential:
    """inputs-width-width-classes, ReLU, softmax, categorical cross-entropy, Adam (Keras defaults)."""
    model = dc.models.Sequential([
        dc.layers.Dense(width, activation="relu", input_shape=(inputs,)),
        dc.layers.Dense(width, activation="relu"),
        dc.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(), loss="categorical_crossentropy")
    return model


def seed_network() -> dc.models.Sequential:
    """The seed example's network: 10-10-10-1, relu, relu, sigmoid, binary cross-entropy, Adam."""
    model = dc.models.Sequential([
        dc.layers.Dense(10, activation="relu", input_shape=(10,)),
        dc.layers.Dense(10, activation="relu"),
        dc.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(), loss="binary_crossentropy")
    return model


def cnn(image: int, classes: int) -> dc.models.Sequential:
    """Conv2D(32, 3x3, relu) - MaxPooling2D(2) - Conv2D(64, 3x3, relu) - MaxPooling2D(2) - Flatten -
    Dense(classes, softmax) on ``(image, image, 1)``; sparse categorical cross-entropy, Adam."""
    model = dc.models.Sequential([
        dc.layers.Conv2D(32, 3, activation="relu", input_shape=(image, image, 1)),
        dc.layers.MaxPooling2D(2),
        dc.layers.Conv2D(64, 3, activation="relu"),
        dc.layers.MaxPooling2D(2),
        dc.layers.Flatten(),
        dc.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    return model


def lstm(steps: int, features: int, units: int, classes: int) -> dc.models.Sequential:
    """LSTM(units) (last output) - Dense(classes, softmax) on ``(steps, features)``; sparse
    categorical cross-entropy, Adam."""
    model = dc.models.Sequential([
        dc.layers.LSTM(units, input_shape=(steps, features)),
        dc.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    return model


def _case(label: str, backend: dc.Backend, run, work: float) -> Case:
    def run_in_backend():
        with dc.use_backend(backend):
            run()

    return Case(label, run_in_backend, work, backend.synchronize)


def _label(backend: str, device=None) -> str:
    return f"deepcore {backend}" + (f" {device}" if device is not None else "")


def mlp_train(backend: str, sizes: Sizes, width: int | None = None, batch: int | None = None,
              samples: int | None = None, device=None) -> Case:
    """One epoch of MLP training (``fit``) per run; work in samples."""
    samples, batch = samples or sizes.samples, batch or sizes.batch
    x, y = classification_data(samples, sizes.inputs, sizes.classes)
    dc.utils.set_random_seed(0)
    with dc.use_backend(backend, device=device) as b:
        model = mlp(sizes.inputs, width or sizes.width, sizes.classes)
        xb, yb = b.asarray(x), b.asarray(y)
    return _case(_label(backend, device), b,
                 lambda: model.fit(xb, yb, batch_size=batch, epochs=1, verbose=0), samples)


def _fit_case(backend: str, build, x: np.ndarray, y: np.ndarray, batch: int) -> Case:
    """One epoch of ``build()``'s model on ``(x, y)`` per run; work in samples."""
    dc.utils.set_random_seed(0)
    with dc.use_backend(backend) as b:
        model = build()
        xb, yb = b.asarray(x), b.asarray(y)
    return _case(_label(backend), b, lambda: model.fit(xb, yb, batch_size=batch, epochs=1, verbose=0),
                 x.shape[0])


def cnn_train(backend: str, sizes: Sizes) -> Case:
    """One epoch of `cnn` training per run on random images and labels; work in samples."""
    x, y = sparse_data((sizes.cnn_samples, sizes.image, sizes.image, 1), sizes.classes)
    return _fit_case(backend, lambda: cnn(sizes.image, sizes.classes), x, y, sizes.cnn_batch)


def lstm_train(backend: str, sizes: Sizes) -> Case:
    """One epoch of `lstm` training per run on random sequences and labels; work in samples."""
    x, y = sparse_data((sizes.seq_samples, sizes.seq_steps, sizes.seq_features), sizes.classes)
    return _fit_case(backend, lambda: lstm(sizes.seq_steps, sizes.seq_features, sizes.lstm_units,
                                           sizes.classes), x, y, sizes.seq_batch)


def tiny_train(backend: str, sizes: Sizes) -> Case:
    """One epoch of the seed network per run; work in steps (per-step overhead)."""
    x, y = binary_data(sizes.tiny_samples)
    dc.utils.set_random_seed(0)
    with dc.use_backend(backend) as b:
        model = seed_network()
        xb, yb = b.asarray(x), b.asarray(y)
    steps = -(-sizes.tiny_samples // sizes.tiny_batch)
    return _case(_label(backend), b,
                 lambda: model.fit(xb, yb, batch_size=sizes.tiny_batch, epochs=1, verbose=0), steps)


def mlp_predict(backend: str, sizes: Sizes) -> Case:
    """MLP inference (``predict``, results on the host) in batches of ``predict_batch``."""
    x, _ = classification_data(sizes.samples, sizes.inputs, sizes.classes)
    dc.utils.set_random_seed(0)
    with dc.use_backend(backend) as b:
        model = mlp(sizes.inputs, sizes.width, sizes.classes)
        xb = b.asarray(x)
    return _case(_label(backend), b,
                 lambda: model.predict(xb, batch_size=sizes.predict_batch, verbose=0), sizes.samples)


class _EpochClock(dc.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def denormal_run(backend: str, sizes: Sizes) -> tuple[Measurement, Measurement, int]:
    """The denormal trap: after one epoch, half of the first layer's units die, so the Adam
    moments of their weights decay geometrically (m by 0.9 a step) towards float32 denormals.

    Returns samples/s of the first two and of the last two epochs after the units died, and
    how many denormal numbers the optimizer state holds at the end.
    """
    x, y = classification_data(sizes.samples, sizes.inputs, sizes.classes)
    dc.utils.set_random_seed(0)
    with dc.use_backend(backend) as b:
        model = mlp(sizes.inputs, sizes.width, sizes.classes)
        xb, yb = b.asarray(x), b.asarray(y)
        model.fit(xb, yb, batch_size=sizes.batch, epochs=1, verbose=0)
        kernel, bias = model.layers[0].get_weights()
        bias[: sizes.width // 2] = DEAD_BIAS
        model.layers[0].set_weights([kernel, bias])
        clock = _EpochClock()
        model.fit(xb, yb, batch_size=sizes.batch, epochs=sizes.denormal_epochs, verbose=0, callbacks=[clock])
        state = [b.to_numpy(a) for a in model.optimizer.state(model.trainable_variables)]
    rates = [sizes.samples / s for s in clock.seconds]
    return (summarize(f"{_label(backend)}, first epochs", rates[:2]),
            summarize(f"{_label(backend)}, last epochs", rates[-2:]),
            count_denormals(state))


def count_denormals(arrays: list[np.ndarray]) -> int:
    """How many non-zero entries of ``arrays`` lie below their dtype's smallest normal number."""
    total = 0
    for a in arrays:
        magnitude = np.abs(a)
        total += int(np.count_nonzero((magnitude > 0) & (magnitude < np.finfo(a.dtype).smallest_normal)))
    return total
