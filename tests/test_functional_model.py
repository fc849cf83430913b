"""The functional API, ``Model(inputs, outputs)``: the same numbers as the equivalent
`Sequential`, gradients of branched, merged, shared and multi-input graphs against finite
differences (float64), masks, ``return_state``, several inputs in fit/evaluate/predict,
saving, and clear errors for graphs deepcore cannot run."""

from __future__ import annotations

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import (GRU, LSTM, Add, Bidirectional, Concatenate, Dense, Embedding, Flatten, Input, InputLayer,
                             Multiply, SimpleRNN)
from deepcore.models import Functional, Model, Sequential, load_model, model_from_json
from deepcore.testing.compare import compare_backends
from deepcore.testing.gradients import check_backward


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def regression_data(n: int = 32, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    return x, (x @ rng.standard_normal((features, 1))).astype(np.float32)


def residual_model() -> Functional:
    """x -> Dense(6, tanh) -> [Dense(6, tanh) (shared, applied twice) -> + skip] * x-projection -> Dense(1)."""
    inputs = Input((4,))
    h = Dense(6, activation="tanh", name="stem")(inputs)
    shared = Dense(6, activation="tanh", name="shared")
    branch = shared(shared(h))  # one layer at two nodes: its gradient is the sum of both
    merged = Add(name="add")([h, branch])  # h feeds two consumers: its gradient is summed
    gated = Multiply(name="multiply")([merged, Dense(6, name="gate")(inputs)])
    return Model(inputs, Dense(1, name="head")(gated), name="residual")


def test_model_with_inputs_and_outputs_is_functional_and_lists_its_layers():
    inputs = Input((4,), name="features")
    model = Model(inputs=inputs, outputs=Dense(2, name="out")(Dense(3, name="hidden")(inputs)))
    assert isinstance(model, Functional)
    assert [layer.name for layer in model.layers] == ["features", "hidden", "out"]
    assert isinstance(model.layers[0], InputLayer)  # Keras lists the Input layer too
    assert model.input_shape == (None, 4) and model.output_shape == (None, 2)
    assert model.count_params() == 4 * 3 + 3 + 3 * 2 + 2


def test_chain_matches_sequential_in_predictions_and_training(backend):
    x, y = regression_data()
    sequential = Sequential([Input((4,)), Dense(5, activation="relu"), Dense(1)])
    inputs = Input((4,))
    functional = Model(inputs, Dense(1)(Dense(5, activation="relu")(inputs)))
    functional.set_weights(sequential.get_weights())
    np.testing.assert_array_equal(functional.predict(x, verbose=0), sequential.predict(x, verbose=0))
    for model in (sequential, functional):
        model.compile(optimizer=dc.optimizers.Adam(0.01), loss="mse")
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for got, expected in zip(functional.get_weights(), sequential.get_weights()):
        np.testing.assert_array_equal(got, expected)  # the same operations in the same order


def test_branched_shared_and_merged_graph_gradients_match_finite_differences(backend, float64):
    model = residual_model()
    x = np.random.default_rng(1).standard_normal((3, 4))
    variables = model.trainable_variables
    assert len(variables) == 8  # stem, shared (once), gate, head
    check_backward(model.forward, x, variables, label="residual functional model")


def test_parameters_only_fills_the_same_weight_gradients(backend, float64):
    model = residual_model()
    x = backend.asarray(np.random.default_rng(2).standard_normal((5, 4)), dtype=backend.dtype("float64"))
    dy = backend.asarray(np.random.default_rng(3).standard_normal((5, 1)), dtype=backend.dtype("float64"))
    _, backprop = model.forward(x, training=True)
    backprop(dy)
    full = [backend.to_numpy(v.grad).copy() for v in model.trainable_variables]
    _, backprop = model.forward(x, training=True)
    assert backprop.parameters_only(dy) is None
    for variable, expected in zip(model.trainable_variables, full):
        np.testing.assert_allclose(backend.to_numpy(variable.grad), expected, rtol=1e-12)


def two_input_model() -> Functional:
    numbers = Input((3,), name="numbers")
    tokens = Input((5,), name="tokens")
    embedded = Flatten()(Embedding(10, 2, name="embedding")(tokens))
    joined = Concatenate()([Dense(4, activation="tanh", name="number_dense")(numbers), embedded])
    return Model([numbers, tokens], Dense(1, name="head")(joined))


def two_input_data(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    numbers = rng.standard_normal((n, 3)).astype(np.float32)
    tokens = rng.integers(0, 10, (n, 5))
    y = (numbers[:, :1] + (tokens[:, :1] > 4)).astype(np.float32)
    return numbers, tokens, y


def test_several_inputs_gradients_match_finite_differences(backend, float64):
    model = two_input_model()
    rng = np.random.default_rng(4)
    numbers = rng.standard_normal((3, 3))
    tokens = backend.asarray(rng.integers(0, 10, (3, 5)), dtype=backend.dtype("float64"))

    def forward(x):
        y, backprop = model.forward((x, tokens), training=True)
        return y, lambda dy: backprop(dy)[0]

    check_backward(forward, numbers, model.trainable_variables, label="two-input model")


def test_several_inputs_take_a_list_or_a_dict_in_fit_evaluate_and_predict(backend):
    numbers, tokens, y = two_input_data()
    model = two_input_model()
    model.compile(optimizer=dc.optimizers.Adam(0.05), loss="mse")
    before = model.evaluate([numbers, tokens], y, verbose=0)
    history = model.fit({"numbers": numbers, "tokens": tokens}, y, batch_size=8, epochs=15, verbose=0,
                        validation_data=([numbers, tokens], y))
    after = model.evaluate([numbers, tokens], y, verbose=0)
    assert after < 0.5 * before
    assert history.history["val_loss"][-1] == pytest.approx(after, rel=1e-5)
    by_list = model.predict([numbers, tokens], batch_size=16, verbose=0)
    by_dict = model.predict({"tokens": tokens, "numbers": numbers}, verbose=0)
    assert by_list.shape == (40, 1)
    np.testing.assert_allclose(by_list, by_dict, rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch([numbers, tokens]), by_list, rtol=1e-6)
    assert np.isfinite(model.train_on_batch([numbers[:8], tokens[:8]], y[:8]))


def test_several_inputs_errors_name_the_inputs(backend):
    numbers, tokens, y = two_input_data()
    model = two_input_model()
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"2 inputs \['numbers', 'tokens'\]"):
        model.fit(numbers, y, verbose=0)
    with pytest.raises(ValueError, match=r"lacks \['tokens'\]"):
        model.predict({"numbers": numbers}, verbose=0)
    with pytest.raises(ValueError, match="Data length mismatch"):
        model.predict([numbers, tokens[:10]], verbose=0)
    with pytest.raises(ValueError, match=r"Input 'tokens' of model .* expects shape \(None, 5\)"):
        model.predict([numbers, tokens[:, :4]], verbose=0)
    with pytest.raises(ValueError, match="input_dim"):  # Embedding's id check reaches the second input
        model.predict([numbers, tokens + 10], verbose=0)


def test_masks_flow_along_the_graph_as_in_sequential(backend):
    rng = np.random.default_rng(5)
    tokens = rng.integers(1, 9, (6, 7))
    tokens[:, 4:] = 0  # padded steps
    sequential = Sequential([Input((7,)), Embedding(9, 3, mask_zero=True), LSTM(4), Dense(1)])
    inputs = Input((7,))
    functional = Model(inputs, Dense(1)(LSTM(4)(Embedding(9, 3, mask_zero=True)(inputs))))
    functional.set_weights(sequential.get_weights())
    masked = functional.predict(tokens, verbose=0)
    np.testing.assert_allclose(masked, sequential.predict(tokens, verbose=0), rtol=1e-6)
    unmasked = Model(inputs, Dense(1)(LSTM(4)(Embedding(9, 3)(inputs))))
    unmasked.set_weights(sequential.get_weights())
    assert not np.allclose(unmasked.predict(tokens, verbose=0), masked, rtol=1e-3)  # the mask matters


def test_recurrent_state_outputs_feed_other_layers_with_gradients(backend, float64):
    inputs = Input((5, 2))
    sequence, h, c = LSTM(3, return_sequences=True, return_state=True, name="lstm")(inputs)
    summary = Concatenate()([Flatten()(sequence), h, c])
    model = Model(inputs, Dense(1)(summary))
    x = np.random.default_rng(6).standard_normal((2, 5, 2))
    check_backward(model.forward, x, model.trainable_variables, label="LSTM with return_state")


def test_unused_state_outputs_get_no_gradient(backend, float64):
    inputs = Input((4, 2))
    _, h, _ = LSTM(3, return_state=True)(inputs)  # only h is used
    model = Model(inputs, Dense(1)(h))
    x = np.random.default_rng(7).standard_normal((2, 4, 2))
    check_backward(model.forward, x, model.trainable_variables, label="LSTM state h only")


def check_initial_states(backend, layer, label: str) -> tuple:
    """Build ``layer`` for ``(None, 4, 2)`` inputs; zero initial states give the default run,
    and ``backprop`` (``[dx, *d(states)]``) gives each state's gradient, checked against
    central differences. Returns the input and the states, on the backend."""
    layer.build((None, 4, 2))
    rng = np.random.default_rng(10)
    x = backend.asarray(rng.standard_normal((2, 4, 2)), dtype=backend.dtype("float64"))
    states = [rng.standard_normal((2, size)) for size in layer.state_sizes]
    on = [backend.asarray(state, dtype=backend.dtype("float64")) for state in states]
    zero_start, _ = layer.forward(x, initial_state=[0.0 * state for state in on])
    np.testing.assert_allclose(backend.to_numpy(zero_start), backend.to_numpy(layer.forward(x)[0]), rtol=1e-12)
    for position in range(len(states)):
        def forward(state, position=position):
            given = on[:position] + [state] + on[position + 1:]
            y, backprop = layer.forward(x, training=True, initial_state=given)
            return y, lambda dy: backprop(dy)[1 + position]

        check_backward(forward, states[position], layer.trainable_weights, label=f"{label} initial state {position}")
    return x, on


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
def test_initial_state_gradients_match_finite_differences(backend, float64, layer_class):
    layer = layer_class(3, return_sequences=True)
    x, on = check_initial_states(backend, layer, layer_class.__name__)
    assert len(on) == layer.state_count
    with pytest.raises(ValueError, match=r"initial_state must be .* of shape \(2, 3\)"):
        layer.forward(x, initial_state=[on[0][:1, ...]] * layer.state_count)


@pytest.mark.parametrize("layer_class", [LSTM, GRU])
def test_bidirectional_initial_state_gradients_match_finite_differences(backend, float64, layer_class):
    """Keras's order: the forward layer's states, then the backward layer's."""
    layer = Bidirectional(layer_class(3, return_sequences=True))
    label = f"Bidirectional({layer_class.__name__})"
    x, on = check_initial_states(backend, layer, label)
    half = layer.forward_layer.state_count
    assert len(on) == 2 * half
    forward_part = backend.to_numpy(layer.forward_layer.forward(x, initial_state=on[:half])[0])
    backward_part = backend.to_numpy(layer.backward_layer.forward(x, initial_state=on[half:])[0])[:, ::-1]
    np.testing.assert_allclose(backend.to_numpy(layer.forward(x, initial_state=on)[0]),
                               np.concatenate([forward_part, backward_part], axis=-1), rtol=1e-12)

    def forward_x(v):
        y, backprop = layer.forward(v, training=True, initial_state=on)
        return y, lambda dy: backprop(dy)[0]

    check_backward(forward_x, backend.to_numpy(x), label=f"{label} dx with initial states")
    with pytest.raises(ValueError, match=r"initial_state must be \d arrays \(the forward layer's states"):
        layer.forward(x, initial_state=on[:1])


def test_bidirectional_encoder_states_start_a_bidirectional_decoder(backend, tmp_path):
    source, target = Input((5, 3)), Input((4, 2))
    _, *states = Bidirectional(LSTM(4, return_state=True), name="encoder")(source)
    assert len(states) == 4  # h and c forward, then backward
    decoded = Bidirectional(LSTM(4, return_sequences=True), name="decoder")(target, initial_state=states)
    model = Model([source, target], Dense(2)(decoded))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(13)
    x = [rng.standard_normal((6, 5, 3)).astype(np.float32), rng.standard_normal((6, 4, 2)).astype(np.float32)]
    y = rng.standard_normal((6, 4, 2)).astype(np.float32)
    encoder_before = [w.copy() for w in model.get_layer("encoder").get_weights()]
    model.fit(x, y, epochs=1, verbose=0)
    changed = [not np.array_equal(a, b) for a, b in zip(encoder_before, model.get_layer("encoder").get_weights())]
    assert all(changed)  # the decoder's loss reached the encoder through the states
    model.save(tmp_path / "bidirectional_seq2seq.deepcore")
    np.testing.assert_array_equal(load_model(tmp_path / "bidirectional_seq2seq.deepcore").predict(x, verbose=0),
                                  model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"initial_state must be 4 tensor\(s\) of shape \(batch, 4\)"):
        Bidirectional(LSTM(4))(target, initial_state=states[:2])


def encoder_decoder() -> Functional:
    """Keras's sequence-to-sequence pattern: the encoder's final states start the decoder."""
    source, target = Input((5, 3), name="source"), Input((4, 2), name="target")
    _, h, c = LSTM(4, return_state=True, name="encoder")(source)
    decoded = LSTM(4, return_sequences=True, name="decoder")(target, initial_state=[h, c])
    return Model([source, target], Dense(2, name="head")(decoded))


def test_encoder_decoder_gradients_reach_the_encoder(backend, float64):
    model = encoder_decoder()
    rng = np.random.default_rng(11)
    source, target = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4, 2))
    target_on = backend.asarray(target, dtype=backend.dtype("float64"))

    def forward(x):
        y, backprop = model.forward((x, target_on), training=True)
        return y, lambda dy: backprop(dy)[0]

    # The source's gradient and the encoder's weights' gradients pass through the states only.
    check_backward(forward, source, model.trainable_variables, label="encoder-decoder")


