"""Loss values against an independent float64 NumPy reference, Keras 3 semantics (clipping,
label smoothing, reductions, hinge labels), Keras's own test values, extreme inputs and dtype
preservation, on every backend."""

from __future__ import annotations

import decimal
import math
import warnings

import array_api_compat
import numpy as np
import pytest
from loss_data import random_targets

from deepcore import losses

EPSILON = 1e-7  # Keras's fuzz factor: probabilities are clipped to [1e-7, 1 - 1e-7]


# --- the reference, written from the Keras 3 formulas in float64 ------------------------------

def reference_per_sample(name: str, kwargs: dict, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    smoothing = kwargs.get("label_smoothing", 0.0)
    logits = kwargs.get("from_logits", False)
    if name == "sparse_categorical_crossentropy":
        name, t = "categorical_crossentropy", np.eye(p.shape[-1])[t.reshape(-1).astype(int)]
    if name == "mean_squared_error":
        return np.mean((p - t) ** 2, axis=-1)
    if name == "mean_absolute_error":
        return np.mean(np.abs(p - t), axis=-1)
    if name == "huber":
        delta, error = kwargs.get("delta", 1.0), p - t
        quadratic = np.minimum(np.abs(error), delta)  # 0.5 q^2 + delta (|e| - q): Keras's test form
        return np.mean(0.5 * quadratic**2 + delta * (np.abs(error) - quadratic), axis=-1)
    if name in ("hinge", "squared_hinge"):
        signed = 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t
        margin = np.maximum(1.0 - signed * p, 0.0)
        return np.mean(margin if name == "hinge" else margin**2, axis=-1)
    if name == "mean_absolute_percentage_error":
        return 100.0 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPSILON)), axis=-1)
    if name == "mean_squared_logarithmic_error":
        return np.mean((np.log1p(np.maximum(p, EPSILON)) - np.log1p(np.maximum(t, EPSILON))) ** 2, axis=-1)
    if name == "poisson":
        return np.mean(p - t * np.log(p + EPSILON), axis=-1)
    if name == "log_cosh":
        return np.mean(np.log(np.cosh(p - t)), axis=-1)
    if name == "cosine_similarity":
        unit = lambda a: a / np.sqrt(np.maximum(np.sum(a * a, axis=-1, keepdims=True), 1e-12))  # noqa: E731
        return -np.sum(unit(t) * unit(p), axis=-1)
    if name == "kl_divergence":
        tc, pc = np.clip(t, EPSILON, 1.0), np.clip(p, EPSILON, 1.0)
        return np.sum(tc * np.log(tc / pc), axis=-1)
    if name == "binary_crossentropy":
        t = t * (1.0 - smoothing) + 0.5 * smoothing
        prob = 1.0 / (1.0 + np.exp(-p)) if logits else np.clip(p, EPSILON, 1.0 - EPSILON)
        return np.mean(-(t * np.log(prob) + (1.0 - t) * np.log(1.0 - prob)), axis=-1)
    if name == "categorical_crossentropy":
        t = t * (1.0 - smoothing) + smoothing / p.shape[-1]
        if logits:
            prob = np.exp(p) / np.exp(p).sum(axis=-1, keepdims=True)
        else:
            prob = np.clip(p / p.sum(axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
        return -np.sum(t * np.log(prob), axis=-1)
    if name == "categorical_hinge":
        return np.maximum(np.max((1.0 - t) * p, axis=-1) - np.sum(t * p, axis=-1) + 1.0, 0.0)
    if name == "binary_focal_crossentropy":
        t = t * (1.0 - smoothing) + 0.5 * smoothing
        prob = 1.0 / (1.0 + np.exp(-p)) if logits else p
        clipped = np.clip(prob, EPSILON, 1.0 - EPSILON)
        bce = -(t * np.log(clipped) + (1.0 - t) * np.log(1.0 - clipped))
        focal = (1.0 - (t * prob + (1.0 - t) * (1.0 - prob))) ** kwargs.get("gamma", 2.0)
        alpha = kwargs.get("alpha", 0.25)
        weight = t * alpha + (1.0 - t) * (1.0 - alpha) if kwargs.get("apply_class_balancing") else 1.0
        return np.mean(weight * focal * bce, axis=-1)
    if name == "categorical_focal_crossentropy":
        t = t * (1.0 - smoothing) + smoothing / p.shape[-1]
        prob = np.exp(p) / np.exp(p).sum(axis=-1, keepdims=True) if logits else p
        clipped = np.clip(prob / prob.sum(axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
        modulating = (1.0 - clipped) ** kwargs.get("gamma", 2.0)
        return np.sum(kwargs.get("alpha", 0.25) * modulating * -t * np.log(clipped), axis=-1)
    raise AssertionError(f"no reference for {name}")


def reference_loss(name, kwargs, t, p, sample_weight=None, reduction="sum_over_batch_size"):
    values = reference_per_sample(name, kwargs, t, p)
    if sample_weight is not None:
        values = values * np.reshape(sample_weight, values.shape)
    if reduction == "none":
        return values
    return values.sum() / (values.size if reduction == "sum_over_batch_size" else 1)


N, C = 5, 4
CASES = [
    ("mean_squared_error", {}), ("mean_absolute_error", {}), ("huber", {}), ("huber", {"delta": 0.4}),
    ("hinge", {}), ("kl_divergence", {}), ("squared_hinge", {}), ("mean_absolute_percentage_error", {}),
    ("mean_squared_logarithmic_error", {}), ("poisson", {}), ("log_cosh", {}), ("cosine_similarity", {}),
    ("binary_crossentropy", {}), ("binary_crossentropy", {"from_logits": True}),
    ("binary_crossentropy", {"label_smoothing": 0.2}),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.2}),
    ("categorical_crossentropy", {}), ("categorical_crossentropy", {"from_logits": True}),
    ("categorical_crossentropy", {"label_smoothing": 0.1}),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("sparse_categorical_crossentropy", {}), ("sparse_categorical_crossentropy", {"from_logits": True}),
    ("categorical_hinge", {}), ("binary_focal_crossentropy", {}),
    ("binary_focal_crossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5}),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("categorical_focal_crossentropy", {}), ("categorical_focal_crossentropy", {"gamma": 0.0, "alpha": 1.0}),
    ("categorical_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.1, "alpha": 0.5}),
]


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def data_for(name: str, kwargs: dict, rng) -> tuple[np.ndarray, np.ndarray]:
    t = random_targets(name, rng, N, C)
    if kwargs.get("from_logits"):
        p = rng.uniform(-6.0, 6.0, size=(N, C))
    elif "crossentropy" in name or name in ("kl_divergence", "poisson"):
        p = rng.uniform(0.01, 0.99, size=(N, C))
    else:
        p = rng.standard_normal((N, C)) * 2.0
    return t, p


def make(name, kwargs, **extra) -> losses.Loss:
    return type(losses.get(name))(**kwargs, **extra)


def on(backend, host, dtype_name="float64"):
    return backend.asarray(np.asarray(host), dtype=backend.dtype(dtype_name))


def tolerance(dtype_name: str) -> float:
    """64 eps: a few roundings in each of the ~10 operations per value, and in the mean."""
    return 64 * float(np.finfo(dtype_name).eps)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_values_match_reference(backend, case, reduction, dtype_name):
    name, kwargs = case
    t, p = data_for(name, kwargs, np.random.default_rng(0))
    # The reference sees exactly the values the backend sees (rounded to dtype_name first).
    t, p = t.astype(dtype_name).astype(np.float64), p.astype(dtype_name).astype(np.float64)
    got = make(name, kwargs, reduction=reduction)(on(backend, t, dtype_name), on(backend, p, dtype_name))
    want = reference_loss(name, kwargs, t, p, reduction=reduction)
    np.testing.assert_allclose(backend.to_numpy(got), want, rtol=tolerance(dtype_name),
                               atol=tolerance(dtype_name))


@pytest.mark.parametrize("weight_shape", [(N,), (N, 1)], ids=["(n,)", "(n,1)"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sample_weighted_values_match_reference(backend, case, reduction, weight_shape):
    """Weights ``(n,)`` and ``(n, 1)`` weight each sample (never broadcast to ``(n, n)``),
    with every reduction, ``none`` included."""
    name, kwargs = case
    rng = np.random.default_rng(1)
    t, p = data_for(name, kwargs, rng)
    weights = rng.uniform(0.0, 3.0, size=weight_shape)
    got = make(name, kwargs, reduction=reduction)(on(backend, t), on(backend, p), on(backend, weights))
    want = reference_loss(name, kwargs, t, p, weights, reduction)
    np.testing.assert_allclose(backend.to_numpy(got), want, rtol=tolerance("float64"))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_scalar_sample_weight_scales_the_loss(backend, case):
    name, kwargs = case
    t, p = data_for(name, kwargs, np.random.default_rng(2))
    got = float(make(name, kwargs)(on(backend, t), on(backend, p), sample_weight=2.3))
    np.testing.assert_allclose(got, 2.3 * reference_loss(name, kwargs, t, p), rtol=tolerance("float64"))


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "huber", "hinge",
                                  "binary_crossentropy", "kl_divergence"])
def test_targets_n_and_n1_give_the_same_loss(backend, name):
    """A single-output model's ``(n, 1)`` predictions with ``(n,)`` or ``(n, 1)`` targets."""
    t, p = data_for(name, {}, np.random.default_rng(3))
    t, p = t[:, :1], p[:, :1]
    loss = losses.get(name)
    as_column = float(loss(on(backend, t), on(backend, p)))
    as_vector = float(loss(on(backend, t.reshape(-1)), on(backend, p)))
    assert as_column == as_vector
    np.testing.assert_allclose(as_column, reference_loss(name, {}, t, p), rtol=tolerance("float64"))


def test_sparse_targets_n_and_n1_give_the_same_loss(backend):
    t, p = data_for("sparse_categorical_crossentropy", {}, np.random.default_rng(4))
    loss = losses.SparseCategoricalCrossentropy()
    assert float(loss(on(backend, t), on(backend, p))) == float(loss(on(backend, t[:, None]), on(backend, p)))


# --- Keras semantics, spelled out ---------------------------------------------------------------

def test_probabilities_are_clipped_to_epsilon(backend):
    """p = 0 and p = 1 are read as 1e-7 and 1 - 1e-7: -log(1e-7) = 16.118... per wrong label."""
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.0, 1.0], [1.0, 0.0]])  # every label completely wrong
    bce = float(losses.BinaryCrossentropy()(on(backend, t), on(backend, p)))
    # p = 1 with t = 0 costs -log(1 - (1 - 1e-7)): 1 - 1e-7 is rounded in float64 first.
    expected = (-math.log(EPSILON) - math.log(1.0 - (1.0 - EPSILON))) / 2
    assert bce == pytest.approx(expected, rel=tolerance("float64"))
    cce = backend.to_numpy(losses.CategoricalCrossentropy(reduction="none")(on(backend, t), on(backend, p)))
    np.testing.assert_allclose(cce, [-math.log(EPSILON)] * 2, rtol=tolerance("float64"))
    right = float(losses.BinaryCrossentropy()(on(backend, t), on(backend, t)))
    assert right == pytest.approx(-math.log(1.0 - EPSILON), rel=1e-9)


def test_label_smoothing_formulas(backend):
    t = np.array([[1.0, 0.0, 0.0, 1.0]])
    p = np.array([[0.7, 0.2, 0.4, 0.9]])
    s = 0.2
    bce = float(losses.BinaryCrossentropy(label_smoothing=s)(on(backend, t), on(backend, p)))
    t_bce = t * (1 - s) + s / 2  # binary: towards 1/2
    assert bce == pytest.approx(np.mean(-(t_bce * np.log(p) + (1 - t_bce) * np.log(1 - p))), rel=1e-14)
    q = np.array([[0.1, 0.6, 0.3]])
    t3 = np.array([[0.0, 1.0, 0.0]])
    cce = float(losses.CategoricalCrossentropy(label_smoothing=s)(on(backend, t3), on(backend, q)))
    t_cce = t3 * (1 - s) + s / 3  # categorical: towards 1 / classes
    assert cce == pytest.approx(-np.sum(t_cce * np.log(q)), rel=1e-14)


def test_sum_over_batch_size_divides_by_the_number_of_values(backend):
    """(n, t, features) inputs: per-value losses (n, t) summed, divided by n * t."""
    rng = np.random.default_rng(5)
    t, p = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    got = float(losses.MeanSquaredError()(on(backend, t), on(backend, p)))
    assert got == pytest.approx(np.mean((p - t) ** 2, axis=-1).sum() / 12, rel=1e-14)
    summed = float(losses.MeanSquaredError(reduction="sum")(on(backend, t), on(backend, p)))
    assert summed == pytest.approx(np.mean((p - t) ** 2, axis=-1).sum(), rel=1e-14)


def test_categorical_hinge_ties_give_the_first_wrong_class_the_gradient(backend):
    """max((1 - t) * p) picks one entry: on a tie the first (as for Maximum), so the gradient
    is -t there plus 1 on that single entry; a margin at or below 0 gives none."""
    t = on(backend, [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    p = on(backend, [[0.5, 0.8, 0.8, 0.1], [0.2, 3.0, 0.2, 0.2]])
    value, backprop = losses.CategoricalHinge(reduction="sum").forward(t, p)
    assert float(value) == pytest.approx(1.3)  # 0.8 - 0.5 + 1; the second sample's margin is -1.8
    np.testing.assert_array_equal(backend.to_numpy(backprop()), [[-1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])


def test_hinge_label_mapping(backend):
    p = np.array([[0.3, -0.4, 0.6]])
    hinge = losses.Hinge()
    zero_one = float(hinge(on(backend, [[0.0, 1.0, 1.0]]), on(backend, p)))
    minus_one_one = float(hinge(on(backend, [[-1.0, 1.0, 1.0]]), on(backend, p)))
    assert zero_one == minus_one_one == pytest.approx(np.mean([1.3, 1.4, 0.4]), rel=1e-15)
    # Not all labels in {0, 1}: used as given (Keras), so the 0 label contributes max(1 - 0, 0).
    mixed = float(hinge(on(backend, [[-1.0, 0.0, 1.0]]), on(backend, p)))
    assert mixed == pytest.approx(np.mean([1.3, 1.0, 0.4]), rel=1e-15)


# --- Keras's own test values (keras-team/keras, keras/src/losses/losses_test.py) ---------------

Y6_TRUE = [[1, 9, 2], [-5, -2, 6]]
Y6_PRED = [[4, 8, 12], [8, 1, 3]]
KERAS_CASES = [
    # MeanSquaredErrorTest.test_unweighted / test_sample_weighted
    ("mse", {}, Y6_TRUE, Y6_PRED, None, 49.5),
    ("mse", {}, Y6_TRUE, Y6_PRED, [[1.2], [3.4]], 767.8 / 6),
    ("mse", {}, Y6_TRUE, Y6_PRED, 2.3, 113.85),
    # MeanAbsoluteErrorTest.test_unweighted / test_sample_weighted
    ("mae", {}, Y6_TRUE, Y6_PRED, None, 5.5),
    ("mae", {}, Y6_TRUE, Y6_PRED, [[1.2], [3.4]], 81.4 / 6),
    # HingeTest.test_unweighted / test_weighted
    ("hinge", {}, [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]], None, 1.3),
    ("hinge", {"reduction": "sum"}, [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]], None, 2.6),
    ("hinge", {}, [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]], [1.0, 0.0], 0.55),
    # Worked by hand from Keras 3's formulas (its tests use random or larger inputs):
    # squared hinge: labels 0/1 -> -1/1; margins [1.6, 0.6], [1.4, 1.6] squared, means 1.46, 2.26
    ("squared_hinge", {}, [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]], None, (1.46 + 2.26) / 2),
    # mape: |1 - 2| / 1, |4 - 2| / 4 -> 100 * mean([1, 0.5])
    ("mape", {}, [[1.0, 4.0]], [[2.0, 2.0]], None, 75.0),
    # poisson: mean(p - t log p) with p = e: (e - 1 + e - 2) / 2
    ("poisson", {}, [[1.0, 2.0]], [[math.e, math.e]], None, math.e - 1.5),
    # cosine similarity of parallel and of orthogonal rows: -1 and 0, mean -0.5
    ("cosine_similarity", {}, [[1.0, 1.0], [1.0, 0.0]], [[2.0, 2.0], [0.0, 3.0]], None, -0.5),
    # BinaryCrossentropyTest.test_unweighted
    ("binary_crossentropy", {}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
     [[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], None, 0.20046903),
    ("binary_crossentropy", {"from_logits": True}, [[1, 0, 1], [0, 1, 1]],
     [[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]], None, 3.3333),
    # BinaryCrossentropyTest.test_scalar_weighted / test_sample_weighted (logits)
    ("binary_crossentropy", {"from_logits": True}, [[1, 0, 1], [0, 1, 1]],
     [[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]], 2.3, 7.666),
    ("binary_crossentropy", {"from_logits": True}, [[1, 0, 1], [0, 1, 1]],
     [[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]], [4.0, 3.0], 10.0),
    # BinaryCrossentropyTest.test_label_smoothing: (10 + 5 * 0.1) / 3
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, [[1, 0, 1]],
     [[10.0, -10.0, -10.0]], None, (10.0 + 5.0 * 0.1) / 3.0),
    # CategoricalCrossentropyTest.test_unweighted / test_sample_weighted
    ("categorical_crossentropy", {}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
     [[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]], None, 0.3239),
    ("categorical_crossentropy", {"from_logits": True}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
     [[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]], None, 0.0573),
    ("categorical_crossentropy", {}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
     [[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]], [[1.2], [3.4], [5.6]], 1.0696),
    ("categorical_crossentropy", {"from_logits": True}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
     [[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]], [[1.2], [3.4], [5.6]], 0.31829),
    # CategoricalCrossentropyTest.test_label_smoothing: 400 * 0.1 / 3
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, [[1, 0, 0]],
     [[100.0, -100.0, -100.0]], None, 400.0 * 0.1 / 3.0),
    # SparseCategoricalCrossentropyTest.test_unweighted
    ("sparse_categorical_crossentropy", {}, [0, 1, 2],
     [[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]], None, 0.3239),
]


