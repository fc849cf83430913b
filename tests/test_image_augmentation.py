"""The random image augmentations on every backend: the affine sampler (RandomRotation,
RandomTranslation, RandomZoom) against direct loops for every fill mode and interpolation,
exact rotations and shifts; RandomFlip, RandomCrop, RandomContrast, RandomBrightness against
their formulas; finite differences, seeds, configs."""

import itertools
import json
import math

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers, saving
from deepcore.layers.image_augmentation import affine_transform
from deepcore.testing.gradients import check_backward

FILL_MODES = ["reflect", "wrap", "constant", "nearest"]


def on(backend, host, dtype="float64"):
    return backend.asarray(host, dtype=backend.dtype(dtype))


def fixed_index(i, n, fill_mode):
    """Keras's documented extensions of a row a b c d: reflect (d c b a | a b c d | d c b a),
    wrap (a b c d | a b c d), nearest (a a | a b c d | d d); None for constant outside."""
    if 0 <= i < n:
        return i
    if fill_mode == "constant":
        return None
    if fill_mode == "nearest":
        return min(max(i, 0), n - 1)
    if fill_mode == "wrap":
        return i % n
    i = i % (2 * n)
    return i if i < n else 2 * n - 1 - i


def reference_affine(x, transform, interpolation, fill_mode, fill_value):
    """One output pixel, one tap at a time."""
    batch, rows, cols, channels = x.shape
    y = np.zeros_like(x)
    for b, v, u in itertools.product(range(batch), range(rows), range(cols)):
        a0, a1, a2, b0, b1, b2 = transform[b]
        source_col, source_row = a0 * u + a1 * v + a2, b0 * u + b1 * v + b2
        if interpolation == "nearest":
            taps = [(math.floor(source_row + 0.5), math.floor(source_col + 0.5), 1.0)]
        else:
            r0, c0 = math.floor(source_row), math.floor(source_col)
            fr, fc = source_row - r0, source_col - c0
            taps = [(r0, c0, (1 - fr) * (1 - fc)), (r0, c0 + 1, (1 - fr) * fc),
                    (r0 + 1, c0, fr * (1 - fc)), (r0 + 1, c0 + 1, fr * fc)]
        for r, c, weight in taps:
            fr_, fc_ = fixed_index(r, rows, fill_mode), fixed_index(c, cols, fill_mode)
            y[b, v, u] += weight * (fill_value if fr_ is None or fc_ is None else x[b, fr_, fc_])
    return y


def random_transforms(batch, rng):
    """Rotations, zooms, shears and shifts large enough to reach far outside the image."""
    angle = rng.uniform(-math.pi, math.pi, batch)
    scale = rng.uniform(0.6, 1.8, (batch, 2))
    return np.stack([scale[:, 0] * np.cos(angle), -np.sin(angle) + rng.uniform(-0.3, 0.3, batch),
                     rng.uniform(-4, 6, batch), np.sin(angle), scale[:, 1] * np.cos(angle),
                     rng.uniform(-4, 6, batch)], axis=1)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_affine_transform_matches_direct_loops(backend, fill_mode, interpolation):
    dc.set_floatx("float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 6, 2))
    transform = random_transforms(3, rng)
    y, _ = affine_transform(on(backend, x), on(backend, transform), interpolation, fill_mode, 0.5)
    expected = reference_affine(x, transform, interpolation, fill_mode, 0.5)
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_affine_transform_backward_matches_finite_differences(backend, fill_mode):
    dc.set_floatx("float64")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 5, 2))
    transform = on(backend, random_transforms(2, rng))
    check_backward(lambda v: affine_transform(v, transform, "bilinear", fill_mode, 0.5), x,
                   label=f"affine_transform {fill_mode}")


