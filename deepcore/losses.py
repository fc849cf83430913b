"""Loss functions with Keras 3 formulas, clipping and reductions, each with its gradient.

A `Loss` computes per-sample values with `per_sample(y_true, y_pred) -> (values, backprop)`
where ``backprop(dvalues) -> dy_pred``; `forward` reduces them to a scalar the Keras way
(``sum_over_batch_size``: sum of the weighted values / number of values) and returns
``(loss, backprop)`` with ``backprop() -> dL/dy_pred``. Probability inputs are clipped to
``[1e-7, 1 - 1e-7]``; ``from_logits=True`` uses the stable log-sum-exp forms.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import array_api_extra as xpx

from deepcore import activations, config
from deepcore.backend import array_namespace
from deepcore.identifiers import resolve


def align_targets(y_true, y_pred, sparse: bool = False):
    """Keras's squeeze-or-expand: ``(n,)`` targets meet ``(n, 1)`` predictions without broadcasting.

    For sparse targets the class axis is absent, so ``(n, 1)`` targets are squeezed to ``(n,)``.
    Dense targets take the predictions' dtype, as Keras converts them: float64 or integer labels
    then neither turn float32 results into float64 nor fail where integers and floats don't mix.
    """
    xp = array_namespace(y_true)
    if not sparse and y_true.dtype != y_pred.dtype:
        y_true = xp.astype(y_true, y_pred.dtype)
    expected_rank = y_pred.ndim - 1 if sparse else y_pred.ndim
    if y_true.ndim == expected_rank + 1 and y_true.shape[-1] == 1:
        return xp.reshape(y_true, y_true.shape[:-1])
    if not sparse and y_true.ndim == expected_rank - 1 and y_pred.shape[-1] == 1:
        return xp.reshape(y_true, (*y_true.shape, 1))  # expand_dims, without NumPy's ~5 us of checks
    return y_true


def _per_value(dvalues, xp):
    """Upstream gradient of per-sample values, broadcastable against the last axis."""
    return dvalues if isinstance(dvalues, float) else xp.reshape(dvalues, (*dvalues.shape, 1))


def weights_like(xp, sample_weight, values):
    """Sample weights (a number, ``(n,)``, ``(n, 1)``...) in the dtype of ``values`` and of a rank
    that broadcasts against them: Keras's squeeze-or-expand, so ``(n, 1)`` weights never turn
    ``(n,)`` values into ``(n, n)``."""
    if isinstance(sample_weight, (int, float)):
        return xp.full_like(values, sample_weight)
    weights = xp.astype(sample_weight, values.dtype)
    while weights.ndim > values.ndim and weights.shape[-1] == 1:
        weights = xp.reshape(weights, weights.shape[:-1])
    if weights.ndim > values.ndim:
        raise ValueError(
            f"sample_weight of shape {tuple(sample_weight.shape)} does not fit per-sample loss values "
            f"of shape {tuple(values.shape)}; pass one weight per sample, e.g. shape {tuple(values.shape)}."
        )
    return xp.reshape(weights, weights.shape + (1,) * (values.ndim - weights.ndim))


def mask_weights(mask, dtype, sample_weight=None, rescale: bool = False):
    """Keras 3's ``apply_mask``: an output mask (True: a real entry; e.g. ``(batch, timesteps)``)
    as weights of the mask's shape, times ``sample_weight`` if given. With ``rescale`` (the
    ``sum_over_batch_size`` reduction) the mask is scaled by entries / real entries, so the
    reduced loss is the (weighted) sum over the real entries divided by their count, and 0 when
    there are none."""
    xp = array_namespace(mask)
    weights = xp.astype(mask, dtype)
    if rescale:
        weights = weights * (math.prod(mask.shape) / xp.maximum(xp.sum(weights), 1.0))
    if sample_weight is not None:
        weights = weights * weights_like(xp, sample_weight, weights)
    return weights


class Loss:
    """Base class. Subclasses implement `per_sample`."""

    sparse = False

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "sum", "none"):
            raise ValueError(
                f"reduction must be 'sum_over_batch_size', 'sum' or 'none'; received {reduction!r}."
            )
        self.name = name or _NAME_OF.get(type(self), type(self).__name__)
        self.reduction = reduction

    def per_sample(self, y_true, y_pred) -> tuple[Any, Callable]:
        raise NotImplementedError

    def forward(self, y_true, y_pred, sample_weight=None, mask=None) -> tuple[Any, Callable[[], Any]]:
        """``(batch, ...)`` targets and predictions -> (scalar loss, backprop() -> dy_pred).

        ``mask`` (the model's output mask, shaped like the per-sample values, or None) weights
        the values as Keras 3 does (`mask_weights`): masked entries add nothing to the loss and
        get no gradient."""
        xp = array_namespace(y_pred)
        y_true = align_targets(y_true, y_pred, self.sparse)
        values, backprop = self.per_sample(y_true, y_pred)
        if self.reduction == "none":
            raise ValueError("forward() needs a scalar; reduction='none' is for __call__ only.")
        if mask is not None:
            sample_weight = mask_weights(mask, values.dtype, sample_weight,
                                         rescale=self.reduction == "sum_over_batch_size")
        # max(.., 1): a data-parallel rank's share of a short last batch may be empty.
        divisor = 1.0 if self.reduction == "sum" else float(max(math.prod(values.shape), 1))
        if sample_weight is None:
            loss = xp.sum(values) / divisor
            return loss, lambda: backprop(1.0 / divisor)
        weights = weights_like(xp, sample_weight, values)
        loss = xp.sum(values * weights) / divisor
        return loss, lambda: backprop(xp.broadcast_to(weights, values.shape) / divisor)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.reduction == "none":
            values = self.per_sample(align_targets(y_true, y_pred, self.sparse), y_pred)[0]
            if sample_weight is None:
                return values
            return values * weights_like(array_namespace(y_pred), sample_weight, values)
        return self.forward(y_true, y_pred, sample_weight)[0]

    def get_config(self) -> dict:
        config_ = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return config_

    @classmethod
    def from_config(cls, config_: dict) -> "Loss":
        return cls(**config_)


def _clip_probabilities(xp, p):
    eps = config.epsilon()
    # clip(p, lo, hi) is min(max(p, lo), hi); spelled out because array-api-compat's clip is a
    # Python wrapper costing more than the whole loss on small batches. Inside the bounds
    # exactly where clipping changed nothing (NaN: neither).
    clipped = xp.minimum(xp.maximum(p, eps), 1.0 - eps)
    return clipped, clipped == p


def _smoothed(y_true, smoothing: float, classes: int):
    """Keras's label smoothing: ``t (1 - s) + s / classes`` (classes = 2 for binary targets),
    ``t`` itself when ``s`` is 0."""
    return y_true * (1.0 - smoothing) + smoothing / classes if smoothing else y_true


def _mean_last(xp, values):
    """``(batch, ..., k) -> (batch, ...)``: the mean over the last axis, as sum / k (what
    NumPy's mean computes, without its Python-level overhead, 3.7 -> 2 us on small arrays);
    with k = 1 just the values, indexed (a view; NumPy's reshape function costs 1.2 us more)."""
    if values.shape[-1] == 1:
        return values[..., 0]
    return xp.sum(values, axis=-1) / values.shape[-1]


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)^2, axis=-1)."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        error = y_pred - y_true
        scale = 2.0 / y_pred.shape[-1]
        return _mean_last(xp, error * error), lambda d: (scale * error) * _per_value(d, xp)


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|, axis=-1)."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        error = y_pred - y_true
        scale = 1.0 / y_pred.shape[-1]
        return _mean_last(xp, xp.abs(error)), lambda d: (scale * xp.sign(error)) * _per_value(d, xp)