def test_encoder_decoder_saves_and_loads(backend, tmp_path):
    model = encoder_decoder()
    rng = np.random.default_rng(12)
    data = [rng.standard_normal((3, 5, 3)).astype(np.float32), rng.standard_normal((3, 4, 2)).astype(np.float32)]
    model.save(tmp_path / "seq2seq.deepcore")
    loaded = load_model(tmp_path / "seq2seq.deepcore")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_a_model_called_on_symbolic_tensors_shares_its_layers(backend):
    encoder = Sequential([Input((4,)), Dense(3, activation="tanh", name="encode")])
    left, right = Input((4,), name="left"), Input((4,), name="right")
    siamese = Model([left, right], Dense(1, name="score")(Add()([encoder(left), encoder(right)])))
    assert siamese.get_layer("encode") is encoder.layers[0]
    x = np.random.default_rng(8).standard_normal((6, 4)).astype(np.float32)
    siamese.compile(optimizer=dc.optimizers.SGD(0.1), loss="mse")
    before = encoder.get_weights()[0].copy()
    siamese.fit([x, x[::-1]], np.ones((6, 1), np.float32), epochs=1, verbose=0)
    assert not np.array_equal(encoder.get_weights()[0], before)  # training the siamese trained the encoder

    inner = Model(left, Dense(2, name="inner")(left))
    outer_input = Input((4,))
    outer = Model(outer_input, Dense(1, name="outer")(inner(outer_input)))
    assert [layer.name for layer in outer.layers][1:] == ["inner", "outer"]


