"""Activation functions, each with its derivative written next to it.

Every activation is an `ActivationFunction`: calling it returns the value, as in Keras
(``dc.activations.relu(x)``); ``.forward(x)`` returns ``(y, backprop)`` where
``backprop(dy) -> dx`` has the shape of ``x``. Elementwise unless stated; array-API code only.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

from deepcore.backend import array_device, array_namespace
from deepcore.registry import get_backend
from deepcore.special import erf


class ActivationFunction:
    """A named activation; its forward returns ``(y, backprop)``."""

    def __init__(self, name: str, forward: Callable[..., tuple[Any, Callable]]):
        self.name = name
        self.forward = forward
        self.forward_with_bias: Callable[[Any, Any], tuple[Any, Callable]] | None = None
        self.__doc__ = forward.__doc__

    def forward_biased(self, z, bias) -> tuple[Any, Callable]:
        """``forward(z + bias)`` (``bias`` None: ``forward(z)``) for a layer's own new ``z``,
        which this may overwrite; an activation may fuse the sum into its own pass."""
        if self.forward_with_bias is not None:
            return self.forward_with_bias(z, bias)
        if bias is not None:
            z += bias
        return self.forward(z)

    def __call__(self, x, **kwargs):
        return self.forward(x, **kwargs)[0]

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


_REGISTRY: dict[str, ActivationFunction] = {}


def _activation(*names: str):
    def register(forward):
        function = ActivationFunction(names[0], forward)
        for name in names:
            _REGISTRY[name] = function
        return function

    return register


def _stable_sigmoid(xp, x):
    # 1 / (1 + exp(-x)), with x raised to at least ln(smallest normal number) (-87 in float32,
    # -708 in float64): exp never overflows (no warning), the result never becomes a denormal
    # (up to ~15x slower arithmetic on x86), and above that bound it keeps full relative
    # accuracy (max 2.4e-7 in float32). One exp and no where(): 3-9x faster in NumPy than
    # exp(-|x|) with a where() on the sign (measured on (64, 128) to (128, 512) float32).
    return 1.0 / (1.0 + xp.exp(-xp.maximum(x, sigmoid_floor(xp, x.dtype))))


@functools.lru_cache(maxsize=None)
def sigmoid_floor(xp, dtype) -> float:
    """ceil(ln(smallest normal)) of ``dtype``: -87.0 for float32, -708.0 for float64. The
    sigmoid raises its input to this bound (fused fast paths must do the same)."""
    return float(math.ceil(math.log(xp.finfo(dtype).smallest_normal)))


@_activation("linear")
def linear(x):
    """y = x."""
    return x, lambda dy: dy


@_activation("relu")
def relu(x, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0):
    """y = max(x, 0). Keras's options: values at or below ``threshold`` become 0, ``max_value``
    caps the result (and then also floors it at 0), and below ``threshold`` ``negative_slope *
    (x - threshold)`` is added."""
    xp = array_namespace(x)
    if not negative_slope and max_value is None and not threshold:
        # dy times the 0/1 mask rather than where(x > 0, dy, 0): branch-free, ~10x faster in
        # NumPy on the random masks of real activations (NumPy with Numba: one compiled pass).
        # y > 0 exactly where x > 0, so the backward needs only the output.
        y = xp.maximum(x, 0.0)
        return y, lambda dy: get_backend().relu_gradient(dy, y)
    slope = xp.astype(x > threshold, x.dtype)  # dy/dx, built up term by term
    y = x * slope
    if max_value is not None:
        slope = slope * xp.astype((y >= 0.0) & (y <= max_value), x.dtype)
        y = xp.clip(y, 0.0, float(max_value))
    if negative_slope:
        below = xp.astype(x < threshold, x.dtype)
        y = y + negative_slope * (x - threshold) * below
        slope = slope + negative_slope * below
    return y, lambda dy: dy * slope


def _relu_of_sum(z, bias):
    """ReLU of ``z + bias``, both in one pass where the backend can (in place in ``z``)."""
    backend = get_backend()
    y = backend.bias_relu(z, bias)
    return y, lambda dy: backend.relu_gradient(dy, y)


relu.forward_with_bias = _relu_of_sum


@_activation("relu6")
def relu6(x):
    """y = min(max(x, 0), 6)."""
    xp = array_namespace(x)
    return xp.clip(x, 0.0, 6.0), lambda dy: xp.where((x > 0) & (x < 6), dy, 0.0)


@_activation("leaky_relu")
def leaky_relu(x, negative_slope: float = 0.2):
    """y = x for x > 0, else negative_slope * x (Keras 3 default slope 0.2)."""
    xp = array_namespace(x)
    positive = x > 0
    return (
        xp.where(positive, x, negative_slope * x),
        lambda dy: xp.where(positive, dy, negative_slope * dy),
    )


@_activation("elu")
def elu(x, alpha: float = 1.0):
    """y = x for x > 0, else alpha * (exp(x) - 1)."""
    xp = array_namespace(x)
    positive = x > 0
    y = xp.where(positive, x, alpha * xp.expm1(xp.minimum(x, 0.0)))
    return y, lambda dy: xp.where(positive, dy, dy * (y + alpha))


SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


@_activation("selu")
def selu(x):
    """y = scale * elu(x, alpha) with the self-normalising constants of Klambauer et al."""
    y, elu_backprop = elu.forward(x, alpha=SELU_ALPHA)
    return SELU_SCALE * y, lambda dy: elu_backprop(SELU_SCALE * dy)


@_activation("sigmoid")
def sigmoid(x):
    """y = 1 / (1 + exp(-x)), computed without overflow."""
    y = _stable_sigmoid(array_namespace(x), x)
    return y, lambda dy: dy * y * (1.0 - y)


@_activation("hard_sigmoid")
def hard_sigmoid(x):
    """y = relu6(x + 3) / 6, as Keras 3."""
    xp = array_namespace(x)
    return (
        xp.clip(x / 6.0 + 0.5, 0.0, 1.0),
        lambda dy: xp.where((x > -3.0) & (x < 3.0), dy / 6.0, 0.0),
    )


@_activation("silu", "swish")
def silu(x):
    """y = x * sigmoid(x)."""
    s = _stable_sigmoid(array_namespace(x), x)
    return x * s, lambda dy: dy * (s * (1.0 + x * (1.0 - s)))


@_activation("tanh")
def tanh(x):
    """y = tanh(x)."""
    y = array_namespace(x).tanh(x)
    return y, lambda dy: dy * (1.0 - y * y)


@_activation("softplus")
def softplus(x):
    """y = log(1 + exp(x)), as log1p(exp(-|x|)) + max(x, 0) so large |x| stays finite."""
    xp = array_namespace(x)
    y = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(x, 0.0)
    return y, lambda dy: dy * _stable_sigmoid(xp, x)


@_activation("softsign")
def softsign(x):
    """y = x / (1 + |x|)."""
    xp = array_namespace(x)
    denominator = 1.0 + xp.abs(x)
    return x / denominator, lambda dy: dy / (denominator * denominator)


@_activation("exponential")
def exponential(x):
    """y = exp(x)."""
    y = array_namespace(x).exp(x)
    return y, lambda dy: dy * y


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@_activation("gelu")
def gelu(x, approximate: bool = False):
    """Gaussian error linear unit; Keras 3 defaults to the exact form.

    exact: y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2));
    approximate: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    """
    xp = array_namespace(x)
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        t = xp.tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)
        return (
            0.5 * x * (1.0 + t),
            lambda dy: dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner),
        )
    cdf = 0.5 * (1.0 + erf(x * _INV_SQRT_2))
    pdf = _INV_SQRT_2PI * xp.exp(-0.5 * x * x)
    return x * cdf, lambda dy: dy * (cdf + x * pdf)


@_activation("softmax")
def softmax(x, axis: int = -1):
    """y = exp(x) / sum(exp(x)) along ``axis``, shifted by the max for stability."""
    xp = array_namespace(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    y = e / xp.sum(e, axis=axis, keepdims=True)
    return y, lambda dy: y * (dy - xp.sum(dy * y, axis=axis, keepdims=True))


@_activation("log_softmax")
def log_softmax(x, axis: int = -1):
    """y = x - logsumexp(x) along ``axis``."""
    xp = array_namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
    return y, lambda dy: dy - xp.exp(y) * xp.sum(dy, axis=axis, keepdims=True)


@_activation("glu")
def glu(x, axis: int = -1):
    """Gated linear unit: ``x`` split in halves ``a, b`` along ``axis`` (of even size), ``y = a *
    sigmoid(b)``, half as long along ``axis``."""
    xp = array_namespace(x)
    size = x.shape[axis]
    if size % 2:
        raise ValueError(f"glu splits axis {axis} in halves; its size must be even. Received shape {tuple(x.shape)}.")
    before = (slice(None),) * (axis % x.ndim)
    a, b = x[(*before, slice(0, size // 2), ...)], x[(*before, slice(size // 2, size), ...)]
    s = _stable_sigmoid(xp, b)
    return a * s, lambda dy: xp.concat([dy * s, dy * a * s * (1.0 - s)], axis=axis)


@_activation("sparsemax")
def sparsemax(x, axis: int = -1):
    """The Euclidean projection of ``x`` onto the probability simplex along ``axis`` (Martins &
    Astudillo): ``y = max(x - tau, 0)`` with ``tau`` making each slice sum to 1; sparse where
    softmax is not. Keras's formula as fixed in keras-team/keras#23469: Keras 3.15 sums the
    cumulative sums over the support, and its slices do not sum to 1 (#23425)."""
    xp = array_namespace(x)
    ordered = xp.sort(x, axis=axis, descending=True)
    cumulative = xp.cumulative_sum(ordered, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    ranks = xp.reshape(xp.arange(1, x.shape[axis] + 1, dtype=x.dtype, device=array_device(x)), tuple(shape))
    support = ordered - (cumulative - 1.0) / ranks > 0
    count = xp.sum(xp.astype(support, x.dtype), axis=axis, keepdims=True)
    tau = (xp.sum(xp.where(support, ordered, 0.0), axis=axis, keepdims=True) - 1.0) / count
    y = xp.maximum(x - tau, 0.0)

    def backprop(dy):
        kept = xp.astype(y > 0, dy.dtype)
        return kept * (dy - xp.sum(dy * kept, axis=axis, keepdims=True) / xp.sum(kept, axis=axis, keepdims=True))

    return y, backprop


@_activation("celu")
def celu(x, alpha: float = 1.0):
    """y = max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)."""
    xp = array_namespace(x)
    below = xp.minimum(x, 0.0) / alpha
    y = xp.maximum(x, 0.0) + alpha * xp.expm1(below)
    return y, lambda dy: xp.where(x > 0, dy, dy * xp.exp(below))


@_activation("mish")
def mish(x):
    """y = x * tanh(softplus(x))."""
    xp = array_namespace(x)
    t = xp.tanh(softplus(x))
    return x * t, lambda dy: dy * (t + x * (1.0 - t * t) * _stable_sigmoid(xp, x))


@_activation("log_sigmoid")
def log_sigmoid(x):
    """y = log(sigmoid(x)) = -softplus(-x)."""
    y, softplus_backprop = softplus.forward(-x)
    return -y, softplus_backprop  # d(-softplus(-x))/dx = softplus'(-x)


@_activation("hard_silu", "hard_swish")
def hard_silu(x):
    """y = x * hard_sigmoid(x) (MobileNetV3's hard swish)."""
    h, hard_sigmoid_backprop = hard_sigmoid.forward(x)
    return x * h, lambda dy: dy * h + hard_sigmoid_backprop(dy * x)


@_activation("hard_tanh")
def hard_tanh(x):
    """y = clip(x, -1, 1)."""
    xp = array_namespace(x)
    return xp.clip(x, -1.0, 1.0), lambda dy: xp.where((x > -1.0) & (x < 1.0), dy, 0.0)


@_activation("tanh_shrink")
def tanh_shrink(x):
    """y = x - tanh(x)."""
    t = array_namespace(x).tanh(x)
    return x - t, lambda dy: dy * (t * t)


@_activation("soft_shrink")
def soft_shrink(x, threshold: float = 0.5):
    """y = x - threshold above threshold, x + threshold below -threshold, else 0."""
    xp = array_namespace(x)
    outside = xp.abs(x) > threshold
    y = xp.where(x > threshold, x - threshold, xp.where(x < -threshold, x + threshold, 0.0))
    return y, lambda dy: xp.where(outside, dy, 0.0)


@_activation("hard_shrink")
def hard_shrink(x, threshold: float = 0.5):
    """y = x where |x| > threshold, else 0."""
    xp = array_namespace(x)
    outside = xp.abs(x) > threshold
    return xp.where(outside, x, 0.0), lambda dy: xp.where(outside, dy, 0.0)


@_activation("sparse_plus")
def sparse_plus(x):
    """y = 0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1."""
    xp = array_namespace(x)
    inside = (x > -1.0) & (x < 1.0)
    y = xp.where(x <= -1.0, 0.0, xp.where(inside, 0.25 * (x + 1.0) ** 2, x))
    return y, lambda dy: xp.where(inside, dy * (0.5 * (x + 1.0)), xp.where(x >= 1.0, dy, 0.0))


@_activation("sparse_sigmoid")
def sparse_sigmoid(x):
    """y = 0 for x <= -1, 1 for x >= 1, (x + 1) / 2 between."""
    xp = array_namespace(x)
    inside = (x > -1.0) & (x < 1.0)
    y = xp.where(x <= -1.0, 0.0, xp.where(x >= 1.0, 1.0, 0.5 * (x + 1.0)))
    return y, lambda dy: xp.where(inside, 0.5 * dy, 0.0)


@_activation("squareplus")
def squareplus(x, b: float = 4.0):
    """y = (x + sqrt(x^2 + b)) / 2, a smooth ReLU."""
    root = array_namespace(x).sqrt(x * x + b)
    return (x + root) / 2.0, lambda dy: dy * (0.5 * (1.0 + x / root))


def get(identifier: str | ActivationFunction | None) -> ActivationFunction:
    """Resolve an activation name (or None, meaning linear) to its function."""
    if identifier is None:
        return linear
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            raise ValueError(
                f"Unknown activation {identifier!r}. Valid activations: {', '.join(sorted(_REGISTRY))}."
            )
        return _REGISTRY[identifier]
    raise TypeError(
        "An activation must be a name or a deepcore.activations.ActivationFunction (which "
        f"carries its derivative); received {identifier!r}."
    )


def serialize(activation: ActivationFunction) -> str:
    return activation.name


def names() -> list[str]:
    return sorted(_REGISTRY)
