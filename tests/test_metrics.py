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


def keras_auc_reference(y, p, w, num_thresholds, curve):
    """Keras's AUC written out on the host: weighted confusion counts at its thresholds, then the
    trapezoidal ROC area or Davis & Goadrich's PR interpolation (keras/src/metrics/confusion_metrics.py)."""
    thresholds = np.array([-1e-7, *[(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)], 1 + 1e-7])
    above = p[None, :] > thresholds[:, None]
    tp, fp = above @ (y * w), above @ ((1 - y) * w)
    fn, tn = np.sum(y * w) - tp, np.sum((1 - y) * w) - fp
    divide = lambda a, b: np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)  # noqa: E731
    if curve == "ROC":
        recall, fall_out = divide(tp, tp + fn), divide(fp, fp + tn)
        return np.sum((fall_out[:-1] - fall_out[1:]) * (recall[:-1] + recall[1:]) / 2)
    dtp = tp[:-1] - tp[1:]
    predicted = tp + fp
    slope = divide(dtp, np.maximum(predicted[:-1] - predicted[1:], 0))
    intercept = tp[1:] - slope * predicted[1:]
    both = (predicted[:-1] > 0) & (predicted[1:] > 0)
    ratio = np.where(both, divide(predicted[:-1], np.maximum(predicted[1:], 0)), 1.0)
    return np.sum(divide(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)))


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_auc_follows_kerass_formulas_and_approaches_sklearn(backend, curve, weighted):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400).astype(float)
    p = np.clip(0.35 * y + 0.65 * rng.random(400), 0, 1)
    w = rng.uniform(0.5, 2.0, 400) if weighted else np.ones(400)
    metric = dc.metrics.AUC(num_thresholds=50, curve=curve)
    for part in (slice(0, 150), slice(150, 400)):  # counts accumulate over batches
        update(backend, metric, y[part, None], p[part, None], w[part] if weighted else None)
    expected = keras_auc_reference(y, p, w, 50, curve)
    assert metric.result() == pytest.approx(expected, rel=1e-5)
    exact = (roc_auc_score if curve == "ROC" else average_precision_score)(y, p, sample_weight=w)
    assert metric.result() == pytest.approx(exact, abs=0.02)  # 50 thresholds: a coarse curve


def test_precision_and_recall_count_every_entry_and_select_a_class(backend):
    y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0]], dtype=float)
    p = np.array([[0.9, 0.2, 0.4], [0.7, 0.8, 0.6], [0.3, 0.1, 0.55]])
    predicted = p > 0.5
    tp, fp, fn = np.sum(predicted & (y == 1)), np.sum(predicted & (y == 0)), np.sum(~predicted & (y == 1))
    assert update(backend, dc.metrics.Precision(), y, p) == pytest.approx(tp / (tp + fp))
    assert update(backend, dc.metrics.Recall(), y, p) == pytest.approx(tp / (tp + fn))
    assert update(backend, dc.metrics.Precision(thresholds=[0.35, 0.85]), y, p) == pytest.approx([4 / 6, 1.0])
    assert update(backend, dc.metrics.Recall(class_id=2), y, p) == pytest.approx(1 / 2)  # 0.4 misses, 0.6 hits
    weighted = dc.metrics.Precision()
    assert update(backend, weighted, y, p, np.array([1.0, 2.0, 3.0])) == pytest.approx(
        (1 + 2 + 2) / (1 + 2 + 2 + 2 + 3))  # tp: one in row 1, two in row 2; fp: one in row 2, one in row 3


def test_root_mean_squared_error_is_the_root_of_the_running_mean(backend):
    metric = dc.metrics.RootMeanSquaredError()
    update(backend, metric, Y_TRUE[:2], Y_PROB[:2])
    assert update(backend, metric, Y_TRUE[2:], Y_PROB[2:]) == pytest.approx(
        np.sqrt(np.mean((Y_PROB - Y_TRUE) ** 2)), rel=RTOL)


def test_keras_class_names_resolve_with_kerass_log_names():
    names = [dc.metrics.get(n).name for n in ("AUC", "Precision", "Recall", "RootMeanSquaredError")]
    assert names == ["auc", "precision", "recall", "root_mean_squared_error"]
    assert dc.metrics.get("auc").name == "auc"


