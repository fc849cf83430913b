"""Convolution, pooling, padding and upsampling layers: forward vs float64 NumPy loops written
here independently, backward vs finite differences, and output shapes, on every backend."""

import itertools
import re

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers
from deepcore.testing.gradients import check_backward

from conv_reference import reference_conv, reference_pool

# float64 forward results are sums of a few dozen products: 100 eps covers their rounding.
RTOL64 = 100 * np.finfo(np.float64).eps


def run(layer, x_host, backend):
    """Build ``layer`` for ``x_host`` and return its float64 output on the host."""
    x = backend.asarray(x_host, dtype=backend.dtype("float64"))
    return backend.to_numpy(layer(x))


CONV2D_CASES = [
    # kernel_size, strides, padding, dilation_rate
    ((3, 3), (1, 1), "valid", (1, 1)),
    ((3, 3), (1, 1), "same", (1, 1)),
    ((2, 3), (2, 1), "same", (1, 1)),
    ((3, 2), (2, 2), "valid", (1, 1)),
    ((2, 2), (1, 1), "same", (2, 2)),
    ((2, 3), (1, 1), "valid", (2, 1)),
]


@pytest.mark.parametrize("kernel_size, strides, padding, dilation", CONV2D_CASES)
def test_conv2d_matches_reference_with_keras_layout_weights(backend, kernel_size, strides, padding, dilation):
    dc.set_floatx("float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 3))
    kernel = rng.standard_normal((*kernel_size, 3, 4))
    bias = rng.standard_normal(4)
    layer = layers.Conv2D(4, kernel_size, strides=strides, padding=padding, dilation_rate=dilation)
    layer.build((None, 6, 5, 3))
    layer.set_weights([kernel, bias])
    expected = reference_conv(x, kernel, bias, strides, padding, dilation)
    np.testing.assert_allclose(run(layer, x, backend), expected, rtol=RTOL64, atol=RTOL64)


@pytest.mark.parametrize("kernel_size, strides, padding, dilation", CONV2D_CASES)
def test_conv2d_backward(backend, kernel_size, strides, padding, dilation):
    x = np.random.default_rng(1).standard_normal((2, 5, 4, 2))
    layer = layers.Conv2D(3, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                          activation="tanh")
    layer.build((None, 5, 4, 2))
    check_backward(lambda v: layer.forward(v, True), x, layer.weights, label="Conv2D")


@pytest.mark.parametrize("kernel_size, strides, padding, dilation", [
    (3, 1, "valid", 1), (3, 2, "same", 1), (2, 1, "same", 3), (3, 1, "causal", 2), (4, 3, "valid", 1),
])
def test_conv1d_matches_reference_and_backward(backend, kernel_size, strides, padding, dilation):
    dc.set_floatx("float64")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 9, 3))
    kernel = rng.standard_normal((kernel_size, 3, 2))
    bias = rng.standard_normal(2)
    layer = layers.Conv1D(2, kernel_size, strides=strides, padding=padding, dilation_rate=dilation)
    layer.build((None, 9, 3))
    layer.set_weights([kernel, bias])
    expected = reference_conv(x, kernel, bias, (strides,), padding, (dilation,))
    np.testing.assert_allclose(run(layer, x, backend), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), x, layer.weights, label="Conv1D")