def test_save_load_and_json_round_trip(backend, tmp_path):
    numbers, tokens, y = two_input_data()
    model = two_input_model()
    model.compile(optimizer="adam", loss="mse")
    model.fit([numbers, tokens], y, epochs=2, verbose=0)
    path = tmp_path / "two_inputs.deepcore"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, Functional) and loaded.input_names == ["numbers", "tokens"]
    np.testing.assert_array_equal(loaded.predict([numbers, tokens], verbose=0),
                                  model.predict([numbers, tokens], verbose=0))
    rebuilt = model_from_json(model.to_json())
    assert [type(layer) for layer in rebuilt.layers] == [type(layer) for layer in model.layers]

    shared = residual_model()
    again = model_from_json(shared.to_json())
    again.set_weights(shared.get_weights())
    x = np.random.default_rng(9).standard_normal((4, 4)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), shared.predict(x, verbose=0))


def test_summary_shows_connections():
    lines = []
    residual_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    row = next(line for line in lines if line.startswith("add"))
    assert "stem, shared" in row  # the Add takes the stem and the shared layer's second output
    assert "Total params: 109" in text  # stem 30 + shared 42 (once) + gate 30 + head 7


def test_graph_errors_are_clear():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    joined = Add()([Dense(2)(a), Dense(2)(b)])
    with pytest.raises(ValueError, match=r"disconnected.*Input 'b'"):
        Model(a, joined)
    with pytest.raises(TypeError, match="needs inputs= and outputs="):
        Model()
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(np.zeros((2, 4)), joined)
    with pytest.raises(ValueError, match="takes one input"):
        Dense(2)([a, b])
    with pytest.raises(ValueError, match=r"expected shape \(None, 4\)"):
        dense = Dense(2)
        dense(a)
        dense(Input((5,)))
    with pytest.raises(ValueError, match=r"initial_state must be 2 tensor\(s\) of shape \(batch, 2\)"):
        LSTM(2)(Input((3, 4)), initial_state=[Dense(2)(a)])
    with pytest.raises(NotImplementedError, match=r"\['initial_state'\]"):
        Dense(2)(a, initial_state=[b])
    with pytest.raises(NotImplementedError, match=r"\['mask'\]"):
        Dense(2)(a, mask=b)
    with pytest.raises(TypeError, match="has no values"):
        np.asarray(a)
    with pytest.raises(TypeError, match="build the outer model with the functional API"):
        Sequential([Model(a, Dense(2)(a)), Dense(1)])


