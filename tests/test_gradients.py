"""Backward passes against central finite differences, in float64, on every backend.

`deepcore.testing.gradients.check_backward` compares the analytic gradient of
``sum(forward(x) * r)`` (random ``r``) with central differences, element by element. Its default
tolerances (rtol 1e-5, atol 1e-8) sit far above the finite-difference error in float64 (about
1e-10 for the step 1e-6) and far below any wrong derivative, so they are used throughout.

Kinks (relu at 0, relu6 at 0 and 6, hard_sigmoid at -3 and 3, the MAE/hinge corners...) have
no derivative: inputs are kept at least 0.1 away from every integer, which covers all of them.
"""

from __future__ import annotations

import numpy as np
import pytest
from loss_data import random_targets

import deepcore as dc
from deepcore import activations, losses, regularizers
from deepcore.layers import Activation, AlphaDropout, Dense, Dropout, Flatten, Reshape
from deepcore.models import Sequential
from deepcore.testing.gradients import check_backward

# Every activation with the keyword variants whose derivative differs.
ACTIVATION_CASES = [(name, {}) for name in activations.names()] + [
    ("gelu", {"approximate": True}),
    ("celu", {"alpha": 0.5}),
    ("sparsemax", {"axis": 0}),
    ("leaky_relu", {"negative_slope": 0.05}),
    ("elu", {"alpha": 0.7}),
    ("softmax", {"axis": 0}),
    ("log_softmax", {"axis": 0}),
]
KINKS = np.array([-3.0, 0.0, 3.0, 6.0])


def away_from_integers(rng, shape, low=-7, high=7):
    """Uniform draws whose distance to the nearest integer is at least 0.1 (so to every kink)."""
    return rng.integers(low, high, size=shape) + rng.uniform(0.1, 0.9, size=shape)


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.fixture
def float64():
    dc.set_floatx("float64")


# --- activations ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=case_id)
def test_activation_backward(backend, float64, case):
    name, kwargs = case
    activation = activations.get(name)
    # exponential grows fast: keep its inputs where its values stay of order one.
    high = 2 if name == "exponential" else 7
    x = away_from_integers(np.random.default_rng(0), (3, 4), high=high)
    check_backward(lambda v: activation.forward(v, **kwargs), x, label=case_id(case))


# --- layers -----------------------------------------------------------------------------------

def dense_input(layer: Dense, shape: tuple) -> np.ndarray:
    """An input whose pre-activations all lie >= 1e-3 from every kink (seeds tried in order).

    A finite-difference step moves a pre-activation by about 1e-6, so 1e-3 is far enough.
    """
    kernel = dc.get_backend().to_numpy(layer.kernel.value)
    for seed in range(100):
        x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape)
        z = x @ kernel
        if np.min(np.abs(z[..., None] - KINKS)) >= 1e-3:
            return x
    raise AssertionError("no input found whose pre-activations avoid the kinks")


def build_dense(units, input_shape, **kwargs) -> Dense:
    layer = Dense(units, **kwargs)
    layer.build((None, *input_shape))
    if layer.bias is not None:  # a nonzero bias, so its gradient is exercised off zero
        backend = dc.get_backend()
        bias = np.linspace(-0.3, 0.4, units)
        layer.bias.value = backend.asarray(bias, dtype=backend.dtype())
    return layer


@pytest.mark.parametrize("activation", activations.names())
def test_dense_backward_each_activation(backend, float64, activation):
    layer = build_dense(4, (5,), activation=activation)
    x = dense_input(layer, (3, 5))
    check_backward(lambda v: layer.forward(v), x, layer.trainable_weights, label=f"Dense({activation})")


def test_dense_backward_without_bias(backend, float64):
    layer = build_dense(3, (4,), activation="tanh", use_bias=False)
    assert [v.name.split("/")[-1] for v in layer.trainable_weights] == ["kernel"]
    x = dense_input(layer, (2, 4))
    check_backward(lambda v: layer.forward(v), x, layer.trainable_weights, label="Dense(use_bias=False)")


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "softmax"])
def test_dense_backward_nd_input(backend, float64, activation):
    layer = build_dense(3, (4, 5), activation=activation)  # input (batch, t, features)
    x = dense_input(layer, (2, 4, 5))
    check_backward(lambda v: layer.forward(v), x, layer.trainable_weights, label=f"Dense N-D ({activation})")


