"""Masks, Keras's rules: ``Embedding(mask_zero=True)`` marks padding, layers with
``supports_masking`` pass the mask on, and the recurrent layers skip masked steps (keeping
their states and repeating their last output, or outputting zeros with
``zero_output_for_mask``, which Bidirectional sets when it returns sequences). The reference is the same layer run on each
sequence without its padding, which is what skipping the padded steps must give."""

from __future__ import annotations

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, SimpleRNN
from deepcore.models import Sequential
from deepcore.testing.gradients import check_backward

RECURRENT = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}
LENGTHS = [5, 2, 4]  # real tokens per sequence; the rest is padding id 0
STEPS, VOCAB = 6, 9


def padded_ids(pre: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    ids = np.zeros((len(LENGTHS), STEPS), dtype=np.int64)
    for row, n in enumerate(LENGTHS):
        tokens = rng.integers(1, VOCAB, n)
        if pre:
            ids[row, STEPS - n:] = tokens
        else:
            ids[row, :n] = tokens
    return ids


def unpadded(ids_row: np.ndarray) -> np.ndarray:
    return ids_row[ids_row != 0][None, :]


def model_pair(backend, layer_factory):
    """The masked model and the same weights without a mask."""
    dc.set_floatx("float64")
    dc.utils.set_random_seed(1)
    masked = Sequential([Embedding(VOCAB, 3, mask_zero=True, input_shape=(None,)), Dropout(0.5),
                         layer_factory()])
    plain = Sequential([Embedding(VOCAB, 3, input_shape=(None,)), layer_factory()])
    masked.build((None, STEPS))
    plain.build((None, STEPS))
    plain.set_weights(masked.get_weights())
    return masked, plain


def run(model, backend, ids):
    return backend.to_numpy(model(backend.asarray(ids)))


# --- the recurrent layers skip masked steps -----------------------------------------------------

@pytest.mark.parametrize("pre", [False, True], ids=["post-padding", "pre-padding"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("kind", RECURRENT)
def test_last_output_equals_the_run_without_padding(backend, kind, go_backwards, pre):
    masked, plain = model_pair(backend, lambda: RECURRENT[kind](4, go_backwards=go_backwards))
    ids = padded_ids(pre)
    got = run(masked, backend, ids)
    for row in range(len(LENGTHS)):
        want = run(plain, backend, unpadded(ids[row]))[0]
        np.testing.assert_allclose(got[row], want, rtol=1e-12, atol=1e-13, err_msg=f"sequence {row}")
    # The mask does change the result: without it the padding is read as token 0.
    assert not np.allclose(got, run(plain, backend, ids))


@pytest.mark.parametrize("kind", RECURRENT)
def test_sequences_repeat_the_last_output_at_masked_steps(backend, kind):
    masked, plain = model_pair(backend, lambda: RECURRENT[kind](4, return_sequences=True))
    ids = padded_ids(pre=False)
    got = run(masked, backend, ids)
    for row, n in enumerate(LENGTHS):
        want = run(plain, backend, unpadded(ids[row]))[0]
        np.testing.assert_allclose(got[row, :n], want, rtol=1e-12, atol=1e-13)
        np.testing.assert_array_equal(got[row, n:], np.broadcast_to(got[row, n - 1], got[row, n:].shape))


@pytest.mark.parametrize("kind", RECURRENT)
def test_zero_output_for_mask_outputs_zeros_at_masked_steps_and_carries_the_states(backend, kind):
    """Keras's ``zero_output_for_mask``: the real steps' outputs as without it, zeros at masked
    steps, the same final states."""
    def layer():
        return RECURRENT[kind](4, return_sequences=True, return_state=True, zero_output_for_mask=True)

    zeroed, _ = model_pair(backend, layer)
    repeated = Sequential([Embedding(VOCAB, 3, mask_zero=True), RECURRENT[kind](4, return_sequences=True,
                                                                              return_state=True)])
    repeated.build((None, STEPS))
    repeated.set_weights(zeroed.get_weights())
    ids = backend.asarray(padded_ids(pre=False))
    got, want = ([backend.to_numpy(a) for a in model(ids)] for model in (zeroed, repeated))
    for row, n in enumerate(LENGTHS):
        np.testing.assert_array_equal(got[0][row, :n], want[0][row, :n])
        np.testing.assert_array_equal(got[0][row, n:], 0.0)
    for state_got, state_want in zip(got[1:], want[1:]):
        np.testing.assert_array_equal(state_got, state_want)
    assert zeroed.layers[-1].get_config()["zero_output_for_mask"] is True


def test_bidirectional_sequences_output_zeros_at_masked_steps(backend):
    """Keras's Bidirectional sets ``zero_output_for_mask`` on both directions when it returns
    sequences (the backward direction's padding comes first in its processing order)."""
    masked, _ = model_pair(backend, lambda: Bidirectional(GRU(3, return_sequences=True)))
    assert all(direction.zero_output_for_mask for direction in masked.layers[-1].inner_layers())
    got = run(masked, backend, padded_ids(pre=False))
    for row, n in enumerate(LENGTHS):
        np.testing.assert_array_equal(got[row, n:], 0.0)
        assert np.all(np.abs(got[row, :n]) > 0.0)


def test_bidirectional_masks_both_directions(backend):
    masked, plain = model_pair(backend, lambda: Bidirectional(LSTM(4)))
    ids = padded_ids(pre=False)
    got = run(masked, backend, ids)
    for row in range(len(LENGTHS)):
        np.testing.assert_allclose(got[row], run(plain, backend, unpadded(ids[row]))[0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("zero_output_for_mask", [False, True], ids=["repeated outputs", "zero outputs"])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
@pytest.mark.parametrize("kind", RECURRENT)
def test_masked_backward_matches_finite_differences(backend, kind, return_sequences, zero_output_for_mask):
    dc.set_floatx("float64")
    dc.utils.set_random_seed(2)
    layer = RECURRENT[kind](3, return_sequences=return_sequences, zero_output_for_mask=zero_output_for_mask)
    layer.build((None, STEPS, 2))
    x = np.random.default_rng(3).standard_normal((len(LENGTHS), STEPS, 2))
    ids = padded_ids(pre=False)
    ids[0, -1] = 0  # every sequence ends masked, so a zeroed last output is checked too
    mask = backend.asarray(ids != 0)
    check_backward(lambda inputs: layer.forward(inputs, True, mask=mask), x, layer.weights,
                   label=f"masked {kind}")


# --- where masks go -------------------------------------------------------------------------------

def test_masks_pass_through_supporting_layers_and_stop_at_the_others(backend):
    ids = backend.asarray(padded_ids(pre=False))
    embedding = Embedding(VOCAB, 3, mask_zero=True)
    mask = embedding.compute_mask(ids)
    np.testing.assert_array_equal(backend.to_numpy(mask), padded_ids(pre=False) != 0)
    assert Dense(2).compute_mask(None, mask) is mask
    assert Dropout(0.1).compute_mask(None, mask) is mask
    assert LSTM(2, return_sequences=True).compute_mask(None, mask) is mask
    assert LSTM(2).compute_mask(None, mask) is None
    assert dc.layers.Flatten().compute_mask(None, mask) is None
    assert Embedding(VOCAB, 3).compute_mask(ids) is None


def test_a_masked_model_trains_and_round_trips(backend, tmp_path):
    """Padding must not matter to a trained masked model: the same sequence padded to two
    lengths gets the same prediction."""
    dc.set_floatx("float64")
    dc.utils.set_random_seed(4)
    model = Sequential([Embedding(VOCAB, 4, mask_zero=True, input_shape=(None,)), GRU(5),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    ids = padded_ids(pre=False)
    model.fit(ids, np.array([[1.0], [0.0], [1.0]]), epochs=2, batch_size=3, verbose=0)
    longer = np.concatenate([ids, np.zeros((len(LENGTHS), 3), dtype=np.int64)], axis=1)
    np.testing.assert_allclose(model.predict(longer, verbose=0), model.predict(ids, verbose=0), rtol=1e-12)
    path = tmp_path / "masked.deepcore"
    model.save(path)
    np.testing.assert_array_equal(dc.models.load_model(path).predict(longer, verbose=0),
                                  model.predict(longer, verbose=0))


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_1d_averages_the_unmasked_steps(backend, keepdims):
    dc.set_floatx("float64")
    ids = padded_ids(pre=False)
    x = np.random.default_rng(5).standard_normal((len(LENGTHS), STEPS, 3))
    layer = dc.layers.GlobalAveragePooling1D(keepdims=keepdims)
    mask = backend.asarray(ids != 0)
    y = backend.to_numpy(layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), mask=mask)[0])
    want = np.stack([x[row, :n].mean(axis=0) for row, n in enumerate(LENGTHS)])
    np.testing.assert_allclose(y.reshape(want.shape), want, rtol=1e-14)
    assert y.shape == ((len(LENGTHS), 1, 3) if keepdims else (len(LENGTHS), 3))
    check_backward(lambda inputs: layer.forward(inputs, True, mask=mask), x, label="masked average")


def test_padding_does_not_change_an_averaging_text_model(backend):
    dc.set_floatx("float64")
    dc.utils.set_random_seed(6)
    model = Sequential([Embedding(VOCAB, 4, mask_zero=True, input_shape=(None,)),
                        dc.layers.GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
    ids = padded_ids(pre=False)
    longer = np.concatenate([ids, np.zeros((len(LENGTHS), 3), dtype=np.int64)], axis=1)
    np.testing.assert_allclose(run(model, backend, longer), run(model, backend, ids), rtol=1e-13)
    assert dc.layers.GlobalAveragePooling1D().compute_mask(None, backend.asarray(ids != 0)) is None


def test_a_recurrent_layer_given_initial_state_runs_unmasked_as_in_keras(backend):
    """Keras 3 hands a layer the incoming mask only when its call has one tensor argument: with
    initial_state, a recurrent layer reads the padding too (its output keeps the mask)."""
    from deepcore.layers import GlobalAveragePooling1D, Input
    from deepcore.models import Model

    dc.set_floatx("float64")
    tokens = Input((STEPS,), dtype="int32")
    embedded = Embedding(VOCAB, 3, mask_zero=True)(tokens)
    state = Dense(4)(GlobalAveragePooling1D()(embedded))
    recurrent = GRU(4, return_sequences=True)
    with_state = Model(tokens, recurrent(embedded, initial_state=[state]))
    ids = padded_ids(pre=False)
    x = backend.asarray(ids)
    outputs, mask, _ = with_state.forward_with_mask(x)
    np.testing.assert_array_equal(backend.to_numpy(mask), ids != 0)  # the mask goes on
    # Unmasked, the padded steps change the state: it is not repeated after the last token.
    steps = backend.to_numpy(outputs)
    row, n = 1, LENGTHS[1]
    assert not np.allclose(steps[row, n - 1], steps[row, n])
    # The same layer given no initial state skips them (its state repeats).
    without_state = Model(tokens, recurrent(embedded))
    repeated = backend.to_numpy(without_state.forward_with_mask(x)[0])
    np.testing.assert_array_equal(repeated[row, n - 1], repeated[row, n])