class Huber(Loss):
    """mean(0.5 e^2 if |e| <= delta else delta (|e| - 0.5 delta), axis=-1), e = y_pred - y_true."""

    def __init__(self, delta: float = 1.0, name=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.delta = delta

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        error = y_pred - y_true
        small = xp.abs(error) <= self.delta
        values = xp.where(small, 0.5 * error * error, self.delta * (xp.abs(error) - 0.5 * self.delta))
        scale = 1.0 / y_pred.shape[-1]
        clipped = xp.where(small, error, self.delta * xp.sign(error))
        return _mean_last(xp, values), lambda d: (scale * clipped) * _per_value(d, xp)


def _hinge_labels(xp, y_true):
    """Keras's rule: when every label is 0 or 1 they become -1/1 (labels such as -1/0/1 are
    used as given)."""
    binary = xp.all((y_true == 0) | (y_true == 1))  # a 0-d array: no wait for the device
    return xp.where(binary, 2.0 * y_true - 1.0, y_true)


class Hinge(Loss):
    """mean(max(1 - y_true * y_pred, 0), axis=-1), labels as `_hinge_labels`."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        signed = _hinge_labels(xp, y_true)
        margin = 1.0 - signed * y_pred
        scale = 1.0 / y_pred.shape[-1]
        return (
            _mean_last(xp, xp.maximum(margin, 0.0)),
            lambda d: xp.where(margin > 0, -scale * signed, 0.0) * _per_value(d, xp),
        )


class SquaredHinge(Loss):
    """mean(max(1 - y_true * y_pred, 0)^2, axis=-1), labels as `_hinge_labels`."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        signed = _hinge_labels(xp, y_true)
        positive = xp.maximum(1.0 - signed * y_pred, 0.0)
        scale = 2.0 / y_pred.shape[-1]
        return _mean_last(xp, positive * positive), lambda d: (-scale * signed * positive) * _per_value(d, xp)


class CategoricalHinge(Loss):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) per sample (one-hot
    targets), as Keras; the largest wrong-class score's gradient goes to the first class holding it."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        others = (1.0 - y_true) * y_pred
        negative = xp.max(others, axis=-1)
        margin = negative - xp.sum(y_true * y_pred, axis=-1) + 1.0

        def backprop(d):
            top = xp.astype(others == negative[..., None], y_pred.dtype)
            first = top * xp.astype(xp.cumulative_sum(top, axis=-1) == 1.0, y_pred.dtype)
            active = xp.astype(margin > 0, y_pred.dtype)[..., None]
            return active * ((1.0 - y_true) * first - y_true) * _per_value(d, xp)

        return xp.maximum(margin, 0.0), backprop


