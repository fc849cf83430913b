"""DepthwiseConv1D/2D, on every backend: each output channel c * multiplier + j equals a plain
convolution of input channel c with depthwise_kernel[..., c, j] (Keras's definition); backward
against finite differences in float64; Keras's weight shapes and config."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import saving
from deepcore.layers import Conv1D, Conv2D, DepthwiseConv1D, DepthwiseConv2D
from deepcore.testing.gradients import check_backward

DEPTHWISE = {1: DepthwiseConv1D, 2: DepthwiseConv2D}
CONV = {1: Conv1D, 2: Conv2D}
CASES = [  # rank, kernel, strides, dilation, padding, depth_multiplier, input spatial
    (1, 3, 1, 1, "valid", 1, (7,)),
    (1, 2, 2, 1, "same", 2, (7,)),
    (1, 3, 1, 2, "same", 3, (8,)),
    (2, 3, 1, 1, "valid", 2, (5, 6)),
    (2, (2, 3), (2, 1), 1, "same", 1, (5, 5)),
    (2, 3, 1, (1, 2), "same", 2, (6, 6)),
]


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype("float64"))


def build(case, **options):
    rank, kernel_size, strides, dilation, padding, multiplier, spatial = case
    layer = DEPTHWISE[rank](kernel_size, strides=strides, padding=padding, depth_multiplier=multiplier,
                            dilation_rate=dilation, **options)
    x = np.random.default_rng(0).standard_normal((2, *spatial, 3))
    layer.build(x.shape)
    return layer, x


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_channel_is_convolved_on_its_own(backend, float64, case):
    layer, x = build(case, use_bias=False)
    kernel = layer.get_weights()[0]
    multiplier = layer.depth_multiplier
    assert kernel.shape == (*layer.kernel_size, 3, multiplier)  # Keras's depthwise_kernel
    y = backend.to_numpy(layer.forward(on(backend, x))[0])
    assert y.shape == layer.compute_output_shape(x.shape) and y.shape[-1] == 3 * multiplier
    for c in range(3):
        conv = CONV[layer.rank](multiplier, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                                dilation_rate=layer.dilation_rate, use_bias=False)
        conv.build((*x.shape[:-1], 1))
        conv.set_weights([kernel[..., c:c + 1, :]])
        expected = backend.to_numpy(conv.forward(on(backend, x[..., c:c + 1]))[0])
        np.testing.assert_allclose(y[..., c * multiplier:(c + 1) * multiplier], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES[1::2], ids=str)
def test_backward_matches_finite_differences(backend, float64, case):
    dc.utils.set_random_seed(2)
    layer, x = build(case, activation="tanh", bias_initializer="random_normal")
    check_backward(lambda v: layer.forward(v, True), x, layer.trainable_weights, label=f"Depthwise {case}")


def test_a_depthwise_separable_model_trains_and_round_trips(backend, tmp_path):
    """DepthwiseConv2D then a 1x1 Conv2D: the separable convolution of MobileNet-style models."""
    dc.utils.set_random_seed(3)
    model = dc.models.Sequential([
        dc.layers.Input((8, 8, 3)),
        DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False),
        Conv2D(4, 1, activation="relu"),
        dc.layers.GlobalAveragePooling2D(),
        dc.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 8, 8, 3)).astype(np.float32)
    y = (x[..., 0].mean(axis=(1, 2)) > 0).astype(np.int64)  # the sign of channel 0's mean
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.8  # chance: 0.5 (0.94 seen on numpy, torch, strict)
    model.save(tmp_path / "separable.deepcore")
    np.testing.assert_array_equal(dc.models.load_model(tmp_path / "separable.deepcore").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_config_round_trips_and_bad_arguments_are_named():
    layer = DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=3, depthwise_regularizer="l2")
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert saving.serialize_layer(rebuilt) == spec
    rebuilt.build((None, 6, 6, 2))
    assert [w.shape for w in rebuilt.weights] == [(3, 2, 2, 3), (6,)]
    with pytest.raises(ValueError, match="depth_multiplier must be a positive integer"):
        DepthwiseConv1D(3, depth_multiplier=0)
