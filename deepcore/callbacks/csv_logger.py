from __future__ import annotations

import csv
import os

from deepcore.callbacks.base import Callback


class CSVLogger(Callback):
    """Write one row per epoch to ``filename``: the 0-based ``epoch``, then the logs' keys in
    sorted order (``loss``, metrics, ``val_*``...), as Keras 3.

    ``append=True`` continues an existing file (writing the header only if it is empty),
    e.g. when resuming training with ``initial_epoch``.
    """

    main_rank_only = True

    def __init__(self, filename: "str | os.PathLike", separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self.writer = None
        self.csv_file = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        self._write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as existing:
                self._write_header = not existing.readline()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.writer is None:
            self.keys = sorted(logs)
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys],
                                         delimiter=self.sep)
            if self._write_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
            self.csv_file = None
        self.writer = None