def test_confusion_metrics_train_and_save(backend, tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(64, 3))
    y = (x[:, 0] > 0).astype(float)
    model = dc.models.Sequential([dc.layers.Input((3,)), dc.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=dc.optimizers.Adam(0.1), loss="binary_crossentropy",
                  metrics=["AUC", dc.metrics.AUC(curve="PR", name="pr_auc"), "precision", "recall"])
    history = model.fit(x, y, epochs=5, validation_split=0.25, verbose=0)
    assert history.history["auc"][-1] > 0.9 and "val_pr_auc" in history.history
    model.save(tmp_path / "auc.deepcore")
    assert dc.models.load_model(tmp_path / "auc.deepcore").metrics_names == model.metrics_names


def test_auc_with_given_thresholds_adds_kerass_end_points_and_keeps_them_when_saved(backend):
    y = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], dtype=float)
    p = np.array([[0.2, 0.7], [0.6, 0.4], [0.9, 0.3], [0.1, 0.8]])
    metric = dc.metrics.AUC(thresholds=[0.3, 0.6])
    assert metric.num_thresholds == 4
    # Keras's curve through the thresholds -1e-7, 0.3, 0.6, 1 + 1e-7: (1, 1), (0.5, 0.75), (0.25, 0.5), (0, 0)
    assert update(backend, metric, y, p) == pytest.approx(0.5 * 0.875 + 0.25 * 0.625 + 0.25 * 0.25)
    rebuilt = dc.metrics.AUC(**metric.get_config())
    assert rebuilt.thresholds == metric.thresholds and update(backend, rebuilt, y, p) == metric.result()


def test_confusion_counts_summed_on_the_host_keep_accumulating(backend):
    """Data-parallel training replaces the counts by their sums over ranks (host numbers);
    later batches add to them on the device."""
    y, p = Y_TRUE, Y_PROB
    metric = dc.metrics.Precision()
    update(backend, metric, y, p)
    metric.set_host_state([2 * v for v in metric.host_state()])  # as if a second rank saw the same
    assert update(backend, metric, y, p) == pytest.approx(0.5)  # tp 3 x 1, fp 3 x 1


def test_the_progress_line_prints_a_metric_at_several_thresholds():
    from deepcore.callbacks.progbar import format_logs

    assert format_logs({"loss": 0.25, "precision": [0.5, 1e-5]}) == "loss: 0.2500 - precision: [0.5000, 1.0000e-05]"


LOSS_METRICS = [
    ("MeanAbsolutePercentageError", "mean_absolute_percentage_error", {}),
    ("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", {}),
    ("LogCoshError", "log_cosh", {}), ("BinaryCrossentropy", "binary_crossentropy", {"label_smoothing": 0.1}),
    ("CategoricalCrossentropy", "categorical_crossentropy", {"from_logits": True}),
    ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy", {}),
    ("KLDivergence", "kl_divergence", {}), ("Poisson", "poisson", {}), ("Hinge", "hinge", {}),
    ("SquaredHinge", "squared_hinge", {}), ("CategoricalHinge", "categorical_hinge", {}),
]


@pytest.mark.parametrize("metric_name, loss_name, kwargs", LOSS_METRICS, ids=[m[0] for m in LOSS_METRICS])
def test_metrics_named_after_losses_are_the_weighted_mean_of_the_loss(backend, metric_name, loss_name, kwargs):
    """Keras's loss metrics: the running weighted mean of the loss's per-sample values over
    batches (checked against the loss with reduction="none"), with the loss's arguments."""
    rng = np.random.default_rng(5)
    sparse = loss_name.startswith("sparse")
    y_true = (rng.integers(0, 3, size=8).astype(np.float32) if sparse
              else np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=8)])
    y_pred = rng.uniform(0.05, 0.95, size=(8, 3)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, size=8).astype(np.float32)
    metric = getattr(dc.metrics, metric_name)(**kwargs)
    for part in (slice(0, 5), slice(5, 8)):
        metric.update_state(backend.asarray(y_true[part]), backend.asarray(y_pred[part]), backend.asarray(weights[part]))
    loss = type(dc.losses.get(loss_name))(reduction="none", **kwargs)
    values = backend.to_numpy(loss(backend.asarray(y_true), backend.asarray(y_pred)))
    assert metric.result() == pytest.approx(float(np.sum(values * weights) / np.sum(weights)), rel=1e-5)
    assert dc.metrics.get(metric_name).name == dc.metrics.get(metric.name).name == metric.name
    assert type(dc.metrics.get(metric.name)).__name__ == metric_name
    assert {**metric.get_config()} == {"name": metric.name, **kwargs}


