"""Reading and setting an optimizer's learning rate from a callback."""

from __future__ import annotations

from deepcore.optimizers.schedules import LearningRateSchedule


def get_learning_rate(optimizer) -> float:
    """The rate the next step will use (a schedule is evaluated at the step counter)."""
    return optimizer.current_learning_rate


def set_learning_rate(optimizer, value: float) -> None:
    """Replace a constant learning rate; a schedule's rate cannot be set, as in Keras."""
    if isinstance(optimizer.learning_rate, LearningRateSchedule) or callable(optimizer.learning_rate):
        raise TypeError(
            f"The optimizer {optimizer.name!r} was created with a schedule as its learning_rate "
            f"({optimizer.learning_rate!r}), so its learning rate cannot be set by a callback. "
            "Create the optimizer with a float learning_rate to use LearningRateScheduler or "
            "ReduceLROnPlateau, or drop the callback and let the schedule drive the rate."
        )
    optimizer.learning_rate = float(value)
