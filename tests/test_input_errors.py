"""Mistakes users make get errors that say what was expected, what was received, what to do."""

import re

import numpy as np
import pytest

from deepcore.layers import Dense
from deepcore.models import Sequential


def compiled(metrics=None) -> Sequential:
    model = Sequential([Dense(3, activation="relu", input_shape=(4,), name="first"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=metrics)
    return model


X = np.ones((5, 4))
Y = np.ones(5)


# --- shapes and lengths ----------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda m, x: m.fit(x, Y, verbose=0),
    lambda m, x: m.evaluate(x, Y, verbose=0),
    lambda m, x: m.predict(x, verbose=0),
    lambda m, x: m.train_on_batch(x, Y),
], ids=["fit", "evaluate", "predict", "train_on_batch"])
def test_wrong_feature_count_names_layer_and_shapes(backend, call):
    with pytest.raises(ValueError) as info:
        call(compiled(), np.ones((5, 3)))
    message = str(info.value)
    assert "'first'" in message
    assert "expected shape (None, 4)" in message
    assert "received input with shape (5, 3)" in message


def test_wrong_rank_is_reported(backend):
    with pytest.raises(ValueError, match=re.escape("received input with shape (5, 4, 1)")):
        compiled().predict(np.ones((5, 4, 1)), verbose=0)


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_calls_before_compile_say_to_compile(method):
    model = Sequential([Dense(1, input_shape=(4,))])
    with pytest.raises(RuntimeError, match=rf"must call compile\(\) before {method}\(\)"):
        getattr(model, method)(X, Y)


def test_compile_without_loss():
    with pytest.raises(ValueError, match="compile\\(\\) needs a loss, e.g. loss='mse'"):
        Sequential([Dense(1)]).compile(optimizer="adam")


def test_length_mismatch_names_both_lengths(backend):
    model = compiled()
    with pytest.raises(ValueError, match="x has 5 samples, y has 6 samples"):
        model.fit(X, np.ones(6), verbose=0)
    with pytest.raises(ValueError, match="x has 5 samples, y has 4 samples"):
        model.evaluate(X, np.ones(4), verbose=0)
    with pytest.raises(ValueError, match="x_val has 2 samples, y_val has 3 samples"):
        model.fit(X, Y, validation_data=(np.ones((2, 4)), np.ones(3)), verbose=0)
    with pytest.raises(ValueError, match="sample_weight has 4 entries but the data has 5 samples"):
        model.fit(X, Y, sample_weight=np.ones(4), verbose=0)


# --- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, kind, valid", [
    (lambda: compiled().compile(optimizer="sgd", loss="mean_squared_eror"), "loss",
     ["mean_squared_error", "binary_crossentropy", "sparse_categorical_crossentropy"]),
    (lambda: compiled().compile(optimizer="adamm", loss="mse"), "optimizer", ["adam", "sgd", "rmsprop"]),
    (lambda: Dense(2, activation="rellu"), "activation", ["relu", "sigmoid", "softmax"]),
    (lambda: compiled().compile(optimizer="sgd", loss="mse", metrics=["acuracy"]), "metric",
     ["accuracy", "mae"]),
    (lambda: Dense(2, kernel_initializer="glorot"), "initializer", ["glorot_uniform", "he_normal", "zeros"]),
])
def test_unknown_names_list_the_valid_ones(make, kind, valid):
    with pytest.raises(ValueError, match=f"Unknown {kind} '") as info:
        make()
    message = str(info.value)
    for name in valid:
        assert re.search(rf"\b{name}\b", message), f"{name!r} missing from: {message}"


# --- bad values --------------------------------------------------------------------------------

def with_bad_values(shape, positions) -> np.ndarray:
    array = np.ones(shape)
    for position, value in zip(positions, [np.nan, np.inf, -np.inf]):
        array[position] = value
    return array


