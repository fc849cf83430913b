"""The volumetric (3-D) layers, Keras's Conv3D, pooling, padding, cropping and upsampling, on
every backend: forward vs float64 direct loops or NumPy, backward vs finite differences,
output shapes, configs through JSON, and a small model that learns."""

import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers, saving
from deepcore.testing.gradients import check_backward

from conv_reference import reference_conv, reference_pool

# float64 forward results are sums of a few dozen products: 100 eps covers their rounding.
RTOL64 = 100 * np.finfo(np.float64).eps


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype("float64"))


def forward(layer, backend, x):
    y = backend.to_numpy(layer(on(backend, x)))
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *y.shape[1:])
    return y


@pytest.mark.parametrize("kernel_size, strides, padding, dilation", [
    ((2, 2, 2), (1, 1, 1), "valid", (1, 1, 1)),
    ((3, 2, 2), (2, 1, 2), "same", (1, 1, 1)),
    ((2, 2, 1), (1, 1, 1), "same", (2, 1, 1)),
], ids=str)
def test_conv3d_matches_direct_loops_with_keras_layout_weights(backend, float64, kernel_size, strides, padding,
                                                               dilation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 3, 4, 2))
    kernel = rng.standard_normal((*kernel_size, 2, 3))  # (kd, kh, kw, in, filters), as Keras
    bias = rng.standard_normal(3)
    layer = layers.Conv3D(3, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                          activation="tanh")
    layer.build((None, *x.shape[1:]))
    layer.set_weights([kernel, bias])
    expected = np.tanh(reference_conv(x, kernel, bias, strides, padding, dilation))
    np.testing.assert_allclose(forward(layer, backend, x), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), x, layer.weights, label=f"Conv3D {kernel_size}")


@pytest.mark.parametrize("cls, mode", [(layers.MaxPooling3D, "max"), (layers.AveragePooling3D, "average")])
@pytest.mark.parametrize("pool, strides, padding", [
    ((2, 2, 2), None, "valid"), ((2, 3, 2), (1, 2, 2), "same"),
], ids=str)
def test_pooling3d_matches_direct_loops(backend, float64, cls, mode, pool, strides, padding):
    # Distinct values keep every window's maximum unique for the finite differences.
    x = np.random.default_rng(1).permutation(2 * 4 * 5 * 3 * 2).reshape(2, 4, 5, 3, 2) / 10.0
    layer = cls(pool, strides=strides, padding=padding)
    expected = reference_pool(x, pool, strides or pool, padding, mode)
    np.testing.assert_allclose(forward(layer, backend, x), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), x, label=cls.__name__)


@pytest.mark.parametrize("cls, reduce", [(layers.GlobalAveragePooling3D, np.mean),
                                         (layers.GlobalMaxPooling3D, np.max)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling3d(backend, float64, cls, reduce, keepdims):
    x = np.random.default_rng(2).permutation(2 * 3 * 2 * 4 * 3).reshape(2, 3, 2, 4, 3) / 10.0
    layer = cls(keepdims=keepdims)
    expected = reduce(x, axis=(1, 2, 3), keepdims=keepdims)
    np.testing.assert_allclose(forward(layer, backend, x), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), x, label=cls.__name__)


@pytest.mark.parametrize("size", [2, (1, 3, 2)], ids=str)
def test_upsampling3d_repeats_nearest(backend, float64, size):
    x = np.random.default_rng(3).standard_normal((2, 2, 3, 2, 2))
    layer = layers.UpSampling3D(size)
    expected = x
    for axis, s in enumerate(layer.size, start=1):
        expected = np.repeat(expected, s, axis=axis)
    np.testing.assert_array_equal(forward(layer, backend, x), expected)
    check_backward(lambda v: layer.forward(v, True), x, label="UpSampling3D")


def test_upsampling3d_is_nearest_only():
    """As Keras's UpSampling3D: no bilinear mode."""
    with pytest.raises(ValueError, match=r"interpolation must be one of \['nearest'\]"):
        layers.UpSampling3D(2, interpolation="bilinear")


@pytest.mark.parametrize("padding, pairs", [
    (1, ((1, 1),) * 3),
    ((0, 2, 1), ((0, 0), (2, 2), (1, 1))),
    (((1, 0), (0, 2), (2, 1)), ((1, 0), (0, 2), (2, 1))),
], ids=str)
def test_zero_padding3d_and_cropping3d_undo_each_other(backend, float64, padding, pairs):
    x = np.random.default_rng(4).standard_normal((2, 2, 3, 2, 2))
    pad = layers.ZeroPadding3D(padding)
    padded = forward(pad, backend, x)
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 0), *pairs, (0, 0)]))
    check_backward(lambda v: pad.forward(v, True), x, label="ZeroPadding3D")
    crop = layers.Cropping3D(padding)
    np.testing.assert_array_equal(forward(crop, backend, padded), x)
    check_backward(lambda v: crop.forward(v, True), padded, label="Cropping3D")


