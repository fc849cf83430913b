"""SimpleRNN, LSTM and GRU: Keras-layout weights vs NumPy references written here independently,
backprop through time vs finite differences, on every backend."""

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers
from deepcore.layers import recurrent as recurrent_module
from deepcore.testing.gradients import check_backward

# Forward values pass through a few steps of float64 tanh/sigmoid: 1000 eps covers their rounding.
RTOL64 = 1000 * np.finfo(np.float64).eps
BATCH, STEPS, FEATURES, UNITS = 2, 4, 3, 3


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


# ``keep``: a recurrent dropout mask on h where it enters the recurrent matmuls (1.0: none).

def reference_simple_rnn(x, kernel, recurrent, bias, keep=1.0):
    h = np.zeros((x.shape[0], kernel.shape[1]))
    outputs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ kernel + (h * keep) @ recurrent + bias)
        outputs.append(h)
    return np.stack(outputs, axis=1), [h]


def reference_lstm(x, kernel, recurrent, bias, keep=1.0):
    """Keras's LSTM: gates i, f, c (candidate), o along the last axis of the weights."""
    u = recurrent.shape[0]
    h = c = np.zeros((x.shape[0], u))
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + (h * keep) @ recurrent + bias
        i, f = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u])
        g, o = np.tanh(z[:, 2 * u:3 * u]), sigmoid(z[:, 3 * u:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), [h, c]


def reference_gru(x, kernel, recurrent, bias, reset_after, keep=1.0):
    """Keras's GRU: gates z, r, h; reset_after=True has bias rows (input, recurrent)."""
    u = recurrent.shape[0]
    h = np.zeros((x.shape[0], u))
    input_bias, recurrent_bias = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * u))
    outputs = []
    for t in range(x.shape[1]):
        xw = x[:, t] @ kernel + input_bias
        hk = h * keep
        if reset_after:
            hu = hk @ recurrent + recurrent_bias
            z = sigmoid(xw[:, :u] + hu[:, :u])
            r = sigmoid(xw[:, u:2 * u] + hu[:, u:2 * u])
            hh = np.tanh(xw[:, 2 * u:] + r * hu[:, 2 * u:])
        else:
            z = sigmoid(xw[:, :u] + hk @ recurrent[:, :u])
            r = sigmoid(xw[:, u:2 * u] + hk @ recurrent[:, u:2 * u])
            hh = np.tanh(xw[:, 2 * u:] + (r * hk) @ recurrent[:, 2 * u:])
        h = z * h + (1 - z) * hh
        outputs.append(h)
    return np.stack(outputs, axis=1), [h]


def keras_weights(rng, gates, bias_shape):
    return [rng.standard_normal((FEATURES, gates * UNITS)) * 0.5,
            rng.standard_normal((UNITS, gates * UNITS)) * 0.5,
            rng.standard_normal(bias_shape) * 0.5]


CASES = {
    "simple_rnn": (lambda **kw: layers.SimpleRNN(UNITS, **kw), 1, (UNITS,), reference_simple_rnn),
    "lstm": (lambda **kw: layers.LSTM(UNITS, **kw), 4, (4 * UNITS,), reference_lstm),
    "gru": (lambda **kw: layers.GRU(UNITS, **kw), 3, (2, 3 * UNITS),
            lambda *a, **kw: reference_gru(*a, reset_after=True, **kw)),
    "gru_reset_before": (lambda **kw: layers.GRU(UNITS, reset_after=False, **kw), 3, (3 * UNITS,),
                         lambda *a, **kw: reference_gru(*a, reset_after=False, **kw)),
}


def make(case, **kwargs):
    factory, gates, bias_shape, reference = CASES[case]
    layer = factory(**kwargs)
    layer.build((None, STEPS, FEATURES))
    weights = keras_weights(np.random.default_rng(0), gates, bias_shape)
    layer.set_weights(weights)
    return layer, weights, reference


