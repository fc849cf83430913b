"""deepcore.testing.compare_backends: honest backends agree, faulty ones are caught and located.

The faulty backends are NumPy with an ndarray subclass whose ``__array_ufunc__`` corrupts one
operation (a matmul that drops the last term of every sum, an exp off by a relative 1e-4), so
the unchanged array-API core runs on them; an "honest" one uses the same subclass without a
fault, proving the wrapper itself is not what the report detects.
"""

import json
import math

import numpy as np
import pytest

import deepcore as dc
from deepcore import registry
from deepcore.backends.numpy_backend import NumpyBackend
from deepcore.cli import main
from deepcore.layers import Dense, Dropout
from deepcore.models import Sequential
from deepcore.testing import (
    DEFAULT_FACTOR,
    GOLDEN,
    Report,
    assert_backends_close,
    compare_arrays,
    compare_backends,
    default_rtol,
)
from deepcore.testing.examples import HIDDEN_ACTIVATIONS, mlp

CPU_BACKENDS = ("numpy", "torch", "array_api_strict")
EXP_FAULT = 1e-4  # relative; ~840 float32 ULPs, far beyond any honest exp


# --- faulty backends --------------------------------------------------------------------------
class WrappedArray(np.ndarray):
    """An ndarray whose ufunc results pass through `fault` (identity here: honest)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [a.view(np.ndarray) if isinstance(a, WrappedArray) else a for a in inputs]
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, WrappedArray) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        if method == "__call__":
            result = self.fault(ufunc, plain, result)
        return np.asarray(result).view(type(self))

    def fault(self, ufunc, inputs, result):
        return result


class DroppedTermArray(WrappedArray):
    def fault(self, ufunc, inputs, result):
        if ufunc is np.matmul and inputs[0].ndim == 2 and inputs[1].ndim == 2:
            return result - inputs[0][:, -1:] * inputs[1][-1:, :]
        return result


class InexactExpArray(WrappedArray):
    def fault(self, ufunc, inputs, result):
        return result * (1.0 + EXP_FAULT) if ufunc is np.exp else result


def wrapped_backend(name, array_type):
    class Wrapped(NumpyBackend):
        def asarray(self, host_array, dtype=None):
            return np.array(host_array, dtype=dtype).view(array_type)

    Wrapped.name = name
    return Wrapped


@pytest.fixture
def faulty_backends(monkeypatch):
    """Registers "honest", "dropped_term" and "inexact_exp"; the registry is restored afterwards."""
    dc.list_backends()  # load the entry points before copying the registry
    for table in ("_factories", "_probe_cache", "_instances"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))
    for name, array_type in [("honest", WrappedArray), ("dropped_term", DroppedTermArray),
                             ("inexact_exp", InexactExpArray)]:
        dc.register_backend(name, wrapped_backend(name, array_type))


def usable(names):
    return [name for name in names if name in dc.available_backends()]


def first_failure(report):
    failures = report.failures()
    assert failures, f"expected a failure:\n{report}"
    return failures[0].layer, failures[0].quantity


# --- honest backends agree ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cpu_backends_agree_on_an_mlp_with_every_activation(dtype):
    model, x, y = mlp()
    report = assert_backends_close(model, x, y, backends=CPU_BACKENDS, dtype=dtype, steps=3, batch_size=16)
    assert report.backends == usable(CPU_BACKENDS[1:])
    layers = {row.layer for row in report.rows}
    assert {f"dense_{name}" for name in HIDDEN_ACTIVATIONS} <= layers
    # Forward outputs, the loss, both gradients of every Dense, the trained weights.
    quantities = {row.quantity for row in report.rows}
    assert {"output", "loss", "grad kernel", "grad bias", "kernel after 3 step(s)",
            "loss per step"} <= quantities


def conv_model():
    from deepcore.layers import BatchNormalization, Conv2D, Flatten, Input, MaxPooling2D

    model = Sequential([Input((6, 6, 2)), Conv2D(4, 3, activation="relu"), BatchNormalization(),
                        MaxPooling2D(2), Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    return model, rng.standard_normal((16, 6, 6, 2)), np.eye(3)[rng.integers(0, 3, 16)]


def recurrent_model():
    from deepcore.layers import GRU, LSTM, Embedding, Input, LayerNormalization

    model = Sequential([Input((7,)), Embedding(12, 5), LSTM(6, return_sequences=True), GRU(4),
                        LayerNormalization(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    return model, rng.integers(0, 12, (16, 7)), rng.integers(0, 3, 16)


def attention_model():
    from deepcore.layers import Embedding, GlobalAveragePooling1D, Input, MultiHeadAttention
    from deepcore.models import Model

    tokens = Input((7,), dtype="int32")
    x = Embedding(12, 8, mask_zero=True)(tokens)
    x = MultiHeadAttention(num_heads=2, key_dim=4, use_gate=True)(x, x, use_causal_mask=True)
    model = Model(tokens, Dense(3, activation="softmax")(GlobalAveragePooling1D()(x)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    return model, rng.integers(0, 12, (16, 7)), rng.integers(0, 3, 16)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("example", [conv_model, recurrent_model, attention_model])
def test_cpu_backends_agree_beyond_dense_layers(example, dtype):
    model, x, y = example()
    assert_backends_close(model, x, y, backends=CPU_BACKENDS, dtype=dtype, steps=2)


def test_an_honest_wrapped_backend_passes(faulty_backends):
    model, x, y = mlp()
    report = compare_backends(model, x, y, backends=["honest"], steps=2)
    assert report.passed, str(report)
    # The wrapper changes nothing: NumPy against NumPy is exact.
    assert all(row.max_abs_err == 0.0 for row in report.rows)


def test_golden_reference_float64(faulty_backends):
    """In float64 every CPU backend is within the derived tolerance of the exact answer, and
    NumPy (the golden run's own library, same operation order) matches it bit for bit."""
    model, x, y = mlp()
    report = compare_backends(model, x, y, backends=CPU_BACKENDS, reference=GOLDEN,
                              dtype="float64", steps=2)
    assert report.passed, str(report)
    assert report.backends == usable(CPU_BACKENDS)
    assert all(row.max_abs_err == 0.0 for row in report.rows if row.backend == "numpy")
    # The bound stated in docs/consistency.md: below 1000 float64 eps (2.2e-13) relative to the
    # largest magnitude of each quantity, for this 16-layer model (measured: 1.3e-14 on torch).
    bound = 1000 * np.finfo(np.float64).eps
    assert max(row.max_rel_err for row in report.rows) < bound


def test_golden_reference_float32_measures_distance_to_the_truth():
    model, x, y = mlp()
    report = compare_backends(model, x, y, backends=CPU_BACKENDS, reference=GOLDEN, dtype="float32")
    assert report.passed, str(report)
    numpy_rows = [row for row in report.rows if row.backend == "numpy"]
    # float32 rounding is visible against the float64 truth (not a copy of the same run) ...
    assert max(row.max_rel_err for row in numpy_rows) > np.finfo(np.float32).eps
    # ... and ULPs are counted in float32.
    assert max(row.ulps for row in numpy_rows) >= 1


# --- faulty backends are caught and located ------------------------------------------------------
def test_a_matmul_that_drops_a_term_is_caught_at_the_first_dense_layer(faulty_backends):
    model, x, y = mlp()
    report = compare_backends(model, x, y, backends=["dropped_term"], steps=1)
    assert not report.passed
    first = f"dense_{HIDDEN_ACTIVATIONS[0]}"
    assert first_failure(report) == (first, "output")
    failed = {(row.layer, row.quantity) for row in report.failures()}
    # Gradients reaching the first layers through ~30 activations (shrinks and hard ones among
    # them) are too small to show the missing term there; later layers' kernel gradients do.
    assert any(quantity == "grad kernel" for _, quantity in failed) and ("(loss)", "loss") in failed


def test_an_inexact_exp_is_caught_at_the_exponential_layer(faulty_backends):
    model, x, y = mlp()
    report = compare_backends(model, x, y, backends=["inexact_exp"])
    # celu and elu use expm1, so the layers before it are exact; the exponential layer is the
    # first to fail.
    before = HIDDEN_ACTIVATIONS[:HIDDEN_ACTIVATIONS.index("exponential")]
    assert set(before) == {"celu", "elu"}
    outputs = [row for row in report.rows if row.quantity == "output"]
    assert [(row.layer, row.passed) for row in outputs[:3]] == [
        ("dense_celu", True), ("dense_elu", True), ("dense_exponential", False)]
    assert first_failure(report) == ("dense_exponential", "output")


def test_assert_backends_close_message_is_the_table_of_worst_offenders(faulty_backends):
    model, x, y = mlp()
    with pytest.raises(AssertionError) as caught:
        assert_backends_close(model, x, y, backends=["dropped_term"], show=3)
    message = str(caught.value)
    assert "beyond tolerance" in message
    assert "layer" in message and "max abs err" in message and "ULPs" in message
    table_rows = message.splitlines()[4:]
    assert len(table_rows) == 3 and all(line.endswith("FAIL") for line in table_rows)


# --- tolerances ---------------------------------------------------------------------------------
def test_default_rtol_is_factor_eps_times_reduction_length():
    assert default_rtol("float32", 100) == DEFAULT_FACTOR * np.finfo(np.float32).eps * 100
    assert default_rtol("float64", 100, factor=1.0) == np.finfo(np.float64).eps * 100


def test_tolerance_grows_with_depth_and_steps():
    model, x, y = mlp()
    report = compare_backends(model, x, y, backends=["array_api_strict"], steps=2)
    outputs = [row.rtol for row in report.rows if row.quantity == "output"]
    assert outputs == sorted(outputs) and outputs[0] < outputs[-1]
    grad = next(row.rtol for row in report.rows if row.quantity == "grad kernel")
    trained = next(row.rtol for row in report.rows if row.quantity == "kernel after 2 step(s)")
    assert trained == pytest.approx(2 * grad)


def test_per_call_tolerance_override(faulty_backends):
    model, x, y = mlp()
    loose = compare_backends(model, x, y, backends=["dropped_term"], rtol=10.0)
    assert loose.passed and {row.rtol for row in loose.rows} == {10.0}
    assert not compare_backends(model, x, y, backends=["dropped_term"], rtol=0.0, atol=1e-3).passed


def test_compare_arrays_errors_and_specials():
    reference = np.array([1.0, -2.0, 0.0, 4.0])
    value = reference + np.array([0.0, 0.0, 0.0, 2.0 * np.spacing(np.float32(4.0))])
    row = compare_arrays(value, reference, "float32", rtol=1e-6)
    assert row["max_abs_err"] == 2.0 * float(np.spacing(np.float32(4.0)))
    assert row["ulps"] == 2.0 and row["max_rel_err"] == row["max_abs_err"] / 4.0
    assert row["passed"]  # 9.5e-7 <= 1e-6 * 4
    nan_here = compare_arrays(np.array([np.nan, 1.0]), np.array([1.0, 1.0]), "float32", rtol=1.0)
    assert not nan_here["passed"] and math.isinf(nan_here["max_abs_err"])
    same_nan = compare_arrays(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), "float32", rtol=0.0)
    assert same_nan["passed"]


