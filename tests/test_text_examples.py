"""The sequence examples learn: the character model beats a unigram model, the bracket
classifier beats the majority class and anything blind to order.

Reduced epochs, on the NumPy backend only: these check that the examples train end to end on
text and sequences (the recurrent layers themselves are tested on every backend in
test_recurrent_layers.py). The thresholds follow from the baselines, not from measured values.
"""

import pytest
from example_scripts import assert_runs_as_script, load

import deepcore as dc


@pytest.mark.slow
def test_char_model_beats_the_unigram_baseline_and_samples_from_its_vocabulary(capsys):
    example = load("text_char_model")
    with dc.use_backend("numpy"):
        loss, baseline = example.main(epochs=2, text_chars=60_000, sample_length=80)
    # A unigram model knows each character's frequency and nothing else; 15% fewer nats per
    # character (perplexity about 25 -> 16 on this text) needs the preceding characters.
    assert loss < 0.85 * baseline, f"held-out {loss:.3f} nats/char vs unigram {baseline:.3f}"
    generated = capsys.readouterr().out.splitlines()[-1]  # the sample is printed last, one line
    assert len(generated) == 80
    assert set(generated) <= set(example.load_text(60_000))


@pytest.mark.slow
def test_bracket_classifier_beats_the_majority_class_and_order_blind_models():
    example = load("sequence_classification")
    with dc.use_backend("numpy"):
        accuracy, majority = example.main(epochs=5)
    # Balanced sequences and shuffled negatives have the same bracket counts, so a model blind
    # to order can only tell apart the replaced-bracket negatives (a quarter of the data) and
    # reaches at most 0.75; the majority class is about 0.5.
    assert 0.4 < majority < 0.6
    assert accuracy >= 0.85, f"held-out accuracy {accuracy:.4f} vs majority class {majority:.4f}"


def test_bracket_data_are_labelled_by_the_definition():
    example = load("sequence_classification")
    assert example.is_balanced("([])[]") and not example.is_balanced("([)]")
    assert not example.is_balanced(")(") and not example.is_balanced("((")
    x, y = example.make_dataset(400, seed=1)
    sequences = ["".join(example.VOCABULARY[i] for i in row) for row in x]
    assert len(set(sequences)) == 400
    assert [float(example.is_balanced(s)) for s in sequences] == list(y)
    assert y.mean() == 0.5


@pytest.mark.slow
def test_text_examples_run_as_scripts_with_epochs_flag():
    """The command line works (one epoch: only that it runs and prints its metric)."""
    for name, metric in [("text_char_model", "held-out cross-entropy"),
                         ("sequence_classification", "held-out accuracy")]:
        assert_runs_as_script(name, metric)