def as_host(backend, value):
    return [backend.to_numpy(v) for v in value] if isinstance(value, list) else backend.to_numpy(value)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_reference_with_keras_layout_weights(backend, case, return_sequences, go_backwards):
    dc.set_floatx("float64")
    x = np.random.default_rng(1).standard_normal((BATCH, STEPS, FEATURES))
    layer, weights, reference = make(case, return_sequences=return_sequences, go_backwards=go_backwards,
                                     return_state=True)
    sequence, states = reference(x[:, ::-1] if go_backwards else x, *weights)
    expected = [sequence if return_sequences else sequence[:, -1], *states]
    result = as_host(backend, layer(backend.asarray(x, dtype=backend.dtype("float64"))))
    assert [r.shape for r in result] == [
        (BATCH, *s[1:]) for s in layer.compute_output_shape((None, STEPS, FEATURES))
    ]
    for got, want in zip(result, expected):
        np.testing.assert_allclose(got, want, rtol=RTOL64, atol=RTOL64)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("return_sequences, go_backwards", [(False, False), (True, True)])
def test_backprop_through_time(backend, case, return_sequences, go_backwards):
    layer, _, _ = make(case, return_sequences=return_sequences, go_backwards=go_backwards)
    x = np.random.default_rng(2).standard_normal((BATCH, STEPS, FEATURES))
    check_backward(lambda v: layer.forward(v, True), x, layer.weights, label=case)


@pytest.mark.parametrize("case", ["lstm", "gru"])
def test_backprop_through_returned_states(backend, case):
    """Gradients arriving at the final states (return_state=True) flow back too."""
    layer, _, _ = make(case, return_state=True)
    xp = backend.xp

    def forward(v):
        outputs, backprop = layer.forward(v, True)
        units = outputs[0].shape[-1]

        def joined_backprop(dy):
            return backprop([dy[:, k * units:(k + 1) * units] for k in range(len(outputs))])

        return xp.concat(outputs, axis=-1), joined_backprop

    check_backward(forward, np.random.default_rng(3).standard_normal((BATCH, STEPS, FEATURES)),
                   layer.weights, label=f"{case}(return_state=True)")


def test_keras_defaults(backend):
    lstm = layers.LSTM(2)
    lstm.build((None, 5, 3))
    kernel, recurrent, bias = lstm.get_weights()
    assert kernel.shape == (3, 8) and recurrent.shape == (2, 8)
    np.testing.assert_array_equal(bias, [0, 0, 1, 1, 0, 0, 0, 0])  # unit_forget_bias
    # orthogonal recurrent kernel: (units, 4 units) with orthonormal rows
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(2), atol=10 * np.finfo(np.float32).eps)
    gru = layers.GRU(2)
    gru.build((None, 5, 3))
    assert [w.shape for w in gru.get_weights()] == [(3, 6), (2, 6), (2, 6)]
    assert gru.compute_output_shape((None, 5, 3)) == (None, 2)
    assert layers.SimpleRNN(2, return_sequences=True).compute_output_shape((None, 5, 3)) == (None, 5, 2)


def test_without_bias(backend):
    layer = layers.LSTM(UNITS, use_bias=False, return_sequences=True)
    layer.build((None, STEPS, FEATURES))
    assert len(layer.get_weights()) == 2
    check_backward(lambda v: layer.forward(v, True),
                   np.random.default_rng(4).standard_normal((BATCH, STEPS, FEATURES)), layer.weights)