def test_consistency_report_compares_every_node_of_a_graph():
    """compare_backends on a functional model: each node's output (a shared layer per call),
    the loss, every gradient; torch agrees with NumPy within the derived tolerances, and the
    float64 golden run shows float32 NumPy's own rounding."""
    model = residual_model()
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(16).standard_normal((8, 4)).astype(np.float32)
    y = np.random.default_rng(17).standard_normal((8, 1)).astype(np.float32)
    report = compare_backends(model, x, y, backends=["numpy", "torch", "array_api_strict"], reference="golden",
                              steps=2)
    outputs = {row.layer for row in report.rows if row.quantity == "output"}
    assert outputs == {"stem", "shared#1", "shared#2", "add", "gate", "multiply", "head"}
    gradients = {(row.layer, row.quantity) for row in report.rows if row.quantity.startswith("grad")}
    assert ("shared", "grad kernel") in gradients and len(gradients) == 8
    assert report.passed, str(report)
    two_inputs = two_input_model()
    with pytest.raises(NotImplementedError, match="one input and one output"):
        compare_backends(two_inputs, x, backends=["numpy"])


def test_models_of_a_models_parts_through_layer_output(backend):
    """Keras's feature extraction: Model(model.input, model.get_layer(name).output), for a
    Sequential and for a functional model; the part computes what the whole computes there."""
    x = np.random.default_rng(13).standard_normal((5, 4)).astype(np.float32)
    base = Sequential([Input((4,)), Dense(6, activation="relu", name="features"), Dense(1, name="head")])
    features = Model(base.input, base.get_layer("features").output)
    assert features.layers[1] is base.layers[0]  # shared, not copied
    hidden = backend.to_numpy(base.layers[0](backend.asarray(x)))
    np.testing.assert_allclose(features.predict(x, verbose=0), hidden, rtol=1e-6)
    assert base.output.shape == (None, 1) and base.inputs[0] is base.input

    graph = residual_model()
    gate = Model(graph.input, graph.get_layer("gate").output)
    assert gate.output_shape == (None, 6) and [layer.name for layer in gate.layers][1:] == ["gate"]


def test_layer_input_and_output_are_those_of_the_first_call():
    """Keras reads node 0: a layer called twice gives its first call's tensors; a Sequential's
    layers have theirs as soon as it is built (Model(s.layers[0].input, s.layers[1].output))."""
    with pytest.raises(AttributeError, match="has not been called on symbolic tensors"):
        _ = Dense(2).output
    graph = residual_model()
    shared = graph.get_layer("shared")
    assert shared.input is graph.get_layer("stem").output and shared.output is shared.inbound_nodes[0].outputs[0]
    inputs = Input((3,))
    assert inputs.node.layer.input is inputs and inputs.node.layer.output is inputs
    with pytest.raises(AttributeError, match="no input yet"):
        _ = Sequential([Dense(2)]).input
    stack = Sequential([Input((4,)), Dense(5, name="first"), Dense(3, name="second")])
    part = Model(stack.layers[0].input, stack.layers[1].output)
    assert part.output_shape == (None, 3) and [layer.name for layer in part.layers][1:] == ["first", "second"]
    stack.add(Dense(2, name="third"))  # the graph grows by the new layer only
    assert stack.output is stack.layers[2].output and len(stack.layers[0].inbound_nodes) == 1
    stack.pop()
    assert stack.output is stack.layers[1].output


# --- several outputs ------------------------------------------------------------------------------

