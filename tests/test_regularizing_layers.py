"""SpatialDropout1D/2D, GaussianDropout and ActivityRegularization, Keras's rules, on every backend."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import saving
from deepcore.layers import ActivityRegularization, Dense, GaussianDropout, SpatialDropout1D, SpatialDropout2D
from deepcore.models import Sequential


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype())


@pytest.mark.parametrize("layer_class, shape", [(SpatialDropout1D, (8, 5, 40)), (SpatialDropout2D, (8, 3, 4, 40))])
def test_spatial_dropout_drops_whole_channels(backend, layer_class, shape):
    rate = 0.25
    layer = layer_class(rate, seed=3)
    x = np.random.default_rng(0).uniform(1.0, 2.0, shape).astype(np.float32)  # no zeros
    y, backprop = layer.forward(on(backend, x), training=True)
    ratio = backend.to_numpy(y) / x
    spatial_axes = tuple(range(1, len(shape) - 1))
    per_channel = ratio.reshape(shape[0], -1, shape[-1])
    # Within a (sample, channel), every position has the same factor: 0 or 1 / (1 - rate).
    np.testing.assert_allclose(per_channel, per_channel[:, :1, :].repeat(per_channel.shape[1], axis=1), rtol=1e-6)
    factors = ratio.max(axis=spatial_axes)
    kept = np.isclose(factors, 1.0 / (1.0 - rate), rtol=1e-6)
    assert np.all(kept | (factors == 0.0)) and kept.any() and not kept.all()
    dropped = float(np.mean(ratio.max(axis=spatial_axes) == 0.0))
    # 320 channels dropped with probability 0.25: the fraction's standard deviation is 0.024; 5 of them.
    assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / (shape[0] * shape[-1]))
    dy = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(backend.to_numpy(backprop(on(backend, dy))), dy * ratio, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(backend.to_numpy(layer.forward(on(backend, x))[0]), x)  # inference: identity


def test_spatial_dropout_names_a_wrong_rank(backend):
    with pytest.raises(ValueError, match=r"SpatialDropout2D .* expects inputs of shape \(batch, spatial, spatial"):
        SpatialDropout2D(0.5).forward(on(backend, np.ones((2, 3, 4))), training=True)


def test_gaussian_dropout_multiplies_by_noise_of_mean_1(backend):
    rate = 0.2
    layer = GaussianDropout(rate, seed=4)
    x = np.full((400, 500), 2.0, dtype=np.float32)
    y, backprop = layer.forward(on(backend, x), training=True)
    noise = backend.to_numpy(y) / 2.0
    stddev = np.sqrt(rate / (1 - rate))
    n = noise.size
    # 200,000 draws: the mean's standard error is stddev / sqrt(n) ~ 0.0011, allow 5 of them;
    # the sample standard deviation's is ~ stddev / sqrt(2 n), allow 5 too.
    assert abs(noise.mean() - 1.0) < 5 * stddev / np.sqrt(n)
    assert abs(noise.std() - stddev) < 5 * stddev / np.sqrt(2 * n)
    dy = np.ones_like(x)
    np.testing.assert_allclose(backend.to_numpy(backprop(on(backend, dy))), noise, rtol=1e-6)
    np.testing.assert_array_equal(backend.to_numpy(layer.forward(on(backend, x))[0]), x)


def test_activity_regularization_adds_its_penalty_to_the_loss(backend):
    """evaluate's loss = the plain model's + (l1 sum|h| + l2 sum h^2) / batch for the hidden h."""
    dc.set_floatx("float64")
    dc.utils.set_random_seed(5)
    plain = Sequential([Dense(3, activation="tanh", input_shape=(4,)), Dense(2)])
    regularized = Sequential([Dense(3, activation="tanh", input_shape=(4,)),
                              ActivityRegularization(l1=0.01, l2=0.1), Dense(2)])
    regularized.set_weights(plain.get_weights())
    for model in (plain, regularized):
        model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    kernel, bias = plain.get_weights()[:2]
    hidden = np.tanh(x @ kernel + bias)
    penalty = (0.01 * np.abs(hidden).sum() + 0.1 * (hidden * hidden).sum()) / x.shape[0]
    difference = regularized.evaluate(x, y, verbose=0) - plain.evaluate(x, y, verbose=0)
    assert difference == pytest.approx(penalty, rel=1e-12)
    with pytest.raises(TypeError, match="takes l1 and l2"):
        ActivityRegularization(activity_regularizer="l2")


@pytest.mark.parametrize("layer", [SpatialDropout1D(0.3, seed=2), SpatialDropout2D(0.1), GaussianDropout(0.4, seed=1),
                                   ActivityRegularization(l1=0.5, l2=0.25)], ids=lambda layer: type(layer).__name__)
def test_configs_round_trip_through_json(layer):
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert type(rebuilt) is type(layer)
    assert saving.serialize_layer(rebuilt) == spec
