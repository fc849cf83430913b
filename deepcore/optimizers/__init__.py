"""Optimizers with Keras 3 names, defaults and update formulas (each in its class docstring)."""

from deepcore.identifiers import resolve
from deepcore.optimizers import schedules
from deepcore.optimizers.adadelta import Adadelta
from deepcore.optimizers.adagrad import Adagrad
from deepcore.optimizers.adam import Adam, AdamW
from deepcore.optimizers.adamax import Adamax
from deepcore.optimizers.base import Optimizer
from deepcore.optimizers.lamb import Lamb
from deepcore.optimizers.lion import Lion
from deepcore.optimizers.nadam import Nadam
from deepcore.optimizers.rmsprop import RMSprop
from deepcore.optimizers.sgd import SGD

# Keras accepts both the snake-case name ("adam") and the class name ("Adam").
_CLASSES = (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam, Adadelta, Lion, Lamb)
_BY_NAME = {name: cls for cls in _CLASSES for name in (cls.__name__, cls.__name__.lower())}


def get(identifier: "str | Optimizer | dict") -> Optimizer:
    """Resolve an optimizer name, a ``{"class_name", "config"}`` dict or an instance."""
    return resolve(identifier, Optimizer, _BY_NAME, "optimizer", "optimizers")


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


__all__ = ["schedules", "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "Nadam", "Adadelta",
           "Lion", "Lamb", "get", "serialize"]