def two_output_model() -> Functional:
    """A class head and a score head that reads the class head's output too (so the class
    head's gradient has two sources)."""
    inputs = Input((4,), name="features")
    hidden = Dense(6, activation="tanh", name="hidden")(inputs)
    label = Dense(3, activation="softmax", name="label")(hidden)
    score = Dense(1, name="score")(Concatenate(name="concatenate")([hidden, label]))
    return Model(inputs, [label, score])


def two_output_data(n: int = 48, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    label = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    score = (x[:, 2:3] - x[:, 3:4]).astype(np.float32)
    return x, label, score


def test_several_outputs_gradients_match_finite_differences(backend, float64):
    model = two_output_model()
    assert model.output_names == ["label", "score"] and model.output_shape == [(None, 3), (None, 1)]
    xp = backend.xp

    def forward(x):
        (label, score), _, backprop = model.forward_with_mask(x, training=True)
        return xp.concat([label, score], axis=1), lambda dy: backprop((dy[:, :3], dy[:, 3:]))

    x = np.random.default_rng(14).standard_normal((3, 4))
    check_backward(forward, x, model.trainable_variables, label="two-output model")


def test_several_outputs_train_with_per_output_losses_weights_and_metrics(backend):
    x, label, score = two_output_data()
    model = two_output_model()
    model.compile(optimizer=dc.optimizers.Adam(0.02), loss={"label": "sparse_categorical_crossentropy", "score": "mse"},
                  loss_weights=[1.0, 0.5], metrics={"label": ["accuracy"]})
    assert model.metrics_names == ["loss", "label_loss", "score_loss", "label_accuracy"]
    before = model.evaluate(x, [label, score], verbose=0, return_dict=True)
    history = model.fit(x, {"score": score, "label": label}, batch_size=16, epochs=30, verbose=0)
    after = model.evaluate(x, [label, score], verbose=0, return_dict=True)
    assert set(history.history) == {"loss", "label_loss", "score_loss", "label_accuracy"}
    assert after["label_loss"] < 0.7 * before["label_loss"] and after["score_loss"] < 0.5 * before["score_loss"]
    # loss = label_loss + 0.5 * score_loss: the means of float32 batch values, summed in
    # another order, so a few float32 roundings apart.
    assert after["loss"] == pytest.approx(after["label_loss"] + 0.5 * after["score_loss"], rel=1e-5)
    predicted_label, predicted_score = model.predict(x, batch_size=20, verbose=0)
    assert predicted_label.shape == (48, 3) and predicted_score.shape == (48, 1)
    accuracy = np.mean(predicted_label.argmax(axis=1) == label)
    assert accuracy == pytest.approx(after["label_accuracy"], abs=1e-9)


def test_one_loss_serves_every_output(backend):
    inputs = Input((2,))
    model = Model(inputs, [Dense(1, name="a")(inputs), Dense(1, name="b")(inputs)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 2), np.float32)
    logs = model.evaluate(x, [np.zeros((4, 1), np.float32), np.ones((4, 1), np.float32)], verbose=0,
                          return_dict=True)
    assert logs["loss"] == pytest.approx(logs["a_loss"] + logs["b_loss"], rel=1e-6)
    a, b = model.predict(x, verbose=0)
    assert logs["a_loss"] == pytest.approx(float(np.mean(a ** 2)), rel=1e-5)
    assert logs["b_loss"] == pytest.approx(float(np.mean((b - 1.0) ** 2)), rel=1e-5)


def test_several_outputs_save_and_load_with_their_compile_config(backend, tmp_path):
    x, label, score = two_output_data()
    model = two_output_model()
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], loss_weights={"score": 2.0},
                  metrics=[["accuracy"], ["mae"]])
    model.fit(x, [label, score], epochs=2, verbose=0)
    model.save(tmp_path / "two_outputs.deepcore")
    loaded = load_model(tmp_path / "two_outputs.deepcore")
    assert loaded.metrics_names == model.metrics_names == ["loss", "label_loss", "score_loss", "label_accuracy",
                                                           "score_mae"]
    assert loaded.evaluate(x, [label, score], verbose=0) == pytest.approx(
        model.evaluate(x, [label, score], verbose=0), rel=1e-6)
    loaded.fit(x, [label, score], epochs=1, verbose=0)  # the optimizer state came along too


def test_several_outputs_errors_are_clear(backend):
    x, label, score = two_output_data()
    model = two_output_model()
    with pytest.raises(ValueError, match=r"loss lists 3 entries for 2 outputs \['label', 'score'\]"):
        model.compile(optimizer="adam", loss=["mse"] * 3)
    with pytest.raises(ValueError, match=r"not outputs; the outputs are \['label', 'score'\]"):
        model.compile(optimizer="adam", loss={"labels": "mse", "score": "mse"})
    with pytest.raises(ValueError, match=r"a list with one entry \(a metric or a list of them\) per output"):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], metrics=["accuracy", "mae"])
    assert model.metrics_names == ["loss", "label_loss", "score_loss", "label_accuracy", "score_mae"]
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match=r"2 targets \['label', 'score'\]"):
        model.fit(x, label, verbose=0)
    with pytest.raises(ValueError, match="class_weight is only supported for models with one output"):
        model.fit(x, [label, score], class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)