# --- reports: table, JSON, Markdown ---------------------------------------------------------------
def test_report_json_round_trip_including_infinite_errors(tmp_path, faulty_backends):
    model, x, y = mlp()
    report = compare_backends(model, x, y, backends=["dropped_term", "honest"], steps=1)
    infinite = compare_arrays(np.array([np.inf]), np.array([1.0]), "float32", rtol=1e-6)
    report.rows.append(type(report.rows[0])(backend="dropped_term", layer="x", quantity="y", **infinite))
    path = tmp_path / "report.json"
    text = report.to_json(path)
    json.loads(text)  # strict JSON: no bare Infinity
    assert "Infinity" not in text
    for restored in (Report.from_json(path), Report.from_json(text)):
        assert restored.to_dict() == report.to_dict()
        assert restored.rows[:-1] == report.rows[:-1]
        assert math.isinf(restored.rows[-1].max_abs_err)
    assert report.environment["numpy"]["name"] == "numpy"


def test_report_markdown_table_holds_every_row(tmp_path):
    model, x, y = mlp()
    report = compare_backends(model, x, y, backends=["array_api_strict"])
    path = tmp_path / "report.md"
    report.write_markdown(path)
    lines = path.read_text().splitlines()
    table = [line for line in lines if line.startswith("| ")]
    header, body = table[0], table[1:]
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "backend", "layer", "quantity", "max abs err", "max rel err", "ULPs", "rtol", "status"]
    parsed = [tuple(cell.strip() for cell in line.strip("|").split("|")) for line in body]
    assert parsed == [row.cells() for row in report.rows]