class MeanAbsolutePercentageError(Loss):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7), axis=-1)."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        scale = (100.0 / y_pred.shape[-1]) / xp.maximum(xp.abs(y_true), config.epsilon())
        error = y_pred - y_true
        return _mean_last(xp, 100.0 * xp.abs(error) / xp.maximum(xp.abs(y_true), config.epsilon())), \
            lambda d: (scale * xp.sign(error)) * _per_value(d, xp)


class MeanSquaredLogarithmicError(Loss):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2, axis=-1)."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        eps = config.epsilon()
        shifted = xp.maximum(y_pred, eps) + 1.0
        difference = xp.log(shifted) - xp.log(xp.maximum(y_true, eps) + 1.0)
        scale = 2.0 / y_pred.shape[-1]
        # Below the floor the prediction does not move the loss.
        slope = xp.astype(y_pred > eps, y_pred.dtype) / shifted
        return _mean_last(xp, difference * difference), lambda d: (scale * difference * slope) * _per_value(d, xp)


class Poisson(Loss):
    """mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        shifted = y_pred + config.epsilon()
        scale = 1.0 / y_pred.shape[-1]
        return _mean_last(xp, y_pred - y_true * xp.log(shifted)), \
            lambda d: (scale * (1.0 - y_true / shifted)) * _per_value(d, xp)


class LogCosh(Loss):
    """mean(log(cosh(y_pred - y_true)), axis=-1), as x + softplus(-2x) - log 2 (no overflow)."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        error = y_pred - y_true
        values = error + activations.softplus.forward(-2.0 * error)[0] - math.log(2.0)
        scale = 1.0 / y_pred.shape[-1]
        return _mean_last(xp, values), lambda d: (scale * xp.tanh(error)) * _per_value(d, xp)