def test_multi_output_loss_is_the_weighted_sum_of_its_terms_with_their_gradients(backend):
    rng = np.random.default_rng(15)
    on = lambda a: backend.asarray(a, dtype=backend.dtype())  # noqa: E731
    targets = (on(rng.standard_normal((5, 2))), on(rng.standard_normal((5, 1))))
    predictions = (on(rng.standard_normal((5, 2))), on(rng.standard_normal((5, 1))))
    parts = [dc.losses.MeanSquaredError(), dc.losses.MeanAbsoluteError()]
    loss = dc.losses.MultiOutputLoss(parts, weights=[0.25, 3.0], output_names=["a", "b"])
    total, backprop = loss.forward(targets, predictions)
    singles = [part.forward(t, p) for part, t, p in zip(parts, targets, predictions)]
    expected = 0.25 * float(singles[0][0]) + 3.0 * float(singles[1][0])
    assert float(total) == pytest.approx(expected, rel=1e-6)
    assert [float(term) for term in loss.last_terms] == pytest.approx([float(v) for v, _ in singles], rel=1e-6)
    for gradient, weight, (_, single_backprop) in zip(backprop(), (0.25, 3.0), singles):
        np.testing.assert_allclose(backend.to_numpy(gradient), weight * backend.to_numpy(single_backprop()),
                                   rtol=1e-6)


def test_layers_are_listed_in_kerass_order():
    """get_weights/set_weights follow model.layers, so weights port from Keras only if the
    order is Keras's (its map_graph: deepest first, ties by first visit from the outputs).
    The expected lists were printed by Keras 3.15.1 for the same graphs."""
    a, b = Input((3,), name="a"), Input((5,), name="b")
    joined = Concatenate(name="cat")([Dense(2, name="d1")(a), Dense(3, name="d2")(Dense(4, name="d3")(b))])
    branches = Model([a, b], Dense(1, name="head")(joined))
    assert [layer.name for layer in branches.layers] == ["b", "a", "d3", "d1", "d2", "cat", "head"]
    assert [w.shape for w in branches.get_weights()] == [(5, 4), (4,), (3, 2), (2,), (4, 3), (3,), (5, 1), (1,)]
    assert [layer.name for layer in residual_model().layers][1:] == ["stem", "shared", "add", "gate", "multiply",
                                                                      "head"]
    assert [layer.name for layer in two_output_model().layers] == ["features", "hidden", "label", "concatenate",
                                                                   "score"]
    u, v = Input((2,), name="u"), Input((2,), name="v")
    assert [layer.name for layer in Model([u, v], Dense(1, name="du")(u)).layers] == ["u", "v", "du"]


def test_a_shared_layers_activity_penalty_counts_every_call(backend):
    """Keras adds the activity penalty of each call of a shared layer to the loss (the
    gradients already had both calls'; the reported loss had only the last call's)."""
    a, b = Input((2,), name="left"), Input((2,), name="right")
    shared = Dense(2, use_bias=False, activity_regularizer=dc.regularizers.L2(1.0), name="shared",
                   kernel_initializer="ones")
    model = Model([a, b], Add()([shared(a), shared(b)]))
    model.compile(optimizer="sgd", loss="mse")
    left, right = np.array([[1.0, 2.0]], np.float32), np.array([[3.0, 4.0]], np.float32)
    target = np.zeros((1, 2), np.float32)
    # Outputs of the calls: [3, 3] and [7, 7]; penalties 1.0 * sum(y^2) / batch = 18 and 98;
    # the mse of their sum [10, 10] against 0 is 100.
    assert model.evaluate([left, right], target, verbose=0) == pytest.approx(100.0 + 18.0 + 98.0)


def test_auto_names_skip_names_given_explicitly():
    """A model loaded in a new process names its layers explicitly ("dense"); the next
    automatic name must not repeat one of them, or joining new layers to it fails."""
    dc.utils.clear_session()
    assert Dense(2, name="dense").name == "dense"
    assert Dense(2).name == "dense_1"


def test_calling_a_model_with_several_inputs_checks_them(backend):
    model = two_input_model()
    numbers, tokens, _ = two_input_data(4)
    on = [backend.asarray(numbers), backend.asarray(tokens, dtype=backend.dtype())]
    by_list = backend.to_numpy(model(on))
    np.testing.assert_array_equal(backend.to_numpy(model({"tokens": on[1], "numbers": on[0]})), by_list)
    np.testing.assert_allclose(by_list, model.predict([numbers, tokens], verbose=0), rtol=1e-6)
    for wrong in ([on[0]], on[0], on + [on[1]]):
        with pytest.raises(ValueError, match=r"2 inputs \['numbers', 'tokens'\]"):
            model(wrong)


