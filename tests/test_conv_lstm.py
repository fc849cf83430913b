"""ConvLSTM1D/2D/3D: Keras-layout weights vs a float64 reference built on the direct-loop
convolution of conv_reference.py, backprop through time vs finite differences, output shapes,
states and errors, on every backend."""

import numpy as np
import pytest
from conv_reference import reference_conv

import deepcore as dc
from deepcore import layers
from deepcore.testing.gradients import check_backward

# A few steps of float64 convolutions, tanh and sigmoid: 1000 eps covers their rounding.
RTOL64 = 1000 * np.finfo(np.float64).eps
BATCH, STEPS, CHANNELS, FILTERS = 2, 3, 2, 3


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def reference_conv_lstm(x, kernel, recurrent, bias, strides, padding, dilation, go_backwards=False):
    """Keras's ConvLSTM cell step by step: the input convolution with the layer's strides,
    padding and dilation, the state's with stride 1 and "same"; gates i, f, c, o."""
    rank = x.ndim - 3
    sequence = x[:, ::-1] if go_backwards else x
    ones = (1,) * rank
    h = c = np.zeros_like(reference_conv(sequence[:, 0], kernel, 0.0, strides, padding, dilation)[..., :FILTERS])
    outputs = []
    for t in range(sequence.shape[1]):
        z = (reference_conv(sequence[:, t], kernel, bias, strides, padding, dilation)
             + reference_conv(h, recurrent, 0.0, ones, "same", ones))
        i, f, g, o = (z[..., k * FILTERS:(k + 1) * FILTERS] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), [h, c]


LAYERS = {1: layers.ConvLSTM1D, 2: layers.ConvLSTM2D, 3: layers.ConvLSTM3D}
SPATIAL = {1: (7,), 2: (6, 5), 3: (4, 4, 3)}
CASES = [  # (rank, kernel_size, strides, padding, dilation)
    (1, 3, 1, "valid", 1), (1, 2, 2, "same", 1), (1, 3, 1, "same", 2),
    (2, 3, 1, "valid", 1), (2, (3, 2), 1, "same", 1), (2, 3, 2, "valid", 1), (2, 2, 1, "same", 2),
    (3, 2, 1, "valid", 1), (3, 2, (2, 1, 1), "same", 1),
]


def make(rank, kernel_size, strides, padding, dilation, **options):
    layer = LAYERS[rank](FILTERS, kernel_size, strides=strides, padding=padding, dilation_rate=dilation, **options)
    input_shape = (None, STEPS, *SPATIAL[rank], CHANNELS)
    layer.build(input_shape)
    rng = np.random.default_rng(0)
    weights = [0.4 * rng.standard_normal(w.shape) for w in layer.weights]
    layer.set_weights(weights)
    x = np.random.default_rng(1).standard_normal((BATCH, STEPS, *SPATIAL[rank], CHANNELS))
    return layer, weights, x


def conv_arguments(layer):
    return layer.strides, layer.padding, layer.dilation_rate


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("return_sequences, go_backwards", [(False, False), (True, True)])
def test_forward_matches_reference_with_keras_layout_weights(backend, case, return_sequences, go_backwards):
    dc.set_floatx("float64")
    layer, weights, x = make(*case, return_sequences=return_sequences, go_backwards=go_backwards, return_state=True)
    assert [w.shape for w in weights][:2] == [(*layer.kernel_size, CHANNELS, 4 * FILTERS),
                                              (*layer.kernel_size, FILTERS, 4 * FILTERS)]
    sequence, states = reference_conv_lstm(x, *weights, *conv_arguments(layer), go_backwards=go_backwards)
    expected = [sequence if return_sequences else sequence[:, -1], *states]
    result = layer(backend.asarray(x, dtype=backend.dtype("float64")))
    declared = layer.compute_output_shape((BATCH, STEPS, *SPATIAL[case[0]], CHANNELS))
    assert [tuple(r.shape) for r in result] == [tuple(shape) for shape in declared]
    for got, want in zip(result, expected):
        np.testing.assert_allclose(backend.to_numpy(got), want, rtol=RTOL64, atol=RTOL64)


@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[5], CASES[6]], ids=str)
def test_backprop_through_time_matches_finite_differences(backend, case):
    layer, _, x = make(*case, return_sequences=True, go_backwards=True)
    mask = np.ones((BATCH, STEPS), dtype=bool)
    mask[0, 1] = False  # a masked step keeps the states
    check_backward(lambda v: layer.forward(v, True, mask=backend.asarray(mask)), x, layer.weights,
                   label=f"ConvLSTM{case}")


