"""Keras's RNN layer over cells (`deepcore.layers.rnn`): one cell runs as its recurrent layer,
a stack of cells as Keras's step-by-step interleaving (a float64 NumPy reference written here),
with Keras's weight layout, configs and errors, on every backend."""

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers
from deepcore.models import Sequential
from deepcore.testing.gradients import check_backward

# A few steps of float64 tanh/sigmoid through three stacked cells: 1000 eps covers the rounding.
RTOL64 = 1000 * np.finfo(np.float64).eps
BATCH, STEPS, FEATURES = 3, 5, 2


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def lstm_step(x, states, kernel, recurrent, bias):
    h, c = states
    u = h.shape[1]
    z = x @ kernel + h @ recurrent + bias
    c = sigmoid(z[:, u:2 * u]) * c + sigmoid(z[:, :u]) * np.tanh(z[:, 2 * u:3 * u])
    h = sigmoid(z[:, 3 * u:]) * np.tanh(c)
    return h, [h, c]


def gru_step(x, states, kernel, recurrent, bias):
    """reset_after=True: bias rows (input, recurrent)."""
    h, = states
    u = h.shape[1]
    xw, hu = x @ kernel + bias[0], h @ recurrent + bias[1]
    z, r = sigmoid(xw[:, :u] + hu[:, :u]), sigmoid(xw[:, u:2 * u] + hu[:, u:2 * u])
    h = z * h + (1 - z) * np.tanh(xw[:, 2 * u:] + r * hu[:, 2 * u:])
    return h, [h]


def simple_rnn_step(x, states, kernel, recurrent, bias):
    h = np.tanh(x @ kernel + states[0] @ recurrent + bias)
    return h, [h]


STEPS_OF = {"LSTMCell": (lstm_step, 2), "GRUCell": (gru_step, 1), "SimpleRNNCell": (simple_rnn_step, 1)}


def reference_rnn(x, mask, cells, return_sequences, go_backwards, zero_output_for_mask):
    """Keras's RNN loop: at each step every cell in turn reads the new output of the cell below;
    a masked step keeps all states and repeats the previous output (zeros with
    ``zero_output_for_mask``). ``cells``: ``(class name, units, [kernel, recurrent, bias])``."""
    if go_backwards:
        x, mask = x[:, ::-1], mask[:, ::-1]
    states = [[np.zeros((x.shape[0], units))] * STEPS_OF[name][1] for name, units, _ in cells]
    output = np.zeros((x.shape[0], cells[-1][1]))
    outputs = []
    for t in range(x.shape[1]):
        keep = mask[:, t, None]
        value, new_states = x[:, t], []
        for (name, _, weights), cell_states in zip(cells, states):
            value, cell_new = STEPS_OF[name][0](value, cell_states, *weights)
            new_states.append([np.where(keep, new, old) for new, old in zip(cell_new, cell_states)])
        states = new_states
        output = np.where(keep, value, 0.0 if zero_output_for_mask else output)
        outputs.append(output)
    return np.stack(outputs, axis=1) if return_sequences else output


def stacked_case(rnn_options: dict):
    """RNN([LSTMCell(4), GRUCell(3), SimpleRNNCell(2)]) with random weights; (layer, cells)."""
    rng = np.random.default_rng(0)
    specs = [("LSTMCell", 4, 4), ("GRUCell", 3, 3), ("SimpleRNNCell", 2, 1)]
    layer = layers.RNN([getattr(layers, name)(units) for name, units, _ in specs], **rnn_options)
    layer.build((None, STEPS, FEATURES))
    cells, inputs = [], FEATURES
    for name, units, gates in specs:
        bias_shape = (2, gates * units) if name == "GRUCell" else (gates * units,)
        weights = [0.5 * rng.standard_normal(shape) for shape in
                   ((inputs, gates * units), (units, gates * units), bias_shape)]
        cells.append((name, units, weights))
        inputs = units
    layer.set_weights([w for _, _, weights in cells for w in weights])
    return layer, cells


def sequence_mask() -> np.ndarray:
    mask = np.ones((BATCH, STEPS), dtype=bool)
    mask[0, 3:] = False  # padding at the end
    mask[1, :2] = False  # at the start
    mask[2, 2] = False  # inside
    return mask