def test_inputs_as_a_dict_match_the_data_by_key_and_outputs_of_one_layer_get_numbered_names(backend, tmp_path):
    x_age, x_income = np.ones((6, 1), np.float32), np.full((6, 2), 2.0, np.float32)
    age, income = Input((1,), name="age_input"), Input((2,), name="income_input")
    model = Model({"income": income, "age": age}, Dense(1, name="out")(Concatenate()([age, income])))
    assert model.input_names == ["age", "income"] and model.inputs == [age, income]  # sorted by key, as Keras
    model.compile(optimizer="sgd", loss="mse")
    model.fit({"income": x_income, "age": x_age}, np.zeros((6, 1), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "dict_inputs.deepcore")
    loaded = load_model(tmp_path / "dict_inputs.deepcore")
    assert loaded.input_names == ["age", "income"]
    np.testing.assert_array_equal(loaded.predict({"age": x_age, "income": x_income}, verbose=0),
                                  model.predict([x_age, x_income], verbose=0))

    encoder = Dense(2, name="enc")
    left, right = Input((3,), name="left"), Input((3,), name="right")
    siamese = Model([left, right], [encoder(left), encoder(right)])  # Keras: outputs enc and enc_1
    assert siamese.output_names == ["enc", "enc_1"]
    siamese.compile(optimizer="sgd", loss="mse")
    logs = siamese.evaluate([np.ones((4, 3)), np.zeros((4, 3))], [np.zeros((4, 2)), np.zeros((4, 2))],
                            verbose=0, return_dict=True)
    assert set(logs) == {"loss", "enc_loss", "enc_1_loss"} and logs["enc_1_loss"] == 0.0  # zeros in, no bias


def test_outputs_as_a_dict_key_targets_losses_logs_and_predictions(backend, tmp_path):
    """Keras 3 (checked against 3.15.1): outputs ordered by key; the keys, not the layers'
    names, key the targets, losses, metrics and logs; predict and calls return a dict;
    ``output_names`` stays the layers' names; a list of targets follows the key order."""
    x, label, score = two_output_data()
    inputs = Input((x.shape[1],))
    hidden = Dense(8, activation="relu")(inputs)
    outputs = {"score": Dense(1, name="s_layer")(hidden), "label": Dense(3, activation="softmax", name="l_layer")(hidden)}
    model = Model(inputs, outputs)
    assert model.output_names == ["l_layer", "s_layer"]
    assert model.output == {"label": outputs["label"], "score": outputs["score"]}
    model.compile(optimizer=dc.optimizers.Adam(0.02), loss={"score": "mse", "label": "sparse_categorical_crossentropy"},
                  metrics={"label": ["accuracy"]})
    history = model.fit(x, {"score": score, "label": label}, batch_size=16, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "label_loss", "score_loss", "label_accuracy"}
    by_dict = model.evaluate(x, {"label": label, "score": score}, verbose=0, return_dict=True)
    assert model.evaluate(x, [label, score], verbose=0, return_dict=True) == by_dict
    predicted = model.predict(x, batch_size=20, verbose=0)
    assert set(predicted) == {"label", "score"}
    assert predicted["label"].shape == (48, 3) and predicted["score"].shape == (48, 1)
    assert np.mean(predicted["label"].argmax(axis=1) == label) == pytest.approx(by_dict["label_accuracy"], abs=1e-9)
    called = model(backend.asarray(x))
    np.testing.assert_allclose(backend.to_numpy(called["score"]), predicted["score"], rtol=1e-6)

    model.save(tmp_path / "dict_outputs.deepcore")
    loaded = load_model(tmp_path / "dict_outputs.deepcore")
    reloaded = loaded.predict(x, verbose=0)
    assert set(reloaded) == {"label", "score"}
    np.testing.assert_array_equal(reloaded["label"], predicted["label"])
    assert loaded.evaluate(x, [label, score], verbose=0, return_dict=True) == pytest.approx(by_dict, rel=1e-6)

    one = Model(inputs, {"only": Dense(2, name="o")(hidden)})  # one output: a dict too, logs only "loss"
    one.compile(optimizer="sgd", loss={"only": "mse"})
    assert set(one.evaluate(x, {"only": np.zeros((48, 2))}, verbose=0, return_dict=True)) == {"loss"}
    assert set(one.predict(x, verbose=0)) == {"only"}


def test_a_model_with_dict_outputs_called_as_a_layer_gives_a_dict(backend):
    inputs = Input((3,))
    inner = Model(inputs, {"b": Dense(2, name="b_dense")(inputs), "a": Dense(1, name="a_dense")(inputs)})
    outer_inputs = Input((3,))
    parts = inner(outer_inputs)
    assert set(parts) == {"a", "b"} and parts["a"].shape == (None, 1) and parts["b"].shape == (None, 2)
    outer = Model(outer_inputs, Concatenate()([parts["a"], parts["b"]]))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    inner_out = inner.predict(x, verbose=0)
    np.testing.assert_allclose(outer.predict(x, verbose=0), np.concatenate([inner_out["a"], inner_out["b"]], axis=1),
                               rtol=1e-6)


def test_one_tensor_given_twice_as_outputs_gets_both_gradients(backend, float64):
    inputs = Input((3,))
    hidden = Dense(2, name="twice")(inputs)
    model = Model(inputs, [hidden, hidden])
    assert model.output_names == ["twice", "twice_1"]
    xp = backend.xp

    def forward(x):
        (first, second), _, backprop = model.forward_with_mask(x, training=True)
        return xp.concat([first, second], axis=1), lambda dy: backprop((dy[:, :2], dy[:, 2:]))

    check_backward(forward, np.random.default_rng(18).standard_normal((3, 3)), model.trainable_variables,
                   label="one tensor as two outputs")


def test_sample_weights_per_output_weight_each_outputs_loss(backend):
    """Keras's per-output sample_weight (a list in output order or a dict by name): each
    output's loss is weighted by its own."""
    inputs = Input((2,))
    model = Model(inputs, [Dense(1, name="a", kernel_initializer="ones")(inputs),
                           Dense(1, name="b", kernel_initializer="ones")(inputs)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)  # outputs 1, 2, 2 on both heads
    targets = [np.zeros((3, 1), np.float32), np.zeros((3, 1), np.float32)]
    squared = np.array([1.0, 4.0, 4.0])
    w_a, w_b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 2.0])
    for weights in ([w_a, w_b], {"b": w_b, "a": w_a}):
        logs = model.evaluate(x, targets, sample_weight=weights, verbose=0, return_dict=True)
        assert logs["a_loss"] == pytest.approx(np.sum(squared * w_a) / 3, rel=1e-6)
        assert logs["b_loss"] == pytest.approx(np.sum(squared * w_b) / 3, rel=1e-6)
    logs = model.evaluate(x, targets, sample_weight=w_b, verbose=0, return_dict=True)  # one for both
    assert logs["a_loss"] == logs["b_loss"] == pytest.approx(np.sum(squared * w_b) / 3, rel=1e-6)
    model.fit(x, targets, sample_weight=[w_a, w_b], epochs=1, verbose=0, validation_data=(x, targets, [w_a, w_b]))