@pytest.mark.parametrize("name", ["tanh", "softmax", "relu"])
def test_activation_layer_backward(backend, float64, name):
    layer = Activation(name)
    x = away_from_integers(np.random.default_rng(1), (3, 4))
    check_backward(lambda v: layer.forward(v), x, label=f"Activation({name})")


@pytest.mark.parametrize("layer", [Flatten(), Reshape((4, 3)), Reshape((-1, 2))], ids=repr)
def test_reshaping_backward(backend, float64, layer):
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    check_backward(lambda v: layer.forward(v), x, label=repr(layer))


def test_dropout_inference_is_identity(backend, float64):
    layer = Dropout(0.5)
    x = np.random.default_rng(3).standard_normal((4, 5))
    y, backprop = layer.forward(backend.asarray(x, dtype=backend.dtype()), training=False)
    np.testing.assert_array_equal(backend.to_numpy(y), x)
    dy = np.random.default_rng(4).standard_normal((4, 5))
    np.testing.assert_array_equal(backend.to_numpy(backprop(backend.asarray(dy, dtype=backend.dtype()))), dy)
    check_backward(lambda v: layer.forward(v, training=False), x, label="Dropout (inference)")


def test_dropout_training_backprop_uses_the_forward_mask(backend, float64):
    rate = 0.4
    layer = Dropout(rate)
    x = np.random.default_rng(5).uniform(1.0, 2.0, size=(6, 7))  # nonzero: y == 0 only where dropped

    def forward_with_fixed_mask(v):
        dc.utils.set_random_seed(11)  # the same host draw on every call: one fixed mask
        return layer.forward(v, training=True)

    y, backprop = forward_with_fixed_mask(backend.asarray(x, dtype=backend.dtype()))
    kept = backend.to_numpy(y) != 0
    assert 0 < kept.sum() < kept.size, "the mask should drop some units and keep others"
    mask = np.where(kept, 1.0 / (1.0 - rate), 0.0)
    np.testing.assert_allclose(backend.to_numpy(y), x * mask, rtol=1e-15)
    dy = np.random.default_rng(6).standard_normal(x.shape)
    dx = backend.to_numpy(backprop(backend.asarray(dy, dtype=backend.dtype())))
    np.testing.assert_array_equal(dx, dy * mask)
    check_backward(forward_with_fixed_mask, x, label="Dropout (training, fixed mask)")


def test_alpha_dropout_follows_keras_and_keeps_selu_statistics(backend, float64):
    """Keras's AlphaDropout: dropped entries become a * (-alpha * scale) + b, kept ones a x + b;
    the gradient is a on kept entries (FD with a fixed mask); on SELU outputs mean 0 and
    variance 1 survive (within 5 standard errors); inference is the identity."""
    rate = 0.3
    layer = AlphaDropout(rate)
    saturation = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * saturation**2)) ** -0.5
    b = -a * saturation * rate
    x = np.random.default_rng(7).uniform(1.0, 2.0, size=(6, 7))

    def forward_with_fixed_mask(v):
        dc.utils.set_random_seed(12)
        return layer.forward(v, training=True)

    y = backend.to_numpy(forward_with_fixed_mask(backend.asarray(x, dtype=backend.dtype()))[0])
    dropped = np.isclose(y, a * saturation + b, rtol=0, atol=1e-12)
    assert 0 < dropped.sum() < dropped.size
    np.testing.assert_allclose(y, np.where(dropped, a * saturation + b, a * x + b), rtol=1e-14)
    check_backward(forward_with_fixed_mask, x, label="AlphaDropout (training, fixed mask)")
    n = 200_000
    selu_out = backend.to_numpy(activations.selu(backend.asarray(np.random.default_rng(8).standard_normal((n, 1)),
                                                                dtype=backend.dtype())))
    out = backend.to_numpy(layer.forward(backend.asarray(selu_out, dtype=backend.dtype()), training=True)[0])
    assert abs(out.mean()) < 5 / np.sqrt(n) + abs(selu_out.mean())
    assert abs(out.var() - 1.0) < 5 * np.sqrt(2 / n) + abs(selu_out.var() - 1.0)
    np.testing.assert_array_equal(backend.to_numpy(layer.forward(backend.asarray(x, dtype=backend.dtype()))[0]), x)


