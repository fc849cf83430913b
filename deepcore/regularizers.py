"""Weight penalties added to the loss (and their gradients), with Keras names and formulas."""

from __future__ import annotations

from deepcore.backend import array_namespace


class Regularizer:
    """``penalty(w) -> scalar`` and ``gradient(w) -> dpenalty/dw`` (shape of ``w``)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w):
        xp = array_namespace(w)
        penalty = 0.0
        if self.l1:
            penalty = penalty + self.l1 * xp.sum(xp.abs(w))
        if self.l2:
            penalty = penalty + self.l2 * xp.sum(w * w)
        return penalty

    def gradient(self, w):
        xp = array_namespace(w)
        grad = 0.0
        if self.l1:
            grad = grad + self.l1 * xp.sign(w)
        if self.l2:
            grad = grad + (2.0 * self.l2) * w
        return grad

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


def l1(l1: float = 0.01) -> Regularizer:
    """penalty = l1 * sum(|w|)."""
    return Regularizer(l1=l1)


def l2(l2: float = 0.01) -> Regularizer:
    """penalty = l2 * sum(w^2)."""
    return Regularizer(l2=l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> Regularizer:
    """penalty = l1 * sum(|w|) + l2 * sum(w^2)."""
    return Regularizer(l1=l1, l2=l2)


L1, L2, L1L2 = l1, l2, l1_l2


def get(identifier) -> Regularizer | None:
    """None, a Regularizer, a name (``"l1"``, ``"l2"``, ``"l1_l2"``) or a config dict."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return Regularizer(**identifier.get("config", identifier))
    factories = {"l1": l1, "l2": l2, "l1_l2": l1_l2}
    if identifier in factories:
        return factories[identifier]()
    raise ValueError(f"Unknown regularizer {identifier!r}. Valid regularizers: l1, l2, l1_l2.")


def serialize(regularizer: Regularizer | None) -> dict | None:
    return None if regularizer is None else {"class_name": "Regularizer", "config": regularizer.get_config()}
