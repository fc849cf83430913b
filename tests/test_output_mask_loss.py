"""A mask that reaches the model's output weights the loss, Keras 3's rule (``apply_mask``):
masked entries add nothing and get no gradient, and ``sum_over_batch_size`` divides by the
number of real entries. Compiled mean metrics (accuracy) count only real entries, weighted by
the sample weights in weighted_metrics, as Keras 3.15 (checked against it: a tagger's masked
accuracy 0.30 where every position gives 0.354). The model: a tagger, one label per token,
padded with id 0."""

from __future__ import annotations

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import LSTM, Dense, Embedding
from deepcore.models import Sequential

LENGTHS = [5, 2, 4]  # real tokens per sequence; the rest is padding id 0
STEPS, VOCAB, CLASSES = 6, 9, 3
EPSILON = 1e-7  # Keras's probability clip


def padded_batch() -> tuple[np.ndarray, np.ndarray]:
    """Token ids ``(3, STEPS)`` padded after the real tokens, and a label for every position
    (the padded positions' labels are arbitrary)."""
    rng = np.random.default_rng(0)
    ids = np.zeros((len(LENGTHS), STEPS), dtype=np.int64)
    for row, n in enumerate(LENGTHS):
        ids[row, :n] = rng.integers(1, VOCAB, n)
    return ids, rng.integers(0, CLASSES, ids.shape)


def tagger(loss="sparse_categorical_crossentropy", seed: int = 3) -> Sequential:
    dc.set_floatx("float64")
    dc.utils.set_random_seed(seed)
    model = Sequential([Embedding(VOCAB, 4, mask_zero=True, input_shape=(None,)),
                        LSTM(5, return_sequences=True), Dense(CLASSES, activation="softmax")])
    model.compile(optimizer=dc.optimizers.SGD(0.5), loss=loss, metrics=["accuracy"], weighted_metrics=["accuracy"])
    return model


def per_entry_losses(model, ids, labels) -> np.ndarray:
    """The independent reference: -log(clipped p of the label) at every position."""
    p = model.predict(ids, verbose=0)
    chosen = np.take_along_axis(p, labels[..., None], axis=-1)[..., 0]
    return -np.log(np.clip(chosen, EPSILON, 1.0 - EPSILON))


def test_the_loss_averages_over_the_real_entries_only(backend):
    model = tagger()
    ids, labels = padded_batch()
    real = ids != 0
    expected = per_entry_losses(model, ids, labels)[real].mean()
    assert model.evaluate(ids, labels, verbose=0, return_dict=True)["loss"] == pytest.approx(expected, rel=1e-12)


def test_labels_at_padded_positions_change_nothing(backend):
    """Same weights, labels that differ only where the input is padding: the same loss, the
    same weights after a training step (bit for bit: masked entries are multiplied by 0)."""
    ids, labels = padded_batch()
    other = np.where(ids != 0, labels, (labels + 1) % CLASSES)
    first, second = tagger(), tagger()
    loss_first = first.train_on_batch(ids, labels, return_dict=True)["loss"]
    loss_second = second.train_on_batch(ids, other, return_dict=True)["loss"]
    assert loss_first == loss_second
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_all_padding_batch_costs_nothing(backend):
    model = tagger()
    ids = np.zeros((2, STEPS), dtype=np.int64)
    labels = np.ones((2, STEPS), dtype=np.int64)
    assert model.evaluate(ids, labels, verbose=0, return_dict=True)["loss"] == 0.0


def test_sample_weights_and_the_mask_multiply(backend):
    """Loss: sum(value * weight) over real entries / their count. Weighted accuracy (Keras 3's
    weighted_metrics): sum(hit * weight) / sum(weight) over real entries; the plain accuracy
    ignores the weights (Keras 3's metrics get no sample weight) but not the mask."""
    model = tagger()
    ids, labels = padded_batch()
    real = ids != 0
    weights = np.array([1.0, 3.0, 0.5])
    values = per_entry_losses(model, ids, labels)
    expected_loss = (values * weights[:, None])[real].sum() / real.sum()
    hits = (model.predict(ids, verbose=0).argmax(axis=-1) == labels).astype(float)
    weighted = weights[:, None] * real
    expected_accuracy = (hits * weighted).sum() / weighted.sum()
    logs = model.evaluate(ids, labels, sample_weight=weights, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(expected_loss, rel=1e-12)
    assert logs["weighted_accuracy"] == pytest.approx(expected_accuracy, rel=1e-12)
    assert logs["accuracy"] == pytest.approx(hits[real].mean(), rel=1e-12)
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy"]


def test_mean_metrics_count_only_real_positions(backend):
    """Keras 3.15: mean metrics (accuracy, mse...) weight by the output mask even without
    sample weights (its RootMeanSquaredError and confusion metrics do not: uses_output_mask)."""
    model = tagger()
    ids, labels = padded_batch()
    real = ids != 0
    hits = model.predict(ids, verbose=0).argmax(axis=-1) == labels
    logs = model.evaluate(ids, labels, verbose=0, return_dict=True)
    assert hits[real].mean() != hits.mean()  # the mask matters here
    assert logs["accuracy"] == pytest.approx(hits[real].mean(), rel=1e-12)
    assert not dc.metrics.RootMeanSquaredError().takes_output_mask() and not dc.metrics.AUC().takes_output_mask()


def test_a_metric_with_its_own_update_state_gets_no_mask(backend):
    """Keras 3 gives a user's metric sample_weight=None under metrics= (checked against 3.15.1);
    the mask went to it as weights of another shape and broke its update."""

    class SequenceError(dc.metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            assert sample_weight is None
            self.total = self.total + float(backend.xp.sum(y_pred))
            self.count += 1

    model = tagger()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[SequenceError(name="seq")])
    ids, labels = padded_batch()
    assert model.evaluate(ids, labels, verbose=0, return_dict=True)["seq"] == pytest.approx(
        float(model.predict(ids, verbose=0).sum()), rel=1e-9)


def test_the_sum_reduction_is_not_rescaled(backend):
    model = tagger(loss=dc.losses.SparseCategoricalCrossentropy(reduction="sum"))
    ids, labels = padded_batch()
    expected = per_entry_losses(model, ids, labels)[ids != 0].sum()
    assert model.evaluate(ids, labels, verbose=0, return_dict=True)["loss"] == pytest.approx(expected, rel=1e-12)


def test_per_timestep_sample_weights_weigh_each_step(backend):
    """Keras's temporal sample weights, (batch, timesteps): each real step's loss is weighted
    by its own weight, the mask still applies."""
    model = tagger()
    ids, labels = padded_batch()
    real = ids != 0
    weights = np.random.default_rng(4).random(ids.shape)
    values = per_entry_losses(model, ids, labels)
    expected = (values * weights)[real].sum() / real.sum()
    logs = model.evaluate(ids, labels, sample_weight=weights, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-12)
    hits = (model.predict(ids, verbose=0).argmax(axis=-1) == labels).astype(float)
    assert logs["weighted_accuracy"] == pytest.approx((hits * weights * real).sum() / (weights * real).sum(),
                                                      rel=1e-12)
    model.fit(ids, labels, sample_weight=weights, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="sample_weight has 2 entries but the data has 3 samples"):
        model.evaluate(ids, labels, sample_weight=weights[:2], verbose=0)
