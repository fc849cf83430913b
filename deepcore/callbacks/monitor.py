"""What EarlyStopping, ModelCheckpoint and ReduceLROnPlateau share: a monitored quantity, its
direction (``"min"`` or ``"max"``) and the improvement test with ``min_delta`` (Keras 3's
``MonitorCallback``)."""

from __future__ import annotations

import warnings

from deepcore.callbacks.base import Callback

# `mode="auto"` infers the direction from the name (after any "val_" prefix), as Keras does
# from its metrics' directions: accuracies and the like go up, losses and errors go down.
_UP = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2_score", "cosine_similarity")
_DOWN = ("error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence", "poisson")


def infer_direction(monitor: str, mode: str, fallback: str | None = None) -> str:
    """``"min"`` or ``"max"`` for ``monitor``; ``mode="auto"`` reads it from the name and uses
    ``fallback`` for names it cannot place (or raises when there is none)."""
    if mode in ("min", "max"):
        return mode
    name = monitor.removeprefix("val_")
    if "loss" in name:  # before the names below: "accuracy_loss" is a loss
        return "min"
    if any(word in name for word in _UP):
        return "max"
    if any(word in name for word in _DOWN):
        return "min"
    if fallback is not None:
        return fallback
    raise ValueError(
        f"Cannot tell whether monitor={monitor!r} should be maximized or minimized. Pass "
        "mode='max' to track its highest value or mode='min' to track its lowest."
    )


class MonitorCallback(Callback):
    """Base class for callbacks that track whether ``logs[monitor]`` improves."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0,
                 fallback_direction: str | None = None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode {mode!r} is unknown (expected 'auto', 'min' or "
                "'max'); falling back to 'auto'.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.direction = infer_direction(monitor, mode, fallback_direction)

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        """Better than ``reference`` by more than ``min_delta``; anything beats ``None``."""
        if reference is None:
            return True
        if self.direction == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def _monitor_value(self, logs: dict | None) -> float | None:
        """``logs[monitor]``, or ``None`` with a warning naming the available keys."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} is conditioned on {self.monitor!r}, which is not in the "
                f"logs. Available: {', '.join(logs or {}) or 'none'}. Pass validation data for "
                "'val_*' quantities, or compile the metric.",
                stacklevel=3,
            )
        return value
