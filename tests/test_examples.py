"""The real-data examples reach their held-out targets, on every backend.

Each example's ``main(epochs)`` trains from a fixed seed on a fixed split and returns its
test metric; the thresholds are the examples' stated goals, not measured values.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_breast_cancer_reaches_95_percent_accuracy(backend):
    assert load("breast_cancer").main(epochs=30) >= 0.95


@pytest.mark.slow
def test_digits_mlp_reaches_95_percent_accuracy(backend):
    assert load("digits_mlp").main(epochs=20) >= 0.95


@pytest.mark.slow
def test_diabetes_regression_clearly_beats_the_mean_baseline(backend):
    mae, baseline = load("diabetes_regression").main(epochs=50)
    assert mae < 0.85 * baseline, f"test MAE {mae:.2f} vs predict-the-mean {baseline:.2f}"


@pytest.mark.slow
def test_examples_run_as_scripts_with_epochs_flag():
    """The command line works (one epoch: only that it runs and prints its metric)."""
    for name, metric in [("breast_cancer", "test accuracy"), ("digits_mlp", "test accuracy"),
                         ("diabetes_regression", "test MAE")]:
        result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--epochs", "1"],
                                capture_output=True, text=True, timeout=120,
                                env={**os.environ, "DEEPCORE_BACKEND": "numpy"})
        assert result.returncode == 0, result.stderr
        assert metric in result.stdout