def test_a_quarter_turn_is_numpys_rot90(backend):
    dc.set_floatx("float64")
    x = np.random.default_rng(2).standard_normal((3, 6, 6, 2))
    layer = layers.RandomRotation((0.25, 0.25), seed=0)  # exactly +90 degrees: counter-clockwise
    y = backend.to_numpy(layer.forward(on(backend, x), training=True)[0])
    np.testing.assert_allclose(y, np.rot90(x, 1, axes=(1, 2)), rtol=1e-12, atol=1e-12)


def test_a_whole_pixel_shift_fills_by_the_mode(backend):
    dc.set_floatx("float64")
    x = np.random.default_rng(3).standard_normal((2, 8, 5, 1))
    layer = layers.RandomTranslation((0.25, 0.25), (0.0, 0.0), fill_mode="reflect", seed=0)  # 2 rows down
    y = backend.to_numpy(layer.forward(on(backend, x), training=True)[0])
    np.testing.assert_allclose(y, x[:, [1, 0, 0, 1, 2, 3, 4, 5]], rtol=1e-12, atol=1e-12)
    layer = layers.RandomTranslation((0.0, 0.0), (-0.4, -0.4), fill_mode="constant", fill_value=7.0, seed=0)
    y = backend.to_numpy(layer.forward(on(backend, x), training=True)[0])  # 2 columns left
    np.testing.assert_allclose(y[:, :, :3], x[:, :, 2:], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y[:, :, 3:], 7.0)


def test_zooming_out_by_factor_1_shrinks_to_half_about_the_centre(backend):
    """Zoom 1 + 1 = 2: output pixel u reads input 2u - (n - 1) / 2; on a linear ramp the
    bilinear sample is exact wherever it stays inside the image."""
    dc.set_floatx("float64")
    ramp = np.tile(np.arange(9.0)[None, None, :, None], (1, 9, 1, 1))
    y = backend.to_numpy(layers.RandomZoom((1.0, 1.0), seed=0).forward(on(backend, ramp), training=True)[0])
    np.testing.assert_allclose(y[0, 4, 2:7, 0], 2 * np.arange(2, 7) - 4.0, rtol=1e-12)


@pytest.mark.parametrize("make", [lambda: layers.RandomRotation(0.2, seed=5),
                                  lambda: layers.RandomTranslation(0.2, 0.3, seed=5),
                                  lambda: layers.RandomZoom(0.3, seed=5),
                                  lambda: layers.RandomZoom(0.3, (-0.2, 0.1), seed=5)],
                         ids=["rotation", "translation", "zoom", "zoom-2d"])
def test_augmentations_draw_per_image_identically_on_every_backend(backend, make):
    """Training: images get different transforms (host draws: the same on every backend for a
    seed); inference: the identity."""
    dc.set_floatx("float64")
    x = np.random.default_rng(4).standard_normal((4, 7, 7, 2))
    batch = np.repeat(x[:1], 4, axis=0)  # four copies of one image: different draws show
    y = backend.to_numpy(make().forward(on(backend, batch), training=True)[0])
    assert not np.allclose(y[0], y[1])
    with dc.use_backend("numpy") as reference:
        expected = reference.to_numpy(make().forward(reference.asarray(batch), training=True)[0])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(make()(on(backend, x))), x)


def test_augmentations_keep_float32(backend):
    x = on(backend, np.ones((2, 5, 5, 1)), "float32")
    for layer in (layers.RandomRotation(0.1), layers.RandomTranslation(0.1, 0.1), layers.RandomZoom(0.1)):
        y, backprop = layer.forward(x, training=True)
        assert y.dtype == backprop(y).dtype == backend.dtype("float32")


