"""BackupAndRestore: training that picks up where an interrupted run stopped, Keras's."""

from __future__ import annotations

import json
import os
import shutil

from deepcore.callbacks.base import Callback
from deepcore.callbacks.save_frequency import SaveFrequency


class BackupAndRestore(Callback):
    """Backs the training state up into ``backup_dir`` after every epoch (or every
    ``save_freq`` batches): the model with its optimizer state (``model.save``, written
    atomically) and the number of finished epochs. A later ``fit`` with this callback on the
    same model restores them and resumes at the next epoch (an epoch interrupted midway starts
    over), as Keras. A finished run deletes the backup unless ``delete_checkpoint=False``.

    ``double_checkpoint`` is accepted for Keras's sake: every write replaces the previous
    backup atomically, so an interrupted save never leaves a damaged one to fall back from.
    """

    # Every rank restores the backup (on a shared file system); only rank 0 writes it.
    main_rank_only = False

    def __init__(self, backup_dir: "str | os.PathLike", save_freq: "str | int" = "epoch",
                 double_checkpoint: bool = False, delete_checkpoint: bool = True):
        super().__init__()
        self._frequency = SaveFrequency(save_freq)
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.double_checkpoint, self.delete_checkpoint = save_freq, double_checkpoint, delete_checkpoint
        self._model_path = os.path.join(self.backup_dir, "latest.deepcore")
        self._metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._epoch = 0

    def on_train_begin(self, logs=None):
        from deepcore import saving

        if not (os.path.exists(self._model_path) and os.path.exists(self._metadata_path)):
            return
        saving.load_training_state(self.model, self._model_path)
        with open(self._metadata_path, encoding="utf-8") as file:
            self.model._resume_epoch = int(json.load(file)["epoch"])  # fit starts there

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._frequency.batch_due():
            self._back_up(self._epoch)  # an epoch cut short starts over

    def on_epoch_end(self, epoch, logs=None):
        if self._frequency.by_epoch:
            self._back_up(epoch + 1)

    def on_train_end(self, logs=None):
        from deepcore import distribution

        if self.delete_checkpoint and distribution.is_main() and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)

    def _back_up(self, finished_epochs: int) -> None:
        from deepcore import distribution
        from deepcore.saving import write_atomically

        if not distribution.is_main():
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        # The model first: a crash between the two writes repeats an epoch rather than skip one.
        self.model.save(self._model_path)
        write_atomically(self._metadata_path, json.dumps({"epoch": finished_epochs}).encode())
