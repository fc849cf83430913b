"""Saving and loading: one safetensors file, any backend, exact resume, and safe refusal of
anything that is not a deepcore file."""

import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

import deepcore as dc
from deepcore import saving
from deepcore.backend import array_namespace
from deepcore.layers import BatchNormalization, Dense, Dropout, Layer, Normalization
from deepcore.losses import BinaryCrossentropy
from deepcore.models import Sequential, load_model
from deepcore.optimizers import Adam
from deepcore.registry import list_backends, use_backend
from deepcore.testing.pytest_plugin import TEST_DEVICES

F32_EPS = float(np.finfo(np.float32).eps)


def data(n: int = 48, features: int = 5, seed: int = 0):
    """Binary classification data: x ``(n, features)``, y ``(n,)`` in {0, 1}."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (x @ rng.normal(size=features) > 0).astype(np.float32)
    return x, y


def classifier(features: int = 5, seed: int = 7) -> Sequential:
    dc.utils.set_random_seed(seed)
    model = Sequential([Dense(8, activation="relu", input_shape=(features,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer=Adam(learning_rate=0.01), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def usable_backends() -> list[str]:
    return [record.name for record in list_backends() if record.available]


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- round trips ------------------------------------------------------------------------------

def test_saved_on_one_backend_loads_on_every_other(backend, tmp_path):
    x, y = data()
    model = classifier()
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    path = tmp_path / "model.deepcore"
    model.save(path)
    expected_weights = model.get_weights()
    expected = model.predict(x, verbose=0)

    for name in usable_backends():
        with use_backend(name, device=TEST_DEVICES.get(name)):
            loaded = load_model(path)
            # The file holds the host values: every backend gets bit-identical weights.
            for got, want in zip(loaded.get_weights(), expected_weights):
                np.testing.assert_array_equal(got, want)
            predicted = loaded.predict(x, verbose=0)
        if name == backend.name:
            np.testing.assert_array_equal(predicted, expected)
        else:
            # Other backends' BLAS may sum the 5- and 8-term dot products in another order:
            # each float32 sum is then off by up to (terms) eps relative; 8 eps bounds both layers.
            np.testing.assert_allclose(predicted, expected, rtol=8 * F32_EPS, atol=8 * F32_EPS)


@pytest.mark.parametrize("optimizer", [
    {"class_name": "Adam", "config": {"learning_rate": 0.01}},
    {"class_name": "Adam", "config": {"learning_rate": 0.01, "amsgrad": True}},
    {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}},
    {"class_name": "RMSprop", "config": {"learning_rate": 0.01, "momentum": 0.5, "centered": True}},
    {"class_name": "Adagrad", "config": {"learning_rate": 0.05}},
    {"class_name": "Adamax", "config": {"learning_rate": 0.05}},
    # Nadam's momentum product is not saved: it is recomputed from the step count.
    {"class_name": "Nadam", "config": {"learning_rate": 0.05}},
    {"class_name": "Adadelta", "config": {"learning_rate": 1.0}},
    # No state arrays at all: only the step counter drives the schedule.
    {"class_name": "SGD", "config": {"learning_rate": {
        "class_name": "ExponentialDecay",
        "config": {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}}}},
], ids=["adam", "adam-amsgrad", "sgd-nesterov", "rmsprop-centered", "adagrad", "adamax", "nadam", "adadelta",
        "sgd-schedule"])
def test_resume_after_save_equals_training_straight_through(backend, tmp_path, optimizer):
    x, y = data()

    def fresh():
        model = classifier()
        model.compile(optimizer=dc.optimizers.get(optimizer), loss="binary_crossentropy")
        return model

    straight = fresh()
    straight.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)

    first_half = fresh()
    first_half.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    first_half.save(tmp_path / "half.deepcore")
    resumed = load_model(tmp_path / "half.deepcore")
    assert resumed.optimizer.iterations == 2 * 3  # 48 samples / 16 per batch, 2 epochs
    history = resumed.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)

    # The same operations on the same values in the same order: bit-identical, no tolerance.
    assert resumed.optimizer.iterations == straight.optimizer.iterations
    for got, want in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert history.history["loss"] == straight.history.history["loss"][2:]


def test_a_model_loaded_on_one_backend_resumes_training_on_another(backend, tmp_path):
    x, y = data()
    model = classifier()
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    model.save(tmp_path / "m.deepcore")

    here = load_model(tmp_path / "m.deepcore")
    here.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    with use_backend("numpy"):
        elsewhere = load_model(tmp_path / "m.deepcore")
    # Weights and optimizer state move to the active backend through exact host copies, so
    # this is the same computation as training the copy loaded here.
    elsewhere.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for got, want in zip(elsewhere.get_weights(), here.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_compile_config_round_trips_and_the_loaded_model_evaluates_and_fits(backend, tmp_path):
    x, y = data()
    dc.utils.set_random_seed(3)
    model = Sequential([Dense(4, activation="tanh", input_shape=(5,)), Dense(1, activation="sigmoid")])
    model.compile(
        optimizer=Adam(learning_rate=dc.optimizers.schedules.ExponentialDecay(0.02, 5, 0.5), amsgrad=True),
        loss=BinaryCrossentropy(label_smoothing=0.1),
        metrics=["accuracy", dc.metrics.BinaryAccuracy(name="strict_accuracy", threshold=0.9)],
    )
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.deepcore")

    loaded = load_model(tmp_path / "m.deepcore")
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.current_learning_rate == model.optimizer.current_learning_rate
    assert loaded.loss.get_config() == model.loss.get_config()
    assert [(type(m), m.get_config()) for m in loaded.compiled_metrics] == \
        [(type(m), m.get_config()) for m in model.compiled_metrics]
    evaluated = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert evaluated == model.evaluate(x, y, verbose=0, return_dict=True)
    assert "strict_accuracy" in loaded.fit(x, y, epochs=1, verbose=0).history

    uncompiled = load_model(tmp_path / "m.deepcore", compile=False)
    assert uncompiled.optimizer is None
    np.testing.assert_array_equal(uncompiled.predict(x, verbose=0), model.predict(x, verbose=0))


def test_non_trainable_weights_and_layers_without_weights_round_trip(backend, tmp_path):
    x, y = data()
    normalization = Normalization()
    normalization.adapt(x * 3.0 + 1.0)
    model = Sequential([normalization, Dense(6), BatchNormalization(), Dropout(0.25), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # moves BatchNormalization's moving stats
    model.save(tmp_path / "m.deepcore")
    loaded = load_model(tmp_path / "m.deepcore")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_save_weights_and_load_weights(backend, tmp_path):
    x, y = data()
    trained = classifier()
    trained.fit(x, y, epochs=1, verbose=0)
    trained.save_weights(tmp_path / "w.deepcore")
    other = classifier(seed=99)
    other.load_weights(tmp_path / "w.deepcore")
    np.testing.assert_array_equal(other.predict(x, verbose=0), trained.predict(x, verbose=0))

    # A full model file also provides weights; a weights file is not a model.
    trained.save(tmp_path / "m.deepcore")
    classifier(seed=5).load_weights(tmp_path / "m.deepcore")
    with pytest.raises(saving.InvalidFileError, match=r"w\.deepcore.*only weights.*load_weights"):
        load_model(tmp_path / "w.deepcore")


def test_weights_of_another_architecture_name_the_layer_and_both_shapes(backend, tmp_path):
    small = Sequential([Dense(4, input_shape=(5,), name="hidden"), Dense(1, name="out")])
    small.save_weights(tmp_path / "small.deepcore")
    wide = Sequential([Dense(6, input_shape=(5,), name="wide"), Dense(1, name="head")])
    before = wide.get_weights()
    with pytest.raises(ValueError, match=r"small\.deepcore.*layer 'wide'.*\(5, 6\).*\(5, 4\)") as info:
        wide.load_weights(tmp_path / "small.deepcore")
    assert "hidden/kernel" in str(info.value)
    for got, want in zip(wide.get_weights(), before):  # nothing was changed
        np.testing.assert_array_equal(got, want)

    deeper = Sequential([Dense(4, input_shape=(5,)), Dense(4), Dense(1)])
    with pytest.raises(ValueError, match=r"2 layer\(s\).*3 layer\(s\)"):
        deeper.load_weights(tmp_path / "small.deepcore")
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(4), Dense(1)]).load_weights(tmp_path / "small.deepcore")


# --- custom classes -----------------------------------------------------------------------------

@saving.register_serializable(package="TestSaving")
class Scale(Layer):
    """``y = x * factor * w`` with one trainable weight per feature (a custom layer)."""

    def __init__(self, factor: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        super().build(input_shape)
        self.w = self.add_weight("w", (input_shape[-1],), "ones")

    def forward(self, x, training=False):
        w = self.w.value

        def backprop(dy):
            self.w.grad = array_namespace(x).sum(dy * x * self.factor, axis=0)
            return dy * w * self.factor

        return x * w * self.factor, backprop

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class Unregistered(Scale):
    pass


def test_registered_custom_layer_round_trips(backend, tmp_path):
    x, y = data()
    model = Sequential([Scale(2.5, input_shape=(5,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "custom.deepcore")

    loaded = load_model(tmp_path / "custom.deepcore")
    assert type(loaded.layers[0]) is Scale and loaded.layers[0].factor == 2.5
    assert saving.get_registered_name(Scale) == "TestSaving>Scale"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unregistered_custom_layer_is_refused_at_save_time(backend, tmp_path):
    model = Sequential([Unregistered(input_shape=(5,)), Dense(1)])
    with pytest.raises(ValueError, match="Unregistered.*register_serializable"):
        model.save(tmp_path / "x.deepcore")
    assert files_in(tmp_path) == []


def test_registering_two_classes_under_one_name_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        saving.register_serializable(package="TestSaving", name="Scale")(Unregistered)


def test_an_unknown_class_in_a_file_asks_for_registration(backend, tmp_path):
    model = Sequential([Scale(input_shape=(5,)), Dense(1)])
    model.save(tmp_path / "m.deepcore")
    tensors, document = _read_document(tmp_path / "m.deepcore")
    document["model"]["config"]["layers"][0]["class_name"] = "Elsewhere>Scale"
    _write_document(tmp_path / "m.deepcore", tensors, document)
    with pytest.raises(saving.InvalidFileError, match=r"m\.deepcore.*'Elsewhere>Scale'.*register_serializable"):
        load_model(tmp_path / "m.deepcore")


@pytest.mark.parametrize("layer, input_shape", [
    (Dense(3, activation="relu", kernel_regularizer="l2", use_bias=False), (None, 4)),
    (dc.layers.Activation("tanh"), (None, 4)),
    (Dropout(0.3, seed=1), (None, 4)),
    (dc.layers.Flatten(), (None, 2, 3)),
    (dc.layers.Reshape((3, 2)), (None, 6)),
    (BatchNormalization(momentum=0.9), (None, 4)),
    (Normalization(mean=[1.0, 2.0], variance=[1.0, 4.0]), (None, 2)),
], ids=lambda v: type(v).__name__ if isinstance(v, Layer) else "")
def test_layer_config_round_trips_through_json(layer, input_shape):
    layer.build(input_shape)
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    rebuilt.build(input_shape)
    assert type(rebuilt) is type(layer)
    assert saving.serialize_layer(rebuilt) == spec
    assert [v.shape for v in rebuilt.weights] == [v.shape for v in layer.weights]


@pytest.mark.parametrize("kind, module", [
    ("optimizer", dc.optimizers), ("loss", dc.losses), ("metric", dc.metrics),
])
def test_every_builtin_optimizer_loss_and_metric_round_trips(kind, module):
    bases = (dc.optimizers.Optimizer, dc.losses.Loss, dc.metrics.Metric, dc.metrics.LossMetric,
             dc.metrics._AtConstraint)  # abstract
    classes = {cls for cls in vars(module).values()
               if isinstance(cls, type) and issubclass(cls, bases) and cls not in bases}
    assert classes
    needing_arguments = {  # the classes that route several outputs have no defaults
        dc.losses.MultiOutputLoss: lambda: dc.losses.MultiOutputLoss(["mse", "mae"], [1.0, 0.5], ["a", "b"]),
        dc.losses.ScaledLoss: lambda: dc.losses.ScaledLoss(dc.losses.Huber(delta=2.0), 0.25),
        dc.metrics.OutputMetric: lambda: dc.metrics.OutputMetric(dc.metrics.MeanAbsoluteError(), 1, "b"),
        dc.metrics.IoU: lambda: dc.metrics.IoU(3, [0, 2], ignore_class=1),
        dc.metrics.MeanIoU: lambda: dc.metrics.MeanIoU(3),
        dc.metrics.OneHotIoU: lambda: dc.metrics.OneHotIoU(4, [1]),
        dc.metrics.OneHotMeanIoU: lambda: dc.metrics.OneHotMeanIoU(2),
        dc.metrics.PrecisionAtRecall: lambda: dc.metrics.PrecisionAtRecall(0.8, num_thresholds=9),
        dc.metrics.RecallAtPrecision: lambda: dc.metrics.RecallAtPrecision(precision=0.7, class_id=1),
        dc.metrics.SensitivityAtSpecificity: lambda: dc.metrics.SensitivityAtSpecificity(0.5),
        dc.metrics.SpecificityAtSensitivity: lambda: dc.metrics.SpecificityAtSensitivity(0.9, name="spec"),
    }
    for cls in classes:
        spec = json.loads(json.dumps(saving.serialize_object(needing_arguments.get(cls, cls)(), kind)))
        rebuilt = saving.deserialize_object(spec, kind)
        assert type(rebuilt) is cls
        assert saving.serialize_object(rebuilt, kind) == spec


# --- atomic writes ------------------------------------------------------------------------------

@pytest.mark.parametrize("failing", ["serializer", "fsync", "replace"])
def test_an_interrupted_save_keeps_the_previous_file_and_leaves_no_temporary(backend, tmp_path, monkeypatch,
                                                                             failing):
    x, y = data()
    model = classifier()
    path = tmp_path / "model.deepcore"
    model.save(path)
    previous = path.read_bytes()
    model.fit(x, y, epochs=1, verbose=0)  # the next save would write different bytes

    def fail(*args, **kwargs):
        raise OSError("simulated failure (disk full)")

    target = {"serializer": (safetensors.numpy, "save"), "fsync": (os, "fsync"), "replace": (os, "replace")}
    monkeypatch.setattr(*target[failing], fail)
    with pytest.raises(OSError, match="simulated failure"):
        model.save(path)
    monkeypatch.undo()

    assert path.read_bytes() == previous
    assert files_in(tmp_path) == ["model.deepcore"]
    model.save(path)
    assert path.read_bytes() != previous


def test_overwrite_false_refuses_an_existing_file(tmp_path):
    model = Sequential([Dense(1, input_shape=(2,))])
    model.save(tmp_path / "m.deepcore")
    with pytest.raises(FileExistsError, match=r"m\.deepcore.*overwrite=True"):
        model.save(tmp_path / "m.deepcore", overwrite=False)


# --- refusing what is not a deepcore file ---------------------------------------------------------

class _TouchOnUnpickle:
    """Unpickling this creates ``marker`` (the stand-in for arbitrary code execution)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_pickle_payload_is_refused_without_being_executed(tmp_path):
    # The payload is live: unpickling it really runs code (here: creates a file).
    control = tmp_path / "control_marker"
    pickle.loads(pickle.dumps(_TouchOnUnpickle(control)))
    assert control.exists()

    marker = tmp_path / "marker"
    path = tmp_path / "evil.deepcore"
    path.write_bytes(pickle.dumps(_TouchOnUnpickle(marker)))
    with pytest.raises(saving.InvalidFileError, match=r"evil\.deepcore.*pickle.*never unpickles"):
        load_model(path)
    with pytest.raises(saving.InvalidFileError, match=r"evil\.deepcore"):
        Sequential([Dense(1, input_shape=(2,))]).load_weights(path)
    assert not marker.exists()


