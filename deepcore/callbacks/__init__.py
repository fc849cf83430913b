"""Callbacks with Keras names, hooks and arguments."""

from deepcore.callbacks.base import Callback, CallbackList
from deepcore.callbacks.history import History
from deepcore.callbacks.progbar import ProgbarLogger

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]
