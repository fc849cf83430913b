"""BatchNormalization, LayerNormalization, GroupNormalization, RMSNormalization and
UnitNormalization, Keras 3 arguments and formulas.

The first three compute ``y = gamma * (x - mean) * rsqrt(variance + epsilon) + beta`` with the
biased variance; they differ in which axes the statistics are taken over (the batch for
BatchNormalization, the features of each sample for LayerNormalization, groups of channels for
GroupNormalization). RMSNormalization scales by the root mean square instead, UnitNormalization
divides by the L2 norm.
"""

from __future__ import annotations

from typing import Any, Callable

from deepcore.backend import array_namespace
from deepcore.layers.base import Layer


def l2_normalize(xp: Any, x: Any, axis: int | tuple, epsilon: float) -> tuple[Any, Callable]:
    """``x / max(||x||, epsilon)`` along ``axis`` (Keras's ``normalize``) and its backprop."""
    norm = xp.sqrt(xp.sum(x * x, axis=axis, keepdims=True))
    scale = 1.0 / xp.clip(norm, min=epsilon)
    n = x * scale

    def backprop(dn):
        # Where the norm is clipped the scale is a constant: only the direction term drops.
        unclipped = xp.astype(norm > epsilon, dn.dtype)
        return scale * (dn - n * (xp.sum(dn * n, axis=axis, keepdims=True) * unclipped))

    return n, backprop


def normalized_axes(layer: Layer, input_shape: tuple, axes: tuple) -> tuple:
    """``(param_axes, param_shape, other_axes, broadcast_shape)`` for statistics over ``axes``:
    the axes sorted and non-negative, the parameters' shape, the other axes, and the shape the
    parameters take to broadcast against the input; or a clear error naming ``layer``."""
    ndim = len(input_shape)
    if any(not -ndim < a < ndim or a % ndim == 0 for a in axes):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: axis must name non-batch axes of inputs with "
            f"{ndim} dimensions, in [1, {ndim - 1}] or [{-ndim + 1}, -1]. Received: axis={layer.axis!r}"
        )
    param_axes = tuple(sorted(a % ndim for a in axes))
    if any(input_shape[a] is None for a in param_axes):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: axis {layer.axis!r} must have a known size; "
            f"received input shape {tuple(input_shape)}."
        )
    return (param_axes, tuple(input_shape[a] for a in param_axes),
            tuple(a for a in range(ndim) if a not in param_axes),
            tuple(input_shape[a] if a in param_axes else 1 for a in range(ndim)))


def normalized_backprop(dxhat, xhat, inv_std, axes: tuple):
    """``dx`` for ``xhat = (x - mean) * inv_std`` when mean and variance are statistics of ``x``
    over ``axes`` (the usual closed form: the statistics' own gradients included)."""
    xp = array_namespace(dxhat)
    mean_dxhat = xp.mean(dxhat, axis=axes, keepdims=True)
    mean_dxhat_xhat = xp.mean(dxhat * xhat, axis=axes, keepdims=True)
    return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


