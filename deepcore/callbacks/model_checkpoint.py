from __future__ import annotations

import os

from deepcore.callbacks.monitor import MonitorCallback
from deepcore.callbacks.save_frequency import SaveFrequency


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save(path)``) or its weights (``model.save_weights(path)``)
    after every epoch, or every ``save_freq`` batches when ``save_freq`` is an integer.

    ``filepath`` may hold ``str.format`` fields filled with the 1-based ``epoch`` (and
    ``batch``, when saving by batch) and the logs' keys, e.g.
    ``"ckpt/{epoch:02d}-{val_loss:.2f}.deepcore"``; missing folders are created.

    ``save_best_only=True`` saves only when ``monitor`` improves on the best value so far
    (starting from ``initial_value_threshold`` when given); with a fixed ``filepath`` the file
    then always holds the best model. Saving by batch reads the batch logs from the device.
    """

    main_rank_only = True

    def __init__(self, filepath: "str | os.PathLike", monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: "str | int" = "epoch", initial_value_threshold: float | None = None):
        super().__init__(monitor, mode)
        self._frequency = SaveFrequency(save_freq)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._frequency.batch_due():
            host_logs = {key: float(value) for key, value in (logs or {}).items()}
            self._save(self._epoch, batch, host_logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._frequency.by_epoch:
            self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch: int | None, logs: dict) -> None:
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)

    def _should_save(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}", flush=True)
            return True
        current = self._monitor_value(logs)
        if current is None:
            return True  # as Keras: without the monitored value, save every time
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {filepath}", flush=True)
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}", flush=True)
        return False

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = {"epoch": epoch + 1, **logs}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(
                f"Failed to format the ModelCheckpoint filepath {self.filepath!r}: {error} is not "
                f"available. Fields: {', '.join(fields)}."
            ) from None
