"""Conv1DTranspose, Conv2DTranspose and Conv3DTranspose, on every backend: output lengths by
Keras's formula, the forward against direct loops (each input position scatters kernel * value
into the output), the adjoint identity <ConvT(x), y> = <x, Conv(y)> with the same kernel (so
the SAME placement is the convolution's), backward against finite differences in float64,
configs and errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import saving
from deepcore.layers import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose
from deepcore.testing.gradients import check_backward

TRANSPOSE = {1: Conv1DTranspose, 2: Conv2DTranspose, 3: Conv3DTranspose}
CONV = {1: Conv1D, 2: Conv2D, 3: Conv3D}


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype("float64"))


def keras_length(n, k, s, d, padding, output_padding):
    """Keras's deconv_output_length, written out again."""
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = {"valid": 0, "same": k // 2}[padding]
    return (n - 1) * s + k - 2 * pad + output_padding


def loop_reference(x, kernel, strides, dilations, padding, lengths):
    """Scatter every input value times the kernel into the full output, then place it: crop
    TensorFlow's SAME ``before`` at the start, cut or extend with zeros at the end."""
    batch, *spatial, _ = x.shape
    *window, filters, _ = kernel.shape
    full_shape = [(n - 1) * s + (k - 1) * d + 1 for n, k, s, d in zip(spatial, window, strides, dilations)]
    full = np.zeros((batch, *[max(f, length) + f for f, length in zip(full_shape, lengths)], filters))
    for position in itertools.product(*(range(n) for n in spatial)):
        for offset in itertools.product(*(range(k) for k in window)):
            target = tuple(p * s + o * d for p, o, s, d in zip(position, offset, strides, dilations))
            full[(slice(None), *target)] += x[(slice(None), *position)] @ kernel[offset].T
    befores = [0 if padding == "valid" else max(f - length, 0) // 2 for f, length in zip(full_shape, lengths)]
    return full[(slice(None), *(slice(b, b + length) for b, length in zip(befores, lengths)))]


CASES = [  # rank, kernel, strides, dilation, padding, output_padding, input spatial
    (1, 3, 1, 1, "valid", None, (5,)),
    (1, 3, 2, 1, "same", None, (5,)),
    (1, 2, 3, 1, "valid", None, (4,)),  # kernel shorter than the stride: zeros appended
    (1, 4, 2, 1, "same", 1, (4,)),
    (1, 3, 1, 2, "same", None, (6,)),
    (2, (3, 2), (2, 1), 1, "valid", None, (3, 4)),
    (2, 3, 2, 1, "same", None, (3, 3)),
    (2, 3, 2, 1, "same", (1, 0), (3, 2)),
    (2, (2, 3), 1, (2, 1), "valid", None, (3, 3)),
    (2, 3, 3, 1, "valid", (2, 1), (2, 3)),
    (3, 2, 2, 1, "same", None, (2, 3, 2)),
    (3, (2, 3, 2), (1, 2, 2), 1, "valid", None, (2, 2, 3)),
]


def build(case, use_bias=False, activation=None):
    rank, kernel_size, strides, dilation, padding, output_padding, spatial = case
    layer = TRANSPOSE[rank](3, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                            dilation_rate=dilation, use_bias=use_bias, activation=activation)
    x = np.random.default_rng(0).standard_normal((2, *spatial, 2))
    layer.build(x.shape)
    return layer, x


@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_matches_direct_loops_and_keras_lengths(backend, float64, case):
    layer, x = build(case)
    kernel = layer.get_weights()[0]
    y = backend.to_numpy(layer.forward(on(backend, x))[0])
    expected_lengths = [keras_length(n, k, s, d, layer.padding, p) for n, k, s, d, p in zip(
        x.shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate,
        layer.output_padding or (None,) * layer.rank)]
    assert y.shape == (2, *expected_lengths, 3) == layer.compute_output_shape(x.shape)
    reference = loop_reference(x, kernel, layer.strides, layer.dilation_rate, layer.padding, expected_lengths)
    np.testing.assert_allclose(y, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_it_is_the_adjoint_of_the_convolution(backend, float64, case):
    layer, x = build(case)
    y = backend.to_numpy(layer.forward(on(backend, x))[0])
    conv = CONV[layer.rank](2, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                            dilation_rate=layer.dilation_rate, use_bias=False)
    conv.build(y.shape)
    conv.set_weights(layer.get_weights())  # (*k, filters, in): a convolution from 3 to 2 channels
    probe = np.random.default_rng(1).standard_normal(y.shape)
    conv_probe = backend.to_numpy(conv.forward(on(backend, probe))[0])
    assert conv_probe.shape == x.shape  # the cases are ones where the convolution maps back to x's shape
    np.testing.assert_allclose(np.sum(y * probe), np.sum(x * conv_probe), rtol=1e-12)


@pytest.mark.parametrize("case", CASES[1::2], ids=str)
def test_backward_matches_finite_differences(backend, float64, case):
    dc.utils.set_random_seed(3)
    layer, x = build(case, use_bias=True, activation="tanh")
    check_backward(lambda v: layer.forward(v, True), x, layer.trainable_weights, label=f"ConvTranspose {case}")


def test_a_decoder_trains_and_round_trips(backend, tmp_path):
    dc.utils.set_random_seed(4)
    model = dc.models.Sequential([
        dc.layers.Input((4, 4, 2)),
        Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
        Conv2DTranspose(1, 3, padding="same"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.01), loss="mse")
    x = np.random.default_rng(5).standard_normal((16, 4, 4, 2)).astype(np.float32)
    y = np.repeat(np.repeat(x[..., :1], 2, axis=1), 2, axis=2)  # learn a 2x upsampling
    history = model.fit(x, y, epochs=40, batch_size=8, verbose=0)
    assert model.predict(x, verbose=0).shape == (16, 8, 8, 1)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    model.save(tmp_path / "decoder.deepcore")
    np.testing.assert_array_equal(dc.models.load_model(tmp_path / "decoder.deepcore").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_config_round_trips_and_bad_arguments_are_named():
    layer = Conv2DTranspose(4, (3, 2), strides=(2, 1), padding="same", output_padding=(1, 0), activation="relu")
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    assert saving.serialize_layer(saving.deserialize_layer(spec)) == spec
    with pytest.raises(ValueError, match="output_padding must be None or 2 non-negative int"):
        Conv2DTranspose(4, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="strides > 1 together with dilation_rate > 1"):
        Conv1DTranspose(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, spatial, spatial, channels\)"):
        Conv2DTranspose(4, 3).build((None, 5, 2))