@pytest.mark.parametrize("name, kwargs, y_true, y_pred, sample_weight, expected", KERAS_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(KERAS_CASES)])
def test_keras_reference_values(backend, name, kwargs, y_true, y_pred, sample_weight, expected):
    """In float32, as Keras's tests run. Keras quotes its values truncated to a few digits
    (0.3239 for 0.32397), so they must agree to one unit of the last quoted digit (and to float32
    rounding for the values Keras writes as exact expressions)."""
    loss = make(name, kwargs)
    weights = sample_weight if isinstance(sample_weight, float) or sample_weight is None else on(
        backend, sample_weight, "float32")
    got = float(loss(on(backend, y_true, "float32"), on(backend, y_pred, "float32"), weights))
    last_digit = 10.0 ** decimal.Decimal(repr(expected)).as_tuple().exponent
    assert abs(got - expected) <= max(last_digit, 64 * np.finfo(np.float32).eps * abs(expected))


def test_keras_reference_clipped_float32(backend):
    """BinaryCrossentropyTest.test_unweighted, [1, 0, 1, 0] vs [1, 1, 1, 0] -> 3.98559: in float32,
    1 - 1e-7 rounds to 1 - 2^-23 * 1.0, so the clipped wrong label costs -log(1.19e-7) = 15.94."""
    t = on(backend, np.array([1, 0, 1, 0]).reshape(2, 2), "float32")
    p = on(backend, np.array([1, 1, 1, 0]).reshape(2, 2), "float32")
    assert float(losses.BinaryCrossentropy()(t, p)) == pytest.approx(3.98559, rel=1e-5)