def test_cropping3d_defaults_to_one_element_on_every_side(backend):
    x = np.arange(2 * 4 * 5 * 3 * 1, dtype=np.float32).reshape(2, 4, 5, 3, 1)
    y = backend.to_numpy(layers.Cropping3D()(backend.asarray(x, dtype=backend.dtype())))
    np.testing.assert_array_equal(y, x[:, 1:-1, 1:-1, 1:-1, :])


def test_spatial_dropout3d_drops_whole_feature_volumes(backend):
    rate = 0.5
    x = np.ones((16, 2, 3, 2, 20), dtype=np.float32)
    y = backend.to_numpy(layers.SpatialDropout3D(rate, seed=5).forward(backend.asarray(x), training=True)[0])
    per_channel = y.reshape(16, -1, 20)
    # One factor per (sample, channel), shared by all 12 positions: 0 or 1 / (1 - rate) = 2.
    np.testing.assert_array_equal(per_channel, np.repeat(per_channel[:, :1, :], 12, axis=1))
    assert set(np.unique(per_channel)) == {0.0, 2.0}


@pytest.mark.parametrize("layer", [
    layers.Conv3D(4, (3, 2, 2), strides=(1, 2, 1), padding="same", activation="relu"),
    layers.Conv3DTranspose(4, 2, strides=2),
    layers.MaxPooling3D((2, 1, 2)),
    layers.AveragePooling3D(2, padding="same"),
    layers.GlobalAveragePooling3D(keepdims=True),
    layers.GlobalMaxPooling3D(),
    layers.UpSampling3D((2, 1, 1)),
    layers.ZeroPadding3D((1, 0, 2)),
    layers.Cropping3D(((1, 0), (0, 1), (1, 1))),
    layers.SpatialDropout3D(0.3, seed=2),
], ids=lambda layer: type(layer).__name__)
def test_configs_round_trip_through_json(layer):
    input_shape = (None, 4, 6, 5, 3)
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert type(rebuilt) is type(layer)
    assert saving.serialize_layer(rebuilt) == spec
    assert rebuilt.compute_output_shape(input_shape) == layer.compute_output_shape(input_shape)


def test_a_volumetric_classifier_learns_where_the_blob_is(backend, tmp_path):
    """Volumes of noise with a bright 2x2x2 blob in the front or back half; Conv3D ->
    MaxPooling3D -> Conv3D -> GlobalMaxPooling3D -> Dense tells which (chance: 0.5)."""
    rng = np.random.default_rng(6)
    n = 256
    x = rng.normal(0.0, 0.3, (n, 6, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    for volume, label, (r, c) in zip(x, y, rng.integers(0, 5, (n, 2))):
        d = rng.integers(0, 2) + (3 if label else 0)
        volume[d:d + 2, r:r + 2, c:c + 2, 0] += 2.0
    model = dc.models.Sequential([
        layers.Input((6, 6, 6, 1)),
        layers.Conv3D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling3D((3, 1, 1)),
        layers.Conv3D(8, (2, 3, 3), padding="same", activation="relu"),
        layers.GlobalMaxPooling3D(),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:192], y[:192], epochs=15, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[192:], y[192:], verbose=0)
    assert accuracy >= 0.9
    path = tmp_path / "volumes.deepcore"
    model.save(path)
    np.testing.assert_allclose(dc.models.load_model(path).predict(x[192:], verbose=0),
                               model.predict(x[192:], verbose=0), rtol=1e-6, atol=1e-6)