class _AffineNormalization(Layer):
    """What both layers share: ``gamma`` and ``beta`` over ``param_axes`` and their backprop."""

    supports_masking = True  # an incoming mask passes on (Keras)
    constraint_names = ("beta", "gamma")

    def __init__(self, axis, epsilon: float, center: bool, scale: bool,
                 beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.set_options(beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
                         beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer)
        self.gamma = self.beta = None

    def _resolve_axes(self, input_shape: tuple, axes: tuple) -> None:
        """Set ``param_axes``, ``param_shape``, ``other_axes`` and ``broadcast_shape`` (see
        `normalized_axes`)."""
        self.param_axes, self.param_shape, self.other_axes, self.broadcast_shape = normalized_axes(
            self, input_shape, axes)

    def _build_affine(self) -> None:
        if self.scale:
            self.gamma = self.add_weight("gamma", self.param_shape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight("beta", self.param_shape, self.beta_initializer,
                                        regularizer=self.beta_regularizer)

    def _affine(self, xhat):
        """``xhat -> (gamma * xhat + beta, backprop)``; ``backprop(dy) -> dxhat``."""
        xp = array_namespace(xhat)
        gamma = xp.reshape(self.gamma.value, self.broadcast_shape) if self.scale else None
        y = xhat * gamma if self.scale else xhat
        if self.center:
            y = y + xp.reshape(self.beta.value, self.broadcast_shape)

        def backprop(dy):
            if self.center:
                self.beta.grad = xp.sum(dy, axis=self.other_axes)
            if self.scale:
                self.gamma.grad = xp.sum(dy * xhat, axis=self.other_axes)
                return dy * gamma
            return dy

        return y, backprop

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


class BatchNormalization(_AffineNormalization):
    """Normalizes each feature along ``axis`` with statistics over all other axes.

    ``(batch, ..., features) -> same shape``. In training (and when the layer is trainable) it
    uses the batch's mean and biased variance and updates
    ``moving = moving * momentum + batch_statistic * (1 - momentum)``; at inference it uses the
    moving statistics. ``moving_mean``/``moving_variance`` are non-trainable weights, saved
    with the model. Weights in Keras order: gamma, beta, moving_mean, moving_variance.
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 synchronized: bool = False, **kwargs):
        if synchronized:
            raise ValueError(
                "BatchNormalization: synchronized=True (statistics over all replicas) is not supported; "
                "under deepcore.distribution each process normalizes with its own batch statistics."
            )
        if not isinstance(axis, int):
            raise TypeError(f"BatchNormalization: axis must be an integer. Received: axis={axis!r}")
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, **kwargs)
        self.momentum = float(momentum)
        self.set_options(moving_mean_initializer=moving_mean_initializer,
                         moving_variance_initializer=moving_variance_initializer)

    def build(self, input_shape):
        super().build(input_shape)
        self._resolve_axes(input_shape, (self.axis,))
        self._build_affine()
        self.moving_mean = self.add_weight("moving_mean", self.param_shape,
                                           self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", self.param_shape,
                                               self.moving_variance_initializer, trainable=False)

    def forward(self, x, training=False):
        xp = array_namespace(x)
        use_batch_statistics = training and self.trainable
        if use_batch_statistics:
            mean = xp.mean(x, axis=self.other_axes, keepdims=True)
            variance = xp.var(x, axis=self.other_axes, keepdims=True)
            self._update_moving(self.moving_mean, mean)
            self._update_moving(self.moving_variance, variance)
        else:
            mean = xp.reshape(self.moving_mean.value, self.broadcast_shape)
            variance = xp.reshape(self.moving_variance.value, self.broadcast_shape)
        inv_std = 1.0 / xp.sqrt(variance + self.epsilon)
        xhat = (x - mean) * inv_std
        y, affine_backprop = self._affine(xhat)

        def backprop(dy):
            dxhat = affine_backprop(dy)
            if use_batch_statistics:
                return normalized_backprop(dxhat, xhat, inv_std, self.other_axes)
            return dxhat * inv_std

        return y, backprop

    def _update_moving(self, variable, batch_statistic) -> None:
        xp = array_namespace(batch_statistic)
        statistic = xp.astype(xp.reshape(batch_statistic, self.param_shape), variable.value.dtype)
        variable.value = variable.value * self.momentum + statistic * (1.0 - self.momentum)

    def get_config(self):
        return {
            **super().get_config(),
            "momentum": self.momentum,
        }


class LayerNormalization(_AffineNormalization):
    """Normalizes each sample over ``axis`` (an int or a list of ints, the batch axis excluded).

    ``(batch, ..., features) -> same shape``; the same computation in training and inference.
    ``gamma``/``beta`` have the shape of the normalized axes. With ``rms_scaling`` (Keras 3's
    formula): ``y = gamma * x * rsqrt(variance + epsilon)``, x not centred, no ``beta``
    (``center`` and ``scale`` are then ignored, as Keras).
    """

    def __init__(self, axis: int | list = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, rms_scaling: bool = False, **kwargs):
        axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, **kwargs)
        self.rms_scaling = rms_scaling

    def build(self, input_shape):
        super().build(input_shape)
        self._resolve_axes(input_shape, tuple(self.axis) if isinstance(self.axis, list) else (self.axis,))
        if self.rms_scaling:
            self.gamma = self.add_weight("gamma", self.param_shape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer)
        else:
            self._build_affine()

    def forward(self, x, training=False):
        xp = array_namespace(x)
        variance = xp.var(x, axis=self.param_axes, keepdims=True)
        inv_std = 1.0 / xp.sqrt(variance + self.epsilon)
        if self.rms_scaling:
            return self._rms_scaled(xp, x, inv_std)
        xhat = (x - xp.mean(x, axis=self.param_axes, keepdims=True)) * inv_std
        y, affine_backprop = self._affine(xhat)
        return y, lambda dy: normalized_backprop(affine_backprop(dy), xhat, inv_std, self.param_axes)

    def _rms_scaled(self, xp, x, inv_std):
        """``gamma * x * inv_std``; backward with inv_std's own gradient, ``-inv_std^3 (x -
        mean) / n`` per entry."""
        scaled = x * inv_std
        gamma = xp.reshape(self.gamma.value, self.broadcast_shape)

        def backprop(dy):
            self.gamma.grad = xp.sum(dy * scaled, axis=self.other_axes)
            dscaled = dy * gamma
            centred = x - xp.mean(x, axis=self.param_axes, keepdims=True)
            return inv_std * dscaled - inv_std**3 * centred * xp.mean(dscaled * x, axis=self.param_axes, keepdims=True)

        return scaled * gamma, backprop

    def get_config(self):
        return {**super().get_config(), "rms_scaling": self.rms_scaling}


def _axes(axis: int | list) -> tuple:
    return tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)


class RMSNormalization(Layer):
    """``y = scale * x * rsqrt(mean(x^2) + epsilon)`` over ``axis`` (an int or a list of ints,
    the batch axis excluded), Keras 3's layer: ``(batch, ..., features) -> same shape``; weight
    ``scale`` of the normalized axes' shape, initialized to ones."""

    supports_masking = True

    def __init__(self, axis: int | list = -1, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        super().build(input_shape)
        self.param_axes, param_shape, self.other_axes, self.broadcast_shape = normalized_axes(
            self, input_shape, _axes(self.axis))
        self.scale = self.add_weight("scale", param_shape, "ones")

    def forward(self, x, training=False):
        xp = array_namespace(x)
        inv_rms = 1.0 / xp.sqrt(xp.mean(x * x, axis=self.param_axes, keepdims=True) + self.epsilon)
        normalized = x * inv_rms
        scale = xp.reshape(self.scale.value, self.broadcast_shape)

        def backprop(dy):
            self.scale.grad = xp.sum(dy * normalized, axis=self.other_axes)
            dnormalized = dy * scale
            # with inv_rms's own gradient, -inv_rms^3 x / n per entry
            correction = xp.mean(dnormalized * x, axis=self.param_axes, keepdims=True)
            return inv_rms * dnormalized - inv_rms**3 * x * correction

        return normalized * scale, backprop

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class UnitNormalization(Layer):
    """Each sample divided by its L2 norm over ``axis`` (at least 1e-12), Keras 3's layer:
    ``(batch, ..., features) -> same shape``; no weights."""

    supports_masking = True

    def __init__(self, axis: int | list = -1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise TypeError(f"UnitNormalization: axis must be an int or a list of ints. Received: axis={axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def forward(self, x, training=False):
        axes = tuple(sorted(a % x.ndim for a in _axes(self.axis)))
        return l2_normalize(array_namespace(x), x, axes, 1e-12)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class GroupNormalization(_AffineNormalization):
    """The channels along ``axis`` split into ``groups`` equal groups, each sample normalized
    per group over the group's channels and every non-batch axis (Wu & He), then ``gamma`` and
    ``beta`` per channel (Keras 3's layer): ``(batch, ..., channels) -> same shape``. With one
    group it is LayerNormalization over all axes; with one channel per group, InstanceNormalization.
    """

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, **kwargs)
        self.groups = groups

    def build(self, input_shape):
        super().build(input_shape)
        self._resolve_axes(input_shape, (self.axis,))
        channels = self.param_shape[0]
        if self.groups > channels or channels % self.groups:
            raise ValueError(f"GroupNormalization {self.name!r}: its {channels} channels (axis {self.axis}) do not "
                             f"split into groups={self.groups}; groups must divide the number of channels.")
        self._build_affine()

    def forward(self, x, training=False):
        xp = array_namespace(x)
        axis, shape = self.param_axes[0], tuple(x.shape)
        grouped = (*shape[:axis], self.groups, shape[axis] // self.groups, *shape[axis + 1:])
        statistics_axes = tuple(k for k in range(1, len(grouped)) if k != axis)  # all but batch and group
        r = xp.reshape(x, grouped)
        inv_std = 1.0 / xp.sqrt(xp.var(r, axis=statistics_axes, keepdims=True) + self.epsilon)
        rhat = (r - xp.mean(r, axis=statistics_axes, keepdims=True)) * inv_std
        y, affine_backprop = self._affine(xp.reshape(rhat, shape))

        def backprop(dy):
            drhat = xp.reshape(affine_backprop(dy), grouped)
            return xp.reshape(normalized_backprop(drhat, rhat, inv_std, statistics_axes), shape)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}