@pytest.mark.parametrize("cls, spatial, kernel_size, strides, padding, groups", [
    (layers.Conv2D, (5, 6), (3, 2), (1, 2), "same", 2),
    (layers.Conv2D, (5, 5), (2, 2), (1, 1), "valid", 3),
    (layers.Conv1D, (8,), (3,), (2,), "same", 3),
])
def test_grouped_convolution_matches_one_reference_per_group(backend, cls, spatial, kernel_size, strides,
                                                             padding, groups):
    """Keras's groups: channels and filters split into ``groups`` blocks, block j of the output
    convolves block j of the input with filters block j of the kernel (..., in / groups, filters)."""
    dc.set_floatx("float64")
    rng = np.random.default_rng(13)
    channels, filters = 2 * groups, 2 * groups
    x = rng.standard_normal((2, *spatial, channels))
    kernel = rng.standard_normal((*kernel_size, channels // groups, filters))
    bias = rng.standard_normal(filters)
    layer = cls(filters, kernel_size, strides=strides, padding=padding, groups=groups)
    layer.build((None, *spatial, channels))
    layer.set_weights([kernel, bias])
    c, f = channels // groups, filters // groups
    expected = np.concatenate([
        reference_conv(x[..., j * c:(j + 1) * c], kernel[..., j * f:(j + 1) * f], bias[j * f:(j + 1) * f],
                       strides, padding, (1,) * len(spatial))
        for j in range(groups)
    ], axis=-1)
    np.testing.assert_allclose(run(layer, x, backend), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), x, layer.weights, label=f"{cls.__name__} groups={groups}")
    assert cls.from_config(layer.get_config()).groups == groups


def test_groups_must_divide_channels_and_filters():
    with pytest.raises(ValueError, match="groups must be a positive integer dividing filters=6"):
        layers.Conv2D(6, 3, groups=4)
    layer = layers.Conv2D(6, 3, groups=3)
    with pytest.raises(ValueError, match="4 input channels do not split into groups=3"):
        layer.build((None, 5, 5, 4))


def test_conv_without_bias_has_only_a_kernel(backend):
    layer = layers.Conv2D(2, 3, use_bias=False)
    layer.build((None, 5, 5, 1))
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 1, 2)]
    check_backward(lambda v: layer.forward(v, True), np.random.default_rng(3).standard_normal((1, 5, 5, 1)),
                   layer.weights, label="Conv2D(use_bias=False)")


@pytest.mark.parametrize("layer_type", ["max", "average"])
@pytest.mark.parametrize("pool, strides, padding", [
    ((2, 2), None, "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same"), ((3, 2), (2, 1), "valid"),
])
def test_pooling2d_matches_reference_and_backward(backend, layer_type, pool, strides, padding):
    dc.set_floatx("float64")
    # Distinct values (a permutation) keep every window's maximum unique, so finite
    # differences see the same argmax as the analytic gradient.
    x = np.random.default_rng(4).permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) / 10.0
    cls = layers.MaxPooling2D if layer_type == "max" else layers.AveragePooling2D
    layer = cls(pool, strides=strides, padding=padding)
    expected = reference_pool(x, pool, strides or pool, padding, layer_type)
    np.testing.assert_allclose(run(layer, x, backend), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), x, label=type(layer).__name__)


@pytest.mark.parametrize("layer_type", ["max", "average"])
@pytest.mark.parametrize("pool, strides, padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid")])
def test_pooling1d_matches_reference_and_backward(backend, layer_type, pool, strides, padding):
    dc.set_floatx("float64")
    x = np.random.default_rng(5).permutation(2 * 7 * 3).reshape(2, 7, 3) / 10.0
    cls = layers.MaxPooling1D if layer_type == "max" else layers.AveragePooling1D
    layer = cls(pool, strides=strides, padding=padding)
    expected = reference_pool(x, (pool,), (strides or pool,), padding, layer_type)
    np.testing.assert_allclose(run(layer, x, backend), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), x, label=type(layer).__name__)


@pytest.mark.parametrize("window, expected", [
    ([1.0, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 0.0]),  # all tied: the first
    ([0.0, 1.0, 2.0, 2.0], [0.0, 0.0, 3.0, 0.0]),  # the last two tied
    ([0.0, 1.0, 0.0, 5.0], [0.0, 0.0, 0.0, 3.0]),  # only the last
], ids=["all", "last-two", "last"])
def test_max_pooling_gives_a_tied_window_one_gradient(backend, window, expected):
    """Ties send the whole gradient to the first maximum (as TensorFlow), not to every maximum."""
    dc.set_floatx("float64")
    layer = layers.MaxPooling2D(2)
    x = backend.asarray(np.reshape(window, (1, 2, 2, 1)), dtype=backend.dtype("float64"))
    _, backprop = layer.forward(x)
    dy = backend.asarray(np.full((1, 1, 1, 1), 3.0), dtype=backend.dtype("float64"))
    dx = backend.to_numpy(backprop(dy))
    np.testing.assert_array_equal(dx.reshape(-1), expected)