def test_cosine_similarity_metric_is_the_positive_cosine(backend):
    metric = dc.metrics.CosineSimilarity()
    metric.update_state(backend.asarray(np.array([[1.0, 0.0], [0.0, 2.0]])), backend.asarray(np.array([[2.0, 0.0], [1.0, 1.0]])))
    assert metric.result() == pytest.approx((1.0 + np.sqrt(0.5)) / 2.0)


def test_top_k_accuracies_count_ties_at_the_kth_score_as_in(backend):
    """As Keras's in_top_k: the target is in when fewer than k scores beat it."""
    y_pred = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.3], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], dtype=np.float32)
    classes = np.array([2, 0, 2, 0])
    expected = {1: [0.0, 1.0, 0.0, 0.0], 2: [1.0, 1.0, 0.0, 1.0]}  # row 4: 0.2 tied with 0.2, one score above
    for k, hits in expected.items():
        dense, sparse = dc.metrics.TopKCategoricalAccuracy(k=k), dc.metrics.get("sparse_top_k_categorical_accuracy")
        sparse.k = k
        dense.update_state(backend.asarray(np.eye(3, dtype=np.float32)[classes]), backend.asarray(y_pred))
        sparse.update_state(backend.asarray(classes), backend.asarray(y_pred))
        assert dense.result() == sparse.result() == pytest.approx(np.mean(hits))
    assert dc.metrics.TopKCategoricalAccuracy().k == 5 and dense.name == "top_k_categorical_accuracy"


def test_accuracy_class_counts_exact_matches(backend):
    metric = dc.metrics.Accuracy()
    metric.update_state(backend.asarray(np.array([[1.0], [2.0], [3.0], [4.0]])),
                        backend.asarray(np.array([[1.0], [2.0], [0.0], [4.0]])))
    assert metric.result() == pytest.approx(0.75) and metric.name == "accuracy"


def test_confusion_counts_are_the_weighted_counts_at_each_threshold(backend):
    y_true = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]], dtype=np.float32)
    y_pred = np.array([[0.9], [0.8], [0.3], [0.1], [0.6]], dtype=np.float32)
    weights = np.array([1.0, 2.0, 0.5, 1.0, 3.0], dtype=np.float32)
    expected = {"TruePositives": [4.0, 1.0], "FalsePositives": [2.0, 0.0],  # thresholds 0.5 and 0.85
                "TrueNegatives": [1.0, 3.0], "FalseNegatives": [0.5, 3.5]}
    for name, counts in expected.items():
        metric = getattr(dc.metrics, name)(thresholds=[0.5, 0.85])
        metric.update_state(backend.asarray(y_true), backend.asarray(y_pred), backend.asarray(weights))
        assert metric.result() == pytest.approx(counts), name
        single = dc.metrics.get(metric.name)
        single.update_state(backend.asarray(y_true), backend.asarray(y_pred), backend.asarray(weights))
        assert single.result() == pytest.approx(counts[0]), name


def _f_beta_reference(y_true, predicted, weights, beta, average):
    """Per class (or over everything for micro) weighted counts, then Keras's epsilons."""
    axis = None if average == "micro" else 0
    w = weights[:, None]
    tp, fp = np.sum(predicted * y_true * w, axis=axis), np.sum(predicted * (1 - y_true) * w, axis=axis)
    fn = np.sum((1 - predicted) * y_true * w, axis=axis)
    precision, recall = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    scores = (1 + beta**2) * precision * recall / (beta**2 * precision + recall + 1e-7)
    if average == "weighted":
        positives = np.sum(y_true * w, axis=0)
        return np.sum(scores * positives) / (positives.sum() + 1e-7)
    return np.mean(scores) if average else scores


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("beta, threshold", [(1.0, None), (2.0, 0.3)])
def test_f_beta_scores_follow_keras(backend, average, beta, threshold):
    rng = np.random.default_rng(6)
    y_true = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=30)]
    y_pred = rng.dirichlet(np.ones(4), size=30).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, size=30).astype(np.float32)
    metric = (dc.metrics.F1Score(average=average, threshold=threshold) if beta == 1.0
              else dc.metrics.FBetaScore(average=average, beta=beta, threshold=threshold))
    for part in (slice(0, 17), slice(17, 30)):
        metric.update_state(backend.asarray(y_true[part]), backend.asarray(y_pred[part]), backend.asarray(weights[part]))
    predicted = (y_pred > threshold if threshold else y_pred == y_pred.max(axis=1, keepdims=True)).astype(np.float64)
    expected = _f_beta_reference(y_true.astype(np.float64), predicted, weights.astype(np.float64), beta, average)
    assert np.asarray(metric.result()) == pytest.approx(expected, rel=1e-5)
    rebuilt = type(metric)(**{k: v for k, v in metric.get_config().items() if k != "name"})
    assert rebuilt.get_config() == metric.get_config()
    with pytest.raises(ValueError, match="average must be None"):
        dc.metrics.F1Score(average="samples")