@pytest.mark.parametrize("options", [
    {}, {"return_sequences": True}, {"go_backwards": True}, {"return_sequences": True, "go_backwards": True},
    {"return_sequences": True, "zero_output_for_mask": True},
    {"return_sequences": True, "go_backwards": True, "zero_output_for_mask": True},
], ids=str)
def test_stacked_cells_match_kerass_step_by_step_loop(backend, options):
    dc.set_floatx("float64")
    layer, cells = stacked_case(options)
    x, mask = np.random.default_rng(1).standard_normal((BATCH, STEPS, FEATURES)), sequence_mask()
    expected = reference_rnn(x, mask, cells, options.get("return_sequences", False),
                             options.get("go_backwards", False), options.get("zero_output_for_mask", False))
    y, _ = layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), mask=backend.asarray(mask))
    assert tuple(y.shape) == (BATCH, *layer.compute_output_shape((None, STEPS, FEATURES))[1:])
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL64, atol=RTOL64)


@pytest.mark.parametrize("options", [{"return_sequences": True, "go_backwards": True}, {}], ids=str)
def test_stacked_cells_backprop_matches_finite_differences(backend, options):
    layer, _ = stacked_case(options)
    mask = backend.asarray(sequence_mask())
    check_backward(lambda v: layer.forward(v, True, mask=mask),
                   np.random.default_rng(2).standard_normal((BATCH, STEPS, FEATURES)), layer.weights,
                   label=f"RNN(stacked cells, {options})")


@pytest.mark.parametrize("cell, recurrent", [
    (lambda: layers.LSTMCell(3), lambda **o: layers.LSTM(3, **o)),
    (lambda: layers.GRUCell(3, reset_after=False), lambda **o: layers.GRU(3, reset_after=False, **o)),
    (lambda: layers.SimpleRNNCell(3, activation="relu"), lambda **o: layers.SimpleRNN(3, activation="relu", **o)),
])
def test_one_cell_runs_as_its_recurrent_layer(backend, cell, recurrent):
    """Outputs, states and every gradient, with a mask, going backwards and from given states."""
    options = {"return_sequences": True, "return_state": True, "go_backwards": True}
    rnn, reference = layers.RNN(cell(), **options), recurrent(**options)
    for layer in (rnn, reference):
        layer.build((None, STEPS, FEATURES))
    reference.set_weights(rnn.get_weights())
    rng = np.random.default_rng(3)
    float32 = backend.dtype("float32")
    x, mask = backend.asarray(rng.standard_normal((BATCH, STEPS, FEATURES)), dtype=float32), backend.asarray(sequence_mask())
    states = [backend.asarray(rng.standard_normal((BATCH, 3)), dtype=float32) for _ in reference.state_sizes]
    assert rnn.state_sizes == reference.state_sizes
    results = []
    for layer in (rnn, reference):
        outputs, backprop = layer.forward(x, True, mask=mask, initial_state=states)
        gradients = backprop([backend.asarray(np.ones(tuple(o.shape)), dtype=float32) for o in outputs])
        results.append([backend.to_numpy(a) for a in [*outputs, *gradients, *(w.grad for w in layer.weights)]])
    assert len(results[0]) == len(results[1])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_stacked_cells_keep_kerass_weight_paths_and_names():
    """Keras 3.15.1 writes RNN([LSTMCell, LSTMCell, GRUCell]) as cell/cells/lstm_cell,
    cell/cells/lstm_cell_1, cell/cells/gru_cell (its file's datasets, listed by Keras)."""
    rnn = layers.RNN([layers.LSTMCell(5), layers.LSTMCell(3), layers.GRUCell(4)])
    rnn.build((None, 6, 4))
    assert rnn.keras_weight_paths() == [f"cell/cells/{cell}/vars/{i}" for cell in ("lstm_cell", "lstm_cell_1", "gru_cell")
                                        for i in range(3)]
    assert [w.shape for w in rnn.get_weights()] == [(4, 20), (5, 20), (20,), (5, 12), (3, 12), (12,),
                                                    (3, 12), (4, 12), (2, 12)]
    single = layers.RNN(layers.SimpleRNNCell(3))
    single.build((None, 6, 4))
    assert single.keras_weight_paths() == ["cell/vars/0", "cell/vars/1", "cell/vars/2"]
    assert rnn.cell.state_size == [[5, 5], [3, 3], 4] and rnn.cell.output_size == 4