class CosineSimilarity(Loss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis) (-1 when they point the same
    way); l2_normalize(x) = x / sqrt(max(sum(x^2), 1e-12)), Keras's."""

    def __init__(self, axis: int = -1, name=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.axis = axis

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        t = y_true / xp.sqrt(xp.maximum(xp.sum(y_true * y_true, axis=self.axis, keepdims=True), 1e-12))
        squared = xp.sum(y_pred * y_pred, axis=self.axis, keepdims=True)
        norm = xp.sqrt(xp.maximum(squared, 1e-12))
        p = y_pred / norm
        cosine = xp.sum(t * p, axis=self.axis, keepdims=True)
        # d(-t.p/|p|)/dp = -(t - (t.p^) p^) / |p| where |p|^2 > 1e-12; below, p / 1e-6 is linear.
        grad = xp.where(squared > 1e-12, -(t - cosine * p) / norm, -t / norm)

        def backprop(d):
            return grad * (d if isinstance(d, float) else xp.expand_dims(d, axis=self.axis))

        return -xp.squeeze(cosine, axis=self.axis), backprop


class KLDivergence(Loss):
    """sum(t * log(t / p), axis=-1) with t and p clipped to [1e-7, 1]."""

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        eps = config.epsilon()
        t = xp.clip(y_true, eps, 1.0)
        p = xp.clip(y_pred, eps, 1.0)
        inside = (y_pred >= eps) & (y_pred <= 1.0)
        return (
            xp.sum(t * xp.log(t / p), axis=-1),
            lambda d: xp.where(inside, -t / p, 0.0) * _per_value(d, xp),
        )


class BinaryCrossentropy(Loss):
    """mean(-(t log p + (1 - t) log(1 - p)), axis=-1), p clipped to [eps, 1 - eps].

    With ``from_logits=True``: mean(max(x, 0) - x t + log(1 + exp(-|x|)), axis=-1).
    ``label_smoothing`` s replaces t by t (1 - s) + s / 2.
    """

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, name=None,
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        t = _smoothed(y_true, self.label_smoothing, 2)
        scale = 1.0 / y_pred.shape[-1]
        if self.from_logits:
            x = y_pred
            values = xp.maximum(x, 0.0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))
            probabilities = activations.sigmoid(x)
            return _mean_last(xp, values), lambda d: (scale * (probabilities - t)) * _per_value(d, xp)
        p, inside = _clip_probabilities(xp, y_pred)
        q, u = 1.0 - p, 1.0 - t  # computed once: the backward reuses them
        values = -(t * xp.log(p) + u * xp.log(q))
        return (
            _mean_last(xp, values),
            lambda d: xp.where(inside, (u / q - t / p) * (scale * _per_value(d, xp)), 0.0),
        )


class BinaryFocalCrossentropy(Loss):
    """mean((1 - p_t)^gamma * bce, axis=-1) (Lin et al.), Keras 3's formula: ``bce`` the binary
    cross-entropy of p clipped to [eps, 1 - eps], ``p_t = t p + (1 - t)(1 - p)``; with
    ``apply_class_balancing`` each term is weighted by ``alpha`` (t = 1) or ``1 - alpha``.
    ``from_logits`` and ``label_smoothing`` as `BinaryCrossentropy`."""

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, name=None,
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma
        self.from_logits, self.label_smoothing = from_logits, label_smoothing

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        gamma = self.gamma
        t = _smoothed(y_true, self.label_smoothing, 2)
        p = activations.sigmoid(y_pred) if self.from_logits else y_pred
        clipped, inside = _clip_probabilities(xp, p)
        bce = -(t * xp.log(clipped) + (1.0 - t) * xp.log(1.0 - clipped))
        miss = 1.0 - (t * p + (1.0 - t) * (1.0 - p))  # 1 - p_t
        focal = miss**gamma
        weight = t * self.alpha + (1.0 - t) * (1.0 - self.alpha) if self.apply_class_balancing else 1.0
        scale = 1.0 / y_pred.shape[-1]

        def backprop(d):
            dbce = xp.where(inside, (1.0 - t) / (1.0 - clipped) - t / clipped, 0.0)
            dfocal = gamma * miss ** (gamma - 1.0) * (1.0 - 2.0 * t) if gamma else 0.0  # d(1 - p_t)/dp = 1 - 2t
            grad = weight * (dfocal * bce + focal * dbce)
            if self.from_logits:
                grad = grad * (p * (1.0 - p))
            return grad * (scale * _per_value(d, xp))

        return _mean_last(xp, weight * (focal * bce)), backprop


