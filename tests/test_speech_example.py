"""The speech example (synthetic vowels, log spectrogram, Conv1D) reaches its stated goal, on
every backend; the threshold is the example's goal (chance is 0.2), not a measured value."""

import pytest
from example_scripts import assert_runs_as_script, load


@pytest.mark.slow
def test_speech_vowels_reaches_90_percent_accuracy(backend):
    assert load("speech_vowels").main(epochs=5) >= 0.9


@pytest.mark.slow
def test_speech_vowels_runs_as_a_script_with_epochs_flag():
    """The command line works (one epoch: only that it runs and prints its metric)."""
    assert_runs_as_script("speech_vowels", "test accuracy")
