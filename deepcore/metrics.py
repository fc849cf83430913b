"""Metrics that accumulate on the device and are read once, when `result()` is asked for.

Each metric turns a batch into per-sample values (`values(y_true, y_pred) -> (batch,)`) and
keeps a running weighted sum on the device, so training never waits on the host per batch.
"""

from __future__ import annotations

import math
from typing import Any

from deepcore.backend import array_namespace
from deepcore.losses import align_targets, weights_like


class Metric:
    """A running (weighted) mean of per-sample values."""

    sparse = False

    def __init__(self, name: str | None = None):
        self.name = name or _NAME_OF.get(type(self), type(self).__name__.lower())
        self.reset_state()

    def values(self, y_true, y_pred) -> Any:
        raise NotImplementedError

    def reset_state(self) -> None:
        self.total: Any = 0.0
        self.count: Any = 0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        xp = array_namespace(y_pred)
        values = self.values(align_targets(y_true, y_pred, self.sparse), y_pred)
        if sample_weight is None:
            self.total = self.total + xp.sum(values)
            self.count += math.prod(values.shape)  # (batch, timesteps) values: every entry counts
        else:
            weights = xp.broadcast_to(weights_like(xp, sample_weight, values), values.shape)
            self.total = self.total + xp.sum(values * weights)
            self.count = self.count + xp.sum(weights)

    def result(self) -> float:
        """The mean so far, as a Python float (this reads the device once)."""
        count = float(self.count)
        return float(self.total) / count if count else 0.0

    def get_config(self) -> dict:
        return {"name": self.name}


class Mean(Metric):
    """The weighted mean of whatever is passed as ``y_pred`` (used to track the loss)."""

    def update_state(self, values, sample_weight=None) -> None:  # type: ignore[override]
        if sample_weight is None:
            self.total = self.total + values
            self.count += 1
        else:
            self.total = self.total + values * sample_weight
            self.count = self.count + sample_weight


class BinaryAccuracy(Metric):
    """Fraction of outputs with (y_pred > threshold) == y_true."""

    def __init__(self, name=None, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name)

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        hits = xp.astype(xp.astype(y_pred > self.threshold, y_pred.dtype) == y_true, y_pred.dtype)
        return xp.mean(hits, axis=-1)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """Fraction of samples whose arg-max prediction is the arg-max of the one-hot target."""

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        return xp.astype(xp.argmax(y_true, axis=-1) == xp.argmax(y_pred, axis=-1), y_pred.dtype)


class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose arg-max prediction equals the integer target."""

    sparse = True

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        hits = xp.astype(y_true, xp.int64) == xp.argmax(y_pred, axis=-1)
        return xp.astype(hits, y_pred.dtype)


class MeanSquaredError(Metric):
    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        error = y_pred - y_true
        return xp.mean(error * error, axis=-1)


class MeanAbsoluteError(Metric):
    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        return xp.mean(xp.abs(y_pred - y_true), axis=-1)


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
}
_NAME_OF = {
    BinaryAccuracy: "binary_accuracy", CategoricalAccuracy: "categorical_accuracy",
    SparseCategoricalAccuracy: "sparse_categorical_accuracy",
    MeanSquaredError: "mean_squared_error", MeanAbsoluteError: "mean_absolute_error", Mean: "mean",
}
_ACCURACY_FOR_LOSS = {
    "binary_crossentropy": BinaryAccuracy,
    "categorical_crossentropy": CategoricalAccuracy,
    "sparse_categorical_crossentropy": SparseCategoricalAccuracy,
}


def get(identifier: str | Metric, loss_name: str | None = None) -> Metric:
    """Resolve a metric. ``"accuracy"``/``"acc"`` picks the accuracy that fits the loss, as Keras."""
    if isinstance(identifier, Metric):
        return identifier
    if identifier in ("accuracy", "acc"):
        cls = _ACCURACY_FOR_LOSS.get(loss_name or "", CategoricalAccuracy)
        return cls(name=identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            valid = ", ".join(sorted(_BY_NAME) + ["accuracy"])
            raise ValueError(f"Unknown metric {identifier!r}. Valid metrics: {valid}.")
        return cls(name=identifier)
    raise TypeError(f"Cannot interpret {identifier!r} as a metric.")