def test_report_prints_a_readable_table():
    model, x, y = mlp()
    text = str(compare_backends(model, x, y, backends=["array_api_strict"]))
    lines = text.splitlines()
    assert lines[0].startswith("array_api_strict vs numpy (float32, 0 training step(s))")
    assert lines[1].split() == ["backend", "layer", "quantity", "max", "abs", "err", "max", "rel",
                                "err", "ULPs", "rtol", "status"]
    assert lines[3].split()[:3] == ["array_api_strict", f"dense_{HIDDEN_ACTIVATIONS[0]}", "output"]


# --- behaviour ----------------------------------------------------------------------------------
def test_unusable_backends_are_skipped_with_their_reason(monkeypatch):
    from deepcore.backend import Backend, Probe

    class Unusable(Backend):
        @classmethod
        def probe(cls):
            return Probe(False, "needs hardware this machine lacks")

    dc.list_backends()
    for table in ("_factories", "_probe_cache"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))
    dc.register_backend("unusable", Unusable)
    model, x, _ = mlp()
    report = compare_backends(model, x, backends=["unusable", "array_api_strict"])
    assert report.skipped == {"unusable": "needs hardware this machine lacks"}
    assert report.backends == ["array_api_strict"]
    with pytest.raises(ValueError, match="Unknown backend 'nope'"):
        compare_backends(model, x, backends=["nope"])