# --- losses -----------------------------------------------------------------------------------

N, C = 4, 3


def loss_inputs(name: str, rng):
    """(y_true, y_pred) host arrays for a loss, away from its kinks and clipping bounds."""
    y_true = random_targets(name, rng, N, C)
    if name == "sparse_categorical_crossentropy":  # (n, 1) ids: the squeeze is tested too
        return y_true.reshape(N, 1), rng.uniform(0.1, 1.0, size=(N, C))
    if "crossentropy" in name or name == "kl_divergence":
        y_pred = rng.uniform(0.05, 0.95, size=(N, C))  # inside [1e-7, 1 - 1e-7]: no clipping
    elif name in ("hinge", "squared_hinge"):  # at least 0.1 from +-1: |1 - t * y_pred| >= 0.1
        y_pred = away_from_integers(rng, (N, C), low=-3, high=3)
    elif name in ("poisson", "mean_squared_logarithmic_error"):  # positive, above MSLE's 1e-7 floor
        y_pred = rng.uniform(0.2, 3.0, size=(N, C))
    else:  # |error| avoids 0 (MAE's kink) and 0.5, 1 (Huber's switch for delta 0.5, 1)
        y_pred = y_true + 0.5 * away_from_integers(rng, (N, C), low=-4, high=4)
    return y_true, y_pred


LOSS_CASES = [
    ("mean_squared_error", {}),
    ("mean_absolute_error", {}),
    ("huber", {}),
    ("huber", {"delta": 0.5}),
    ("hinge", {}),
    ("squared_hinge", {}),
    ("kl_divergence", {}),
    ("mean_absolute_percentage_error", {}),
    ("mean_squared_logarithmic_error", {}),
    ("poisson", {}),
    ("log_cosh", {}),
    ("cosine_similarity", {}),
    ("binary_crossentropy", {}),
    ("binary_crossentropy", {"from_logits": True}),
    ("binary_crossentropy", {"label_smoothing": 0.2}),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.2}),
    ("categorical_crossentropy", {}),
    ("categorical_crossentropy", {"from_logits": True}),
    ("categorical_crossentropy", {"label_smoothing": 0.1}),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("sparse_categorical_crossentropy", {}),
    ("sparse_categorical_crossentropy", {"from_logits": True}),
    ("categorical_hinge", {}),
    ("binary_focal_crossentropy", {}),
    ("binary_focal_crossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5}),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.2}),
    ("categorical_focal_crossentropy", {}),
    ("categorical_focal_crossentropy", {"gamma": 0.0}),
    ("categorical_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.1, "gamma": 3.0}),
]


def make_loss(name: str, kwargs: dict, **extra) -> losses.Loss:
    return type(losses.get(name))(**kwargs, **extra)


def loss_forward(loss: losses.Loss, y_true, sample_weight=None):
    """``y_pred -> (scalar, backprop(dl) -> dl * dL/dy_pred)`` for `check_backward`."""
    def forward(y_pred):
        value, backprop = loss.forward(y_true, y_pred, sample_weight)
        return value, lambda dl: backprop() * dl
    return forward


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=case_id)
def test_loss_backward(backend, float64, case, reduction):
    name, kwargs = case
    rng = np.random.default_rng(7)
    y_true, y_pred = loss_inputs(name, rng)
    if kwargs.get("from_logits"):
        y_pred = rng.standard_normal(y_pred.shape) * 3.0
    loss = make_loss(name, kwargs, reduction=reduction)
    check_backward(loss_forward(loss, backend.asarray(y_true, dtype=backend.dtype())), y_pred,
                   label=f"{case_id(case)} ({reduction})")