@pytest.mark.parametrize("cls, reduce, rank", [
    (layers.GlobalAveragePooling2D, np.mean, 2), (layers.GlobalMaxPooling2D, np.max, 2),
    (layers.GlobalAveragePooling1D, np.mean, 1), (layers.GlobalMaxPooling1D, np.max, 1),
])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(backend, cls, reduce, rank, keepdims):
    dc.set_floatx("float64")
    shape = (2, 3, 4, 2)[:rank + 1] + (2,)
    x = np.random.default_rng(6).permutation(int(np.prod(shape))).reshape(shape) / 10.0
    layer = cls(keepdims=keepdims)
    axes = tuple(range(1, rank + 1))
    expected = reduce(x, axis=axes, keepdims=keepdims)
    y = run(layer, x, backend)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    np.testing.assert_allclose(y, expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), x, label=cls.__name__)


def test_compute_output_shape_agrees_with_every_combination(backend):
    """Every padding x stride x dilation combination, for Conv1D/2D and pooling."""
    x2 = backend.asarray(np.zeros((1, 7, 6, 2)), dtype=backend.dtype())
    x1 = backend.asarray(np.zeros((1, 8, 2)), dtype=backend.dtype())
    checked = 0
    grid = itertools.product(("valid", "same"), (1, 2, 3), (1, 2), (1, 2, 3))
    for padding, stride, dilation, kernel in grid:
        if stride > 1 and dilation > 1:
            continue
        for layer, x in [
            (layers.Conv2D(3, kernel, strides=stride, padding=padding, dilation_rate=dilation), x2),
            (layers.Conv2D(3, (kernel, 2), strides=(stride, 1), padding=padding,
                           dilation_rate=(dilation, 1)), x2),
            (layers.Conv1D(3, kernel, strides=stride, padding=padding, dilation_rate=dilation), x1),
            (layers.Conv1D(3, kernel, strides=stride, padding="causal", dilation_rate=dilation), x1),
            (layers.MaxPooling2D(kernel, strides=stride, padding=padding), x2),
            (layers.AveragePooling1D(kernel, strides=stride, padding=padding), x1),
        ]:
            y = layer(x)
            predicted = layer.compute_output_shape((None, *x.shape[1:]))
            assert predicted == (None, *y.shape[1:]), layer.get_config()
            checked += 1
    assert checked == 2 * 4 * 3 * 6


