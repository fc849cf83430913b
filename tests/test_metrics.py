"""Metrics: per-sample values, weighted running means, and Keras's accuracy resolution."""

import numpy as np
import pytest

import deepcore as dc

Y_TRUE = np.array([[1.0], [0.0], [1.0], [0.0]])
Y_PROB = np.array([[0.9], [0.6], [0.4], [0.1]])
WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0])
# float32 sums of four terms: a few ulps.
RTOL = 8 * float(np.finfo(np.float32).eps)


def update(backend, metric, y_true, y_pred, weights=None):
    as_device = lambda a: None if a is None else backend.asarray(a, dtype=backend.dtype())  # noqa: E731
    metric.update_state(as_device(y_true), as_device(y_pred), as_device(weights))
    return metric.result()


@pytest.mark.parametrize(
    "metric_class, expected",
    [
        (dc.metrics.BinaryAccuracy, np.mean([1, 0, 0, 1])),
        (dc.metrics.MeanSquaredError, np.mean((Y_PROB - Y_TRUE) ** 2)),
        (dc.metrics.MeanAbsoluteError, np.mean(np.abs(Y_PROB - Y_TRUE))),
    ],
    ids=["binary_accuracy", "mse", "mae"],
)
def test_unweighted_means(backend, metric_class, expected):
    assert update(backend, metric_class(), Y_TRUE, Y_PROB) == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("weight_shape", [(4,), (4, 1)])
def test_weighted_mean_never_broadcasts_to_n_by_n(backend, weight_shape):
    per_sample = (Y_PROB - Y_TRUE)[:, 0] ** 2
    expected = np.sum(per_sample * WEIGHTS) / np.sum(WEIGHTS)
    got = update(backend, dc.metrics.MeanSquaredError(), Y_TRUE, Y_PROB, WEIGHTS.reshape(weight_shape))
    assert got == pytest.approx(expected, rel=RTOL)


def test_running_mean_over_batches_and_reset(backend):
    metric = dc.metrics.BinaryAccuracy()
    update(backend, metric, Y_TRUE[:2], Y_PROB[:2])  # 1 of 2 right
    assert update(backend, metric, Y_TRUE[2:], Y_PROB[2:]) == pytest.approx(0.5)  # 1 of 2 right
    metric.reset_state()
    assert metric.result() == 0.0


def test_categorical_and_sparse_accuracy(backend):
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    labels = np.array([1, 2, 2])
    one_hot = np.eye(3)[labels]
    assert update(backend, dc.metrics.SparseCategoricalAccuracy(), labels, probabilities) == pytest.approx(2 / 3)
    assert update(backend, dc.metrics.CategoricalAccuracy(), one_hot, probabilities) == pytest.approx(2 / 3)


def test_sequence_outputs_average_over_every_entry(backend):
    """(batch, timesteps) values, as a tagger gives: the mean of all entries (Keras: per-sample
    means, then their mean; the same with equal lengths), never more than 1 for an accuracy."""
    probabilities = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [[0.3, 0.7], [0.1, 0.9], [0.5, 0.5]]])
    labels = np.array([[0, 1, 1], [1, 0, 0]])  # right: 2 of 3, then 2 of 3 (0.5/0.5: the first wins)
    assert update(backend, dc.metrics.SparseCategoricalAccuracy(), labels, probabilities) == pytest.approx(4 / 6)


@pytest.mark.parametrize(
    "loss, expected",
    [
        ("binary_crossentropy", dc.metrics.BinaryAccuracy),
        ("categorical_crossentropy", dc.metrics.CategoricalAccuracy),
        ("sparse_categorical_crossentropy", dc.metrics.SparseCategoricalAccuracy),
    ],
)
def test_accuracy_string_follows_the_loss(loss, expected):
    metric = dc.metrics.get("accuracy", loss)
    assert type(metric) is expected and metric.name == "accuracy"


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match="Valid metrics:.*binary_accuracy"):
        dc.metrics.get("precision_at_42")