def test_lstm_learns_to_remember_the_first_step(backend):
    """The sign of the first of 6 noisy steps is the label: needs memory across the sequence."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((128, 6, 1)) * 0.5
    y = rng.integers(0, 2, size=128).astype(float)
    x[:, 0, 0] = np.where(y == 1, 1.0, -1.0)
    model = dc.models.Sequential([
        layers.Input((6, 1)), layers.LSTM(8), layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] >= 0.95


def fixed_dropout_masks(monkeypatch):
    """Replace the layers' random masks by fixed ones (the same at every forward, so finite
    differences see one function): input (BATCH, 1, FEATURES), recurrent (BATCH, UNITS)."""
    rng = np.random.default_rng(7)
    masks = {(BATCH, 1, FEATURES): (rng.random((BATCH, 1, FEATURES)) < 0.6) / 0.6,
             (BATCH, UNITS): (rng.random((BATCH, UNITS)) < 0.7) / 0.7}
    backend = dc.get_backend()

    def fixed(shape, rate, dtype, generator=None):
        return backend.asarray(masks[tuple(shape)], dtype=dtype)

    monkeypatch.setattr(recurrent_module, "dropout_mask", fixed)
    return masks[(BATCH, 1, FEATURES)], masks[(BATCH, UNITS)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_dropout_and_recurrent_dropout_in_training(backend, case, monkeypatch):
    """One input mask and one recurrent mask per sequence, for every step (Keras's rule); the
    recurrent mask applies to h where it enters the recurrent matmuls."""
    dc.set_floatx("float64")
    input_keep, recurrent_keep = fixed_dropout_masks(monkeypatch)
    x = np.random.default_rng(1).standard_normal((BATCH, STEPS, FEATURES))
    layer, weights, reference = make(case, dropout=0.4, recurrent_dropout=0.3, return_sequences=True)
    expected, _ = reference(x * input_keep, *weights, keep=recurrent_keep)
    got, _ = layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), training=True)
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda inputs: layer.forward(inputs, training=True), x, layer.weights, label=case)


def test_dropout_is_off_at_inference_and_checked(backend):
    dc.set_floatx("float64")
    x = backend.asarray(np.random.default_rng(1).standard_normal((BATCH, STEPS, FEATURES)),
                        dtype=backend.dtype("float64"))
    dropped, _, _ = make("lstm", dropout=0.5, recurrent_dropout=0.5)
    plain, _, _ = make("lstm")
    np.testing.assert_array_equal(backend.to_numpy(dropped(x)), backend.to_numpy(plain(x)))
    assert not np.allclose(backend.to_numpy(dropped.forward(x, training=True)[0]), backend.to_numpy(plain(x)))
    for bad in ({"dropout": 1.0}, {"recurrent_dropout": -0.1}):
        with pytest.raises(ValueError, match="must be in \\[0, 1\\)"):
            layers.LSTM(3, **bad)


def test_config_round_trips():
    layer = layers.GRU(4, reset_after=False, return_sequences=True, go_backwards=True, dropout=0.2,
                       recurrent_dropout=0.1, seed=3)
    clone = layers.GRU.from_config(layer.get_config())
    assert {k: v for k, v in clone.get_config().items() if k != "name"} == \
        {k: v for k, v in layer.get_config().items() if k != "name"}


@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_two_references(backend, return_sequences):
    """Weights: forward layer's (kernel, recurrent, bias), then backward layer's, as Keras."""
    dc.set_floatx("float64")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((BATCH, STEPS, FEATURES))
    layer = layers.Bidirectional(layers.LSTM(UNITS, return_sequences=return_sequences))
    layer.build((None, STEPS, FEATURES))
    forward_weights = keras_weights(rng, 4, (4 * UNITS,))
    backward_weights = keras_weights(rng, 4, (4 * UNITS,))
    layer.set_weights(forward_weights + backward_weights)
    forward_sequence, _ = reference_lstm(x, *forward_weights)
    backward_sequence, _ = reference_lstm(x[:, ::-1], *backward_weights)
    if return_sequences:
        expected = np.concatenate([forward_sequence, backward_sequence[:, ::-1]], axis=-1)
    else:
        expected = np.concatenate([forward_sequence[:, -1], backward_sequence[:, -1]], axis=-1)
    y = as_host(backend, layer(backend.asarray(x, dtype=backend.dtype("float64"))))
    assert layer.compute_output_shape((None, STEPS, FEATURES)) == (None, *y.shape[1:])
    np.testing.assert_allclose(y, expected, rtol=RTOL64, atol=RTOL64)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_backward(backend, merge_mode):
    layer = layers.Bidirectional(layers.SimpleRNN(UNITS, return_sequences=True), merge_mode=merge_mode)
    layer.build((None, STEPS, FEATURES))
    xp = backend.xp

    def forward(v):
        y, backprop = layer.forward(v, True)
        if merge_mode is not None:
            return y, backprop
        return xp.concat(y, axis=-1), lambda dy: backprop([dy[..., :UNITS], dy[..., UNITS:]])

    check_backward(forward, np.random.default_rng(7).standard_normal((BATCH, STEPS, FEATURES)), layer.weights,
                   label=f"Bidirectional(merge_mode={merge_mode})")


def test_bidirectional_return_state_shapes(backend):
    layer = layers.Bidirectional(layers.LSTM(UNITS, return_state=True))
    x = backend.asarray(np.zeros((BATCH, STEPS, FEATURES)), dtype=backend.dtype())
    outputs = layer(x)
    assert [tuple(o.shape) for o in outputs] == [(BATCH, 2 * UNITS)] + [(BATCH, UNITS)] * 4
    assert layer.compute_output_shape((None, STEPS, FEATURES)) == [(None, 2 * UNITS)] + [(None, UNITS)] * 4


def test_time_distributed_dense(backend):
    dc.set_floatx("float64")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((BATCH, STEPS, FEATURES))
    kernel, bias = rng.standard_normal((FEATURES, 5)), rng.standard_normal(5)
    layer = layers.TimeDistributed(layers.Dense(5))
    layer.build((None, STEPS, FEATURES))
    layer.set_weights([kernel, bias])
    y = as_host(backend, layer(backend.asarray(x, dtype=backend.dtype("float64"))))
    np.testing.assert_allclose(y, x @ kernel + bias, rtol=RTOL64, atol=RTOL64)
    assert layer.compute_output_shape((None, STEPS, FEATURES)) == (None, STEPS, 5)
    check_backward(lambda v: layer.forward(v, True), x, layer.weights, label="TimeDistributed(Dense)")


def test_wrapped_models_train_and_survive_save_and_load(backend, tmp_path):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((16, STEPS, FEATURES))
    y = rng.standard_normal((16, STEPS, 2))
    model = dc.models.Sequential([
        layers.Input((STEPS, FEATURES)),
        layers.Bidirectional(layers.SimpleRNN(UNITS, return_sequences=True), merge_mode="sum"),
        layers.TimeDistributed(layers.Dense(2)),
    ])
    model.compile(optimizer="adam", loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
    model.save(tmp_path / "m.deepcore")
    restored = dc.models.load_model(tmp_path / "m.deepcore")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_stays_float32(backend, case):
    layer, _, _ = make(case, return_sequences=True)
    x = backend.asarray(np.random.default_rng(10).standard_normal((BATCH, STEPS, FEATURES)),
                        dtype=backend.dtype("float32"))
    y, backprop = layer.forward(x, True)
    dx = backprop(backend.xp.ones_like(y))
    assert y.dtype == dx.dtype == backend.dtype("float32")
    assert all(w.grad.dtype == backend.dtype("float32") for w in layer.weights)


def test_sequence_model_survives_save_and_load(backend, tmp_path):
    """Embedding, Conv1D, pooling and every recurrent layer round-trip through a model file."""
    model = dc.models.Sequential([
        layers.Input((8,)),
        layers.Embedding(10, 4),
        layers.Conv1D(4, 3, padding="causal"),
        layers.MaxPooling1D(2),
        layers.GRU(3, reset_after=False, return_sequences=True),
        layers.SimpleRNN(3, return_sequences=True, go_backwards=True),
        layers.LSTM(3),
        layers.Dense(1),
    ])
    x = np.random.default_rng(11).integers(0, 10, size=(4, 8))
    model.save(tmp_path / "m.deepcore")
    restored = dc.models.load_model(tmp_path / "m.deepcore")
    assert [layer.get_config() for layer in restored.layers] == [layer.get_config() for layer in model.layers]
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
