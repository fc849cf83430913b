"""Keras 3's .keras files load as deepcore models (`deepcore.keras_model`).

tests/data/keras_3_15_configs.json holds, unchanged, the config.json of the .keras files that
Keras 3.15.1 (torch backend) wrote for these models (``keras.layers`` for the layers):

- "train": Input((6,), int32) -> Embedding(10, 4, mask_zero=True) -> LSTM(3) -> Dense(1,
  sigmoid); compiled with SGD(ExponentialDecay(0.1, 2, 0.5), momentum=0.9),
  binary_crossentropy, ["accuracy"].
- "seq_nobuild": Sequential([Masking(0.0), Bidirectional(GRU(3, return_sequences=True),
  merge_mode="sum"), TimeDistributed(Dense(2, relu)), Bidirectional(LSTM(2), merge_mode="ave"),
  Dense(1)]), built by a call on (4, 5, 3) data; "rmsprop", "mae", ["mse",
  RootMeanSquaredError()].
- "dictio": inputs {"tokens": (6,) int32, "src": (5, 4)}; Embedding(10, 4, mask_zero=True),
  MultiHeadAttention(2, 3)(embedded, src, use_causal_mask=False), LSTM(3, return_state=True),
  one Dense(3) applied to h and to c, added; outputs {"out": Dense(1, sigmoid) of the sum,
  "aux": Dense(2) of h}; Adam(0.01), losses {"out": binary_crossentropy, "aux": mse}, metrics
  {"out": ["accuracy"]}.
- "masked": Embedding(10, 4, mask_zero=True) -> LSTM(3, return_sequences=True) ->
  MultiHeadAttention(1, 2)(h, h, use_causal_mask=True) -> GRU(2)(., initial_state=[Dense(2)(
  GlobalAveragePooling1D()(embedded))]) -> Dense(1); SGD(ExponentialDecay), mse.
- "nested_fn": t = Input((8,)); h = Sequential([Input((8,)), Dense(6, relu), Dense(5)])(t);
  o = Model(a := Input((5,)), Dense(3)(Dense(4)(a)))(h); Dense(2)(Concatenate()([h, o]));
  not compiled.
- "seq_base": Sequential([Input((5,)), Model(a, Dense(4, tanh)(a)), Dense(1)]); not compiled.
- "conv_lstm": Sequential([Input((3, 6, 5, 2)), ConvLSTM2D(4, 3, padding="same",
  return_sequences=True), ConvLSTM2D(2, (2, 3), strides=2, go_backwards=True), Flatten(),
  Dense(2)]); not compiled.
- "rnn_cells": Sequential([Input((6,), int32), Embedding(10, 4, mask_zero=True), RNN([LSTMCell(5),
  LSTMCell(3), GRUCell(4)], go_backwards=True, return_sequences=True), RNN(SimpleRNNCell(3)),
  Dense(2)]); not compiled.

Each test writes random weights in Keras's layout (checked against Keras's own files in
test_keras_weights.py) beside a config, zips them as Keras does, and loads the file. The same
architecture written in deepcore code, given the same weights, must predict the same.
"""

import copy
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers as L
from deepcore.keras_model import model_from_keras_config
from deepcore.models import Model, Sequential, load_model

pytest.importorskip("h5py", reason='h5py is not installed: pip install "deepcore[h5]"')

CONFIGS = json.loads((Path(__file__).parent / "data" / "keras_3_15_configs.json").read_text())