class CategoricalCrossentropy(Loss):
    """-sum(t log p, axis=-1) with p = y_pred / sum(y_pred) clipped to [eps, 1 - eps].

    With ``from_logits=True``: -sum(t * log_softmax(x), axis=-1). ``label_smoothing`` s
    replaces t by t (1 - s) + s / classes.
    """

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, name=None,
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        t = _smoothed(y_true, self.label_smoothing, y_pred.shape[-1])
        if self.from_logits:
            log_p = activations.log_softmax(y_pred)
            total = xp.sum(t, axis=-1, keepdims=True)
            return (
                -xp.sum(t * log_p, axis=-1),
                lambda d: (xp.exp(log_p) * total - t) * _per_value(d, xp),
            )
        norm = xp.sum(y_pred, axis=-1, keepdims=True)
        p, inside = _clip_probabilities(xp, y_pred / norm)

        def backprop(d):
            grad_p = xp.where(inside, -t / p, 0.0)  # dL/d(normalised p)
            grad = (grad_p - xp.sum(grad_p * (y_pred / norm), axis=-1, keepdims=True)) / norm
            return grad * _per_value(d, xp)

        return -xp.sum(t * xp.log(p), axis=-1), backprop


class CategoricalFocalCrossentropy(Loss):
    """sum(alpha (1 - p)^gamma * (-t log p), axis=-1) (Lin et al.), Keras 3's formula: p =
    y_pred / sum(y_pred) clipped to [eps, 1 - eps] (softmax first with ``from_logits``);
    ``label_smoothing`` s replaces t by t (1 - s) + s / classes."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, name=None, reduction="sum_over_batch_size"):
        super().__init__(name, reduction)
        self.alpha, self.gamma, self.from_logits, self.label_smoothing = alpha, gamma, from_logits, label_smoothing

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        gamma = self.gamma
        t = _smoothed(y_true, self.label_smoothing, y_pred.shape[-1])
        probabilities = activations.softmax(y_pred) if self.from_logits else y_pred
        norm = xp.sum(probabilities, axis=-1, keepdims=True)
        normalized = probabilities / norm
        p, inside = _clip_probabilities(xp, normalized)
        log_p = xp.log(p)
        modulating = (1.0 - p) ** gamma

        def backprop(d):
            # d/dp of alpha (1 - p)^gamma (-t log p), then through the normalization (and softmax)
            grad_p = xp.where(inside, self.alpha * t * (gamma * (1.0 - p) ** (gamma - 1.0) * log_p - modulating / p)
                              if gamma else -self.alpha * t / p, 0.0)
            grad = (grad_p - xp.sum(grad_p * normalized, axis=-1, keepdims=True)) / norm
            if self.from_logits:
                grad = probabilities * (grad - xp.sum(grad * probabilities, axis=-1, keepdims=True))
            return grad * _per_value(d, xp)

        return xp.sum((modulating * self.alpha) * (-t * log_p), axis=-1), backprop


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class ids ``(batch,)`` as targets."""

    sparse = True

    def __init__(self, from_logits: bool = False, name=None, reduction="sum_over_batch_size"):
        super().__init__(from_logits=from_logits, name=name, reduction=reduction)

    def get_config(self):
        return {k: v for k, v in super().get_config().items() if k != "label_smoothing"}

    def per_sample(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        one_hot = xpx.one_hot(xp.astype(y_true, xp.int64), y_pred.shape[-1], dtype=y_pred.dtype, xp=xp)
        return super().per_sample(one_hot, y_pred)


_BY_NAME = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "hinge": Hinge, "squared_hinge": SquaredHinge,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "poisson": Poisson, "log_cosh": LogCosh, "logcosh": LogCosh, "cosine_similarity": CosineSimilarity,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "kullback_leibler_divergence": KLDivergence,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_hinge": CategoricalHinge, "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
}
_NAME_OF = {
    MeanSquaredError: "mean_squared_error", MeanAbsoluteError: "mean_absolute_error",
    Huber: "huber", Hinge: "hinge", KLDivergence: "kl_divergence", SquaredHinge: "squared_hinge",
    MeanAbsolutePercentageError: "mean_absolute_percentage_error",
    MeanSquaredLogarithmicError: "mean_squared_logarithmic_error", Poisson: "poisson", LogCosh: "log_cosh",
    CosineSimilarity: "cosine_similarity",
    BinaryCrossentropy: "binary_crossentropy", CategoricalCrossentropy: "categorical_crossentropy",
    SparseCategoricalCrossentropy: "sparse_categorical_crossentropy", CategoricalHinge: "categorical_hinge",
    BinaryFocalCrossentropy: "binary_focal_crossentropy", CategoricalFocalCrossentropy: "categorical_focal_crossentropy",
}
MSE = MeanSquaredError
MAE = MeanAbsoluteError
MAPE = MeanAbsolutePercentageError
MSLE = MeanSquaredLogarithmicError