# --- extreme inputs ------------------------------------------------------------------------------

EXTREME_CASES = [
    ("binary_crossentropy", {"from_logits": True}, [[1.0, 0.0, 1.0, 0.0]], [[1e4, -1e4, -1e4, 1e4]]),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, [[1.0, 0.0, 1.0, 0.0]],
     [[1e4, -1e4, -1e4, 1e4]]),
    ("categorical_crossentropy", {"from_logits": True}, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
     [[1e4, -1e4, 0.0], [1e4, -1e4, 0.0]]),
    ("sparse_categorical_crossentropy", {"from_logits": True}, [0.0, 2.0],
     [[1e4, -1e4, 0.0], [1e4, -1e4, 0.0]]),
    ("binary_crossentropy", {}, [[1.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, 1.0]]),
    ("binary_crossentropy", {"label_smoothing": 0.1}, [[1.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, 1.0]]),
    ("categorical_crossentropy", {}, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
    ("sparse_categorical_crossentropy", {}, [0.0, 2.0], [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
    ("kl_divergence", {}, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
]


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name, kwargs, y_true, y_pred", EXTREME_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(EXTREME_CASES)])
def test_extreme_inputs_give_finite_values_and_gradients(backend, name, kwargs, y_true, y_pred, dtype_name):
    """+-1e4 logits and probabilities exactly 0 and 1: finite loss and gradient, no warning."""
    loss = make(name, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):  # underflow to 0 is the right answer here
            value, backprop = loss.forward(on(backend, y_true, dtype_name), on(backend, y_pred, dtype_name))
            gradient = backend.to_numpy(backprop())
            value = float(value)
    assert math.isfinite(value) and np.all(np.isfinite(gradient)), (value, gradient)
    if kwargs.get("from_logits") and not kwargs.get("label_smoothing"):
        # A wrong binary value costs 1e4; the wrong category (logit 0 against a max of 1e4) 1e4.
        wrong = {"binary_crossentropy": 2 * 1e4 / 4, "categorical_crossentropy": 1e4 / 2,
                 "sparse_categorical_crossentropy": 1e4 / 2}[name]
        assert value == pytest.approx(wrong, rel=1e-6)


# --- dtypes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_dtype_and_device_are_preserved(backend, case, dtype_name):
    """Loss value and gradient keep the prediction's dtype, also with float64 sample weights."""
    name, kwargs = case
    t, p = data_for(name, kwargs, np.random.default_rng(6))
    dtype = backend.dtype(dtype_name)
    weights = on(backend, np.linspace(0.5, 1.5, N), "float64")
    for sample_weight in (None, weights, 0.5):
        value, backprop = make(name, kwargs).forward(on(backend, t, dtype_name), on(backend, p, dtype_name),
                                                     sample_weight)
        gradient = backprop()
        assert value.dtype == dtype and gradient.dtype == dtype, (value.dtype, gradient.dtype)
        assert tuple(gradient.shape) == p.shape
        assert array_api_compat.device(value) == array_api_compat.device(gradient) == backend.device


@pytest.mark.parametrize("target_dtype", ["float64", "int64"])
@pytest.mark.parametrize("name", ["mean_squared_error", "hinge", "binary_crossentropy",
                                  "categorical_crossentropy"])
def test_targets_take_the_prediction_dtype(backend, name, target_dtype):
    """float64 or integer 0/1 labels with float32 predictions: a float32 loss and gradient,
    equal to those of float32 labels (Keras converts targets to the loss dtype)."""
    t, p = data_for(name, {}, np.random.default_rng(7))
    t = np.round(t)  # integer-valued, so the int64 labels hold exactly the same targets
    loss = losses.get(name)
    prediction = on(backend, p, "float32")
    value, backprop = loss.forward(on(backend, t, target_dtype), prediction)
    expected_value, expected_backprop = loss.forward(on(backend, t, "float32"), prediction)
    assert value.dtype == backprop().dtype == backend.dtype("float32")
    assert float(value) == float(expected_value)
    np.testing.assert_array_equal(backend.to_numpy(backprop()), backend.to_numpy(expected_backprop()))


def test_probability_gradient_is_zero_where_clipping_acted(backend):
    """Keras differentiates through the clip: no gradient for p outside [1e-7, 1 - 1e-7]
    (nor at p = 0 or 1), the formula's gradient inside, here (1 - t) / (1 - p) - t / p over 4
    values."""
    t = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    p = np.array([[0.0, 1.0, 1e-9, 0.3], [0.6, 1.0 - 1e-9, 0.25, 0.999]])
    _, backprop = losses.BinaryCrossentropy().forward(on(backend, t), on(backend, p))
    gradient = backend.to_numpy(backprop())
    inside = (p >= EPSILON) & (p <= 1.0 - EPSILON)
    q = np.clip(p, EPSILON, 1.0 - EPSILON)  # = p inside, where the formula applies
    expected = np.where(inside, ((1.0 - t) / (1.0 - q) - t / q) / 8.0, 0.0)  # 2 samples x mean of 4
    assert inside.sum() == 4 and np.all(gradient[~inside] == 0.0)
    np.testing.assert_allclose(gradient, expected, rtol=tolerance("float64"))


def test_keras_class_names_resolve_as_their_snake_case_names():
    """Keras's configs name classes ("BinaryFocalCrossentropy"); they resolve like the names."""
    assert type(losses.get("MeanSquaredError")) is losses.MeanSquaredError
    assert type(losses.get("KLDivergence")) is losses.KLDivergence
    rebuilt = losses.get({"class_name": "BinaryFocalCrossentropy", "config": {"gamma": 3.0}})
    assert type(rebuilt) is losses.BinaryFocalCrossentropy and rebuilt.gamma == 3.0
    with pytest.raises(ValueError, match="Unknown loss 'MeanSquaredErr'"):
        losses.get("MeanSquaredErr")