def test_the_model_and_the_random_generators_are_left_as_they_were():
    model, x, y = mlp()
    before = model.get_weights()
    optimizer, backends = model.optimizer, [layer.backend for layer in model.layers]
    state = dc.random.generator().bit_generator.state
    compare_backends(model, x, y, backends=CPU_BACKENDS, steps=2)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.optimizer is optimizer and optimizer.iterations == 0
    assert [layer.backend for layer in model.layers] == backends
    assert dc.random.generator().bit_generator.state == state


def test_a_builder_and_forward_only_comparison():
    def build():
        model = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(2)])
        return model

    x = np.random.default_rng(0).standard_normal((5, 3))
    report = assert_backends_close(build, x, backends=["array_api_strict"])
    assert {row.quantity for row in report.rows} == {"output"}
    with pytest.raises(ValueError, match="compile"):
        compare_backends(build, x, np.zeros((5, 2)), backends=["array_api_strict"])


def test_every_weight_of_a_wrapping_layer_is_compared_under_its_own_label():
    """Bidirectional's two directions and a stack of RNN cells hold weights of the same short
    names (kernel, ...): each keeps its own row."""
    model = Sequential([dc.layers.Input((4, 3)), dc.layers.Bidirectional(dc.layers.GRU(2, return_sequences=True)),
                        dc.layers.RNN([dc.layers.LSTMCell(2), dc.layers.SimpleRNNCell(2)]), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    report = compare_backends(model, rng.standard_normal((5, 4, 3)), rng.standard_normal((5, 1)),
                              backends=["array_api_strict"])
    labels = {(row.layer, row.quantity) for row in report.rows}
    assert {(layer.name, f"grad {variable.name.removeprefix(layer.name + '/')}")
            for layer in model.layers for variable in layer.trainable_weights} <= labels
    assert len([label for label in labels if label[1].startswith("grad")]) == len(model.get_weights())


# --- determinism: host-drawn randomness is identical on every backend -----------------------------
def test_dropout_masks_and_shuffling_are_drawn_on_the_host():
    draws = {}
    for name in dc.available_backends():
        with dc.use_backend(name) as backend:
            dc.utils.set_random_seed(7)
            draws[name] = (backend.to_numpy(backend.random_bernoulli((4, 5), 0.5)),
                           backend.to_numpy(backend.random_permutation(10)))
    numpy_mask, numpy_order = draws["numpy"]
    for mask, order in draws.values():
        np.testing.assert_array_equal(mask, numpy_mask)
        np.testing.assert_array_equal(order, numpy_order)


def test_shuffled_training_with_dropout_follows_the_same_trajectory_on_every_backend():
    """fit(shuffle=True) with Dropout from one seed: the weights after two epochs agree within
    the derived tolerance (forward + backward reduction lengths, times the 6 steps taken)."""
    x = np.random.default_rng(1).standard_normal((48, 6))
    y = (x[:, :1] > 0).astype(float)
    results = {}
    for name in usable(CPU_BACKENDS):
        dc.utils.set_random_seed(3)
        model = Sequential([Dense(8, activation="relu", input_shape=(6,)), Dropout(0.5),
                            Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        with dc.use_backend(name):
            model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)
        results[name] = model.get_weights()
    rtol = default_rtol("float32", 6 * (6 + 8 + 8 + 1 + 16))
    for name, weights in results.items():
        for got, expected in zip(weights, results["numpy"]):
            np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * np.abs(expected).max(),
                                       err_msg=name)


def test_cupy_reports_tf32(monkeypatch):
    from deepcore.backends.cupy_backend import tf32_enabled

    monkeypatch.delenv("CUPY_TF32", raising=False)
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    assert not tf32_enabled()
    monkeypatch.setenv("CUPY_TF32", "1")
    assert tf32_enabled()
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")
    assert not tf32_enabled()


# --- the command line ---------------------------------------------------------------------------
def test_cli_exit_codes(tmp_path, faulty_backends, capsys):
    out = tmp_path / "report.json"
    assert main(["check", "mlp", "--backends", "numpy,torch,array_api_strict", "--steps", "2",
                 "--json", str(out)]) == 0
    assert Report.from_json(out).passed
    assert main(["check", "mlp", "--backends", "dropped_term"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["check", "no_such_model"]) == 2
    assert "neither a file nor a built-in example" in capsys.readouterr().err


def test_cli_checks_a_saved_model_on_random_or_given_data(tmp_path, capsys):
    model, x, y = mlp()
    path = tmp_path / "mlp.deepcore"
    model.save(path)
    markdown = tmp_path / "report.md"
    assert main(["check", str(path), "--backends", "array_api_strict", "--steps", "1",
                 "--markdown", str(markdown)]) == 0
    assert "dense_softmax" in markdown.read_text()
    data = tmp_path / "batch.npz"
    np.savez(data, x=x[:10], y=y[:10])
    assert main(["check", str(path), "--backends", "array_api_strict", "--data", str(data),
                 "--reference", "golden"]) == 0
    assert "vs golden" in capsys.readouterr().out