def _function_form(cls: type[Loss]) -> Callable:
    def per_sample_loss(y_true, y_pred):
        return cls(reduction="none")(y_true, y_pred)

    per_sample_loss.__doc__ = f"Per-sample values of `{cls.__name__}` with default arguments."
    return per_sample_loss


mean_squared_error = mse = _function_form(MeanSquaredError)
mean_absolute_error = mae = _function_form(MeanAbsoluteError)
huber = _function_form(Huber)
hinge = _function_form(Hinge)
squared_hinge = _function_form(SquaredHinge)
mean_absolute_percentage_error = mape = _function_form(MeanAbsolutePercentageError)
mean_squared_logarithmic_error = msle = _function_form(MeanSquaredLogarithmicError)
poisson = _function_form(Poisson)
log_cosh = _function_form(LogCosh)
cosine_similarity = _function_form(CosineSimilarity)
kl_divergence = _function_form(KLDivergence)
binary_crossentropy = _function_form(BinaryCrossentropy)
categorical_crossentropy = _function_form(CategoricalCrossentropy)
sparse_categorical_crossentropy = _function_form(SparseCategoricalCrossentropy)
categorical_hinge = _function_form(CategoricalHinge)
binary_focal_crossentropy = _function_form(BinaryFocalCrossentropy)
categorical_focal_crossentropy = _function_form(CategoricalFocalCrossentropy)


def get(identifier: str | Loss | dict) -> Loss:
    """Resolve a loss name, a ``{"class_name", "config"}`` dict or an instance."""
    return resolve(identifier, Loss, _BY_NAME, "loss", "losses")


class ScaledLoss(Loss):
    """``weight * loss``: Keras's ``loss_weights`` for a model with one output. Named and
    (for ``"accuracy"``) resolved as the loss it scales."""

    def __init__(self, loss: Any, weight: float, name: str | None = None):
        self.loss = get(loss)
        super().__init__(name=name or self.loss.name, reduction=self.loss.reduction)
        self.weight = float(weight)
        self.sparse = self.loss.sparse

    def per_sample(self, y_true, y_pred) -> tuple[Any, Callable]:
        values, backprop = self.loss.per_sample(y_true, y_pred)
        return self.weight * values, lambda d: backprop(self.weight * d)

    def get_config(self) -> dict:
        from deepcore.saving import serialize_object

        return {"loss": serialize_object(self.loss, "loss"), "weight": self.weight, "name": self.name}

    @classmethod
    def from_config(cls, config_: dict) -> "ScaledLoss":
        from deepcore.saving import deserialize_object

        return cls(deserialize_object(config_["loss"], "loss"), config_["weight"], config_.get("name"))