def _valid_file(tmp_path: Path) -> bytes:
    model = Sequential([Dense(3, input_shape=(4,)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 4)), np.ones(4), epochs=1, verbose=0)
    model.save(tmp_path / "valid.deepcore")
    return (tmp_path / "valid.deepcore").read_bytes()


def _header_size(blob: bytes) -> int:
    return int.from_bytes(blob[:8], "little")


def _read_document(path: Path):
    """The file's tensors and its deepcore document, for tests that tamper with it."""
    blob = path.read_bytes()
    metadata = json.loads(blob[8:8 + _header_size(blob)])["__metadata__"]
    return safetensors.numpy.load(blob), json.loads(metadata["deepcore"])


def _write_document(path: Path, tensors: dict, document: dict, **metadata) -> None:
    fields = {"format": "deepcore", "format_version": "1", "deepcore": json.dumps(document), **metadata}
    path.write_bytes(safetensors.numpy.save(tensors, metadata=fields))


FOREIGN_FILES = {
    "empty": (lambda valid: b"", "only 0 byte"),
    "cut in the length field": (lambda valid: valid[:5], "only 5 byte"),
    "cut in the header": (lambda valid: valid[:40], "truncated"),
    "cut in the tensors": (lambda valid: valid[:-7], "truncated or damaged"),
    "random bytes": (lambda valid: np.random.default_rng(0).bytes(4096), "not a deepcore file"),
    "json": (lambda valid: json.dumps({"layers": []}).encode(), "JSON"),
    "npy": (lambda valid: b"\x93NUMPY\x01\x00" + bytes(100), "NumPy"),
    "zip": (lambda valid: b"PK\x03\x04" + bytes(100), "zip"),
    "foreign safetensors": (
        lambda valid: safetensors.numpy.save({"w": np.ones(3, np.float32)}), "not written by deepcore"),
    "newer format": (
        lambda valid: safetensors.numpy.save({}, metadata={"format": "deepcore", "format_version": "99",
                                                          "deepcore": "{}"}), "format 99.*Upgrade"),
    "bad metadata json": (
        lambda valid: safetensors.numpy.save({}, metadata={"format": "deepcore", "format_version": "1",
                                                          "deepcore": "{not json"}), "not valid JSON"),
    "header not json": (
        lambda valid: valid[:8] + b"{" + b"\xff" * (_header_size(valid) - 1) + valid[8 + _header_size(valid):],
        "header is not valid JSON"),
}


@pytest.mark.parametrize("kind", list(FOREIGN_FILES))
def test_broken_or_foreign_files_give_a_clear_error_naming_the_file(tmp_path, kind):
    make, message = FOREIGN_FILES[kind]
    path = tmp_path / "broken.deepcore"
    path.write_bytes(make(_valid_file(tmp_path)))
    with pytest.raises(saving.InvalidFileError, match=rf"'{re.escape(str(path))}'.*{message}"):
        load_model(path)


def test_a_file_missing_a_tensor_of_its_index_is_damaged(tmp_path):
    _valid_file(tmp_path)
    path = tmp_path / "valid.deepcore"
    tensors, document = _read_document(path)
    bias = document["layers"][0]["weights"][1]
    del tensors[bias]
    _write_document(path, tensors, document)
    with pytest.raises(saving.InvalidFileError, match=rf"valid\.deepcore.*damaged.*'{bias}'"):
        load_model(path)


def test_a_missing_file_or_a_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no_such\.deepcore"):
        load_model(tmp_path / "no_such.deepcore")
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        load_model(tmp_path)
