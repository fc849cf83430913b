"""LambdaCallback: a callback made of functions, Keras's."""

from __future__ import annotations

from typing import Callable

from deepcore.callbacks.base import HOOKS, Callback


class LambdaCallback(Callback):
    """Each function given becomes that hook of this callback, called as Keras calls it:
    ``on_epoch_begin(epoch, logs)``, ``on_train_batch_end(batch, logs)``, ``on_train_begin(logs)``...
    Hooks beyond the six named arguments (``on_test_begin=``, ``on_predict_batch_end=``...) are
    taken as keyword arguments; an unknown hook name is an error::

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None, on_train_batch_end: Callable | None = None,
                 **other_hooks: Callable):
        super().__init__()
        unknown = sorted(set(other_hooks) - set(HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook(s) {unknown}; the hooks are {HOOKS}.")
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end, "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end, **other_hooks}
        for name, function in hooks.items():
            if function is not None:
                setattr(self, name, function)
