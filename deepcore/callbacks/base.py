"""The callback protocol (Keras's hook names) and the list that dispatches to callbacks."""

from __future__ import annotations

from typing import Any


class Callback:
    """Base class: override the hooks you need. ``self.model`` is set before training starts.

    Batch hooks receive ``logs`` whose values may be device scalars: convert with ``float()``
    only when you need the number, since each conversion waits for the device.
    """

    # Callbacks that write files or print run on rank 0 only in data-parallel training.
    main_rank_only = False

    def __init__(self):
        self.model: Any = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls each hook on every callback, skipping hooks no callback overrides (batch hooks
    sit in the hot loop)."""

    def __init__(self, callbacks: list[Callback], model, params: dict):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)
        for hook in HOOKS:
            bound = [getattr(c, hook) for c in self.callbacks
                     if getattr(type(c), hook) is not getattr(Callback, hook) or hook in vars(c)]  # or set per instance
            setattr(self, hook, _dispatch(bound))


def _dispatch(bound: list):
    if not bound:
        return _nothing

    def call(*args, **kwargs):
        for hook in bound:
            hook(*args, **kwargs)

    return call


def _nothing(*args, **kwargs):
    return None