def test_flatten_after_conv_and_pooling_builds_a_sequential_model(backend):
    model = dc.models.Sequential([
        layers.Input((8, 8, 1)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(6, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(3),
    ])
    assert model.output_shape == (None, 3)
    assert model.layers[2].compute_output_shape((None, 4, 4, 4)) == (None, 2, 2, 6)
    y = model.predict(np.random.default_rng(7).standard_normal((5, 8, 8, 1)), verbose=0)
    assert y.shape == (5, 3)


def test_window_that_does_not_fit_raises_a_clear_error():
    with pytest.raises(ValueError, match="does not fit"):
        layers.Conv2D(2, 5).compute_output_shape((None, 3, 3, 1))


@pytest.mark.parametrize("kwargs, message", [
    ({"filters": 0, "kernel_size": 3}, "filters"),
    ({"filters": 2, "kernel_size": (3, 3, 3)}, "kernel_size"),
    ({"filters": 2, "kernel_size": 3, "padding": "causal"}, "padding"),
    ({"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "dilation_rate"),
    ({"filters": 2, "kernel_size": 3, "data_format": "channels_first"}, "channels_last"),
])
def test_conv2d_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.Conv2D(**kwargs)


def test_conv_config_round_trips():
    layer = layers.Conv1D(5, 3, strides=2, padding="causal", activation="relu", use_bias=False)
    clone = layers.Conv1D.from_config(layer.get_config())
    assert {k: v for k, v in clone.get_config().items() if k != "name"} == \
        {k: v for k, v in layer.get_config().items() if k != "name"}


@pytest.mark.parametrize("cls, padding, np_pad", [
    (layers.ZeroPadding2D, 1, ((1, 1), (1, 1))),
    (layers.ZeroPadding2D, (2, 0), ((2, 2), (0, 0))),
    (layers.ZeroPadding2D, ((0, 1), (2, 3)), ((0, 1), (2, 3))),
    (layers.ZeroPadding1D, 2, ((2, 2),)),
    (layers.ZeroPadding1D, (0, 3), ((0, 3),)),
])
def test_zero_padding(backend, cls, padding, np_pad):
    dc.set_floatx("float64")
    shape = (2, 3, 4, 2)[:len(np_pad) + 1] + (2,)
    x = np.random.default_rng(8).standard_normal(shape)
    layer = cls(padding)
    y = run(layer, x, backend)
    np.testing.assert_array_equal(y, np.pad(x, [(0, 0), *np_pad, (0, 0)]))
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    check_backward(lambda v: layer.forward(v, True), x, label=cls.__name__)


@pytest.mark.parametrize("cls, size", [
    (layers.UpSampling2D, 2), (layers.UpSampling2D, (1, 3)), (layers.UpSampling1D, 3),
])
def test_upsampling_repeats_nearest(backend, cls, size):
    dc.set_floatx("float64")
    sizes = (size,) * cls.rank if isinstance(size, int) else size
    shape = (2, 3, 2, 2)[:cls.rank + 1] + (2,)
    x = np.random.default_rng(9).standard_normal(shape)
    layer = cls(size)
    expected = x
    for axis, s in enumerate(sizes, start=1):
        expected = np.repeat(expected, s, axis=axis)
    y = run(layer, x, backend)
    np.testing.assert_array_equal(y, expected)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    check_backward(lambda v: layer.forward(v, True), x, label=cls.__name__)


def reference_bilinear_2d(x, sizes):
    """TensorFlow's half-pixel bilinear resize kernel, one output pixel at a time: source
    coordinate in = (out + 0.5) / s - 0.5, lower = max(floor(in), 0), upper = min(ceil(in),
    n - 1), lerp = in - floor(in)."""
    def taps(out, n, s):
        source = (out + 0.5) / s - 0.5
        lower, upper = max(int(np.floor(source)), 0), min(int(np.ceil(source)), n - 1)
        return lower, upper, source - np.floor(source)

    batch, rows, cols, channels = x.shape
    y = np.zeros((batch, rows * sizes[0], cols * sizes[1], channels))
    for i in range(rows * sizes[0]):
        top, bottom, dy = taps(i, rows, sizes[0])
        for j in range(cols * sizes[1]):
            left, right, dx = taps(j, cols, sizes[1])
            upper_row = x[:, top, left] + (x[:, top, right] - x[:, top, left]) * dx
            lower_row = x[:, bottom, left] + (x[:, bottom, right] - x[:, bottom, left]) * dx
            y[:, i, j] = upper_row + (lower_row - upper_row) * dy
    return y


@pytest.mark.parametrize("size", [2, (3, 2), (1, 4)], ids=str)
def test_bilinear_upsampling_matches_tensorflows_kernel(backend, size):
    dc.set_floatx("float64")
    sizes = (size, size) if isinstance(size, int) else size
    x = np.random.default_rng(12).standard_normal((2, 3, 4, 2))
    layer = layers.UpSampling2D(size, interpolation="bilinear")
    y = run(layer, x, backend)
    np.testing.assert_allclose(y, reference_bilinear_2d(x, sizes), rtol=1e-13, atol=1e-13)
    assert layer.compute_output_shape((None, 3, 4, 2)) == (None, *y.shape[1:])
    check_backward(lambda v: layer.forward(v, True), x, label="bilinear")
    clone = layers.UpSampling2D.from_config(layer.get_config())
    assert clone.interpolation == "bilinear" and clone.size == layer.size


def test_padding_and_upsampling_reject_bad_arguments():
    with pytest.raises(ValueError, match="non-negative"):
        layers.ZeroPadding2D(((1, 2, 3), (0, 0)))
    with pytest.raises(ValueError, match="interpolation must be one of"):
        layers.UpSampling2D(interpolation="bicubic")


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.Conv2D(3, 3, padding="same", activation="relu"), (2, 5, 5, 2)),
    (lambda: layers.Conv1D(3, 2, padding="causal"), (2, 6, 2)),
    (lambda: layers.MaxPooling2D(2, padding="same"), (2, 5, 5, 2)),
    (lambda: layers.AveragePooling2D(3, strides=2, padding="same"), (2, 5, 5, 2)),
    (lambda: layers.GlobalMaxPooling1D(), (2, 6, 2)),
    (lambda: layers.UpSampling2D(), (2, 3, 3, 2)),
    (lambda: layers.ZeroPadding2D(1), (2, 3, 3, 2)),
])
def test_float32_stays_float32_and_agrees_with_float64(backend, make, shape):
    """No silent upcast: float32 in, float32 out (and gradient), close to the float64 result."""
    x = np.random.default_rng(10).standard_normal(shape)
    layer = make()
    layer.build((None, *shape[1:]))
    y32, backprop = layer.forward(backend.asarray(x, dtype=backend.dtype("float32")))
    dx32 = backprop(backend.xp.ones_like(y32))
    assert y32.dtype == backend.dtype("float32") and dx32.dtype == backend.dtype("float32")
    dc.set_floatx("float64")
    for variable in layer.weights:
        variable.value = backend.asarray(backend.to_numpy(variable.value), dtype=backend.dtype("float64"))
    y64 = backend.to_numpy(layer.forward(backend.asarray(x, dtype=backend.dtype("float64")))[0])
    # Sums of at most ~20 float32 products: 100 float32 eps bounds their rounding.
    tolerance = 100 * np.finfo(np.float32).eps
    np.testing.assert_allclose(backend.to_numpy(y32), y64, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("windows, strides, dilations", [
    ((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (1, 1)), ((2, 2), (1, 1), (2, 3)), ((3,), (2,), (1,)),
    ((1, 1), (3, 2), (1, 1)),
])
def test_backend_patch_fast_path_matches_the_portable_gather(backend, windows, strides, dilations):
    """An adapter's `extract_patches` (NumPy: sliding_window_view) must equal the portable path."""
    from deepcore.layers.conv_utils import gather_windows

    shape = (2, 7, 6, 3)[:len(windows) + 1] + (3,)
    x = backend.asarray(np.random.default_rng(11).standard_normal(shape), dtype=backend.dtype())
    fast = backend.extract_patches(x, windows, strides, dilations)
    portable = gather_windows(x, windows, strides, dilations)
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(portable))


def test_image_model_survives_save_and_load(backend, tmp_path):
    """Every image layer's config and weights round-trip through deepcore's model file."""
    model = dc.models.Sequential([
        layers.Input((6, 6, 2)),
        layers.ZeroPadding2D(((0, 1), (1, 0))),
        layers.Conv2D(3, (2, 3), strides=(1, 2), padding="same", activation="relu"),
        layers.AveragePooling2D(2, padding="same"),
        layers.UpSampling2D((2, 1)),
        layers.MaxPooling2D(1),
        layers.GlobalMaxPooling2D(),
        layers.Dense(2),
    ])
    x = np.random.default_rng(12).standard_normal((4, 6, 6, 2))
    model.save(tmp_path / "m.deepcore")
    restored = dc.models.load_model(tmp_path / "m.deepcore")
    assert [layer.get_config() for layer in restored.layers] == [layer.get_config() for layer in model.layers]
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("make, prefix", [
    (lambda: layers.Conv2D(1, 1), "conv2d"), (lambda: layers.Conv1D(1, 1), "conv1d"),
    (lambda: layers.MaxPooling2D(), "max_pooling2d"),
    (lambda: layers.GlobalAveragePooling1D(), "global_average_pooling1d"),
    (lambda: layers.ZeroPadding2D(), "zero_padding2d"), (lambda: layers.UpSampling2D(), "up_sampling2d"),
    (lambda: layers.SimpleRNN(1), "simple_rnn"), (lambda: layers.LSTM(1), "lstm"),
    (lambda: layers.Embedding(2, 1), "embedding"),
])
def test_default_names_follow_keras(make, prefix):
    assert re.fullmatch(rf"{prefix}(_\d+)?", make().name)
