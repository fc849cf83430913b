"""Rescaling, Resizing and CenterCrop, Keras's image preprocessing layers, on every backend:
against loops written from TensorFlow's resize kernels, finite differences, configs; and an
augmented CNN (image_augmentation's RandomFlip in Keras's usual pipeline)."""

import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers, saving
from deepcore.testing.gradients import check_backward


def on(backend, host, dtype="float64"):
    return backend.asarray(host, dtype=backend.dtype(dtype))


@pytest.mark.parametrize("scale, offset", [(1 / 255, 0.0), (2.0, -1.0), ([0.5, 2.0, -1.0], [1.0, 0.0, 3.0])],
                         ids=["pixels", "to [-1, 1]", "per channel"])
def test_rescaling_scales_then_shifts(backend, scale, offset):
    dc.set_floatx("float64")
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 5, 3))
    layer = layers.Rescaling(scale, offset=offset)
    y = backend.to_numpy(layer(on(backend, x)))
    np.testing.assert_allclose(y, x * np.asarray(scale) + np.asarray(offset), rtol=1e-15)
    check_backward(lambda v: layer.forward(v, True), x / 255, label="Rescaling")


def test_rescaling_keeps_float32(backend):
    y = layers.Rescaling([0.5, 2.0], offset=1.0)(on(backend, np.ones((2, 2)), "float32"))
    assert y.dtype == backend.dtype("float32")


@pytest.mark.parametrize("layer", [layers.Rescaling(1 / 255), layers.Rescaling([1.0, 2.0], offset=[0.0, -1.0])],
                         ids=lambda layer: type(layer).__name__)
def test_configs_round_trip_through_json(layer):
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert type(rebuilt) is type(layer)
    assert saving.serialize_layer(rebuilt) == spec


