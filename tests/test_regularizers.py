"""Weight and activity regularizers in the loss and its gradient, and GaussianNoise.

Gradients of the whole training objective are read from one SGD step (learning rate 1:
``w_before - w_after == gradient``) and compared with central differences of the training loss
(learning rate 0, weights unchanged), so the check covers the penalties exactly as `fit` adds
them. Every test runs on every backend, in float64.
"""

import numpy as np
import pytest

import deepcore as dc
from deepcore import regularizers
from deepcore.layers import Dense, GaussianNoise
from deepcore.models import Sequential
from deepcore.testing.gradients import check_backward, numerical_gradient

EPS64 = np.finfo(np.float64).eps
# Float64 references: a few dozen roundings of values of order one, so 100 float64 epsilons.
RTOL = 100 * EPS64


@pytest.mark.parametrize("regularizer",
                         [regularizers.l1(0.3), regularizers.l2(0.2), regularizers.l1_l2(0.3, 0.2)],
                         ids=["l1", "l2", "l1_l2"])
def test_regularizer_gradient_matches_finite_differences(backend, regularizer):
    def forward(w):
        xp = backend.xp
        penalty = xp.reshape(regularizer(w), (1,))
        return penalty, lambda dpenalty: dpenalty * regularizer.gradient(w)

    # Away from 0, where |w| has its kink; check_backward's float64 defaults (rtol 1e-5, atol 1e-8).
    w = np.random.default_rng(0).uniform(0.1, 1.0, (3, 4)) * np.array([1, -1, 1, -1])
    check_backward(forward, w, label=f"{regularizer.get_config()}")


def regularized_model(kernel=None, bias=None, activity=None, seed=0):
    """Dense(3, tanh) with the given regularizers, then Dense(2); float64, nonzero biases."""
    dc.set_floatx("float64")
    dc.utils.set_random_seed(seed)
    return Sequential([
        Dense(3, activation="tanh", input_shape=(4,), bias_initializer="random_normal",
              kernel_regularizer=kernel, bias_regularizer=bias, activity_regularizer=activity),
        Dense(2, bias_initializer="random_normal", kernel_regularizer=kernel),
    ])


def training_loss(model, x, y) -> float:
    """The loss `fit` would report for one batch, without changing the weights."""
    model.compile(optimizer=dc.optimizers.SGD(0.0), loss="mse")
    return model.train_on_batch(x, y)


def training_gradient(model, x, y) -> list:
    """The gradient `fit` applies, from one SGD step of learning rate 1."""
    before = [np.array(w) for w in model.get_weights()]
    model.compile(optimizer=dc.optimizers.SGD(1.0), loss="mse")
    model.train_on_batch(x, y)
    after = model.get_weights()
    model.set_weights(before)
    return [b - a for b, a in zip(before, after)]


@pytest.mark.parametrize("kernel, bias, activity", [
    (regularizers.l1_l2(0.01, 0.02), None, None),
    (None, regularizers.l1_l2(0.03, 0.05), None),
    (None, None, regularizers.l1_l2(0.05, 0.1)),
    (regularizers.l2(0.02), regularizers.l1(0.01), regularizers.l1(0.05)),
], ids=["kernel", "bias", "activity", "all"])
def test_penalties_enter_the_training_gradient(backend, kernel, bias, activity):
    model = regularized_model(kernel, bias, activity)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    analytic = training_gradient(model, x, y)
    weights = model.get_weights()
    for i, weight in enumerate(weights):
        def loss_at(value, i=i):
            model.set_weights(weights[:i] + [value] + weights[i + 1:])
            return training_loss(model, x, y)

        numeric = numerical_gradient(loss_at, weight)
        model.set_weights(weights)
        # Central differences in float64 with eps 1e-6: error ~1e-10 (see deepcore.testing.gradients).
        np.testing.assert_allclose(analytic[i], numeric, rtol=1e-5, atol=1e-8, err_msg=f"weight {i}")


def test_l2_penalty_is_added_to_the_training_loss_exactly(backend):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    plain = regularized_model()
    regularized = regularized_model(kernel=regularizers.l2(0.1))
    regularized.set_weights(plain.get_weights())
    kernels = plain.get_weights()[0::2]
    expected = 0.1 * sum(float(np.sum(k * k)) for k in kernels)
    difference = training_loss(regularized, x, y) - training_loss(plain, x, y)
    np.testing.assert_allclose(difference, expected, rtol=RTOL)


def test_evaluate_adds_the_weight_and_activity_penalties_as_keras(backend):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    plain = regularized_model()
    regularized = regularized_model(kernel=regularizers.l2(0.1), activity=regularizers.l2(0.1))
    regularized.set_weights(plain.get_weights())
    for model in (plain, regularized):
        model.compile(optimizer="sgd", loss="mse")
    kernel, bias = plain.get_weights()[:2]
    hidden = np.tanh(x @ kernel + bias)
    expected = (0.1 * sum(float(np.sum(k * k)) for k in plain.get_weights()[0::2])
                + 0.1 * np.sum(hidden * hidden) / x.shape[0])
    difference = (regularized.evaluate(x, y, batch_size=6, verbose=0)
                  - plain.evaluate(x, y, batch_size=6, verbose=0))
    np.testing.assert_allclose(difference, expected, rtol=RTOL)