@pytest.mark.parametrize("weight_shape", [(N,), (N, 1)], ids=["(n,)", "(n,1)"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=case_id)
def test_loss_backward_with_sample_weight(backend, float64, case, weight_shape):
    name, kwargs = case
    rng = np.random.default_rng(8)
    y_true, y_pred = loss_inputs(name, rng)
    if kwargs.get("from_logits"):
        y_pred = rng.standard_normal(y_pred.shape) * 3.0
    weights = backend.asarray(rng.uniform(0.0, 2.0, size=weight_shape), dtype=backend.dtype())
    loss = make_loss(name, kwargs)
    check_backward(loss_forward(loss, backend.asarray(y_true, dtype=backend.dtype()), weights), y_pred,
                   label=f"{case_id(case)} weighted {weight_shape}")


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "huber", "hinge",
                                  "binary_crossentropy", "sparse_categorical_crossentropy"])
def test_loss_targets_n_and_n1_give_same_value_and_gradient(backend, float64, name):
    """Targets ``(n,)`` and ``(n, 1)`` for an ``(n, 1)`` prediction (``(n, C)`` when sparse)."""
    rng = np.random.default_rng(9)
    y_true, y_pred = loss_inputs(name, rng)
    if name != "sparse_categorical_crossentropy":
        y_true, y_pred = y_true[:, :1], y_pred[:, :1]
    loss = losses.get(name)
    results = []
    for targets in (y_true, y_true.reshape(-1)):
        forward = loss_forward(loss, backend.asarray(targets, dtype=backend.dtype()))
        check_backward(forward, y_pred, label=f"{name} targets {targets.shape}")
        value, backprop = forward(backend.asarray(y_pred, dtype=backend.dtype()))
        results.append((float(value), backend.to_numpy(backprop(1.0))))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


# --- regularizers -----------------------------------------------------------------------------

@pytest.mark.parametrize("regularizer", [regularizers.l1(0.03), regularizers.l2(0.05),
                                         regularizers.l1_l2(0.02, 0.04)], ids=["l1", "l2", "l1_l2"])
def test_regularizer_gradient(backend, float64, regularizer):
    w = away_from_integers(np.random.default_rng(10), (3, 4), low=-2, high=2)  # l1: away from 0

    def penalty(v):
        return regularizer(v), lambda d: regularizer.gradient(v) * d

    check_backward(penalty, w, label=f"regularizer {regularizer.get_config()}")


# --- a whole model ----------------------------------------------------------------------------

def small_model() -> Sequential:
    model = Sequential([
        Reshape((3, 4)),
        Dense(5, activation="tanh"),
        Flatten(),
        Dense(6, activation="gelu"),
        Dropout(0.3),
        Dense(4, activation="softplus"),
        Dense(3, activation="softmax"),
    ])
    model.build((None, 12))
    return model


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_sequential_forward_backward(backend, float64, training):
    model = small_model()
    x = np.random.default_rng(11).standard_normal((4, 12))

    def forward(v):
        dc.utils.set_random_seed(12)  # a fixed dropout mask in training mode
        return model.forward(v, training=training)

    check_backward(forward, x, model.trainable_variables, label=f"Sequential (training={training})")


def test_sequential_with_loss_backward(backend, float64):
    """The model's closures fed by the loss's backprop: dL/dx and dL/dw of a full step."""
    model = small_model()
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 12))
    y_true = backend.asarray(np.eye(3)[rng.integers(0, 3, size=4)], dtype=backend.dtype())
    loss = losses.CategoricalCrossentropy(label_smoothing=0.1)

    def forward(v):
        dc.utils.set_random_seed(14)
        y_pred, model_backprop = model.forward(v, training=True)
        value, loss_backprop = loss.forward(y_true, y_pred)
        return value, lambda dl: model_backprop(loss_backprop() * dl)

    check_backward(forward, x, model.trainable_variables, label="Sequential + loss")