def test_an_augmented_cnn_trains_on_digits_and_round_trips(backend, tmp_path):
    """Keras's usual image pipeline: Rescaling, RandomFlip, Conv2D... on scikit-learn's digits
    (pixel values 0..16). Mirrored digits make the task harder (0.87-0.89 measured with two
    seeds on every backend); chance is 0.1."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images[..., None].astype(np.float32)
    y = digits.target
    model = dc.models.Sequential([
        layers.Input((8, 8, 1)),
        layers.Rescaling(1 / 16),
        layers.RandomFlip("horizontal", seed=0),
        layers.Conv2D(8, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1400], y[:1400], epochs=8, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x[1400:], y[1400:], verbose=0)
    assert accuracy > 0.75
    path = tmp_path / "augmented.deepcore"
    model.save(path)
    np.testing.assert_allclose(dc.models.load_model(path).predict(x[1400:], verbose=0),
                               model.predict(x[1400:], verbose=0), rtol=1e-6, atol=1e-6)


def reference_resize(x, height, width, interpolation):
    """TensorFlow's half-pixel resize kernels, one output pixel at a time (scale = in / out):
    bilinear: source = (out + 0.5) * scale - 0.5, lower = max(floor(source), 0), upper =
    min(ceil(source), n - 1), lerp = source - floor(source); nearest: min(floor((out + 0.5) *
    scale), n - 1)."""
    batch, rows, cols, channels = x.shape

    def taps(out, n, m):
        source = (out + 0.5) * (n / m) - 0.5
        return max(int(np.floor(source)), 0), min(int(np.ceil(source)), n - 1), source - np.floor(source)

    y = np.zeros((batch, height, width, channels))
    for i in range(height):
        for j in range(width):
            if interpolation == "nearest":
                r = min(int(np.floor((i + 0.5) * rows / height)), rows - 1)
                c = min(int(np.floor((j + 0.5) * cols / width)), cols - 1)
                y[:, i, j] = x[:, r, c]
                continue
            top, bottom, dy = taps(i, rows, height)
            left, right, dx = taps(j, cols, width)
            upper_row = x[:, top, left] + (x[:, top, right] - x[:, top, left]) * dx
            lower_row = x[:, bottom, left] + (x[:, bottom, right] - x[:, bottom, left]) * dx
            y[:, i, j] = upper_row + (lower_row - upper_row) * dy
    return y


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(3, 4), (8, 11), (5, 7), (2, 13)], ids=str)
def test_resizing_matches_tensorflows_kernels(backend, interpolation, size):
    dc.set_floatx("float64")
    x = np.random.default_rng(8).standard_normal((2, 5, 7, 3))
    layer = layers.Resizing(*size, interpolation=interpolation)
    y = backend.to_numpy(layer(on(backend, x)))
    np.testing.assert_allclose(y, reference_resize(x, *size, interpolation), rtol=1e-12, atol=1e-12)
    assert layer.compute_output_shape((None, 5, 7, 3)) == (None, *y.shape[1:])
    if size == (5, 7):  # the same size: the identity
        np.testing.assert_array_equal(y, x)
    check_backward(lambda v: layer.forward(v, True), x, label=f"Resizing {size} {interpolation}")


def test_resizing_can_crop_to_the_target_aspect_ratio_first(backend):
    dc.set_floatx("float64")
    x = np.random.default_rng(9).standard_normal((2, 6, 10, 2))
    layer = layers.Resizing(4, 4, crop_to_aspect_ratio=True)
    y = backend.to_numpy(layer(on(backend, x)))
    # Keras's window: all 6 rows, the 6 middle columns (2..7).
    np.testing.assert_allclose(y, reference_resize(x[:, :, 2:8], 4, 4, "bilinear"), rtol=1e-12, atol=1e-12)
    check_backward(lambda v: layer.forward(v, True), x, label="Resizing crop_to_aspect_ratio")


def test_center_crop_cuts_the_middle(backend):
    dc.set_floatx("float64")
    x = np.random.default_rng(10).standard_normal((2, 7, 8, 2))
    layer = layers.CenterCrop(4, 5)
    y = backend.to_numpy(layer(on(backend, x)))
    np.testing.assert_array_equal(y, x[:, 1:5, 1:6])  # odd differences: the extra row/column goes at the end
    check_backward(lambda v: layer.forward(v, True), x, label="CenterCrop")


def test_center_crop_resizes_an_image_smaller_than_the_target(backend):
    dc.set_floatx("float64")
    x = np.random.default_rng(11).standard_normal((2, 3, 8, 1))
    y = backend.to_numpy(layers.CenterCrop(6, 6)(on(backend, x)))
    # Keras: crop to the 1:1 aspect ratio (3 rows, columns 2..4), then resize to 6 x 6.
    np.testing.assert_allclose(y, reference_resize(x[:, :, 2:5], 6, 6, "bilinear"), rtol=1e-12, atol=1e-12)


def test_resizing_and_center_crop_keep_float32(backend):
    x = on(backend, np.ones((1, 5, 6, 2)), "float32")
    for layer in (layers.Resizing(3, 9), layers.CenterCrop(3, 4), layers.CenterCrop(7, 7)):
        y, backprop = layer.forward(x)
        assert y.dtype == backprop(y).dtype == backend.dtype("float32")


def test_resizing_and_center_crop_name_bad_arguments(backend):
    with pytest.raises(ValueError, match="interpolation must be one of"):
        layers.Resizing(4, 4, interpolation="bicubic")
    with pytest.raises(ValueError, match="height must be a positive integer"):
        layers.CenterCrop(0, 4)
    with pytest.raises(ValueError, match=r"resizing.* expects images of shape \(batch, rows, cols, channels\)"):
        layers.Resizing(4, 4).forward(on(backend, np.zeros((2, 5, 5))))


@pytest.mark.parametrize("layer", [layers.Resizing(8, 6, interpolation="nearest", crop_to_aspect_ratio=True),
                                   layers.CenterCrop(3, 2)], ids=lambda layer: type(layer).__name__)
def test_resizing_configs_round_trip_through_json(layer):
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert type(rebuilt) is type(layer) and saving.serialize_layer(rebuilt) == spec
    assert rebuilt.compute_output_shape((None, 5, 7, 3)) == layer.compute_output_shape((None, 5, 7, 3))
