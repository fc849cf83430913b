"""Keras 3's weights files (.weights.h5): deepcore writes Keras's layout and reads it back.

GOLDEN is the list of datasets Keras 3.15.1 wrote (``model.save_weights``) for `model` built
with Keras's own layers; deepcore's file of the same model must hold exactly these.
"""

import numpy as np
import pytest

import deepcore as dc
from deepcore import keras_weights
from deepcore.layers import (
    GRU, LSTM, BatchNormalization, Bidirectional, Dense, Input, MultiHeadAttention, TimeDistributed,
)
from deepcore.models import Model, Sequential

h5py = pytest.importorskip("h5py", reason='h5py is not installed: pip install "deepcore[h5]"')

GOLDEN = [
    ("layers/batch_normalization/vars/0", (4,)), ("layers/batch_normalization/vars/1", (4,)),
    ("layers/batch_normalization/vars/2", (4,)), ("layers/batch_normalization/vars/3", (4,)),
    ("layers/bidirectional/backward_layer/cell/vars/0", (4, 6)),
    ("layers/bidirectional/backward_layer/cell/vars/1", (2, 6)),
    ("layers/bidirectional/backward_layer/cell/vars/2", (2, 6)),
    ("layers/bidirectional/forward_layer/cell/vars/0", (4, 6)),
    ("layers/bidirectional/forward_layer/cell/vars/1", (2, 6)),
    ("layers/bidirectional/forward_layer/cell/vars/2", (2, 6)),
    ("layers/dense/vars/0", (4, 4)), ("layers/dense/vars/1", (4,)),
    ("layers/dense_1/vars/0", (2, 1)), ("layers/dense_1/vars/1", (1,)),
    ("layers/lstm/cell/vars/0", (3, 8)), ("layers/lstm/cell/vars/1", (2, 8)), ("layers/lstm/cell/vars/2", (8,)),
    ("layers/multi_head_attention/_gate_dense/vars/0", (4, 2, 3)),
    ("layers/multi_head_attention/_gate_dense/vars/1", (2, 3)),
    ("layers/multi_head_attention/key_dense/vars/0", (4, 2, 3)),
    ("layers/multi_head_attention/key_dense/vars/1", (2, 3)),
    ("layers/multi_head_attention/output_dense/vars/0", (2, 3, 4)),
    ("layers/multi_head_attention/output_dense/vars/1", (4,)),
    ("layers/multi_head_attention/query_dense/vars/0", (4, 2, 3)),
    ("layers/multi_head_attention/query_dense/vars/1", (2, 3)),
    ("layers/multi_head_attention/value_dense/vars/0", (4, 2, 3)),
    ("layers/multi_head_attention/value_dense/vars/1", (2, 3)),
    ("layers/time_distributed/layer/vars/0", (4, 3)), ("layers/time_distributed/layer/vars/1", (3,)),
]


def model() -> Model:
    sequence = Input((5, 4))
    x = BatchNormalization()(Dense(4)(sequence))
    x = Bidirectional(GRU(2, return_sequences=True))(x)
    x = MultiHeadAttention(2, 3, use_gate=True)(x, x)
    x = LSTM(2)(TimeDistributed(Dense(3))(x))
    return Model(sequence, Dense(1)(x))


def datasets(path) -> list:
    with h5py.File(path, "r") as file:
        found = []
        file.visititems(lambda name, item: found.append((name, tuple(item.shape)))
                        if isinstance(item, h5py.Dataset) else None)
    return sorted(found)


def data():
    return np.random.default_rng(0).standard_normal((3, 5, 4)).astype("float32")


def test_the_file_has_kerass_layout(backend, tmp_path):
    model().save_weights(tmp_path / "model.weights.h5")
    assert datasets(tmp_path / "model.weights.h5") == GOLDEN


def test_weights_round_trip_and_loading_detects_the_format(backend, tmp_path):
    saved, fresh = model(), model()
    saved.save_weights(tmp_path / "model.weights.h5")
    assert keras_weights.is_hdf5(str(tmp_path / "model.weights.h5"))
    fresh.load_weights(tmp_path / "model.weights.h5")
    for a, b in zip(saved.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fresh.predict(data(), verbose=0), saved.predict(data(), verbose=0))


