"""Process-wide numeric settings: the default float type and the fuzz factor."""

_FLOATX = "float32"
_VALID_FLOATX = ("float32", "float64")
_EPSILON = 1e-7


def floatx() -> str:
    """The default float type of weights and inputs, ``"float32"`` unless changed."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type (``"float32"`` or ``"float64"``) for new weights and inputs."""
    global _FLOATX
    if value not in _VALID_FLOATX:
        raise ValueError(f"Unknown floatx {value!r}; expected one of {_VALID_FLOATX}.")
    _FLOATX = value


def epsilon() -> float:
    """The fuzz factor Keras uses to clip probabilities (1e-7)."""
    return _EPSILON
