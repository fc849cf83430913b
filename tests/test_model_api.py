"""The Keras-compatible model API: building, weights, fit/evaluate/predict, History, weighting."""

import itertools

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import Dense, Input
from deepcore.metrics import BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy
from deepcore.models import Sequential
from deepcore.optimizers import SGD

F32_EPS = float(np.finfo(np.float32).eps)


def data(n: int = 32, features: int = 4, seed: int = 0):
    """Regression data: x ``(n, features)`` float64, y ``(n,)`` a noisy linear function of x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = x @ rng.normal(size=features) + 0.1 * rng.normal(size=n)
    return x, y


def regressor(features: int = 4) -> Sequential:
    return Sequential([Dense(8, activation="relu", input_shape=(features,)), Dense(1)])


def numpy_forward(weights: list, x: np.ndarray) -> np.ndarray:
    """The float64 reference of `regressor`: relu(x @ k0 + b0) @ k1 + b1."""
    k0, b0, k1, b1 = (w.astype(np.float64) for w in weights)
    return np.maximum(x @ k0 + b0, 0.0) @ k1 + b1


def assert_close_f32(got, want, terms: int = 1):
    """float32 against a float64 reference: a sum of ``terms`` rounded float32 values is off by
    at most about ``terms * eps`` relative; 4x margin for the matmuls feeding it."""
    np.testing.assert_allclose(got, want, rtol=4 * terms * F32_EPS, atol=4 * terms * F32_EPS)


# --- building ------------------------------------------------------------------------------

def test_list_add_input_and_input_shape_build_the_same_model(backend):
    dc.utils.set_random_seed(3)
    by_list = Sequential([Dense(3, input_shape=(5,)), Dense(2)])
    dc.utils.set_random_seed(3)
    by_add = Sequential()
    by_add.add(Dense(3, input_shape=(5,)))
    by_add.add(Dense(2))
    dc.utils.set_random_seed(3)
    by_input = Sequential([Input((5,)), Dense(3), Dense(2)])
    for model in (by_list, by_add, by_input):
        assert model.built and model.input_shape == (None, 5)
        assert [type(layer) for layer in model.layers] == [Dense, Dense]  # Input is not a layer
        for got, want in zip(model.get_weights(), by_list.get_weights()):
            np.testing.assert_array_equal(got, want)


def test_input_takes_keras_batch_shape_and_batch_size():
    """Keras's Input(shape, batch_size) and Input(batch_shape=...): the same model input shape
    (the batch size is recorded, not enforced)."""
    for first in (Input((5,), 4), Input(batch_shape=(4, 5)), Input(shape=(5,), batch_size=4)):
        model = Sequential([first, Dense(2)])
        assert model.input_shape == (None, 5) and first.shape == (4, 5)  # a symbolic tensor, as Keras
    with pytest.raises(ValueError, match="shape or batch_shape, not both"):
        Input((5,), batch_shape=(4, 5))
    with pytest.raises(ValueError, match="needs shape"):
        Input()


def test_lazy_build_on_first_data(backend):
    model = Sequential([Dense(3), Dense(1)])
    assert not model.built and model.weights == []
    model.compile(optimizer="sgd", loss="mse")
    x, y = data(features=6)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 6)
    assert [w.shape for w in model.get_weights()] == [(6, 3), (3,), (3, 1), (1,)]


def test_summary_text():
    model = Sequential([Dense(7, activation="relu", input_shape=(5,), name="hidden"),
                        Dense(2, name="out")], name="net")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "net"' in text
    hidden = next(line for line in lines if line.startswith("hidden"))
    out = next(line for line in lines if line.startswith("out"))
    assert "(Dense)" in hidden and "(None, 7)" in hidden and hidden.split()[-1] == str(5 * 7 + 7)
    assert "(None, 2)" in out and out.split()[-1] == str(7 * 2 + 2)
    assert "Total params: 58" in text
    assert "Trainable params: 58" in text
    assert "Non-trainable params: 0" in text


# --- weights -------------------------------------------------------------------------------

def test_get_and_set_weights_keras_order(backend):
    model = regressor()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 8), (8,), (8, 1), (1,)]
    assert all(isinstance(w, np.ndarray) and w.dtype == np.float32 for w in weights)
    assert not weights[1].any()  # zeros bias initializer
    rng = np.random.default_rng(1)
    new = [rng.normal(size=w.shape).astype(np.float32) for w in weights]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    x, _ = data(n=10)
    assert_close_f32(model.predict(x, verbose=0), numpy_forward(new, x.astype(np.float32)), terms=8)


def test_weights_are_copied_in_and_out(backend):
    x, y = data(n=8)
    model = regressor()
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    given = [np.full(w.shape, 0.1, dtype=np.float32) for w in model.get_weights()]
    model.set_weights(given)
    snapshot = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert all((w == np.float32(0.1)).all() for w in given)  # training left the caller's arrays alone
    assert all((w == np.float32(0.1)).all() for w in snapshot)  # get_weights is a snapshot
    assert not np.array_equal(model.get_weights()[0], snapshot[0])


def test_set_weights_wrong_shape_names_layer_and_shapes(backend):
    model = Sequential([Dense(3, input_shape=(4,), name="first"), Dense(1)])
    weights = model.get_weights()
    weights[0] = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError) as info:
        model.set_weights(weights)
    message = str(info.value)
    assert "'first'" in message and "(4, 3)" in message and "(3, 4)" in message
    with pytest.raises(ValueError, match="expects 4 weight arrays; received 3"):
        model.set_weights(weights[:3])


# --- predict, evaluate, single batches -----------------------------------------------------

def test_predict_returns_numpy_in_batches(backend):
    model = regressor()
    x, _ = data(n=10)
    whole = model.predict(x, batch_size=10, verbose=0)
    assert isinstance(whole, np.ndarray) and whole.shape == (10, 1) and whole.dtype == np.float32
    # BLAS may sum in another order for another batch size, hence a tolerance, not equality
    assert_close_f32(model.predict(x, batch_size=3, verbose=0), whole, terms=8)
    assert_close_f32(whole, numpy_forward(model.get_weights(), x.astype(np.float32)), terms=8)


def test_evaluate_return_types(backend):
    x, y = data()
    model = regressor()
    model.compile(optimizer="sgd", loss="mse")
    loss = model.evaluate(x, y, verbose=0)
    assert type(loss) is float
    expected = np.mean((numpy_forward(model.get_weights(), x.astype(np.float32))[:, 0] - y) ** 2)
    assert_close_f32(loss, expected, terms=len(x))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2 and all(type(v) is float for v in result)
    assert result[0] == loss
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert as_dict == {"loss": result[0], "mae": result[1]}


def test_single_batch_methods(backend):
    x, y = data(n=16)
    model = regressor()
    model.compile(optimizer=SGD(learning_rate=0.05), loss="mse")
    before = model.get_weights()
    evaluated = model.evaluate(x, y, batch_size=16, verbose=0)
    assert model.test_on_batch(x, y) == evaluated
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x, verbose=0))
    loss = model.train_on_batch(x, y)
    assert type(loss) is float and loss == evaluated  # the loss of the batch before the step
    assert not np.array_equal(model.get_weights()[0], before[0])
    assert model.evaluate(x, y, verbose=0) < evaluated


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy"])
def test_targets_n_and_n_by_1_give_the_same_loss(backend, loss):
    x, y = data(n=12)
    y = (y > 0).astype(np.float64)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    model.compile(optimizer="sgd", loss=loss)
    flat = model.evaluate(x, y, verbose=0)
    column = model.evaluate(x, y[:, None], verbose=0)
    assert flat == column
    p = model.predict(x, verbose=0)[:, 0].astype(np.float64)
    if loss == "mse":
        expected = np.mean((p - y) ** 2)
        broadcast = np.mean((p[:, None] - y[None, :]) ** 2)  # the (n, n) mistake
    else:
        p = np.clip(p, 1e-7, 1 - 1e-7)
        expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        broadcast = -np.mean(y[None, :] * np.log(p[:, None]) + (1 - y[None, :]) * np.log(1 - p[:, None]))
    assert abs(expected - broadcast) > 1e-3  # the check below can tell them apart
    assert_close_f32(flat, expected, terms=len(x))


# --- fit ------------------------------------------------------------------------------------

def frozen(metrics=None) -> Sequential:
    """A model whose weights never change (SGD with learning rate 0)."""
    model = regressor()
    model.compile(optimizer=SGD(learning_rate=0.0), loss="mse", metrics=metrics)
    return model


def test_validation_split_takes_the_last_fraction_before_shuffling(backend):
    x, y = data(n=40)
    y[30:] += 100.0  # the tail is unlike the head
    model = frozen()
    history = model.fit(x, y, epochs=2, batch_size=7, validation_split=0.25, shuffle=True, verbose=0)
    tail = model.evaluate(x[30:], y[30:], verbose=0)
    head = model.evaluate(x[:30], y[:30], verbose=0)
    assert tail > 100 * head
    for epoch in range(2):
        assert_close_f32(history.history["val_loss"][epoch], tail, terms=10)
        assert_close_f32(history.history["loss"][epoch], head, terms=30)


def test_validation_data_and_history_keys(backend):
    x, y = data(n=30)
    x_val, y_val = data(n=9, seed=5)
    model = frozen(metrics=["mae"])
    history = model.fit(x, y, epochs=3, validation_data=(x_val, y_val), verbose=0)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2] and model.history is history
    val_loss, val_mae = model.evaluate(x_val, y_val, verbose=0)
    assert_close_f32(history.history["val_loss"][-1], val_loss, terms=9)
    assert_close_f32(history.history["val_mae"][-1], val_mae, terms=9)


def test_fit_reduces_the_loss(backend):
    x, y = data(n=64)
    model = regressor()
    model.compile(optimizer=dc.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_verbose_0_prints_nothing_and_2_prints_a_line_per_epoch(backend, capsys):
    x, y = data(n=20)
    model = regressor()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=3, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=3, batch_size=8, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    progress = [line for line in lines if "loss:" in line]
    assert len(progress) == 3 and all(line.startswith("3/3 - ") for line in progress)
    assert len(lines) == 6


def test_initial_epoch(backend, capsys):
    x, y = data(n=20)
    model = regressor()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=2)
    assert history.epoch == [3, 4] and len(history.history["loss"]) == 2
    headers = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert headers == ["Epoch 4/5", "Epoch 5/5"]


def fitted_weights(seed: int, shuffle: bool, x, y) -> list:
    dc.utils.set_random_seed(0)
    model = regressor()
    model.compile(optimizer=SGD(learning_rate=0.05), loss="mse")
    dc.utils.set_random_seed(seed)
    model.fit(x, y, epochs=2, batch_size=5, shuffle=shuffle, verbose=0)
    return model.get_weights()


def test_shuffle(backend):
    x, y = data(n=20)
    unshuffled = fitted_weights(1, False, x, y)
    for got, want in zip(fitted_weights(2, False, x, y), unshuffled):
        np.testing.assert_array_equal(got, want)
    shuffled = fitted_weights(1, True, x, y)
    for got, want in zip(fitted_weights(1, True, x, y), shuffled):
        np.testing.assert_array_equal(got, want)  # same seed, same order
    assert not np.array_equal(fitted_weights(2, True, x, y)[0], shuffled[0])
    assert not np.array_equal(shuffled[0], unshuffled[0])

    # shuffle=False is exactly train_on_batch over consecutive slices
    dc.utils.set_random_seed(0)
    model = regressor()
    model.compile(optimizer=SGD(learning_rate=0.05), loss="mse")
    for _ in range(2):
        for start in range(0, 20, 5):
            model.train_on_batch(x[start:start + 5], y[start:start + 5])
    for got, want in zip(model.get_weights(), unshuffled):
        np.testing.assert_array_equal(got, want)


def per_sample_mse(model, x, y) -> np.ndarray:
    return (model.predict(x, verbose=0)[:, 0].astype(np.float64) - y) ** 2


def test_sample_weight_and_class_weight_follow_keras(backend):
    x, y = data(n=12)
    labels = (y > 0).astype(np.float64)
    sample_weight = np.random.default_rng(2).uniform(0.5, 3.0, size=12)
    class_weight = {0: 1.0, 1: 3.0}
    model = frozen()
    losses = per_sample_mse(model, x, labels)

    history = model.fit(x, labels, batch_size=12, sample_weight=sample_weight, shuffle=False, verbose=0)
    assert_close_f32(history.history["loss"][0], np.sum(sample_weight * losses) / 12, terms=12)
    assert_close_f32(model.evaluate(x, labels, sample_weight=sample_weight, verbose=0),
                     np.sum(sample_weight * losses) / 12, terms=12)

    per_class = np.where(labels == 1, 3.0, 1.0)
    history = model.fit(x, labels, batch_size=12, class_weight=class_weight, shuffle=False, verbose=0)
    assert_close_f32(history.history["loss"][0], np.sum(per_class * losses) / 12, terms=12)

    history = model.fit(x, labels, batch_size=12, class_weight=class_weight,
                        sample_weight=sample_weight, shuffle=False, verbose=0)
    assert_close_f32(history.history["loss"][0], np.sum(per_class * sample_weight * losses) / 12, terms=12)
    assert abs(np.sum(per_class * losses) / 12 - np.mean(losses)) > 1e-2  # weights matter here


def test_sample_weight_scales_the_gradient(backend):
    # Keras divides the weighted sum by the batch size, so a weight of 2 on one sample of 3
    # equals duplicating that sample (4 rows) with the learning rate scaled by 4/3.
    x, y = data(n=3)
    weighted = regressor()
    start = weighted.get_weights()
    weighted.compile(optimizer=SGD(learning_rate=0.03), loss="mse")
    weighted.train_on_batch(x, y, sample_weight=np.array([2.0, 1.0, 1.0]))
    duplicated = regressor()
    duplicated.set_weights(start)
    duplicated.compile(optimizer=SGD(learning_rate=0.03 * 4 / 3), loss="mse")
    duplicated.train_on_batch(np.concatenate([x[:1], x]), np.concatenate([y[:1], y]))
    for got, want in zip(weighted.get_weights(), duplicated.get_weights()):
        np.testing.assert_allclose(got, want, rtol=64 * F32_EPS, atol=64 * F32_EPS)
    assert not np.allclose(weighted.get_weights()[0], start[0])


@pytest.mark.parametrize("loss, metric_class", [
    ("binary_crossentropy", BinaryAccuracy),
    ("categorical_crossentropy", CategoricalAccuracy),
    ("sparse_categorical_crossentropy", SparseCategoricalAccuracy),
])
def test_accuracy_resolves_by_loss(backend, loss, metric_class):
    x, _ = data(n=30)
    classes = np.random.default_rng(4).integers(0, 3, size=30)
    if loss == "binary_crossentropy":
        model = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
        y = (classes > 0).astype(np.float64)
    else:
        model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
        y = dc.utils.to_categorical(classes, 3) if loss == "categorical_crossentropy" else classes
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    assert type(model.compiled_metrics[0]) is metric_class
    p = model.predict(x, verbose=0)
    if loss == "binary_crossentropy":
        expected = np.mean((p[:, 0] > 0.5) == (y == 1))
    else:
        expected = np.mean(p.argmax(axis=1) == classes)
    _, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy == expected  # hits / count: both sides are the same correctly rounded ratio


# --- inputs ---------------------------------------------------------------------------------

def test_lists_and_int_arrays_are_cast_to_floatx(backend):
    model = regressor()
    ints = np.arange(12).reshape(3, 4) - 5
    from_floats = model.predict(ints.astype(np.float32), verbose=0)
    for given in (ints, ints.tolist(), ints.astype(np.int32), ints.astype(np.float64)):
        out = model.predict(given, verbose=0)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, from_floats)
    model.compile(optimizer="sgd", loss="mse")
    assert type(model.evaluate(ints.tolist(), [1, 2, 3], verbose=0)) is float


def test_backend_arrays_are_used_without_a_host_round_trip(backend, monkeypatch):
    x, y = data(n=20)
    x_native = backend.asarray(x, dtype=backend.dtype())
    y_native = backend.asarray(y, dtype=backend.xp.float64)  # cast on the device
    model = regressor()
    model.compile(optimizer="sgd", loss="mse")
    expected = model.predict(x, verbose=0)
    transfers = []
    monkeypatch.setattr(backend, "asarray", lambda *a, **k: transfers.append("to device"))
    monkeypatch.setattr(backend, "to_numpy", lambda a: transfers.append("to host") or np.asarray(0.0))
    model.fit(x_native, y_native, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model.evaluate(x_native, y_native, verbose=0)
    assert transfers == []
    monkeypatch.undo()
    assert not np.array_equal(model.predict(x, verbose=0), expected)  # it trained
    assert model.weights[0].value.device == x_native.device


def test_strict_device1_keeps_weights_on_the_device():
    with dc.use_backend("array_api_strict", device="device1") as strict:
        device1 = strict.xp.Device("device1")
        x, y = data(n=40)
        model = regressor()
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
        assert all(np.isfinite(v).all() for v in history.history.values())
        for variable in model.weights:
            assert variable.value.device == device1
            assert variable.grad.device == device1
        assert all(a.device == device1 for a in model.optimizer.state(model.trainable_variables))
        assert model.predict(x, verbose=0).shape == (40, 1)


def test_model_built_on_numpy_moves_to_torch():
    torch = pytest.importorskip("torch", reason='torch is not installed (pip install "deepcore[torch]")')

    x, y = data(n=24)
    with dc.use_backend("numpy"):
        model = regressor()
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1, verbose=0)  # creates Adam state on numpy
        on_numpy = model.predict(x, verbose=0)
        weights = model.get_weights()
    with dc.use_backend("torch"):
        on_torch = model.predict(x, verbose=0)
        assert all(isinstance(v.value, torch.Tensor) for v in model.weights)
        assert model.backend.name == "torch"
        for got, want in zip(model.get_weights(), weights):
            np.testing.assert_array_equal(got, want)
        assert_close_f32(on_torch, on_numpy, terms=8)
        model.fit(x, y, epochs=2, verbose=0)
        assert all(isinstance(a, torch.Tensor) for a in model.optimizer.state(model.trainable_variables))
        assert model.optimizer.iterations == 3
    assert not np.array_equal(model.get_weights()[0], weights[0])


def test_a_nested_sequential_joins_with_its_shared_layers(backend, tmp_path):
    """Keras's pattern: an augmentation block (or any Sequential) inside a Sequential. Its
    layers are shared: the outer model trains them and the block still runs on its own."""
    from deepcore import layers

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 6, 6, 1)).astype(np.float32), rng.integers(0, 2, 64)
    augmentation = Sequential([Input((6, 6, 1)), layers.RandomFlip("horizontal", seed=1)])
    features = Sequential([layers.Conv2D(3, 3, activation="relu"), layers.Flatten()])
    model = Sequential([augmentation, features, Dense(1, activation="sigmoid")])
    assert model.input_shape == (None, 6, 6, 1) and model.output_shape == (None, 1)
    assert model.layers[:1] == augmentation.layers and model.layers[1:3] == features.layers
    kernel = features.layers[0].kernel
    before = backend.to_numpy(kernel.value).copy()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(backend.to_numpy(kernel.value), before)  # the shared layer trained
    np.testing.assert_array_equal(backend.to_numpy(augmentation(backend.asarray(x))), x)  # inference: identity
    model.save(tmp_path / "nested.deepcore")
    np.testing.assert_allclose(dc.models.load_model(tmp_path / "nested.deepcore").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)


def test_trainable_false_on_a_model_freezes_its_layers(backend):
    """Keras's transfer-learning idiom: ``base.trainable = False`` before training the head."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((32, 4)), rng.standard_normal((32, 1))
    base = Sequential([Input((4,)), Dense(5, activation="relu"), Dense(5)])
    base.trainable = False
    model = Sequential([base, Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    frozen = [w.copy() for w in base.get_weights()]
    head = model.layers[-1].get_weights()[0].copy()
    model.fit(x, y, epochs=2, verbose=0)
    for now, then in zip(base.get_weights(), frozen):
        np.testing.assert_array_equal(now, then)
    assert not np.allclose(model.layers[-1].get_weights()[0], head)
    assert not base.trainable and model.trainable is False
    base.trainable = True  # fine-tuning: the base trains again
    assert model.trainable
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(base.get_weights()[0], frozen[0])


def test_metrics_ignore_sample_weights_and_weighted_metrics_use_them(backend):
    """Keras 3: ``metrics`` get no sample (or class) weights; ``weighted_metrics`` do, and are
    logged as weighted_<name> when the names clash."""
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([1, 0, 1, 1])
    weights = np.array([3.0, 1.0, 1.0, 1.0])
    model = Sequential([Input((1,)), Dense(1, activation="sigmoid", kernel_initializer="ones",
                                           bias_initializer="zeros")])  # predicts class 1 everywhere
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    logs = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(3 / 4)  # hits 1, 0, 1, 1
    assert logs["weighted_accuracy"] == pytest.approx((3 + 1 + 1) / 6)
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    history = model.fit(x, y, class_weight={0: 5.0, 1: 1.0}, epochs=1, shuffle=False, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "weighted_accuracy"}


def test_weighted_metrics_survive_save_and_load(backend, tmp_path):
    model = Sequential([Input((2,)), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"], weighted_metrics=["mae", "mse"])
    model.save(tmp_path / "weighted.deepcore")
    loaded = dc.models.load_model(tmp_path / "weighted.deepcore")
    assert loaded.metrics_names == model.metrics_names == ["loss", "mae", "weighted_mae", "mse"]


def test_compile_takes_kerass_execution_options_and_loss_weights(backend, tmp_path):
    """loss_weights on a one-output model scale its loss and gradient (Keras 3.15.1: mse 2.109
    with loss_weights=[2.0] reports 4.219); the scaled loss saves and loads."""
    model = Sequential([Input((2,)), Dense(1, kernel_initializer="ones")])
    model.compile(optimizer="adam", loss="mse", run_eagerly=True, jit_compile=False, steps_per_execution=4,
                  auto_scale_loss=False)
    x, y = np.array([[1.0, 2.0], [0.5, 0.0]], np.float32), np.zeros((2, 1), np.float32)
    plain = model.evaluate(x, y, verbose=0)
    for weights in (0.5, [0.5], {"dense": 0.5}):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"], loss_weights=weights)
        assert model.evaluate(x, y, verbose=0) == pytest.approx([0.5 * plain, 1.75])
    model.save(tmp_path / "scaled.deepcore")
    assert dc.models.load_model(tmp_path / "scaled.deepcore").evaluate(x, y, verbose=0) == pytest.approx(
        [0.5 * plain, 1.75])
    before = model.get_weights()[0].copy()
    model.train_on_batch(x, y)  # SGD(0.01) on 0.5 * mse: kernel step 0.01 * 0.5 * mean(2 * y_pred * x)
    step = 0.01 * 0.5 * np.mean(2 * (x @ before) * x, axis=0)[:, None]
    np.testing.assert_allclose(model.get_weights()[0], before - step, rtol=1e-5)


class CountingCallback(dc.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = {}

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def on_train_batch_begin(self, batch, logs=None):
        self._count("train_batch")

    def on_test_batch_begin(self, batch, logs=None):
        self._count("test_batch")

    def on_test_end(self, logs=None):
        self._count("test_end")

    def on_predict_batch_end(self, batch, logs=None):
        self._count("predict_batch")


def test_fit_caps_steps_and_chooses_when_and_how_to_validate(backend):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 1))
    model = Sequential([Input((2,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    counter = CountingCallback()
    history = model.fit(x, y, batch_size=4, epochs=6, steps_per_epoch=3, validation_data=(x[:10], y[:10]),
                        validation_batch_size=5, validation_freq=[2, 5], validation_steps=1,
                        callbacks=[counter], verbose=0)
    assert counter.calls == {"train_batch": 6 * 3, "test_batch": 2 * 1, "test_end": 2}
    # Epochs of 3 batches go on through the 10 batches of the data, as Keras.
    stream = itertools.islice(dc.models.data.batch_stream(backend, 10, 4, shuffle=False), 5)
    assert list(stream) == [slice(0, 4), slice(4, 8), slice(8, 10), slice(0, 4), slice(4, 8)]
    assert len(history.history["loss"]) == 6 and len(history.history["val_loss"]) == 2
    counter = CountingCallback()
    model.fit(x, y, batch_size=4, epochs=4, validation_split=0.5, validation_freq=2, callbacks=[counter], verbose=0)
    assert counter.calls["test_batch"] == 2 * 5 and counter.calls["train_batch"] == 4 * 5


def test_evaluate_and_predict_take_steps_and_callbacks(backend):
    x, y = np.ones((10, 2)), np.ones((10, 1))
    model = Sequential([Input((2,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    counter = CountingCallback()
    model.evaluate(x, y, batch_size=3, steps=2, callbacks=[counter], verbose=0)
    assert model.predict(x, batch_size=3, steps=2, callbacks=[counter], verbose=0).shape == (6, 1)
    assert counter.calls == {"test_batch": 2, "test_end": 1, "predict_batch": 2}


def test_get_layer_by_name_or_index():
    model = Sequential([Input((2,)), Dense(3, name="hidden"), Dense(1, name="out")])
    assert model.get_layer("hidden") is model.layers[0]
    assert model.get_layer(index=-1) is model.get_layer("out")
    with pytest.raises(ValueError, match=r"No such layer: 'missing'. Existing layers are: \['hidden', 'out'\]"):
        model.get_layer("missing")


def test_to_json_and_model_from_json_rebuild_the_architecture(backend):
    model = Sequential([Input((3,)), Dense(4, activation="relu", name="a"), Dense(2, name="b")])
    rebuilt = dc.models.model_from_json(model.to_json(indent=2))
    assert [(type(layer), layer.name) for layer in rebuilt.layers] == [(type(layer), layer.name) for layer in model.layers]
    assert rebuilt.input_shape == (None, 3) and rebuilt.output_shape == (None, 2)
    assert rebuilt.to_json() == model.to_json()


def test_clear_session_restarts_layer_names():
    Dense(1)
    dc.utils.clear_session()
    assert Dense(1).name == "dense" and Dense(1).name == "dense_1"


def test_summary_can_be_wider_and_show_what_trains():
    model = Sequential([Input((2,)), Dense(3, name="frozen", trainable=False), Dense(1, name="head")])
    lines = []
    model.summary(line_length=90, show_trainable=True, print_fn=lines.append)
    assert len(lines[1]) == 90 and lines[2].rstrip().endswith("Trainable")
    assert lines[4].rstrip().endswith("N") and lines[5].rstrip().endswith("Y")


def test_reversed_views_of_data_are_accepted(backend):
    """NumPy views with negative strides (``x[::-1]``) train and predict on every backend (torch
    cannot wrap them; they are copied)."""
    x = np.arange(24, dtype=np.float32).reshape(6, 4) / 24.0
    model = Sequential([Input((4,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x[::-1], x[::-1, :1], epochs=1, verbose=0)
    # Rows in another order may round differently: 4 products and a bias of size <= 1 summed,
    # so 5 float32 roundings at most.
    np.testing.assert_allclose(model.predict(x[::-1], verbose=0), model.predict(x, verbose=0)[::-1],
                               rtol=0, atol=5 * np.finfo(np.float32).eps)


def test_one_input_data_in_a_one_item_list_or_dict(backend):
    """Keras takes a model's one input as [x] or {name: x}; a one-item list holding one
    sample (of a lower rank than the model's inputs) stays one sample, as before."""
    rng = np.random.default_rng(0)
    x, images = rng.random((4, 3)).astype(np.float32), rng.random((5, 4, 4)).astype(np.float32)
    model = Sequential([Input((3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    whole = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict([x], verbose=0), whole)
    np.testing.assert_allclose(model.predict([x[0]], verbose=0), whole[:1], rtol=1e-6)
    assert model.evaluate([x], [np.zeros(4)], verbose=0) == model.evaluate(x, np.zeros((4, 1)), verbose=0)
    np.testing.assert_array_equal(backend.to_numpy(model([backend.asarray(x)])), whole)
    flat = Sequential([Input((4, 4)), dc.layers.Flatten(), Dense(1)])
    assert flat.predict([images[0]], verbose=0).shape == (1, 1)
    assert flat.predict([images], verbose=0).shape == (5, 1)