def in_code(name: str):
    """The same architecture as CONFIGS[name], written with deepcore's layers."""
    if name == "train":
        tokens = L.Input((6,), dtype="int32")
        return Model(tokens, L.Dense(1, activation="sigmoid")(L.LSTM(3)(L.Embedding(10, 4, mask_zero=True)(tokens))))
    if name == "seq_nobuild":
        return Sequential([L.Input((5, 3)), L.Masking(0.0), L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum"),
                           L.TimeDistributed(L.Dense(2, activation="relu")),
                           L.Bidirectional(L.LSTM(2), merge_mode="ave"), L.Dense(1)])
    if name == "dictio":
        tokens, source = L.Input((6,), dtype="int32"), L.Input((5, 4))
        attended = L.MultiHeadAttention(2, 3)(L.Embedding(10, 4, mask_zero=True)(tokens), source)
        h, _, c = L.LSTM(3, return_state=True)(attended)
        shared = L.Dense(3)
        out = L.Dense(1, activation="sigmoid")(L.Add()([shared(h), shared(c)]))
        return Model({"tokens": tokens, "src": source}, {"out": out, "aux": L.Dense(2)(h)})
    if name == "nested_fn":
        t, a = L.Input((8,)), L.Input((5,))
        h = Sequential([L.Input((8,)), L.Dense(6, activation="relu"), L.Dense(5)])(t)
        o = Model(a, L.Dense(3)(L.Dense(4)(a)))(h)
        return Model(t, L.Dense(2)(L.Concatenate()([h, o])))
    if name == "conv_lstm":
        return Sequential([L.Input((3, 6, 5, 2)), L.ConvLSTM2D(4, 3, padding="same", return_sequences=True),
                           L.ConvLSTM2D(2, (2, 3), strides=2, go_backwards=True), L.Flatten(), L.Dense(2)])
    if name == "rnn_cells":
        return Sequential([L.Input((6,), dtype="int32"), L.Embedding(10, 4, mask_zero=True),
                           L.RNN([L.LSTMCell(5), L.LSTMCell(3), L.GRUCell(4)], go_backwards=True, return_sequences=True),
                           L.RNN(L.SimpleRNNCell(3)), L.Dense(2)])
    if name == "seq_base":
        a = L.Input((5,))
        base = Model(a, L.Dense(4, activation="tanh")(a))
        x = L.Input((5,))
        return Model(x, L.Dense(1)(base(x)))
    tokens = L.Input((6,), dtype="int32")
    embedded = L.Embedding(10, 4, mask_zero=True)(tokens)
    h = L.LSTM(3, return_sequences=True)(embedded)
    h = L.MultiHeadAttention(1, 2)(h, h, use_causal_mask=True)
    h = L.GRU(2)(h, initial_state=[L.Dense(2)(L.GlobalAveragePooling1D()(embedded))])
    return Model(tokens, L.Dense(1)(h))


def data(name: str):
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, 10, (5, 6))
    tokens[1, 3:] = 0  # padding, masked by the embedding
    tokens[2, 1:] = 0
    if name == "seq_nobuild":
        x = rng.standard_normal((5, 5, 3)).astype("float32")
        x[1, 3:] = 0.0  # masked steps
        return x
    if name == "dictio":
        return {"tokens": tokens, "src": rng.standard_normal((5, 5, 4)).astype("float32")}
    if name == "conv_lstm":
        return rng.standard_normal((5, 3, 6, 5, 2)).astype("float32")
    if name in ("nested_fn", "seq_base"):
        return rng.standard_normal((5, 8 if name == "nested_fn" else 5)).astype("float32")
    return tokens


def keras_file(tmp_path, config: dict, seed: int = 0) -> tuple[Path, list]:
    """A .keras zip of ``config`` and random weights in Keras's layout; returns the weights."""
    model = model_from_keras_config(config)
    rng = np.random.default_rng(seed)
    weights = [0.5 * rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights(weights)
    model.save_weights(tmp_path / "model.weights.h5")
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(config))
        archive.write(tmp_path / "model.weights.h5", "model.weights.h5")
    return path, weights


def flat(prediction) -> np.ndarray:
    values = prediction.values() if isinstance(prediction, dict) else [prediction]
    return np.concatenate([np.ravel(v) for v in values])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_keras_file_loads_as_the_same_model(backend, tmp_path, name):
    path, weights = keras_file(tmp_path, CONFIGS[name])
    loaded = load_model(path)
    reference = in_code(name)
    reference.set_weights(weights)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in reference.layers]
    prediction = loaded.predict(data(name), verbose=0)
    assert isinstance(prediction, dict if name == "dictio" else np.ndarray)  # one output: an array, as Keras
    np.testing.assert_allclose(flat(prediction),
                               flat(reference.predict(data(name), verbose=0)), rtol=1e-6, atol=1e-7)
    assert (loaded.optimizer is not None) == bool(CONFIGS[name].get("compile_config"))  # compiled as saved


def test_masks_and_options_survive_the_translation(backend, tmp_path):
    """Without mask_zero the padded sequences would give other predictions: the option matters."""
    path, weights = keras_file(tmp_path, CONFIGS["train"])
    loaded = load_model(path)
    assert loaded.get_layer(index=1).mask_zero
    unmasked = copy.deepcopy(CONFIGS["train"])
    embedding = next(spec for spec in unmasked["config"]["layers"] if spec["class_name"] == "Embedding")
    embedding["config"]["mask_zero"] = False
    other = model_from_keras_config(unmasked)
    other.set_weights(weights)
    assert not np.allclose(other.predict(data("train"), verbose=0), loaded.predict(data("train"), verbose=0))


