from deepcore.callbacks.learning_rate import get_learning_rate, set_learning_rate
from deepcore.callbacks.monitor import MonitorCallback


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the optimizer's learning rate by ``factor`` when ``monitor`` has not improved
    (by more than ``min_delta``) for ``patience`` epochs; never below ``min_lr``. After a
    reduction, ``cooldown`` epochs pass before the wait counts again. Each epoch's logs get a
    ``learning_rate`` entry (the rate used during that epoch), as in Keras 3.

    ``mode="auto"`` maximizes accuracy-like names and minimizes everything else, as Keras's
    ReduceLROnPlateau does.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0):
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received: factor={factor}. "
                "Use a factor in (0, 1), e.g. factor=0.1."
            )
        super().__init__(monitor, mode, min_delta, fallback_direction="min")
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.best = float("inf") if self.direction == "min" else float("-inf")
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = get_learning_rate(optimizer)
        current = self._monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        old_lr = get_learning_rate(optimizer)
        if self.wait >= self.patience and old_lr > self.min_lr:
            new_lr = max(old_lr * self.factor, self.min_lr)
            set_learning_rate(optimizer, new_lr)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.",
                      flush=True)
            self.cooldown_counter = self.cooldown
            self.wait = 0