# The datasets in the order of the model's get_weights (Keras's model.weights order).
WEIGHT_ORDER = ["layers/dense/vars/0", "layers/dense/vars/1"] + [
    f"layers/batch_normalization/vars/{i}" for i in range(4)] + [
    f"layers/bidirectional/{side}/cell/vars/{i}" for side in ("forward_layer", "backward_layer") for i in range(3)] + [
    f"layers/multi_head_attention/{part}/vars/{i}"
    for part in ("query_dense", "key_dense", "_gate_dense", "value_dense", "output_dense") for i in range(2)] + [
    "layers/time_distributed/layer/vars/0", "layers/time_distributed/layer/vars/1"] + [
    f"layers/lstm/cell/vars/{i}" for i in range(3)] + ["layers/dense_1/vars/0", "layers/dense_1/vars/1"]


def test_a_hand_written_keras_file_puts_each_dataset_in_its_weight(backend, tmp_path):
    """A value chosen per dataset lands in the weight Keras keeps there."""
    assert sorted(WEIGHT_ORDER) == [name for name, _ in GOLDEN]
    shapes = dict(GOLDEN)
    path = tmp_path / "hand.weights.h5"
    with h5py.File(path, "w") as file:
        for k, name in enumerate(WEIGHT_ORDER):
            file.create_dataset(name, data=np.full(shapes[name], float(k), dtype="float32"))
    target = model()
    target.load_weights(path)
    loaded = target.get_weights()
    assert len(loaded) == len(WEIGHT_ORDER)
    for k, (name, array) in enumerate(zip(WEIGHT_ORDER, loaded)):
        assert array.shape == shapes[name] and np.all(array == k), name