class MultiOutputLoss(Loss):
    """The loss of a model with several outputs: ``sum_k weight_k * loss_k(y_k, y_pred_k)``
    over tuples of targets, predictions and masks (one sample weight for all). The unweighted
    terms of the latest `forward` stay in ``last_terms`` (logged as ``<output>_loss``)."""

    def __init__(self, losses: list, weights: list[float] | None = None, output_names: list[str] | None = None,
                 name: str = "loss"):
        super().__init__(name=name)
        self.losses = [get(loss) for loss in losses]
        self.weights = [float(w) for w in weights] if weights is not None else [1.0] * len(self.losses)
        self.output_names = list(output_names) if output_names is not None else [str(k) for k in range(len(losses))]
        self.last_terms: list = []

    @classmethod
    def for_outputs(cls, loss: Any, loss_weights: Any, output_names: list[str]) -> "MultiOutputLoss":
        """Keras's compile arguments for several outputs: one loss for all, or a list (in output
        order) or dict (by output name) of them; ``loss_weights`` likewise (default 1)."""
        return cls(_per_output(loss, output_names, "loss"), _per_output(loss_weights, output_names, "loss_weights",
                                                                          default=1.0), output_names)

    def forward(self, y_true, y_pred, sample_weight=None, mask=None) -> tuple[Any, Callable[[], Any]]:
        """Tuples of targets and predictions (and masks, or None) -> (the weighted sum,
        backprop() -> the tuple of each prediction's gradient). ``sample_weight``: one for all
        outputs, or a tuple of one (or None) per output."""
        masks = mask if mask is not None else (None,) * len(self.losses)
        weights = sample_weight if isinstance(sample_weight, tuple) else (sample_weight,) * len(self.losses)
        total, backprops, terms = 0.0, [], []
        for loss, weight, target, prediction, output_mask, output_weights in zip(
                self.losses, self.weights, y_true, y_pred, masks, weights):
            term, backprop = loss.forward(target, prediction, output_weights, output_mask)
            terms.append(term)
            total = total + weight * term
            backprops.append(backprop)
        self.last_terms = terms
        return total, lambda: tuple(weight * backprop() for weight, backprop in zip(self.weights, backprops))

    def get_config(self) -> dict:
        from deepcore.saving import serialize_object

        return {"losses": [serialize_object(loss, "loss") for loss in self.losses], "weights": self.weights,
                "output_names": self.output_names, "name": self.name}

    @classmethod
    def from_config(cls, config_: dict) -> "MultiOutputLoss":
        from deepcore.saving import deserialize_object

        losses = [deserialize_object(spec, "loss") for spec in config_["losses"]]
        return cls(losses, config_["weights"], config_["output_names"], config_.get("name", "loss"))


def _per_output(value: Any, output_names: list[str], what: str, default: Any = None) -> list:
    """One entry per output from a single value (for all), a list in output order or a dict by
    output name; ``default`` for a missing value or dict entry."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(output_names))
        if unknown:
            raise ValueError(f"compile(): {what} names {unknown}, which are not outputs; the outputs are "
                             f"{output_names}.")
        if default is None and len(value) != len(output_names):
            raise ValueError(f"compile(): {what} has no entry for outputs "
                             f"{[n for n in output_names if n not in value]}.")
        return [value.get(name, default) for name in output_names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(output_names):
            raise ValueError(f"compile(): {what} lists {len(value)} entries for {len(output_names)} outputs "
                             f"{output_names}.")
        return list(value)
    return [default if value is None else value] * len(output_names)


def serialize(loss: Loss) -> dict:
    return {"class_name": _NAME_OF.get(type(loss), type(loss).__name__), "config": loss.get_config()}
