"""ReLU (with Keras's max_value / negative_slope / threshold), LeakyReLU, ELU, Softmax and PReLU
layers: values against NumPy written from Keras's formulas, derivatives (PReLU's slopes too)
against finite differences in float64, configs and masks, on every backend."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import activations, saving
from deepcore.layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from deepcore.testing.gradients import check_backward

# Kinks at 0, the thresholds (0.5, -0.5) and the caps (1, 2) stay > 0.05 away from these points.
X = np.array([[-2.3, -0.7, -0.3, 0.2, 0.45, 0.8, 1.4, 2.6], [-1.2, -0.45, 0.1, 0.6, 0.9, 1.2, 1.8, 3.1]])
RELU_OPTIONS = [
    {},
    {"max_value": 6.0},
    {"max_value": 1.0},
    {"negative_slope": 0.1},
    {"threshold": 0.5},
    {"threshold": -0.5},
    {"negative_slope": 0.2, "threshold": 0.5, "max_value": 2.0},
    {"threshold": -0.5, "max_value": 2.0},
]


def keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3's ``activations.relu``, step by step as its source computes it."""
    y = x * (x > threshold)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    return y - negative_slope * np.maximum(threshold - x, 0.0)


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype("float64"))


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


@pytest.mark.parametrize("options", RELU_OPTIONS, ids=str)
def test_relu_options_follow_keras(backend, float64, options):
    y = backend.to_numpy(activations.relu(on(backend, X), **options))
    np.testing.assert_allclose(y, keras_relu(X, **options), rtol=1e-15, atol=1e-15)
    layer = ReLU(**options)
    np.testing.assert_array_equal(backend.to_numpy(layer.forward(on(backend, X))[0]), y)
    check_backward(lambda v: layer.forward(v), X, label=f"ReLU({options})")


@pytest.mark.parametrize("layer, expected", [
    (LeakyReLU(), np.where(X > 0, X, 0.3 * X)),  # Keras 3's layer default slope: 0.3
    (LeakyReLU(negative_slope=0.05), np.where(X > 0, X, 0.05 * X)),
    (ELU(), np.where(X > 0, X, np.expm1(X))),
    (ELU(alpha=0.5), np.where(X > 0, X, 0.5 * np.expm1(X))),
    (Softmax(), np.exp(X) / np.exp(X).sum(axis=-1, keepdims=True)),
    (Softmax(axis=0), np.exp(X) / np.exp(X).sum(axis=0, keepdims=True)),
], ids=lambda v: json.dumps(v.get_config()) if isinstance(v, dc.layers.Layer) else "")
def test_activation_layers(backend, float64, layer, expected):
    np.testing.assert_allclose(backend.to_numpy(layer.forward(on(backend, X))[0]), expected, rtol=1e-14)
    check_backward(lambda v: layer.forward(v), X, label=type(layer).__name__)


def test_activation_layers_pass_masks_and_round_trip():
    for layer in (ReLU(max_value=6.0), LeakyReLU(0.1), ELU(0.7), Softmax(axis=1)):
        mask = np.array([[True, False]])
        assert layer.compute_mask(None, mask) is mask
        spec = json.loads(json.dumps(saving.serialize_layer(layer)))
        rebuilt = saving.deserialize_layer(spec)
        assert type(rebuilt) is type(layer) and rebuilt.arguments == layer.arguments
        np.testing.assert_array_equal(rebuilt.forward(X)[0], layer.forward(X)[0])


def test_relu_bad_options_are_named():
    with pytest.raises(ValueError, match="max_value must be None or >= 0"):
        ReLU(max_value=-1.0)
    with pytest.raises(ValueError, match="negative_slope must be >= 0"):
        ReLU(negative_slope=-0.1)


@pytest.mark.parametrize("shared_axes, alpha_shape", [(None, (3, 4, 2)), ([1, 2], (1, 1, 2)), (3, (3, 4, 1))],
                         ids=["per entry", "per channel", "shared last axis"])
def test_prelu_follows_keras_and_learns_its_slopes(backend, float64, shared_axes, alpha_shape):
    """Keras: relu(x) - alpha * relu(-x), alpha shaped as the input without the batch axis and
    1 on the shared axes; the gradients of x and of alpha against finite differences."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3, 4, 2))
    x[np.abs(x) < 0.05] = 0.3  # away from the kink at 0
    layer = PReLU(alpha_initializer="random_normal", shared_axes=shared_axes)
    layer.build((None, 3, 4, 2))
    alpha = backend.to_numpy(layer.alpha.value)
    assert alpha.shape == alpha_shape and layer.weights == [layer.alpha]
    y = backend.to_numpy(layer.forward(on(backend, x))[0])
    np.testing.assert_allclose(y, np.maximum(x, 0.0) - alpha * np.maximum(-x, 0.0), rtol=1e-15, atol=1e-15)
    check_backward(lambda v: layer.forward(v), x, [layer.alpha], label=f"PReLU(shared_axes={shared_axes})")


def test_prelu_starts_as_a_relu_round_trips_and_names_bad_axes(backend):
    layer = PReLU(shared_axes=[1], alpha_constraint="non_neg")
    layer.build((None, 6, 2))
    np.testing.assert_array_equal(backend.to_numpy(layer.forward(on(backend, X[:, :6, None] * np.ones(2)))[0]),
                                  np.maximum(X[:, :6, None] * np.ones(2), 0.0))
    config = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(config)
    assert rebuilt.shared_axes == [1] and rebuilt.get_config() == layer.get_config()
    assert layer.compute_mask(None, np.array([[True]])) is not None
    with pytest.raises(ValueError, match=r"shared_axes \[3\] must name axes 1 to 2"):
        PReLU(shared_axes=3).build((None, 6, 2))
    with pytest.raises(ValueError, match="needs known sizes on the axes it does not share"):
        PReLU().build((None, None, 2))