def _r2_reference(y, y_pred, w):
    mean = np.sum(w[:, None] * y, axis=0) / np.sum(w)
    return 1.0 - np.sum(w[:, None] * (y - y_pred) ** 2, axis=0) / np.sum(w[:, None] * (y - mean) ** 2, axis=0)


def test_r2_score_follows_keras(backend):
    """Per output over every batch seen, then Keras's aggregations; adjusted with
    num_regressors over the samples with a nonzero weight."""
    rng = np.random.default_rng(7)
    y = rng.standard_normal((40, 3)).astype(np.float32)
    y_pred = (y + 0.5 * rng.standard_normal((40, 3))).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=40).astype(np.float32)
    w[:4] = 0.0  # four samples weigh nothing: n = 36 for the adjusted score
    per_output = _r2_reference(y.astype(np.float64), y_pred.astype(np.float64), w.astype(np.float64))
    totals = np.sum(w[:, None] * (y - np.sum(w[:, None] * y, axis=0) / w.sum()) ** 2, axis=0)
    cases = [({}, per_output.mean()), ({"class_aggregation": None}, per_output),
             ({"class_aggregation": "variance_weighted_average"}, np.sum(totals * per_output) / totals.sum()),
             ({"num_regressors": 5}, 1 - (1 - per_output.mean()) * 35 / 30)]
    for kwargs, expected in cases:
        metric = dc.metrics.R2Score(**kwargs)
        for part in (slice(0, 25), slice(25, 40)):
            metric.update_state(backend.asarray(y[part]), backend.asarray(y_pred[part]), backend.asarray(w[part]))
        assert np.asarray(metric.result()) == pytest.approx(expected, rel=1e-5), kwargs
    constant = dc.metrics.R2Score(class_aggregation=None)
    constant.update_state(backend.asarray(np.ones((5, 1), np.float32)), backend.asarray(np.zeros((5, 1), np.float32)))
    assert constant.result() == [0.0]  # constant targets: 0, as Keras
    few = dc.metrics.R2Score(num_regressors=10)
    few.update_state(backend.asarray(y[:5]), backend.asarray(y_pred[:5]))
    with pytest.warns(RuntimeWarning, match="more samples than num_regressors"):
        few.result()


@pytest.mark.parametrize("make", [lambda: dc.metrics.F1Score(), lambda: dc.metrics.F1Score(average="micro"),
                                  lambda: dc.metrics.R2Score(class_aggregation=None, num_regressors=1)],
                         ids=["f1", "f1-micro", "r2"])
def test_device_sum_metrics_add_up_over_ranks_through_their_host_state(backend, make):
    """What data-parallel training does: each rank's sums, added on the host, give the metric
    of all the data."""
    rng = np.random.default_rng(8)
    y_true = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=20)]
    y_pred = rng.dirichlet(np.ones(3), size=20).astype(np.float32)
    whole, first, second = make(), make(), make()
    whole.update_state(backend.asarray(y_true), backend.asarray(y_pred))
    first.update_state(backend.asarray(y_true[:12]), backend.asarray(y_pred[:12]))
    second.update_state(backend.asarray(y_true[12:]), backend.asarray(y_pred[12:]))
    first.set_host_state([a + b for a, b in zip(first.host_state(), second.host_state())])
    assert np.asarray(first.result()) == pytest.approx(np.asarray(whole.result()), rel=1e-6)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_auc_summation_methods_are_kerass_riemann_sums(backend, curve):
    """minoring/majoring: rectangles under the lower/upper of neighbouring curve points, from
    the confusion counts at Keras's thresholds (checked here with NumPy's own counting)."""
    rng = np.random.default_rng(9)
    labels = (rng.random(60) > 0.5).astype(np.float32)
    scores = np.clip(labels * 0.3 + rng.random(60) * 0.7, 0, 1).astype(np.float32)
    thresholds = np.array([-1e-7, *[(i + 1) / 9 for i in range(8)], 1 + 1e-7])
    above = scores[None, :] > thresholds[:, None]
    tp, fp = (above * labels).sum(1), (above * (1 - labels)).sum(1)
    fn, tn = labels.sum() - tp, (1 - labels).sum() - fp
    recall = tp / np.maximum(tp + fn, 1e-30)
    x, y = (fp / (fp + tn), recall) if curve == "ROC" else (recall, np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-30), 0.0))
    results = {}
    for method, height in (("minoring", np.minimum), ("majoring", np.maximum)):
        metric = dc.metrics.AUC(num_thresholds=10, curve=curve, summation_method=method)
        metric.update_state(backend.asarray(labels[:, None]), backend.asarray(scores[:, None]))
        results[method] = metric.result()
        assert results[method] == pytest.approx(np.sum((x[:-1] - x[1:]) * height(y[:-1], y[1:])), rel=1e-6)
        assert dc.metrics.AUC(**metric.get_config()).summation_method == method
    assert results["minoring"] <= results["majoring"]
    with pytest.raises(ValueError, match="summation_method must be"):
        dc.metrics.AUC(summation_method="trapezoid")