def test_augmentations_name_bad_arguments(backend):
    with pytest.raises(ValueError, match=r"fill_mode must be one of"):
        layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"height_factor must lie in \[-1.0, 1.0\]"):
        layers.RandomTranslation(1.5, 0.1)
    with pytest.raises(ValueError, match="width_factor must be a number or a pair"):
        layers.RandomZoom(0.1, (0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match=r"expects images of shape \(batch, rows, cols, channels\)"):
        layers.RandomRotation(0.1).forward(on(backend, np.zeros((2, 5, 5))), training=True)


@pytest.mark.parametrize("layer", [
    layers.RandomFlip("vertical", seed=3),
    layers.RandomRotation((-0.1, 0.2), fill_mode="constant", fill_value=1.0, seed=1),
    layers.RandomTranslation(0.1, (0.0, 0.2), interpolation="nearest"),
    layers.RandomZoom(0.2, fill_mode="wrap"),
    layers.RandomCrop(3, 4, seed=2),
    layers.RandomContrast((0.1, 0.3), value_range=(0, 1)),
    layers.RandomBrightness(0.2, seed=4),
], ids=lambda layer: type(layer).__name__)
def test_configs_round_trip_through_json(layer):
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert type(rebuilt) is type(layer) and saving.serialize_layer(rebuilt) == spec


def test_random_flip_flips_each_image_or_leaves_it(backend):
    """Training: every image comes out as itself or its mirror image, both occur, each with
    probability 1/2; the gradient goes back through the same flips. Inference: identity."""
    dc.set_floatx("float64")
    n = 400
    x = np.random.default_rng(1).standard_normal((n, 3, 4, 2))
    layer = layers.RandomFlip("horizontal", seed=7)
    y, backprop = layer.forward(on(backend, x), training=True)
    y = backend.to_numpy(y)
    kept = np.all(y == x, axis=(1, 2, 3))
    mirrored = np.all(y == x[:, :, ::-1, :], axis=(1, 2, 3))
    assert np.all(kept ^ mirrored)
    # 400 fair coins: the flipped fraction's standard deviation is 0.025; 5 of them.
    assert abs(mirrored.mean() - 0.5) < 5 * 0.025
    dy = np.random.default_rng(2).standard_normal(x.shape)
    dx = backend.to_numpy(backprop(on(backend, dy)))
    np.testing.assert_array_equal(dx[kept], dy[kept])
    np.testing.assert_array_equal(dx[mirrored], dy[mirrored][:, :, ::-1, :])
    np.testing.assert_array_equal(backend.to_numpy(layer(on(backend, x))), x)


def test_random_flip_in_both_directions_turns_half_the_images_by_180_degrees(backend):
    """Keras 3: one draw per image decides both flips, so an image stays or turns by 180 degrees."""
    x = np.random.default_rng(3).standard_normal((200, 3, 3, 1))
    layer = layers.RandomFlip(seed=4)
    y, backprop = layer.forward(on(backend, x), training=True)
    y = backend.to_numpy(y)
    kept = np.all(y == x, axis=(1, 2, 3))
    turned = np.all(y == x[:, ::-1, ::-1], axis=(1, 2, 3))
    assert np.all(kept ^ turned) and 60 < turned.sum() < 140, turned.sum()  # ~100, sd 7
    dy = np.random.default_rng(4).standard_normal(x.shape)
    dx = backend.to_numpy(backprop(on(backend, dy)))
    np.testing.assert_array_equal(dx[turned], dy[turned][:, ::-1, ::-1])
    np.testing.assert_array_equal(dx[kept], dy[kept])


def test_random_flip_names_a_wrong_rank_and_mode(backend):
    with pytest.raises(ValueError, match=r"expects images of shape \(batch, rows, cols, channels\)"):
        layers.RandomFlip().forward(on(backend, np.zeros((2, 3, 4))), training=True)
    with pytest.raises(ValueError, match="mode must be one of"):
        layers.RandomFlip("diagonal")


def test_random_crop_takes_one_window_per_batch_and_resizes_at_inference(backend):
    dc.set_floatx("float64")
    x = np.random.default_rng(6).standard_normal((3, 7, 9, 2))
    layer = layers.RandomCrop(4, 5, seed=1)
    seen = set()
    for _ in range(40):
        y, backprop = layer.forward(on(backend, x), training=True)
        y = backend.to_numpy(y)
        windows = [(top, left) for top in range(4) for left in range(5)
                   if np.array_equal(y, x[:, top:top + 4, left:left + 5])]
        assert len(windows) == 1  # the same window for every image of the batch
        top, left = windows[0]
        seen.add(windows[0])
        dx = backend.to_numpy(backprop(on(backend, np.ones_like(y))))
        expected = np.zeros_like(x)
        expected[:, top:top + 4, left:left + 5] = 1.0
        np.testing.assert_array_equal(dx, expected)
    assert len(seen) > 8  # 20 windows possible
    inference = backend.to_numpy(layer(on(backend, x)))
    resized = backend.to_numpy(layers.Resizing(4, 5, crop_to_aspect_ratio=True)(on(backend, x)))
    np.testing.assert_array_equal(inference, resized)


def seeded(make):
    """A function of the input whose random draws are the same at every call (a fresh layer
    with a fixed seed), so that finite differences apply."""
    return lambda v: make().forward(v, training=True)


def test_random_contrast_scales_deviations_from_the_channel_mean(backend):
    dc.set_floatx("float64")
    x = np.random.default_rng(7).uniform(100, 150, (6, 4, 5, 3))
    y = backend.to_numpy(layers.RandomContrast(0.4, seed=3).forward(on(backend, x), training=True)[0])
    mean = x.mean(axis=(1, 2), keepdims=True)
    scale = (y - mean) / (x - mean)  # one factor per image, shared by its channels and pixels
    np.testing.assert_allclose(scale, np.broadcast_to(scale[:, :1, :1, :1], scale.shape), rtol=1e-9)
    assert np.all((scale >= 0.6) & (scale <= 1.4)) and np.ptp(scale[:, 0, 0, 0]) > 0
    make = lambda: layers.RandomContrast(0.9, value_range=(0, 1), seed=5)  # noqa: E731
    check_backward(seeded(make), np.random.default_rng(8).uniform(0.3, 0.7, (2, 3, 3, 2)), label="RandomContrast")
    clipped = backend.to_numpy(make().forward(on(backend, x / 150), training=True)[0])
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


def test_random_brightness_adds_a_delta_per_image_and_clips(backend):
    dc.set_floatx("float64")
    x = np.random.default_rng(9).uniform(50, 200, (6, 4, 5, 3))
    y = backend.to_numpy(layers.RandomBrightness(0.1, seed=3).forward(on(backend, x), training=True)[0])
    delta = y - x  # one delta per image, at most 0.1 * 255
    np.testing.assert_allclose(delta, np.broadcast_to(delta[:, :1, :1, :1], delta.shape), rtol=1e-9, atol=1e-9)
    assert np.all(np.abs(delta) <= 25.5) and np.ptp(delta[:, 0, 0, 0]) > 0
    make = lambda: layers.RandomBrightness((0.4, 0.6), value_range=(0, 1), seed=2)  # noqa: E731
    bright = backend.to_numpy(make().forward(on(backend, x / 255), training=True)[0])
    assert bright.max() == 1.0  # pushed past the top: clipped
    check_backward(seeded(make), np.random.default_rng(10).uniform(0, 1, (2, 3, 3, 2)), label="RandomBrightness")


def test_photometric_factors_are_checked():
    with pytest.raises(ValueError, match="factor must be non-negative, and its lower part at most 1"):
        layers.RandomContrast(1.5)  # 1 - 1.5 < 0: negative contrast
    layers.RandomContrast((0.2, 1.5))  # Keras allows an upper part above 1
    with pytest.raises(ValueError, match=r"factor must lie in \[-1.0, 1.0\]"):
        layers.RandomBrightness((-2.0, 0.1))
    with pytest.raises(ValueError, match="height must be a positive integer"):
        layers.RandomCrop(0, 3)