def test_the_compile_settings_carry_over_and_training_goes_on(backend, tmp_path):
    path, _ = keras_file(tmp_path, CONFIGS["train"])
    loaded = load_model(path)
    optimizer = loaded.optimizer
    assert type(optimizer).__name__ == "SGD" and optimizer.momentum == pytest.approx(0.9)
    assert type(optimizer.learning_rate).__name__ == "ExponentialDecay"
    assert loaded.metrics_names == ["loss", "accuracy"]
    labels = (data("train")[:, 0] > 4).astype("float32")
    history = loaded.fit(data("train"), labels, epochs=30, batch_size=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert load_model(path, compile=False).optimizer is None


def test_dict_outputs_and_per_output_compile_settings(backend, tmp_path):
    path, _ = keras_file(tmp_path, CONFIGS["dictio"])
    loaded = load_model(path)
    prediction = loaded.predict(data("dictio"), verbose=0)
    assert sorted(prediction) == ["aux", "out"]
    assert "out_accuracy" in loaded.metrics_names


def edited(name: str, change) -> dict:
    config = copy.deepcopy(CONFIGS[name])
    change(config)
    return config


def layer_spec(config: dict, class_name: str) -> dict:
    return next(spec for spec in config["config"]["layers"] if spec["class_name"] == class_name)


@pytest.mark.parametrize("change, message", [
    (lambda c: layer_spec(c, "LSTM").update(class_name="Lambda"), "Keras layer 'Lambda' .* has no deepcore counterpart"),
    (lambda c: layer_spec(c, "Dense")["config"].update(quantization_config={"mode": "int8"}),
     "quantization_config=.* is not supported"),
    (lambda c: layer_spec(c, "LSTM")["config"].update(dtype="mixed_float16"), "computes in 'mixed_float16'"),
    (lambda c: layer_spec(c, "Dense")["inbound_nodes"][0]["args"][0]["config"].update(
        keras_history=[layer_spec(c, "NotEqual")["name"], 0, 0]), "takes the output of the Keras operation NotEqual"),
    (lambda c: c.update(class_name="MyModel"), "Keras model class 'MyModel' is not supported"),
    (lambda c: layer_spec(c, "LSTM")["config"].update(units_typo=3), "unexpected keyword argument"),
])
def test_what_cannot_be_rebuilt_is_refused_by_name(change, message):
    with pytest.raises(NotImplementedError, match=message):
        model_from_keras_config(edited("train", change))


def test_a_zip_that_is_not_a_keras_file_is_refused(tmp_path):
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match=r"not a Keras model file: it lacks config.json or model.weights.h5"):
        dc.models.load_model(path)


# --- writing .keras files -----------------------------------------------------------------------

