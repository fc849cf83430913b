"""SeparableConv1D/2D, on every backend: equal to DepthwiseConv then a 1x1 Conv with the same
weights (Keras's definition), Keras's weight shapes and order, finite differences in float64,
training, saving and config."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import saving
from deepcore.layers import (
    Conv1D, Conv2D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D,
)
from deepcore.testing.gradients import check_backward

CASES = [  # separable class, depthwise class, pointwise class, options, input shape
    (SeparableConv1D, DepthwiseConv1D, Conv1D, dict(kernel_size=3, strides=2, padding="same"), (2, 7, 3)),
    (SeparableConv2D, DepthwiseConv2D, Conv2D, dict(kernel_size=(3, 2), depth_multiplier=2), (2, 5, 6, 3)),
    (SeparableConv2D, DepthwiseConv2D, Conv2D, dict(kernel_size=3, dilation_rate=2, padding="same"), (2, 6, 6, 2)),
]


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype("float64"))


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0].__name__}{case[3]}")
def test_equals_a_depthwise_then_a_pointwise_convolution(backend, float64, case):
    separable_class, depthwise_class, pointwise_class, options, shape = case
    dc.utils.set_random_seed(1)
    layer = separable_class(4, activation="tanh", bias_initializer="random_normal", **options)
    layer.build(shape)
    depthwise_kernel, pointwise_kernel, bias = layer.get_weights()
    multiplier = options.get("depth_multiplier", 1)
    rank = len(shape) - 2
    assert depthwise_kernel.shape == (*layer.depthwise.kernel_size, shape[-1], multiplier)
    assert pointwise_kernel.shape == (*(1,) * rank, shape[-1] * multiplier, 4) and bias.shape == (4,)
    depthwise = depthwise_class(use_bias=False, **options)
    depthwise.build(shape)
    depthwise.set_weights([depthwise_kernel])
    pointwise = pointwise_class(4, 1, activation="tanh")
    pointwise.build(depthwise.compute_output_shape(shape))
    pointwise.set_weights([pointwise_kernel, bias])
    x = np.random.default_rng(2).standard_normal(shape)
    expected = pointwise.forward(depthwise.forward(on(backend, x))[0])[0]
    y = backend.to_numpy(layer.forward(on(backend, x))[0])
    assert y.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, backend.to_numpy(expected), rtol=1e-12, atol=1e-14)
    check_backward(lambda v: layer.forward(v, True), x, layer.trainable_weights, label=separable_class.__name__)

    def parameters_only(v):  # a model's first layer: weights' gradients only
        y, backprop = layer.forward(v, True)
        return y, backprop.parameters_only

    check_backward(parameters_only, x, layer.trainable_weights, check_input=False, label="parameters only")


def test_a_separable_model_trains_and_round_trips(backend, tmp_path):
    dc.utils.set_random_seed(3)
    model = dc.models.Sequential([
        dc.layers.Input((8, 8, 3)),
        SeparableConv2D(4, 3, padding="same", activation="relu"),
        dc.layers.GlobalAveragePooling2D(),
        dc.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 8, 8, 3)).astype(np.float32)
    y = (x[..., 0].mean(axis=(1, 2)) > 0).astype(np.int64)
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.8  # chance: 0.5
    model.save(tmp_path / "separable.deepcore")
    np.testing.assert_array_equal(dc.models.load_model(tmp_path / "separable.deepcore").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_config_round_trips():
    layer = SeparableConv1D(5, 3, strides=2, padding="same", depth_multiplier=2, activation="relu",
                            pointwise_regularizer="l2", depthwise_initializer="he_normal")
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert saving.serialize_layer(rebuilt) == spec
    rebuilt.build((None, 9, 3))
    assert [w.shape for w in rebuilt.weights] == [(3, 3, 2), (1, 6, 5), (5,)]
