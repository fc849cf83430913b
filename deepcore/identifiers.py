"""Keras's ``get``: a name, a ``{"class_name", "config"}`` dict or an instance -> an object.

Losses, optimizers and initializers resolve their identifiers here, so every kind accepts the
same forms and an unknown name always lists the valid ones.
"""

from __future__ import annotations

import re
from typing import Any


def snake_case(name: str) -> str:
    """``MaxPooling2D`` -> ``max_pooling2d``, ``SimpleRNN`` -> ``simple_rnn`` (Keras's names)."""
    return re.sub(r"(?<=[a-z])([A-Z])|(?<=[A-Z])([A-Z][a-z])", r"_\1\2", name).lower()


def lookup(name: str, by_name: dict[str, type], kind: str, kinds: str) -> type:
    """The class registered under ``name`` or, for a Keras class name (``"GlorotUniform"``,
    as Keras's configs write them), under its snake-case form; else a ValueError listing the
    valid names."""
    cls = by_name.get(name) or by_name.get(snake_case(name))
    if cls is None:
        raise ValueError(f"Unknown {kind} {name!r}. Valid {kinds}: {', '.join(sorted(by_name))}.")
    return cls


def resolve(identifier: Any, base: type, by_name: dict[str, type], kind: str, kinds: str) -> Any:
    """An instance of ``base`` as it is; a name -> its class with default arguments; a
    ``{"class_name", "config"}`` dict -> ``from_config(config)``."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, dict):
        cls = lookup(identifier["class_name"], by_name, kind, kinds)
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return lookup(identifier, by_name, kind, kinds)()
    raise TypeError(
        f"Cannot interpret {identifier!r} as a {kind}; pass a name or a {base.__module__}.{base.__qualname__}."
    )