def test_a_model_called_as_a_layer_keeps_its_place_in_kerass_weight_order(backend):
    """Keras counts a nested model as one operation when it orders layers: its weights come
    together, at its depth. Expected weight shapes printed by Keras 3.15.1 for this graph
    (its layers: a, side, backbone, cat, head)."""
    backbone = Sequential([Input((4,)), Dense(5, name="s1"), Dense(3, name="s2")], name="backbone")
    a = Input((4,), name="a")
    side = Dense(5, name="side")(a)
    model = Model(a, Dense(1, name="head")(Concatenate(name="cat")([side, backbone(a)])))
    assert [layer.name for layer in model.layers] == ["a", "side", "s1", "s2", "cat", "head"]
    assert [w.shape for w in model.get_weights()] == [(4, 5), (5,), (4, 5), (5,), (5, 3), (3,), (8, 1), (1,)]
    assert model.get_layer("backbone") is backbone
    rebuilt = model_from_json(model.to_json())  # the grouping is not saved, the order is
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    model.get_layer("backbone").trainable = False
    assert [v.name for v in model.trainable_variables] == ["side/kernel", "side/bias", "head/kernel", "head/bias"]


def test_one_output_takes_kerass_per_output_forms(backend):
    """As Keras 3.15.1 (checked): with one output, loss=['mse'] or {'out': 'mse'},
    metrics=[['mae']], targets [y] or {'out': y} and inputs [x] mean the same as the plain
    forms; predict returns an array."""
    inputs = Input((3,), name="a")
    model = Model(inputs, [Dense(1, name="out")(inputs)])
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)
    results = []
    for loss, metrics in ((["mse"], [["mae"]]), ({"out": "mse"}, {"out": "mae"}), ("mse", ["mae"])):
        model.compile(optimizer="sgd", loss=loss, metrics=metrics)
        assert model.metrics_names == ["loss", "mae"]
        results.append([model.evaluate(*data, verbose=0) for data in ((x, y), ([x], [y]), ({"a": x}, {"out": y}))])
    assert all(result == results[0][0] for runs in results for result in runs)
    assert isinstance(model.predict([x], verbose=0), np.ndarray)


def test_several_outputs_take_weighted_metrics_with_their_own_sample_weights(backend):
    inputs = Input((2,))
    model = Model(inputs, [Dense(1, name="a", kernel_initializer="ones")(inputs),
                           Dense(1, name="b", kernel_initializer="ones")(inputs)])
    model.compile(optimizer="sgd", loss="mse", metrics=[["mae"], ["mae"]], weighted_metrics=[["mae"], ["mae"]])
    assert model.metrics_names == ["loss", "a_loss", "b_loss", "a_mae", "b_mae", "weighted_a_mae", "weighted_b_mae"]
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)  # both heads predict 1, 2, 2
    targets = [np.zeros((3, 1), np.float32), np.zeros((3, 1), np.float32)]
    w_a, w_b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 3.0])
    logs = model.evaluate(x, targets, sample_weight=[w_a, w_b], verbose=0, return_dict=True)
    assert logs["a_mae"] == logs["b_mae"] == pytest.approx(5.0 / 3)  # metrics ignore sample weights
    assert logs["weighted_a_mae"] == pytest.approx(1.0)  # (1 * 1) / 1
    assert logs["weighted_b_mae"] == pytest.approx((2.0 * 1 + 2.0 * 3) / 4)


def test_masked_outputs_weight_their_metrics_by_mask_and_sample_weights(backend):
    tokens = Input((5,), name="tokens")
    hidden = LSTM(4, return_sequences=True)(Embedding(9, 3, mask_zero=True)(tokens))
    model = Model(tokens, [Dense(3, activation="softmax", name="tag")(hidden),
                           Dense(2, activation="softmax", name="kind")(hidden)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[["accuracy"], ["accuracy"]],
                  weighted_metrics=[["accuracy"], ["accuracy"]])
    rng = np.random.default_rng(19)
    ids = rng.integers(1, 9, (6, 5))
    ids[:, 3:] = 0
    tags, kinds = rng.integers(0, 3, (6, 5)), rng.integers(0, 2, (6, 5))
    w_tag, w_kind = rng.random(6), rng.random(6)
    logs = model.evaluate(ids, [tags, kinds], sample_weight={"tag": w_tag, "kind": w_kind}, verbose=0,
                          return_dict=True)
    real = ids != 0
    for name, labels, weights in (("tag", tags, w_tag), ("kind", kinds, w_kind)):
        hits = model.predict(ids, verbose=0)[0 if name == "tag" else 1].argmax(-1) == labels
        assert logs[f"{name}_accuracy"] == pytest.approx(hits[real].mean(), rel=1e-6)
        weighted = weights[:, None] * real
        assert logs[f"weighted_{name}_accuracy"] == pytest.approx((hits * weighted).sum() / weighted.sum(), rel=1e-5)