def test_time_distributed_runs_its_layer_without_the_activity_penalty(backend):
    """Keras 3's TimeDistributed runs the inner layer's call, which skips its activity
    regularizer (checked against Keras 3.15.1: its loss is the bare MSE): neither the loss nor
    the gradient gets the penalty."""
    dc.set_floatx("float64")
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 3, 2))
    models = []
    for regularizer in (regularizers.l2(0.1), None):
        inner = dc.layers.Dense(2, activity_regularizer=regularizer, kernel_initializer="ones")
        model = dc.models.Sequential([dc.layers.Input((3, 2)), dc.layers.TimeDistributed(inner)])
        model.compile(optimizer="sgd", loss="mse")
        models.append(model)
    regularized, plain = models
    prediction = regularized.predict(x, verbose=0)
    assert regularized.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(np.mean((prediction - y) ** 2),
                                                                                 rel=RTOL)
    for model in models:
        model.train_on_batch(x, y)
    for got, expected in zip(regularized.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(got, expected)


def test_activity_penalty_is_divided_by_the_batch_size(backend):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    plain = regularized_model()
    regularized = regularized_model(activity=regularizers.l2(0.1))
    regularized.set_weights(plain.get_weights())
    kernel, bias = plain.get_weights()[:2]
    hidden = np.tanh(x @ kernel + bias)
    expected = 0.1 * np.sum(hidden * hidden) / x.shape[0]  # Keras 3: penalty / batch size
    difference = training_loss(regularized, x, y) - training_loss(plain, x, y)
    np.testing.assert_allclose(difference, expected, rtol=RTOL)


def test_activity_regularizer_leaves_the_inference_backward_alone_and_round_trips_in_config(backend):
    dc.set_floatx("float64")
    layer = Dense(2, activity_regularizer="l2")
    plain = Dense(2)
    layer.build((None, 3))
    plain.build((None, 3))
    plain.set_weights(layer.get_weights())
    x = backend.asarray(np.ones((2, 3)), dtype=backend.dtype("float64"))
    dy = backend.asarray(np.ones((2, 2)), dtype=backend.dtype("float64"))
    y, backprop = layer.forward(x)
    np.testing.assert_array_equal(backend.to_numpy(backprop(dy)), backend.to_numpy(plain.forward(x)[1](dy)))
    # The penalty is still computed (evaluate adds it to the loss, as Keras): l2 0.01 / batch 2.
    y = backend.to_numpy(y)
    np.testing.assert_allclose(float(layer.activity_loss), 0.01 * np.sum(y * y) / 2, rtol=RTOL)
    config = layer.get_config()
    assert config["activity_regularizer"] == {"class_name": "Regularizer", "config": {"l1": 0.0, "l2": 0.01}}
    assert Dense.from_config(config).activity_regularizer.get_config() == {"l1": 0.0, "l2": 0.01}
    assert plain.get_config()["activity_regularizer"] is None


# --- GaussianNoise -----------------------------------------------------------------------------
def test_gaussian_noise_adds_host_drawn_noise_in_training_only(backend):
    dc.set_floatx("float64")
    x_host = np.random.default_rng(4).normal(size=(50, 4))
    x = backend.asarray(x_host, dtype=backend.dtype("float64"))
    y = backend.to_numpy(GaussianNoise(0.3, seed=7).forward(x, training=True)[0])
    expected_noise = np.random.default_rng(7).normal(0.0, 0.3, size=(50, 4))
    # x + noise - x rounds once at the magnitude of max|x + noise|.
    np.testing.assert_allclose(y - x_host, expected_noise, rtol=0, atol=4 * EPS64 * np.max(np.abs(y)))
    np.testing.assert_array_equal(backend.to_numpy(GaussianNoise(0.3).forward(x)[0]), x_host)


def test_gaussian_noise_backward_is_the_identity(backend):
    dc.set_floatx("float64")
    # A fresh seeded layer per call adds the same noise each time, so finite differences apply.
    check_backward(lambda v: GaussianNoise(0.5, seed=11).forward(v, training=True),
                   np.random.default_rng(5).normal(size=(3, 4)), label="GaussianNoise")


def test_gaussian_noise_follows_the_global_seed_and_validates_stddev(backend):
    x = backend.asarray(np.zeros((3, 2)))
    draws = []
    for _ in range(2):
        dc.utils.set_random_seed(21)
        draws.append(backend.to_numpy(GaussianNoise(0.1).forward(x, training=True)[0]))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert np.std(draws[0]) > 0
    with pytest.raises(ValueError, match="stddev"):
        GaussianNoise(-0.1)