def tensor_histories(node: dict) -> list:
    """The [layer, call, output] of every tensor a recorded call reads, in order, but masks
    (Keras records the mask computations deepcore's layers redo themselves)."""
    found = []

    def walk(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            found.append(value["config"]["keras_history"])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(node["args"])
    walk({key: value for key, value in node["kwargs"].items() if key != "mask"})
    return found


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_saved_keras_file_records_the_graph_as_keras_does(backend, tmp_path, name):
    """deepcore's .keras file of a model loaded from Keras's config names the same layers, in
    the same order, calling the same tensors; and loads back to the same predictions."""
    path, weights = keras_file(tmp_path, CONFIGS[name])
    model = load_model(path)
    model.save(tmp_path / "again.keras")
    with zipfile.ZipFile(tmp_path / "again.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        written = json.loads(archive.read("config.json"))
    original = CONFIGS[name]
    # A Sequential holding a model is loaded (and so written) as the same functional stack.
    assert written["class_name"] == ("Functional" if name == "seq_base" else original["class_name"])
    if original["class_name"] == "Functional":
        keras_layers = [spec for spec in original["config"]["layers"] if spec["module"] == "keras.layers"
                        or spec["class_name"] in ("Sequential", "Functional")]
        assert [(s["class_name"], s["name"]) for s in written["config"]["layers"]] == \
            [(s["class_name"], s["name"]) for s in keras_layers]
        for ours, theirs in zip(written["config"]["layers"], keras_layers):
            assert [tensor_histories(n) for n in ours["inbound_nodes"]] == \
                [tensor_histories(n) for n in theirs["inbound_nodes"]], ours["name"]
        assert written["config"]["output_layers"] == original["config"]["output_layers"]
    again = load_model(tmp_path / "again.keras")
    np.testing.assert_array_equal(flat(again.predict(data(name), verbose=0)), flat(model.predict(data(name), verbose=0)))


def test_normalization_writes_kerass_sample_count_and_no_variables_when_given(backend, tmp_path):
    import h5py

    adapted = L.Normalization()
    adapted.adapt(np.arange(12.0).reshape(4, 3))
    Sequential([L.Input((3,)), adapted, L.Normalization(mean=1.0, variance=4.0)]).save_weights(
        tmp_path / "n.weights.h5")
    with h5py.File(tmp_path / "n.weights.h5", "r") as file:
        assert sorted(file["layers/normalization/vars"].keys()) == ["0", "1", "2"]
        assert int(file["layers/normalization/vars/2"][()]) == 0  # Keras's count, kept at 0
        assert list(file["layers/normalization_1/vars"].keys()) == []  # given values are constants


def test_a_model_reading_an_inner_tensor_of_a_called_model_is_refused(backend, tmp_path):
    a = L.Input((3,))
    hidden = L.Dense(4, name="hidden")(a)
    inner = Model(a, L.Dense(2)(hidden))
    x = L.Input((3,))
    called = inner(x)  # the whole call is in the graph: Keras records it as one operation
    peek = inner.get_layer("hidden").inbound_nodes[-1].outputs[0]  # the called copy's hidden layer
    outer = Model(x, L.Concatenate()([called, peek]))
    with pytest.raises(NotImplementedError, match="reads the inner tensor"):
        outer.save(tmp_path / "outer.keras")


def test_the_compile_settings_of_a_one_output_model_are_written_as_keras_does(backend, tmp_path):
    x = np.random.default_rng(0).standard_normal((16, 6)).astype("float32")
    model = Sequential([L.Input((6,)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=dc.optimizers.SGD(dc.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), momentum=0.9),
                  loss="binary_crossentropy", loss_weights=0.5, metrics=["accuracy", dc.metrics.AUC()])
    model.save(tmp_path / "compiled.keras")
    with zipfile.ZipFile(tmp_path / "compiled.keras") as archive:
        config = json.loads(archive.read("config.json"))["compile_config"]
    assert config["optimizer"]["module"] == "keras.optimizers" and config["optimizer"]["class_name"] == "SGD"
    assert config["optimizer"]["config"]["learning_rate"]["class_name"] == "ExponentialDecay"
    assert config["loss"]["class_name"] == "BinaryCrossentropy" and config["loss_weights"] == 0.5
    assert [m["class_name"] for m in config["metrics"]] == ["BinaryAccuracy", "AUC"]
    assert "class_id" not in config["metrics"][1]["config"]  # None: left to Keras's default (it has none)
    loaded = load_model(tmp_path / "compiled.keras")
    assert type(loaded.optimizer).__name__ == "SGD" and loaded.metrics_names == ["loss", "accuracy", "auc"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_written_layer_configs_take_kerass_forms(backend, tmp_path):
    model = Sequential([L.Input((6, 4)), L.ZeroPadding1D((1, 2)), L.Cropping1D((1, 0)), L.UpSampling1D(2),
                        L.Conv1D(3, 2, kernel_regularizer="l2"), L.Flatten(), L.Dense(2), L.Normalization(mean=1.0, variance=4.0)])
    model.save(tmp_path / "forms.keras")
    with zipfile.ZipFile(tmp_path / "forms.keras") as archive:
        layers = {spec["class_name"]: spec["config"] for spec in json.loads(archive.read("config.json"))["config"]["layers"]}
    assert layers["ZeroPadding1D"]["padding"] == [1, 2] and layers["Cropping1D"]["cropping"] == [1, 0]
    assert layers["UpSampling1D"]["size"] == 2 and "interpolation" not in layers["UpSampling1D"]
    assert layers["Conv1D"]["kernel_regularizer"]["class_name"] == "L1L2"  # Keras's class with l1 and l2
    assert all("trainable" not in config for config in layers.values())  # Keras's default; some take no such argument
    loaded = load_model(tmp_path / "forms.keras")  # the Normalization's given constants come from its config
    x = np.random.default_rng(0).standard_normal((2, 6, 4)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_keras_only_options_are_accepted_at_their_defaults_per_class():
    from deepcore.keras_model import layer_from_keras

    spec = {"class_name": "Resizing", "config": {"name": "resize", "height": 4, "width": 4, "interpolation": "bilinear",
                                                 "crop_to_aspect_ratio": False, "pad_to_aspect_ratio": False,
                                                 "fill_mode": "constant", "fill_value": 0.0, "antialias": False}}
    assert (layer_from_keras(spec).height, layer_from_keras(spec).width) == (4, 4)
    spec["config"]["antialias"] = True
    with pytest.raises(NotImplementedError, match="antialias=True is not supported"):
        layer_from_keras(spec)


def test_several_outputs_write_their_losses_weights_and_metrics_by_name(backend, tmp_path):
    path, _ = keras_file(tmp_path, CONFIGS["dictio"])
    model = load_model(path)
    model.save(tmp_path / "again.keras")
    with zipfile.ZipFile(tmp_path / "again.keras") as archive:
        config = json.loads(archive.read("config.json"))["compile_config"]
    assert {name: spec["class_name"] for name, spec in config["loss"].items()} == {
        "out": "BinaryCrossentropy", "aux": "MeanSquaredError"}
    assert config["loss_weights"] == {"out": 1.0, "aux": 1.0}
    assert {name: [m["config"]["name"] for m in metrics] for name, metrics in config["metrics"].items()} == {
        "out": ["accuracy"], "aux": []}
    assert load_model(tmp_path / "again.keras").metrics_names == model.metrics_names
