"""Optimizers with Keras 3 names, defaults and update formulas (each in its class docstring)."""

from deepcore.optimizers import schedules
from deepcore.optimizers.adagrad import Adagrad
from deepcore.optimizers.adam import Adam, AdamW
from deepcore.optimizers.base import Optimizer
from deepcore.optimizers.rmsprop import RMSprop
from deepcore.optimizers.sgd import SGD

_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier: "str | Optimizer | dict") -> Optimizer:
    """Resolve an optimizer name, a ``{"class_name", "config"}`` dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return _lookup(identifier["class_name"]).from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return _lookup(identifier)()
    raise TypeError(f"Cannot interpret {identifier!r} as an optimizer.")


def _lookup(name: str) -> type[Optimizer]:
    cls = _BY_NAME.get(name.lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer {name!r}. Valid optimizers: {', '.join(sorted(_BY_NAME))}.")
    return cls


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


__all__ = ["schedules", "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "serialize"]
