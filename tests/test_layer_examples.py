"""The convolutional and sequence examples reach their stated goals, on every backend.

Each example's ``main(epochs)`` trains from a fixed seed on a fixed split and returns its test
metric; the thresholds are the examples' stated goals, not measured values.
"""

import pytest
from example_scripts import assert_runs_as_script, load


@pytest.mark.slow
def test_digits_cnn_reaches_97_percent_accuracy(backend):
    assert load("digits_cnn").main(epochs=20) >= 0.97


@pytest.mark.slow
def test_predictive_maintenance_halves_the_naive_error(backend):
    rmse, baseline = load("predictive_maintenance").main(epochs=10)
    assert rmse < 0.5 * baseline, f"test RMSE {rmse:.1f} vs predict-the-mean {baseline:.1f} cycles"


@pytest.mark.slow
def test_layer_examples_run_as_scripts_with_epochs_flag():
    """The command line works (one epoch: only that it runs and prints its metric)."""
    for name, metric in [("digits_cnn", "test accuracy"), ("predictive_maintenance", "test RMSE")]:
        assert_runs_as_script(name, metric)