def test_a_model_with_cells_trains_saves_and_loads(backend, tmp_path):
    model = Sequential([layers.Input((STEPS, FEATURES)), layers.RNN([layers.GRUCell(4), layers.LSTMCell(3)]),
                        layers.Dense(1)])
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((16, STEPS, FEATURES)).astype("float32"), rng.standard_normal((16, 1)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # every cell trained
    model.save(tmp_path / "cells.dc")
    loaded = dc.models.load_model(tmp_path / "cells.dc")
    assert loaded.layers[0].cell.cells[1].get_config() == model.layers[0].cell.cells[1].get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("build, message", [
    (lambda: layers.RNN([layers.LSTMCell(2), layers.GRUCell(2)], return_state=True), "return_state with stacked cells"),
    (lambda: layers.RNN(layers.Dense(2)), "runs deepcore's cells"),
    (lambda: layers.StackedRNNCells([layers.LSTMCell(2), "gru"]), "list of deepcore cells"),
    (lambda: layers.LSTMCell(2, return_sequences=True), "unexpected keyword"),
])
def test_what_cannot_run_is_refused_by_name(build, message):
    with pytest.raises((TypeError, NotImplementedError), match=message):
        build()


def test_a_cell_alone_or_given_states_in_a_stack_says_what_to_do(backend):
    x = np.zeros((1, STEPS, FEATURES), dtype="float32")
    with pytest.raises(TypeError, match=r"wrap it in RNN\(...\) \(or use LSTM"):
        Sequential([layers.Input((STEPS, FEATURES)), layers.LSTMCell(2)]).predict(x, verbose=0)
    stacked = layers.RNN([layers.GRUCell(2), layers.GRUCell(2)])
    stacked.build((None, STEPS, FEATURES))
    with pytest.raises(NotImplementedError, match="initial_state with stacked cells"):
        stacked.forward(backend.asarray(x), initial_state=[backend.asarray(np.zeros((1, 2), dtype="float32"))] * 2)


def test_the_mask_goes_on_as_from_the_recurrent_layers(backend):
    """Embedding(mask_zero) -> RNN(LSTMCell, return_sequences) -> RNN(GRUCell) predicts as the
    same model of LSTM and GRU: the second RNN sees the padding too."""
    def model(first, second, mask_zero=True):
        return Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(6, 3, mask_zero=mask_zero),
                           first, second])

    cells = model(layers.RNN(layers.LSTMCell(4), return_sequences=True), layers.RNN(layers.GRUCell(2)))
    recurrent = model(layers.LSTM(4, return_sequences=True), layers.GRU(2))
    unmasked = model(layers.LSTM(4, return_sequences=True), layers.GRU(2), mask_zero=False)
    for other in (recurrent, unmasked):
        other.set_weights(cells.get_weights())
    tokens = np.random.default_rng(5).integers(1, 6, (BATCH, STEPS))
    tokens[0, 2:] = 0
    prediction = cells.predict(tokens, verbose=0)
    np.testing.assert_array_equal(prediction, recurrent.predict(tokens, verbose=0))
    assert not np.allclose(prediction[0], unmasked.predict(tokens, verbose=0)[0])  # the padding matters


def test_bidirectional_rnn_outputs_zeros_at_masked_steps_as_bidirectional_lstm(backend):
    """Bidirectional sets zero_output_for_mask on the layers it wraps; Flatten then reads them."""
    def model(recurrent):
        return Sequential([layers.Input((STEPS,), dtype="int32"), layers.Embedding(6, 3, mask_zero=True),
                           layers.Bidirectional(recurrent), layers.Flatten(), layers.Dense(2)])

    cells, recurrent = model(layers.RNN(layers.LSTMCell(4), return_sequences=True)), model(layers.LSTM(4, return_sequences=True))
    recurrent.set_weights(cells.get_weights())
    tokens = np.random.default_rng(6).integers(1, 6, (BATCH, STEPS))
    tokens[:2, 3:] = 0
    np.testing.assert_array_equal(cells.predict(tokens, verbose=0), recurrent.predict(tokens, verbose=0))
