"""The real-data examples reach their held-out targets, on every backend.

Each example's ``main(epochs)`` trains from a fixed seed on a fixed split and returns its
test metric; the thresholds are the examples' stated goals, not measured values.
"""

import pytest
from example_scripts import assert_runs_as_script, load


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
        assert_runs_as_script(name, metric)