@pytest.mark.parametrize("as_native", [False, True], ids=["numpy", "backend_array"])
def test_nan_and_inf_are_counted(backend, as_native):
    def given(array):
        return backend.asarray(array, dtype=backend.dtype()) if as_native else array

    model = compiled()
    x_bad = with_bad_values((5, 4), [(0, 0), (1, 2), (4, 3)])
    with pytest.raises(ValueError, match=r"^x contains 3 NaN or infinite value\(s\)"):
        model.fit(given(x_bad), given(Y), verbose=0)
    with pytest.raises(ValueError, match=r"^x contains 3 NaN"):
        model.predict(given(x_bad), verbose=0)
    y_bad = with_bad_values((5,), [(2,)])
    with pytest.raises(ValueError, match=r"^y contains 1 NaN or infinite value\(s\); clean or impute"):
        model.fit(given(X), given(y_bad), verbose=0)
    with pytest.raises(ValueError, match=r"^validation y contains 2 NaN"):
        model.fit(X, Y, validation_data=(X, given(with_bad_values((5,), [(0,), (3,)]))), verbose=0)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("shape, position", [((6, 3, 2, 1), (5, 2, 1, 0)), ((6,), (0,))], ids=["images", "1-D"])
def test_a_single_bad_value_is_found_in_any_shape(backend, value, shape, position):
    from deepcore.models import data

    array = np.full(shape, 3.0e38)  # huge but finite values must not look infinite
    assert data.to_backend(backend, backend.asarray(array, dtype=backend.dtype()), "x") is not None
    array[position] = value
    for given in (array, backend.asarray(array, dtype=backend.dtype())):
        with pytest.raises(ValueError, match=r"^x contains 1 NaN or infinite value\(s\)"):
            data.to_backend(backend, given, "x")


def test_nan_in_a_list_is_counted():
    with pytest.raises(ValueError, match=r"^x contains 1 NaN"):
        compiled().predict([[1.0, 2.0, float("nan"), 4.0]], verbose=0)


@pytest.mark.parametrize("x, dtype", [
    (np.full((5, 4), "a"), "<U1"),
    ([[1, 2, "x", 4]] * 5, "<U21"),
    (np.array([[object()] * 4] * 5), "object"),
], ids=["str_array", "list_with_str", "object_array"])
def test_non_numeric_input(backend, x, dtype):
    expected = rf"^x must be numeric \(bool, int or float\); received dtype {dtype}"
    with pytest.raises(TypeError, match=expected):
        compiled().fit(x, Y, verbose=0)


# --- arguments ---------------------------------------------------------------------------------

@pytest.mark.parametrize("units", [-1, 0, 2.5, True, "8"])
def test_dense_units(units):
    with pytest.raises(ValueError, match=re.escape(f"Received: units={units!r}")):
        Dense(units=units)


@pytest.mark.parametrize("split", [1.5, 1.0, -0.1])
def test_validation_split_out_of_range(split):
    with pytest.raises(ValueError, match=re.escape(f"validation_split must be in [0, 1); received {split}")):
        compiled().fit(X, Y, validation_split=split, verbose=0)


def test_validation_split_leaving_an_empty_set():
    with pytest.raises(ValueError, match=r"validation_split=0.5 leaves an empty training or validation set "
                                         r"with 1 samples"):
        compiled().fit(X[:1], Y[:1], validation_split=0.5, verbose=0)


@pytest.mark.parametrize("verbose", [3, -1, "loud", None])
def test_invalid_verbose(verbose):
    model = compiled()
    expected = re.escape(f"verbose must be 0, 1, 2 or 'auto'; received {verbose!r}")
    with pytest.raises(ValueError, match=expected):
        model.fit(X, Y, verbose=verbose)
    with pytest.raises(ValueError, match=expected):
        model.evaluate(X, Y, verbose=verbose)


def test_unknown_layer_keyword():
    with pytest.raises(TypeError, match=r"Dense got unexpected keyword argument\(s\): \['unitz'\]"):
        Dense(3, unitz=2)


def test_sequential_add_rejects_non_layers():
    with pytest.raises(TypeError, match=r"takes a deepcore layer or an Input\(\); received 'dense'"):
        Sequential().add("dense")
