"""SwapEMAWeights: evaluate (and optionally checkpoint) with the optimizer's moving averages."""

from __future__ import annotations

from deepcore.backend import array_namespace
from deepcore.callbacks.base import Callback


class SwapEMAWeights(Callback):
    """With an optimizer built with ``use_ema=True``: the model holds the moving averages of
    its weights during evaluation and prediction (validation included), the trained weights
    otherwise, as Keras. ``swap_on_epoch=True`` also keeps the averages in the model between
    epochs, so callbacks after this one (e.g. ModelCheckpoint) see and save them."""

    def __init__(self, swap_on_epoch: bool = False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._averages_in_model = False

    def _swap(self) -> None:
        optimizer = self.model.optimizer
        if optimizer is None or not optimizer.use_ema:
            raise ValueError("SwapEMAWeights needs an optimizer with use_ema=True, "
                             "e.g. compile(optimizer=dc.optimizers.Adam(use_ema=True)).")
        for variable in self.model.trainable_variables:
            average = optimizer.slots_for(variable)["average"]
            weights = array_namespace(average).asarray(variable.value, copy=True)
            variable.value[...] = average  # in place: values and averages may be views of flat groups
            average[...] = weights
        self._averages_in_model = not self._averages_in_model

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._averages_in_model:
            self._swap()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._averages_in_model:
            self._swap()
            if epoch == self.params["epochs"] - 1:  # fit's final step sets the weights to the "averages":
                for variable in self.model.trainable_variables:  # let those be the averages again
                    self.model.optimizer.slots_for(variable)["average"][...] = variable.value

    def on_test_begin(self, logs=None):
        if not self._averages_in_model:
            self._swap()

    def on_test_end(self, logs=None):
        if self._averages_in_model:
            self._swap()

    on_predict_begin = on_test_begin
    on_predict_end = on_test_end
