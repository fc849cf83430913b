"""Masking, Permute, RepeatVector, Cropping1D/2D: forward against NumPy written independently,
backward against finite differences (float64), output shapes, configs, and Keras's rules
(Masking zeroes padded steps and hands their mask on), on every backend."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import saving
from deepcore.layers import LSTM, Cropping1D, Cropping2D, Dense, Masking, Permute, RepeatVector
from deepcore.models import Sequential
from deepcore.testing.gradients import check_backward


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype("float64"))


def padded_sequences() -> np.ndarray:
    """(3, 5, 2): sample 0 is real throughout; 1 ends in two all-zero steps; 2 has one inside."""
    x = np.random.default_rng(0).standard_normal((3, 5, 2)) + 3.0  # no accidental zeros
    x[1, 3:] = 0.0
    x[2, 1] = 0.0
    return x


# --- Masking ---------------------------------------------------------------------------------

def test_masking_zeroes_padded_steps_and_passes_their_mask(backend, float64):
    x = padded_sequences()
    x[0, 2, 0] = 0.0  # one zero feature is not a padded step
    layer = Masking()
    y, backprop = layer.forward(on(backend, x))
    real = np.any(x != 0.0, axis=-1)
    np.testing.assert_array_equal(backend.to_numpy(layer.compute_mask(on(backend, x))), real)
    np.testing.assert_array_equal(backend.to_numpy(y), x * real[..., None])
    dy = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_array_equal(backend.to_numpy(backprop(on(backend, dy))), dy * real[..., None])


def test_masking_with_another_value(backend, float64):
    x = np.full((2, 3, 2), 7.0)
    x[0, 0] = [1.0, 7.0]
    mask = Masking(mask_value=7.0).compute_mask(on(backend, x))
    np.testing.assert_array_equal(backend.to_numpy(mask), [[True, False, False], [False, False, False]])


def test_a_masked_lstm_equals_the_lstm_on_the_unpadded_sequence(backend, float64):
    """Masking -> LSTM skips the padded steps: each sample's output equals the LSTM run on
    its real steps only (Keras's Masking + RNN)."""
    dc.utils.set_random_seed(2)
    masked = Sequential([Masking(input_shape=(None, 2)), LSTM(3)])
    plain = Sequential([LSTM(3, input_shape=(None, 2))])
    masked.build((None, 5, 2))
    plain.build((None, 5, 2))
    plain.set_weights(masked.get_weights())
    x = padded_sequences()
    got = backend.to_numpy(masked(on(backend, x)))
    for row in range(x.shape[0]):
        real = x[row][np.any(x[row] != 0.0, axis=-1)][None]
        np.testing.assert_allclose(got[row], backend.to_numpy(plain(on(backend, real)))[0], rtol=1e-12)


# --- Permute and RepeatVector ----------------------------------------------------------------------

@pytest.mark.parametrize("dims", [(2, 1), (1, 2, 3), (3, 1, 2), (2, 3, 1)])
def test_permute(backend, float64, dims):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)[:len(dims) + 1])
    layer = Permute(dims)
    y = backend.to_numpy(layer.forward(on(backend, x))[0])
    np.testing.assert_array_equal(y, np.transpose(x, (0, *dims)))
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *y.shape[1:])
    check_backward(lambda v: layer.forward(v), x, label=f"Permute{dims}")


def test_repeat_vector(backend, float64):
    x = np.random.default_rng(4).standard_normal((3, 4))
    layer = RepeatVector(5)
    y = backend.to_numpy(layer.forward(on(backend, x))[0])
    np.testing.assert_array_equal(y, np.repeat(x[:, None, :], 5, axis=1))
    assert layer.compute_output_shape((None, 4)) == (None, 5, 4)
    check_backward(lambda v: layer.forward(v), x, label="RepeatVector(5)")


def test_a_sequence_autoencoder_with_repeat_vector_trains_and_round_trips(backend, tmp_path):
    """The Keras pattern: LSTM encoder -> RepeatVector -> LSTM decoder -> TimeDistributed Dense."""
    dc.utils.set_random_seed(5)
    model = Sequential([LSTM(4, input_shape=(6, 2)), RepeatVector(6), LSTM(4, return_sequences=True),
                        dc.layers.TimeDistributed(Dense(2))])
    model.compile(optimizer="adam", loss="mse")
    x = np.sin(np.linspace(0, 3, 6))[None, :, None] * np.ones((8, 1, 2), np.float32)
    history = model.fit(x, x, epochs=30, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "autoencoder.deepcore")
    np.testing.assert_array_equal(dc.models.load_model(tmp_path / "autoencoder.deepcore").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


# --- Cropping ------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, pairs", [
    (Cropping1D(), ((1, 1),)),
    (Cropping1D((0, 2)), ((0, 2),)),
    (Cropping1D(2), ((2, 2),)),
    (Cropping2D(), ((0, 0), (0, 0))),
    (Cropping2D(1), ((1, 1), (1, 1))),
    (Cropping2D((2, 0)), ((2, 2), (0, 0))),
    (Cropping2D(((0, 1), (2, 1))), ((0, 1), (2, 1))),
], ids=lambda v: type(v).__name__ if isinstance(v, dc.layers.Layer) else str(v))
def test_cropping(backend, float64, layer, pairs):
    rank = len(pairs)
    x = np.random.default_rng(6).standard_normal((2, *(7,) * rank, 3))
    index = (slice(None), *(slice(b, n - a) for n, (b, a) in zip(x.shape[1:-1], pairs)), slice(None))
    y = backend.to_numpy(layer.forward(on(backend, x))[0])
    np.testing.assert_array_equal(y, x[index])
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *y.shape[1:])
    check_backward(lambda v: layer.forward(v), x, label=f"{type(layer).__name__}{pairs}")


def test_cropping_everything_names_the_layer_and_shape(backend):
    with pytest.raises(ValueError, match=r"cropping1d.*does not fit inputs of shape \(2, 4, 3\)"):
        Cropping1D((2, 2)).forward(backend.asarray(np.zeros((2, 4, 3)), dtype=backend.dtype()))
    with pytest.raises(ValueError, match="cropping must be"):
        Cropping2D(((1, 2, 3), (0, 0)))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="permutation of 1..2"):
        Permute((0, 1))
    with pytest.raises(ValueError, match="positive integer"):
        RepeatVector(0)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, features\)"):
        RepeatVector(2).compute_output_shape((None, 3, 4))
    with pytest.raises(ValueError, match="expects inputs of rank 3"):
        Permute((2, 1)).compute_output_shape((None, 3))


@pytest.mark.parametrize("layer, input_shape", [
    (Masking(mask_value=-1.0), (None, 4, 2)),
    (Permute((2, 1)), (None, 4, 2)),
    (RepeatVector(3), (None, 4)),
    (Cropping1D((1, 2)), (None, 6, 2)),
    (Cropping2D(((1, 0), (0, 2))), (None, 5, 5, 2)),
], ids=lambda v: type(v).__name__ if isinstance(v, dc.layers.Layer) else "")
def test_configs_round_trip_through_json(layer, input_shape):
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert type(rebuilt) is type(layer)
    assert saving.serialize_layer(rebuilt) == spec
    assert rebuilt.compute_output_shape(input_shape) == layer.compute_output_shape(input_shape)