def test_a_missing_weight_or_a_wrong_shape_names_it_and_changes_nothing(backend, tmp_path):
    path = tmp_path / "short.weights.h5"
    with h5py.File(path, "w") as file:
        for name, shape in GOLDEN:
            if name != "layers/lstm/cell/vars/2":
                file.create_dataset(name, data=np.ones(shape, "float32"))
    target = model()
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"no 'layers/lstm/cell/vars/2' \(group 'layers/lstm' holds \['cell'\]\)"):
        target.load_weights(path)
    with h5py.File(path, "a") as file:
        file.create_dataset("layers/lstm/cell/vars/2", data=np.ones((7,), "float32"))
    with pytest.raises(ValueError, match=r"has shape \(8,\) in the model but the file's 'layers/lstm/cell/vars/2' has "
                                         r"shape \(7,\)"):
        target.load_weights(path)
    for a, b in zip(before, target.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_model_called_as_a_layer_keeps_its_own_group(backend, tmp_path):
    """Keras's layout (checked with Keras 3.15.1: this model's file loads there): the inner
    model is one entry of the outer model's layers, numbered by its class, its layers below."""
    inner = Sequential([Input((3,)), Dense(2), Dense(2)], name="backbone")
    x = Input((3,))
    outer = Model(x, Dense(1)(inner(x)))
    outer.save_weights(tmp_path / "outer.weights.h5")
    assert [name for name, _ in datasets(tmp_path / "outer.weights.h5")] == [
        "layers/dense/vars/0", "layers/dense/vars/1",
        "layers/sequential/layers/dense/vars/0", "layers/sequential/layers/dense/vars/1",
        "layers/sequential/layers/dense_1/vars/0", "layers/sequential/layers/dense_1/vars/1"]
    fresh_inner = Sequential([Input((3,)), Dense(2), Dense(2)])
    y = Input((3,))
    fresh = Model(y, Dense(1)(fresh_inner(y)))
    fresh.load_weights(tmp_path / "outer.weights.h5")
    for a, b in zip(outer.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_keeps_an_existing_file_without_overwrite(backend, tmp_path):
    path = tmp_path / "model.weights.h5"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        model().save_weights(path, overwrite=False)
    assert path.read_bytes() == b"precious"


def test_without_h5py_the_error_says_how_to_install_it(backend, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    with pytest.raises(ImportError, match=r'pip install "deepcore\[h5\]"'):
        model().save_weights(tmp_path / "model.weights.h5")


# --- the optimizer's state ----------------------------------------------------------------------

def small_model(optimizer) -> Sequential:
    model = Sequential([Input((3,)), Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def small_data():
    rng = np.random.default_rng(4)
    return rng.standard_normal((16, 3)).astype("float32"), rng.standard_normal((16, 2)).astype("float32")


# Keras 3.15.1's optimizer.variables for Dense(2) on 3 inputs (kernel k, bias b), in order.
KERAS_ORDER = {
    "adam-amsgrad": ["iteration", "learning_rate", "k momentum", "k velocity", "b momentum", "b velocity",
                     "k velocity_hat", "b velocity_hat"],
    "rmsprop-centered": ["iteration", "learning_rate", "k velocity", "b velocity", "k momentum", "b momentum",
                         "k average_gradient", "b average_gradient"],
    "adam-ema": ["iteration", "learning_rate", "k average", "b average", "k momentum", "k velocity", "b momentum",
                 "b velocity"],
    "nadam": ["iteration", "learning_rate", "k momentum", "k velocity", "b momentum", "b velocity", "u_product"],
}
OPTIMIZERS = {
    "adam-amsgrad": lambda: dc.optimizers.Adam(0.01, amsgrad=True),
    "rmsprop-centered": lambda: dc.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adam-ema": lambda: dc.optimizers.Adam(0.01, use_ema=True),
    "nadam": lambda: dc.optimizers.Nadam(0.01),
}


@pytest.mark.parametrize("name", sorted(KERAS_ORDER))
def test_the_optimizer_state_is_written_in_kerass_order(backend, tmp_path, name):
    model = small_model(OPTIMIZERS[name]())
    model.fit(*small_data(), epochs=1, batch_size=8, verbose=0)
    model.save_weights(tmp_path / "m.weights.h5")
    optimizer, variables = model.optimizer, model.trainable_variables
    state = dict(zip([(v.name.rsplit("/", 1)[1][0], slot) for v in variables for slot in optimizer.state_names()],
                     [backend.to_numpy(a) for a in optimizer.state(variables)]))
    with h5py.File(tmp_path / "m.weights.h5", "r") as file:
        stored = [np.asarray(file[f"optimizer/vars/{i}"]) for i in range(len(file["optimizer/vars"]))]
    assert len(stored) == len(KERAS_ORDER[name])
    for entry, array in zip(KERAS_ORDER[name], stored):
        if entry == "iteration":
            assert int(array) == optimizer.iterations == 2
        elif entry == "learning_rate":
            assert float(array) == pytest.approx(0.01)
        elif entry == "u_product":
            assert float(array) == pytest.approx(optimizer._momentum_product(2))
        else:
            letter, slot = entry.split()
            np.testing.assert_array_equal(array, state[(letter, slot)], err_msg=entry)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_resumes_exactly_from_a_keras_weights_file(backend, tmp_path, name):
    x, y = small_data()
    first = small_model(OPTIMIZERS[name]())
    first.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    first.save_weights(tmp_path / "m.weights.h5")
    resumed = small_model(OPTIMIZERS[name]())
    resumed.load_weights(tmp_path / "m.weights.h5")
    assert resumed.optimizer.iterations == first.optimizer.iterations
    restarted = small_model(OPTIMIZERS[name]())
    restarted.set_weights(first.get_weights())  # the same weights, the optimizer from scratch
    for model in (first, resumed, restarted):
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(first.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not all(np.allclose(a, b) for a, b in zip(first.get_weights(), restarted.get_weights()))


def test_another_optimizers_state_is_skipped_with_a_warning(backend, tmp_path):
    saved = small_model(dc.optimizers.Adam(0.01))
    saved.fit(*small_data(), epochs=1, verbose=0)
    saved.save_weights(tmp_path / "m.weights.h5")
    other = small_model(dc.optimizers.SGD(0.1, momentum=0.9))
    with pytest.warns(UserWarning, match="skipping the optimizer state: it has 6 variables, optimizer 'sgd' keeps 4"):
        other.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(saved.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)  # the weights load all the same
    assert other.optimizer.iterations == 0


def test_a_changed_learning_rate_comes_back_as_keras_keeps_it(backend, tmp_path):
    """Keras stores the learning rate as an optimizer variable (e.g. after ReduceLROnPlateau)."""
    saved = small_model(dc.optimizers.Adam(0.01))
    saved.fit(*small_data(), epochs=1, verbose=0)
    saved.optimizer.learning_rate = 0.003
    saved.save_weights(tmp_path / "m.weights.h5")
    loaded = small_model(dc.optimizers.Adam(0.01))
    loaded.load_weights(tmp_path / "m.weights.h5")
    assert loaded.optimizer.learning_rate == pytest.approx(0.003)
