"""The ``deepcore`` command line: info, train and predict, run as a user would (subprocesses)."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deepcore as dc
from deepcore.cli import main
from deepcore.models import load_model
from deepcore.registry import list_backends

ROOT = Path(__file__).resolve().parents[1]


def deepcore_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepcore", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def write_csv_data(path: Path, n: int = 60, seed: int = 0) -> np.ndarray:
    """A CSV with a header: three features on different scales and a 0/1 ``label`` column."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 100.0, 0.01] + [0.0, 500.0, 0.0]
    label = (x[:, 0] + (x[:, 1] - 500.0) / 100.0 > 0).astype(float)
    table = np.column_stack([x, label])
    np.savetxt(path, table, delimiter=",", header="a,b,c,label", comments="", fmt="%.10g")
    return x


TINY_CONFIG = {
    "seed": 3,
    "output": "tiny.deepcore",
    "data": {"csv": "data.csv", "target": "label", "standardize": True, "test_split": 0.25},
    "model": {"layers": [{"type": "Dense", "units": 4, "activation": "relu"},
                         {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
    "compile": {"loss": "binary_crossentropy",
                "optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
                "metrics": ["accuracy"]},
    "fit": {"epochs": 2, "batch_size": 8, "validation_split": 0.2},
}


def test_info_lists_every_backend_with_its_availability(tmp_path):
    text = deepcore_command("info", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"deepcore {dc.__version__}" in text.stdout
    as_json = deepcore_command("info", "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    facts = json.loads(as_json.stdout)
    assert facts["deepcore"] == dc.__version__
    h5py_installed = importlib.util.find_spec("h5py") is not None
    assert facts["keras_files"].startswith("on (h5py" if h5py_installed else 'off (h5py is not installed: pip install')
    assert f"Keras files (.keras, .weights.h5): {facts['keras_files']}" in text.stdout
    expected = {record.name: record.available for record in list_backends()}
    assert {entry["name"]: entry["available"] for entry in facts["backends"]} == expected
    for entry in facts["backends"]:
        assert entry["name"] in text.stdout
        if entry["available"]:
            assert entry["devices"] and entry["details"]["name"] == entry["name"]
        else:
            assert entry["reason"] and entry["reason"] in text.stdout
    numpy_details = next(e for e in facts["backends"] if e["name"] == "numpy")["details"]
    assert numpy_details["numpy"] == np.__version__ and "blas" in numpy_details


def test_train_then_predict_from_a_csv(tmp_path):
    x = write_csv_data(tmp_path / "data.csv")
    (tmp_path / "tiny.json").write_text(json.dumps(TINY_CONFIG))

    trained = deepcore_command("train", "tiny.json", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "45 training and 15 test rows, 3 features" in trained.stdout
    assert "Epoch 2/2" in trained.stdout and "Epoch 3/" not in trained.stdout
    assert "val_accuracy" in trained.stdout
    assert "Test: loss: " in trained.stdout and "accuracy: " in trained.stdout.split("Test:")[1]
    assert "Saved the model to tiny.deepcore" in trained.stdout

    model = load_model(tmp_path / "tiny.deepcore")
    assert type(model.layers[0]).__name__ == "Normalization"  # standardization travels with the model
    assert model.optimizer.iterations == 2 * 5  # 36 of 45 rows after validation_split, 8 per batch

    np.savetxt(tmp_path / "features.csv", x, delimiter=",", fmt="%.17g")  # no header
    predicted = deepcore_command("predict", "tiny.deepcore", "features.csv", "--output", "out.csv",
                                 cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 1 + len(x)
    # 9 significant digits round-trip float32 exactly, so the file equals an in-process predict.
    from_file = np.array(lines[1:], dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(from_file, model.predict(x, verbose=0)[:, 0])

    with_header = "a,b,c\n" + (tmp_path / "features.csv").read_text()
    (tmp_path / "with_header.csv").write_text(with_header)
    to_stdout = deepcore_command("predict", "tiny.deepcore", "with_header.csv", cwd=tmp_path)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout.splitlines() == lines


def test_train_a_toml_config_on_a_scikit_learn_dataset(tmp_path):
    pytest.importorskip("sklearn", reason="the built-in datasets come from scikit-learn")
    (tmp_path / "iris.toml").write_text(
        'seed = 1\n'
        '[data]\ndataset = "iris"\nstandardize = true\n'
        '[model]\nlayers = [{ type = "Dense", units = 8, activation = "relu" },'
        ' { type = "Dense", units = 3, activation = "softmax" }]\n'
        '[compile]\nloss = "sparse_categorical_crossentropy"\noptimizer = "adam"\nmetrics = ["accuracy"]\n'
        '[fit]\nepochs = 2\n'
    )
    result = deepcore_command("train", "iris.toml", "--output", "iris_model.deepcore", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "scikit-learn iris: 120 training and 30 test rows, 4 features" in result.stdout
    assert "Test: loss: " in result.stdout
    model = load_model(tmp_path / "iris_model.deepcore")
    assert model.layers[-1].units == 3 and model.optimizer.iterations == 2 * 4  # 120 rows / 32


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted((ROOT / "examples" / "configs").glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_configs_train_to_their_stated_accuracy(tmp_path, config):
    pytest.importorskip("sklearn", reason="the shipped configs use scikit-learn's datasets")
    result = deepcore_command("train", str(config), "--output", "model.deepcore", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"Test: .*accuracy: ([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.95, result.stdout
    assert (tmp_path / "model.deepcore").exists()


def test_a_bad_config_exits_non_zero_with_a_clear_message(tmp_path):
    bad = {**TINY_CONFIG, "fit": {"epoch": 2}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    result = deepcore_command("train", "bad.json", cwd=tmp_path)
    assert result.returncode == 2
    assert "bad.json" in result.stderr and "unknown key(s) ['epoch'] in [fit]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "tiny.deepcore").exists()


@pytest.mark.parametrize("change, message", [
    ({"data": {"csv": "data.csv"}}, "needs target"),
    ({"data": {"csv": "data.csv", "target": "nope"}}, "no column 'nope'"),
    ({"data": {"csv": "missing.csv", "target": "label"}}, "No such CSV file"),
    ({"data": {"dataset": "mnist"}}, "unknown dataset 'mnist'"),
    ({"model": {"layers": [{"type": "Dense", "units": -1}]}}, r"layer 1 \(Dense\).*units=-1"),
    ({"model": {"layers": [{"type": "Dnse", "units": 1}]}}, "Unknown layer class 'Dnse'"),
    ({"model": {"layers": []}}, r"\[model\] needs layers"),
    ({"compile": {"optimizer": "adam"}}, r"\[compile\] needs a loss"),
    ({"compile": {"loss": "nope"}}, "Unknown loss 'nope'"),
    ({"fit": {"epochs": 0}}, "epochs must be a positive integer"),
    ({"data": {"csv": "data.csv", "target": "label", "test_split": 1.5}}, "test_split must be in"),
])
def test_config_mistakes_are_reported_without_a_traceback(tmp_path, capsys, change, message):
    write_csv_data(tmp_path / "data.csv")
    (tmp_path / "job.json").write_text(json.dumps({**TINY_CONFIG, **change}))
    assert main(["train", str(tmp_path / "job.json")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"deepcore train: error: {tmp_path / 'job.json'}: ")
    assert re.search(message, error), error


def test_csv_mistakes_in_predict_name_the_line(tmp_path, capsys):
    x = write_csv_data(tmp_path / "data.csv")
    (tmp_path / "tiny.json").write_text(json.dumps({**TINY_CONFIG, "fit": {"epochs": 1}}))
    with dc.use_backend("numpy"):
        assert main(["train", str(tmp_path / "tiny.json"), "--output", str(tmp_path / "m.deepcore")]) == 0
    (tmp_path / "gap.csv").write_text("1,2,3\n4,,6\n")
    assert main(["predict", str(tmp_path / "m.deepcore"), str(tmp_path / "gap.csv")]) == 2
    assert "gap.csv', line 2, column 2: a missing value" in capsys.readouterr().err
    np.savetxt(tmp_path / "wide.csv", np.column_stack([x, x]), delimiter=",")
    assert main(["predict", str(tmp_path / "m.deepcore"), str(tmp_path / "wide.csv")]) == 2
    assert "expects 3 features per row" in capsys.readouterr().err


def test_functional_models_in_check_and_predict(tmp_path, capsys):
    """A one-input, one-output graph is checked node by node and predicted from a CSV; a model
    with two inputs gets a clear refusal (exit 2), not a traceback."""
    from deepcore.layers import Add, Concatenate, Dense, Input
    from deepcore.models import Model

    with dc.use_backend("numpy"):
        inputs = Input((2,))
        hidden = Dense(3, activation="tanh", name="hidden")(inputs)
        graph = Model(inputs, Dense(1)(Add()([hidden, Dense(3, name="skip")(inputs)])))
        graph.compile(optimizer="adam", loss="mse")
        graph.save(tmp_path / "graph.deepcore")
        a, b = Input((2,), name="a"), Input((3,), name="b")
        two = Model([a, b], Dense(1)(Concatenate()([a, b])))
        two.compile(optimizer="adam", loss="mse")
        two.save(tmp_path / "two.deepcore")
    np.savetxt(tmp_path / "rows.csv", np.ones((3, 2)), delimiter=",", header="p,q", comments="")
    assert main(["check", str(tmp_path / "graph.deepcore"), "--backends", "numpy", "--reference", "golden"]) == 0
    assert "hidden" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "graph.deepcore"), str(tmp_path / "rows.csv")]) == 0
    assert capsys.readouterr().out.count("\n") == 4  # header and three predictions
    assert main(["check", str(tmp_path / "two.deepcore")]) == 2
    assert "several inputs or outputs" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "two.deepcore"), str(tmp_path / "rows.csv")]) == 2
    assert "several inputs or outputs" in capsys.readouterr().err
