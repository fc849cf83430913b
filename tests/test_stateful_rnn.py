"""``stateful=True`` recurrent layers, Keras's rule: each batch starts from the states the
previous batch ended with (sample i from sample i), no gradient flows back into the previous
batch, and ``reset_states`` starts again from zeros. The reference is the same layer, not
stateful, run on the whole sequence at once."""

from __future__ import annotations

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import GRU, LSTM, Bidirectional, Dense, Input, SimpleRNN
from deepcore.models import Sequential
from deepcore.testing.gradients import check_backward

RECURRENT = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}
BATCH, STEPS, FEATURES, UNITS = 3, 8, 2, 4


def sequences() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((BATCH, STEPS, FEATURES))


def layer_pair(kind: str, **kwargs):
    """A stateful layer and the same weights without state, float64, built."""
    dc.set_floatx("float64")
    dc.utils.set_random_seed(2)
    stateful = RECURRENT[kind](UNITS, stateful=True, return_sequences=True, **kwargs)
    plain = RECURRENT[kind](UNITS, return_sequences=True, **kwargs)
    for layer in (stateful, plain):
        layer.build((None, STEPS, FEATURES))
    plain.set_weights(stateful.get_weights())
    return stateful, plain


def run(layer, backend, x):
    return backend.to_numpy(layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), True)[0])


@pytest.mark.parametrize("kind", RECURRENT)
def test_two_halves_equal_the_whole_sequence(backend, kind):
    stateful, plain = layer_pair(kind)
    x = sequences()
    halves = np.concatenate([run(stateful, backend, x[:, :STEPS // 2]), run(stateful, backend, x[:, STEPS // 2:])],
                            axis=1)
    np.testing.assert_allclose(halves, run(plain, backend, x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", RECURRENT)
def test_reset_states_starts_from_zeros_again(backend, kind):
    stateful, plain = layer_pair(kind)
    x = sequences()
    first = run(stateful, backend, x)
    assert not np.allclose(run(stateful, backend, x), first)  # started from the carried states
    stateful.reset_states()
    np.testing.assert_array_equal(run(stateful, backend, x), first)
    np.testing.assert_allclose(first, run(plain, backend, x), rtol=1e-12, atol=1e-15)


def test_a_different_batch_size_is_an_error_until_reset(backend):
    stateful, _ = layer_pair("lstm")
    x = sequences()
    run(stateful, backend, x)
    with pytest.raises(ValueError, match=r"stateful.*batches of 3 samples.*batch of 2.*reset_states"):
        run(stateful, backend, x[:2])
    stateful.reset_states()
    assert run(stateful, backend, x[:2]).shape == (2, STEPS, UNITS)


@pytest.mark.parametrize("kind", RECURRENT)
def test_backward_with_carried_states_matches_finite_differences(backend, kind):
    """The carried states are constants of this batch: the gradients of the inputs and weights
    are the layer's own, checked in float64."""
    stateful, _ = layer_pair(kind)
    x = sequences()
    run(stateful, backend, x[:, :3])  # carry something non-zero
    carried = stateful._carried

    def forward(inputs):
        stateful._carried = carried  # every evaluation starts from the same carried states
        return stateful.forward(inputs, True)

    check_backward(forward, x[:, 3:], stateful.trainable_weights, label=f"stateful {kind}")


def test_a_stateful_model_trains_on_consecutive_chunks_and_round_trips(backend, tmp_path):
    dc.set_floatx("float64")
    dc.utils.set_random_seed(3)
    model = Sequential([LSTM(UNITS, stateful=True, input_shape=(4, FEATURES)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = sequences()
    chunks = [x[:, :4], x[:, 4:]]
    y = np.ones((BATCH, 1))
    for chunk in chunks:  # one long sequence per sample, fed in order
        model.fit(chunk, y, batch_size=BATCH, shuffle=False, epochs=1, verbose=0)
    model.reset_states()
    after_first = [model.predict(chunk, batch_size=BATCH, verbose=0) for chunk in chunks][1]
    model.reset_states()
    from_zeros = model.predict(chunks[1], batch_size=BATCH, verbose=0)
    assert not np.allclose(after_first, from_zeros)
    path = tmp_path / "stateful.deepcore"
    model.save(path)
    loaded = dc.models.load_model(path)
    assert loaded.layers[0].stateful
    loaded.predict(chunks[0], batch_size=BATCH, verbose=0)
    np.testing.assert_allclose(loaded.predict(chunks[1], batch_size=BATCH, verbose=0), after_first, rtol=1e-12)


def test_bidirectional_carries_and_resets_both_directions(backend):
    dc.set_floatx("float64")
    dc.utils.set_random_seed(5)
    layer = Bidirectional(GRU(UNITS, stateful=True))
    layer.build((None, STEPS, FEATURES))
    x = sequences()
    first = run(layer, backend, x)
    assert all(inner._carried is not None for inner in layer.inner_layers())
    layer.reset_states()
    assert all(inner._carried is None for inner in layer.inner_layers())
    np.testing.assert_array_equal(run(layer, backend, x), first)


def test_carried_states_follow_a_move_to_another_backend():
    torch = pytest.importorskip("torch", reason='torch is not installed (pip install "deepcore[torch]")')
    dc.set_floatx("float64")
    x = sequences()
    with dc.use_backend("numpy"):
        stateful, plain = layer_pair("gru")
        whole = run(plain, dc.get_backend(), x)
        first = run(stateful, dc.get_backend(), x[:, :STEPS // 2])
    with dc.use_backend("torch") as torch_backend:
        stateful.move_to(torch_backend)
        assert all(isinstance(a, torch.Tensor) for a in stateful._carried)
        second = run(stateful, torch_backend, x[:, STEPS // 2:])
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12, atol=1e-15)


def test_a_keras_style_stateful_script_runs(backend):
    """Keras 3 declares the batch of a stateful model with Input(batch_shape=...)."""
    dc.utils.set_random_seed(7)
    model = Sequential([Input(batch_shape=(BATCH, 4, FEATURES)), LSTM(UNITS, stateful=True), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = sequences().astype(np.float32)
    history = model.fit(x[:, :4], np.zeros((BATCH, 1)), batch_size=BATCH, shuffle=False, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.reset_states()
    assert model.predict(x[:, 4:], batch_size=BATCH, verbose=0).shape == (BATCH, 1)
