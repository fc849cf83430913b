from __future__ import annotations

import inspect
import numbers
from typing import Callable

from deepcore.callbacks.base import Callback
from deepcore.callbacks.learning_rate import get_learning_rate, set_learning_rate


class LearningRateScheduler(Callback):
    """At the start of every epoch, set the learning rate to ``schedule(epoch, lr)`` (``epoch``
    0-based, ``lr`` the current rate) or ``schedule(epoch)`` for a one-argument function, as
    Keras. Each epoch's logs get a ``learning_rate`` entry.

    For a rate that changes every step, pass a schedule from `deepcore.optimizers.schedules`
    as the optimizer's ``learning_rate`` instead.
    """

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if _accepts_two_arguments(self.schedule):
            learning_rate = self.schedule(epoch, get_learning_rate(optimizer))
        else:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, numbers.Real) or isinstance(learning_rate, bool):
            raise ValueError(
                f"The output of the schedule function should be a float. Received: "
                f"{learning_rate!r} (type {type(learning_rate).__name__}) at epoch {epoch}."
            )
        set_learning_rate(optimizer, learning_rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(learning_rate)}.", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(self.model.optimizer)


def _accepts_two_arguments(function: Callable) -> bool:
    try:
        inspect.signature(function).bind(0, 0.0)
    except TypeError:
        return False
    return True