def test_correlation_metrics_average_each_samples_correlation(backend):
    """Keras 3: per sample along the last axis, then the (weighted) mean over samples;
    Pearson's against NumPy's corrcoef, Lin's concordance against its definition."""
    rng = np.random.default_rng(12)
    y = rng.standard_normal((10, 6)).astype(np.float32)
    y_pred = (0.7 * y + 0.5 * rng.standard_normal((10, 6)) + 0.3).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=10).astype(np.float32)
    pearson = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(y.astype(np.float64), y_pred.astype(np.float64))])
    mean_t, mean_p = y.mean(axis=1), y_pred.mean(axis=1)
    covariance = np.mean((y - mean_t[:, None]) * (y_pred - mean_p[:, None]), axis=1)
    concordance = 2 * covariance / (y.var(axis=1) + y_pred.var(axis=1) + (mean_t - mean_p) ** 2 + 1e-7)
    for metric, per_sample in ((dc.metrics.PearsonCorrelation(), pearson),
                               (dc.metrics.get("concordance_correlation"), concordance)):
        metric.update_state(backend.asarray(y), backend.asarray(y_pred), backend.asarray(w))
        assert metric.result() == pytest.approx(float(np.sum(per_sample * w) / np.sum(w)), rel=1e-5)


def test_iou_metrics_from_the_weighted_confusion_matrix(backend):
    """Per class tp / (tp + fp + fn) over the classes that occur; ids out of range and
    ignore_class count for nothing; the one-hot and binary variants choose classes first.
    Keras's names (io_u, mean_io_u...)."""
    true = np.array([0, 0, 1, 2, 2, 2, 1, 5], dtype=np.int64)  # 5 is out of range
    predicted = np.array([0, 1, 1, 2, 0, 2, 1, 0], dtype=np.int64)
    weights = np.array([1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 1.0, 3.0], dtype=np.float32)
    confusion = np.zeros((4, 4))
    for t, p, w in zip(true[:-1], predicted[:-1], weights[:-1]):
        confusion[t, p] += w
    tp = np.diag(confusion)
    denominator = confusion.sum(0) + confusion.sum(1) - tp
    per_class = tp / (denominator + 1e-7)
    occurring = denominator > 0
    mean = dc.metrics.MeanIoU(num_classes=4)
    mean.update_state(backend.asarray(true), backend.asarray(predicted), backend.asarray(weights))
    assert mean.result() == pytest.approx(per_class[occurring].sum() / occurring.sum(), rel=1e-5)
    assert mean.name == "mean_io_u"
    some = dc.metrics.IoU(num_classes=4, target_class_ids=[0, 2])
    some.update_state(backend.asarray(true), backend.asarray(predicted), backend.asarray(weights))
    assert some.result() == pytest.approx((per_class[0] + per_class[2]) / 2, rel=1e-5) and some.name == "io_u"
    one_hot = dc.metrics.OneHotMeanIoU(num_classes=4)  # (the out-of-range sample has no one-hot row)
    one_hot.update_state(backend.asarray(np.eye(4, dtype=np.float32)[true[:-1]]),
                         backend.asarray(np.eye(4, dtype=np.float32)[predicted[:-1]]), backend.asarray(weights[:-1]))
    assert one_hot.result() == pytest.approx(mean.result(), rel=1e-5)
    binary = dc.metrics.BinaryIoU(target_class_ids=[1], threshold=0.3)
    binary.update_state(backend.asarray(np.array([1.0, 0.0, 1.0, 0.0])), backend.asarray(np.array([0.4, 0.35, 0.2, 0.1])))
    assert binary.result() == pytest.approx(1 / 3, rel=1e-5)  # tp 1 of (tp 1 + fp 1 + fn 1)
    with pytest.raises(ValueError, match="target_class_ids must be in"):
        dc.metrics.IoU(num_classes=2, target_class_ids=[2])


