"""Weight constraints, applied after every optimizer update (Keras's names and formulas).

A layer takes them as ``kernel_constraint=``, ``bias_constraint=`` (and ``recurrent_``,
``depthwise_``, ``embeddings_``, ``gamma_``, ``beta_`` for the weights of those names); the
optimizer replaces each constrained weight ``w`` by ``constraint(w)`` in place after its update.
Norms are taken along ``axis`` (Keras's default 0: for a Dense kernel ``(in, out)``, the
incoming weights of each unit), with Keras's fuzz factor 1e-7 in the denominators.
"""

from __future__ import annotations

from deepcore import config
from deepcore.backend import array_namespace


class Constraint:
    """``w -> constrained w`` of the same shape."""

    def __call__(self, w):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}


def _norms(w, axis):
    xp = array_namespace(w)
    return xp.sqrt(xp.sum(w * w, axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescales the weights whose norm along ``axis`` exceeds ``max_value`` down to it."""

    def __init__(self, max_value: float = 2.0, axis=0):
        self.max_value, self.axis = float(max_value), _axis(axis)

    def __call__(self, w):
        xp = array_namespace(w)
        norms = _norms(w, self.axis)
        return w * (xp.clip(norms, 0.0, self.max_value) / (config.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": _plain_axis(self.axis)}


class MinMaxNorm(Constraint):
    """Moves each norm along ``axis`` towards ``[min_value, max_value]``: to ``rate * clipped
    + (1 - rate) * norm`` (``rate=1``: into the interval at once)."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis=0):
        self.min_value, self.max_value, self.rate = float(min_value), float(max_value), float(rate)
        self.axis = _axis(axis)

    def __call__(self, w):
        xp = array_namespace(w)
        norms = _norms(w, self.axis)
        desired = self.rate * xp.clip(norms, self.min_value, self.max_value) + (1.0 - self.rate) * norms
        return w * (desired / (config.epsilon() + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": _plain_axis(self.axis)}


class NonNeg(Constraint):
    """Negative weights become zero."""

    def __call__(self, w):
        xp = array_namespace(w)
        return w * xp.astype(w >= 0.0, w.dtype)


class UnitNorm(Constraint):
    """Every norm along ``axis`` becomes 1."""

    def __init__(self, axis=0):
        self.axis = _axis(axis)

    def __call__(self, w):
        return w / (config.epsilon() + _norms(w, self.axis))

    def get_config(self):
        return {"axis": _plain_axis(self.axis)}


def _axis(axis):
    """An int, or a list/tuple of ints (JSON gives lists) as a tuple."""
    return axis if isinstance(axis, int) else tuple(axis)


def _plain_axis(axis):
    return axis if isinstance(axis, int) else list(axis)


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_CLASSES = {cls.__name__: cls for cls in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
_ALIASES = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm}


def get(identifier) -> Constraint | None:
    """None, a Constraint, a name (``"max_norm"``, ``"NonNeg"``...) or a config dict."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]](**identifier.get("config", {}))
    if isinstance(identifier, str) and (identifier in _CLASSES or identifier in _ALIASES):
        return (_CLASSES.get(identifier) or _ALIASES[identifier])()
    raise ValueError(
        f"Unknown constraint {identifier!r}. Valid constraints: {', '.join([*_ALIASES, *_CLASSES])}."
    )


def serialize(constraint: Constraint | None) -> dict | None:
    return None if constraint is None else {"class_name": type(constraint).__name__,
                                            "config": constraint.get_config()}
