"""When a saving callback saves: after every epoch, or every ``save_freq`` batches (Keras)."""

from __future__ import annotations


class SaveFrequency:
    """``"epoch"`` or a positive number of batches, counted across epochs."""

    def __init__(self, save_freq: "str | int"):
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or a positive integer "
                "(a number of batches)."
            )
        self.save_freq = save_freq
        self._batches_since_save = 0

    @property
    def by_epoch(self) -> bool:
        return self.save_freq == "epoch"

    def batch_due(self) -> bool:
        """Count a finished batch: whether a save by batch count is due now."""
        if self.by_epoch:
            return False
        self._batches_since_save += 1
        if self._batches_since_save < self.save_freq:
            return False
        self._batches_since_save = 0
        return True