def at_constraint_reference(y, p, w, value, num_thresholds, constrained, dependent):
    """Keras's SensitivitySpecificityBase on the host: counts at 0, 1/(n-1), ..., 1 (0.5 for
    n=1), then the best ``dependent`` rate where the ``constrained`` rate reaches ``value``."""
    thresholds = [0.5] if num_thresholds == 1 else np.linspace(0.0, 1.0, num_thresholds)
    above = p[None, :] > np.asarray(thresholds)[:, None]
    counts = {"tp": above @ (y * w), "fp": above @ ((1 - y) * w), "fn": ~above @ (y * w), "tn": ~above @ ((1 - y) * w)}
    ratio = lambda a, b: np.divide(counts[a], counts[a] + counts[b], out=np.zeros(len(thresholds)),  # noqa: E731
                                   where=counts[a] + counts[b] != 0)
    rates = {"recall": ratio("tp", "fn"), "precision": ratio("tp", "fp"), "specificity": ratio("tn", "fp")}
    feasible = rates[constrained] >= value
    return float(np.max(rates[dependent][feasible], initial=0.0))


AT_CONSTRAINT = [  # class, (constrained, dependent) rates, Keras's log name
    (dc.metrics.PrecisionAtRecall, ("recall", "precision"), "precision_at_recall"),
    (dc.metrics.RecallAtPrecision, ("precision", "recall"), "recall_at_precision"),
    (dc.metrics.SensitivityAtSpecificity, ("specificity", "recall"), "sensitivity_at_specificity"),
    (dc.metrics.SpecificityAtSensitivity, ("recall", "specificity"), "specificity_at_sensitivity"),
]


@pytest.mark.parametrize("cls, rates, name", AT_CONSTRAINT, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("value, num_thresholds", [(0.3, 200), (0.8, 7), (0.6, 1), (0.97, 50)])
def test_rate_at_a_constrained_rate_follows_keras(backend, cls, rates, name, value, num_thresholds):
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300).astype(float)
    p = np.clip(0.3 * y + 0.7 * rng.random(300), 0, 1)
    w = rng.uniform(0.5, 2.0, 300)
    metric = cls(value, num_thresholds=num_thresholds)
    assert metric.name == name
    for part in (slice(0, 100), slice(100, 300)):
        update(backend, metric, y[part, None], p[part, None], w[part])
    expected = at_constraint_reference(y, p, w, value, num_thresholds, *rates)
    assert 0.0 < expected and metric.result() == pytest.approx(expected, rel=1e-5)
    rebuilt = cls(**metric.get_config())  # Keras's keyword: PrecisionAtRecall(recall=...)
    assert (rebuilt.value, rebuilt.num_thresholds, rebuilt.name) == (value, num_thresholds, name)


def test_a_rate_of_exactly_one_is_reached_when_every_positive_is_found(backend):
    """At threshold 0 every positive is predicted positive: the recall is exactly 1 (each count
    is summed on its own; a total minus a count could leave a rounding residue)."""
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 96).astype(float)
    p, w = 0.1 + 0.9 * rng.random(96), rng.random(96)
    metric = dc.metrics.PrecisionAtRecall(recall=1.0, num_thresholds=7)
    for part in (slice(0, 32), slice(32, 64), slice(64, 96)):
        update(backend, metric, y[part, None], p[part, None], w[part])
    assert metric.result() == pytest.approx(np.sum(y * w) / np.sum(w), rel=1e-6)  # everything predicted positive


def test_rate_at_constraint_metrics_refuse_bad_arguments():
    with pytest.raises(ValueError, match=r"recall must be in \[0, 1\]"):
        dc.metrics.PrecisionAtRecall(1.5)
    with pytest.raises(TypeError, match="needs precision="):
        dc.metrics.get("RecallAtPrecision")
    with pytest.raises(ValueError, match="num_thresholds must be a positive integer"):
        dc.metrics.SpecificityAtSensitivity(0.5, num_thresholds=0)