def test_states_carry_in_and_out_with_their_spatial_shape(backend):
    """initial_state and the returned states are (batch, *out_spatial, filters); their
    gradients come back through backprop, and a wrong shape is named."""
    dc.set_floatx("float64")
    layer, weights, x = make(1, 3, 1, "same", 1, return_state=True)
    rng = np.random.default_rng(2)
    given = [rng.standard_normal((BATCH, 7, FILTERS)) for _ in range(2)]
    xp = backend.xp
    as_array = [backend.asarray(a, dtype=backend.dtype("float64")) for a in given]

    def forward(v):
        outputs, backprop = layer.forward(v, True, initial_state=as_array)

        def joined_backprop(dy):
            return backprop([dy[..., k * FILTERS:(k + 1) * FILTERS] for k in range(3)])[0]

        return xp.concat(outputs, axis=-1), joined_backprop

    check_backward(forward, x, layer.weights, label="ConvLSTM1D(initial_state)")
    outputs, backprop = layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), initial_state=as_array)
    gradients = backprop([xp.ones_like(o) for o in outputs])
    assert [tuple(g.shape) for g in gradients] == [x.shape, given[0].shape, given[1].shape]
    with pytest.raises(ValueError, match=r"initial_state must be 2 array\(s\) of shape \(2, 7, 3\)"):
        layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), initial_state=as_array[:1])


def test_a_stateful_layer_carries_its_spatial_states(backend):
    layer, _, x = make(1, 3, 1, "same", 1, stateful=True)
    first, _ = layer.forward(backend.asarray(x[:, :2], dtype=backend.dtype("float32")))
    continued, _ = layer.forward(backend.asarray(x[:, 2:], dtype=backend.dtype("float32")))
    layer.reset_states()
    whole, _ = layer.forward(backend.asarray(x, dtype=backend.dtype("float32")))
    np.testing.assert_allclose(backend.to_numpy(continued), backend.to_numpy(whole), rtol=1e-6, atol=1e-6)


def test_a_model_learns_which_way_a_dot_moves(backend):
    """A dot moves one pixel per frame left or right across 8x8 frames: the direction needs
    the frames together (each single frame is a dot at a random place)."""
    rng = np.random.default_rng(3)
    samples, frames = 192, 4
    x = np.zeros((samples, frames, 8, 8, 1), dtype="float32")
    y = rng.integers(0, 2, samples)
    for n in range(samples):
        row, start = rng.integers(0, 8), rng.integers(3, 5)
        for t in range(frames):
            x[n, t, row, start + (t if y[n] else -t), 0] = 1.0
    model = dc.models.Sequential([layers.Input((frames, 8, 8, 1)), layers.ConvLSTM2D(4, 3, padding="same"),
                                  layers.GlobalMaxPooling2D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=dc.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:128], y[:128], epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x[128:], y[128:], verbose=0)[1] >= 0.95


def test_keras_defaults_names_and_config(backend):
    layer = layers.ConvLSTM2D(4, 3)
    layer.build((None, 5, 7, 6, 2))
    kernel, recurrent, bias = layer.get_weights()
    np.testing.assert_array_equal(bias, [0] * 4 + [1] * 4 + [0] * 8)  # unit_forget_bias
    flat = recurrent.reshape(-1, 16)  # Keras's orthogonal: orthonormal columns of (9 * 4, 16)
    np.testing.assert_allclose(flat.T @ flat, np.eye(16), atol=10 * np.finfo(np.float32).eps)
    assert layer.keras_weight_paths() == ["cell/vars/0", "cell/vars/1", "cell/vars/2"]
    config = layer.get_config()
    assert (config["filters"], config["kernel_size"], "units" in config) == (4, [3, 3], False)
    again = layers.ConvLSTM2D.from_config(config)
    again.build((None, 5, 7, 6, 2))
    assert [w.shape for w in again.get_weights()] == [kernel.shape, recurrent.shape, bias.shape]


@pytest.mark.parametrize("build, message", [
    (lambda: layers.ConvLSTM2D(2, 3).build((None, 5, 7, 2)), r"expects inputs of shape \(batch, timesteps, spatial, "
                                                              r"spatial, channels\)"),
    (lambda: layers.ConvLSTM2D(2, 3).build((None, 5, None, 6, 2)), "known spatial sizes"),
    (lambda: layers.ConvLSTM2D(2, 3, strides=2, dilation_rate=2), "strides > 1 together with dilation_rate > 1"),
    (lambda: layers.ConvLSTM1D(2, 3, padding="causal"), "padding"),
    (lambda: layers.ConvLSTM2D(2, 5).build((None, 5, 3, 3, 1)), "does not fit"),
])
def test_bad_arguments_and_inputs_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()
