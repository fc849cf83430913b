"""BatchNormalization, LayerNormalization and Normalization: values vs NumPy, backward vs
finite differences, moving statistics, adapt, configs. Every test runs on every backend."""

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import (
    BatchNormalization, Dense, GroupNormalization, LayerNormalization, Normalization, RMSNormalization,
    UnitNormalization,
)
from deepcore.models import Sequential
from deepcore.testing.gradients import check_backward

# Float64 references: a few dozen roundings of values of order one, so 100 float64 epsilons.
RTOL = 100 * np.finfo(np.float64).eps


def built(layer, shape, seed=0):
    """``layer`` built in float64 for inputs ``shape``, its trainable weights set to random values."""
    dc.set_floatx("float64")
    layer.build((None, *shape[1:]))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(1.0, 0.5, w.shape) if i < len(layer.trainable_weights) else w
                       for i, w in enumerate(layer.get_weights())])
    return layer


def reference_normalize(x, mean, variance, epsilon, gamma, beta):
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


# --- BatchNormalization ------------------------------------------------------------------------
@pytest.mark.parametrize("shape, axis", [((6, 4), -1), ((4, 3, 5), 1)])
def test_batchnorm_training_forward_uses_batch_statistics(backend, shape, axis):
    layer = built(BatchNormalization(axis=axis), shape)
    x = np.random.default_rng(1).normal(2.0, 3.0, shape)
    y = layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), training=True)[0]
    reduce = tuple(a for a in range(len(shape)) if a != axis % len(shape))
    bshape = [1] * len(shape)
    bshape[axis] = shape[axis]
    gamma, beta = (w.reshape(bshape) for w in layer.get_weights()[:2])
    expected = reference_normalize(x, x.mean(axis=reduce, keepdims=True), x.var(axis=reduce, keepdims=True),
                                   1e-3, gamma, beta)
    assert y.dtype == backend.dtype("float64")
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("shape, axis", [((6, 4), -1), ((4, 3, 5), 1)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_backward_matches_finite_differences(backend, shape, axis, training):
    layer = built(BatchNormalization(axis=axis), shape)
    x = np.random.default_rng(2).normal(1.0, 2.0, shape)
    # check_backward's float64 defaults (rtol 1e-5, atol 1e-8) bound central-difference error.
    check_backward(lambda v: layer.forward(v, training=training), x, [layer.gamma, layer.beta],
                   label=f"BatchNormalization(training={training})")


def test_batchnorm_moving_statistics_and_inference(backend):
    momentum, epsilon = 0.9, 1e-3
    layer = built(BatchNormalization(momentum=momentum, epsilon=epsilon), (8, 3))
    rng = np.random.default_rng(3)
    moving_mean, moving_variance = np.zeros(3), np.ones(3)
    for _ in range(4):
        batch = rng.normal(5.0, 2.0, (8, 3))
        layer.forward(backend.asarray(batch, dtype=backend.dtype("float64")), training=True)
        moving_mean = moving_mean * momentum + batch.mean(axis=0) * (1 - momentum)
        moving_variance = moving_variance * momentum + batch.var(axis=0) * (1 - momentum)
    gamma, beta, got_mean, got_variance = layer.get_weights()
    np.testing.assert_allclose(got_mean, moving_mean, rtol=RTOL)
    np.testing.assert_allclose(got_variance, moving_variance, rtol=RTOL)

    x = rng.normal(5.0, 2.0, (5, 3))
    y = layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), training=False)[0]
    expected = reference_normalize(x, moving_mean, moving_variance, epsilon, gamma, beta)
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL, atol=RTOL)


def test_batchnorm_frozen_layer_uses_moving_statistics_in_training(backend):
    layer = built(BatchNormalization(), (4, 2))
    layer.trainable = False
    before = layer.get_weights()
    x = np.random.default_rng(4).normal(3.0, 1.0, (4, 2))
    y = layer.forward(backend.asarray(x, dtype=backend.dtype("float64")), training=True)[0]
    gamma, beta, mean, variance = before
    np.testing.assert_allclose(backend.to_numpy(y), reference_normalize(x, mean, variance, 1e-3, gamma, beta),
                               rtol=RTOL, atol=RTOL)
    for old, new in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_batchnorm_in_a_model_updates_moving_statistics_during_fit(backend):
    dc.set_floatx("float64")
    momentum = 0.5
    model = Sequential([BatchNormalization(momentum=momentum, input_shape=(3,))])
    model.compile(optimizer=dc.optimizers.SGD(0.0), loss="mse")
    x = np.random.default_rng(5).normal(1.0, 2.0, (12, 3))
    model.fit(x, np.zeros((12, 3)), batch_size=4, epochs=1, shuffle=False, verbose=0)
    moving_mean, moving_variance = np.zeros(3), np.ones(3)
    for start in range(0, 12, 4):
        batch = x[start:start + 4]
        moving_mean = moving_mean * momentum + batch.mean(axis=0) * (1 - momentum)
        moving_variance = moving_variance * momentum + batch.var(axis=0) * (1 - momentum)
    gamma, beta, mean, variance = model.get_weights()
    np.testing.assert_allclose(mean, moving_mean, rtol=RTOL)
    np.testing.assert_allclose(variance, moving_variance, rtol=RTOL)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               reference_normalize(x, moving_mean, moving_variance, 1e-3, gamma, beta),
                               rtol=RTOL, atol=RTOL)


def test_batchnorm_weights_keras_order_and_config_round_trip(backend):
    layer = BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, name="bn")
    layer.build((None, 4))
    assert [v.name for v in layer.trainable_weights] == ["bn/gamma"]
    assert [v.name for v in layer.non_trainable_weights] == ["bn/moving_mean", "bn/moving_variance"]
    clone = BatchNormalization.from_config(layer.get_config())
    assert (clone.momentum, clone.epsilon, clone.center, clone.scale) == (0.9, 1e-5, False, True)
    with pytest.raises(ValueError, match="axis"):
        BatchNormalization(axis=0).build((None, 4))


# --- LayerNormalization ------------------------------------------------------------------------
@pytest.mark.parametrize("shape, axis", [((5, 4), -1), ((3, 4, 2), [1, 2])])
def test_layernorm_forward_matches_numpy(backend, shape, axis):
    layer = built(LayerNormalization(axis=axis), shape)
    x = np.random.default_rng(6).normal(-1.0, 4.0, shape)
    y = layer.forward(backend.asarray(x, dtype=backend.dtype("float64")))[0]
    axes = tuple(a % len(shape) for a in (axis if isinstance(axis, list) else [axis]))
    gamma, beta = layer.get_weights()
    expected = reference_normalize(x, x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True),
                                   1e-3, gamma, beta)
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("shape, axis", [((5, 4), -1), ((3, 4, 2), [1, 2])])
@pytest.mark.parametrize("center, scale", [(True, True), (False, False)])
def test_layernorm_backward_matches_finite_differences(backend, shape, axis, center, scale):
    layer = built(LayerNormalization(axis=axis, center=center, scale=scale), shape)
    x = np.random.default_rng(7).normal(0.5, 2.0, shape)
    check_backward(lambda v: layer.forward(v, training=True), x, layer.trainable_weights,
                   label="LayerNormalization")


@pytest.mark.parametrize("shape, axis", [((5, 4), -1), ((3, 4, 2), [1, 2])])
def test_layernorm_rms_scaling_follows_keras(backend, shape, axis):
    """Keras 3's rms_scaling: gamma * x * rsqrt(variance + epsilon), x not centred, gamma only
    (even with center=True); backward (x and gamma) against finite differences."""
    layer = built(LayerNormalization(axis=axis, rms_scaling=True, gamma_initializer="random_normal"), shape)
    assert [v.name.split("/")[-1] for v in layer.weights] == ["gamma"]
    x = np.random.default_rng(9).normal(0.5, 2.0, shape)
    axes = tuple(a % len(shape) for a in (axis if isinstance(axis, list) else [axis]))
    gamma = layer.get_weights()[0].reshape([shape[a] if a in axes else 1 for a in range(len(shape))])
    y = backend.to_numpy(layer.forward(backend.asarray(x, dtype=backend.dtype("float64")))[0])
    np.testing.assert_allclose(y, gamma * x / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-3), rtol=RTOL, atol=RTOL)
    check_backward(lambda v: layer.forward(v, training=True), x, layer.trainable_weights,
                   label="LayerNormalization(rms_scaling=True)")
    assert LayerNormalization.from_config(layer.get_config()).rms_scaling is True


# --- Normalization -----------------------------------------------------------------------------
def test_normalization_with_given_mean_and_variance(backend):
    dc.set_floatx("float64")
    mean, variance = np.array([1.0, -2.0, 3.0]), np.array([4.0, 0.25, 9.0])
    layer = Normalization(mean=mean, variance=variance)
    x = np.random.default_rng(8).normal(size=(5, 3))
    y = layer(backend.asarray(x, dtype=backend.dtype("float64")))
    np.testing.assert_allclose(backend.to_numpy(y), (x - mean) / np.sqrt(variance), rtol=RTOL)
    clone = Normalization.from_config(layer.get_config())
    np.testing.assert_allclose(backend.to_numpy(clone(backend.asarray(x, dtype=backend.dtype("float64")))),
                               backend.to_numpy(y), rtol=RTOL)
    with pytest.raises(ValueError, match="together"):
        Normalization(mean=1.0)


@pytest.mark.parametrize("axis, shape", [(-1, (103, 4)), (None, (103, 4)), ((1, 2), (57, 3, 2))])
@pytest.mark.parametrize("batch_size", [None, 10])
def test_normalization_adapt_matches_one_shot_statistics(backend, axis, shape, batch_size):
    dc.set_floatx("float64")
    # A large offset: E[x^2] - E[x]^2 would lose ~offset^2 * eps (2e-8) of a unit variance.
    offset = 1e4
    data = offset + np.random.default_rng(9).normal(size=shape) * np.arange(1, shape[-1] + 1)
    layer = Normalization(axis=axis)
    layer.adapt(data, batch_size=batch_size)
    keep = () if axis is None else tuple(a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis))
    reduce = tuple(a for a in range(len(shape)) if a not in keep)
    mean, variance = layer.get_weights()
    np.testing.assert_allclose(mean, data.mean(axis=reduce), rtol=RTOL)
    # Each merge's delta carries a rounding of the offset: relative error ~ offset * eps per merge
    # (measured at most 4e3 eps here); bound it by 10 * offset * eps.
    np.testing.assert_allclose(variance, data.var(axis=reduce), rtol=10 * offset * np.finfo(np.float64).eps)


def test_normalization_adapt_accepts_backend_arrays_and_inverts(backend):
    dc.set_floatx("float64")
    data = np.random.default_rng(10).normal(3.0, 2.0, (40, 3))
    on_device = backend.asarray(data, dtype=backend.dtype("float64"))
    forward, inverse = Normalization(), Normalization(invert=True)
    forward.adapt(on_device, batch_size=16)
    inverse.adapt(data)
    for a, b in zip(forward.get_weights(), inverse.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL)
    standardized = forward(on_device)
    np.testing.assert_allclose(backend.to_numpy(standardized).std(axis=0), 1.0, rtol=RTOL)
    np.testing.assert_allclose(backend.to_numpy(inverse(standardized)), data, rtol=RTOL)


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_backward_matches_finite_differences(backend, invert):
    layer = Normalization(mean=[1.0, 2.0], variance=[4.0, 0.5], invert=invert)
    dc.set_floatx("float64")
    layer.build((None, 2))
    check_backward(lambda v: layer.forward(v), np.random.default_rng(11).normal(size=(4, 2)),
                   label="Normalization")


def test_normalization_in_a_model_trains_and_keeps_adapted_weights_fixed(backend):
    dc.set_floatx("float64")
    rng = np.random.default_rng(12)
    x = rng.normal(50.0, 10.0, (64, 3))
    norm = Normalization()
    norm.adapt(x)
    model = Sequential([norm, Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    adapted = norm.get_weights()
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    for before, after in zip(adapted, norm.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert len(model.trainable_variables) == 2


def test_statistics_are_saved_and_loaded_with_the_model(backend, tmp_path):
    dc.set_floatx("float64")
    rng = np.random.default_rng(13)
    x = rng.normal(5.0, 2.0, (40, 3))
    norm = Normalization()
    norm.adapt(x)
    model = Sequential([norm, Dense(4, activation="tanh"), BatchNormalization(momentum=0.5),
                        LayerNormalization(), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "model.deepcore")
    loaded = dc.models.load_model(tmp_path / "model.deepcore")
    for saved, restored in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(saved, restored)
    names = [v.name.split("/")[-1] for v in loaded.weights if not v.trainable]
    assert names == ["mean", "variance", "moving_mean", "moving_variance"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# --- RMSNormalization, UnitNormalization ---------------------------------------------------------
@pytest.mark.parametrize("shape, axis", [((5, 4), -1), ((3, 4, 2), [1, 2])])
def test_rms_normalization_follows_keras(backend, shape, axis):
    """Keras 3: scale * x * rsqrt(mean(x^2) + epsilon), epsilon 1e-6; the weight "scale" (ones
    at first); backward (x and scale) against finite differences."""
    layer = built(RMSNormalization(axis=axis), shape)
    assert [v.name.split("/")[-1] for v in layer.weights] == ["scale"]
    x = np.random.default_rng(10).normal(0.5, 2.0, shape)
    axes = tuple(a % len(shape) for a in (axis if isinstance(axis, list) else [axis]))
    scale = layer.get_weights()[0].reshape([shape[a] if a in axes else 1 for a in range(len(shape))])
    y = backend.to_numpy(layer.forward(backend.asarray(x, dtype=backend.dtype("float64")))[0])
    np.testing.assert_allclose(y, scale * x / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + 1e-6),
                               rtol=RTOL, atol=RTOL)
    check_backward(lambda v: layer.forward(v, training=True), x, layer.trainable_weights, label="RMSNormalization")
    rebuilt = RMSNormalization.from_config(layer.get_config())
    assert (rebuilt.axis, rebuilt.epsilon) == (layer.axis, 1e-6)


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_unit_normalization_divides_by_the_l2_norm(backend, axis):
    dc.set_floatx("float64")
    x = np.random.default_rng(11).normal(size=(3, 4, 2))
    x[0] = 0.0  # a zero sample stays 0: the norm is held at 1e-12
    layer = UnitNormalization(axis=axis)
    axes = (2,) if axis == -1 else (1, 2)
    y = backend.to_numpy(layer(backend.asarray(x, dtype=backend.dtype("float64"))))
    np.testing.assert_allclose(y, x / np.maximum(np.sqrt(np.sum(x * x, axis=axes, keepdims=True)), 1e-12),
                               rtol=RTOL, atol=RTOL)
    check_backward(lambda v: layer.forward(v), x[1:], label=f"UnitNormalization(axis={axis})")  # (not at 0)
    assert UnitNormalization.from_config(layer.get_config()).axis == axis
    with pytest.raises(TypeError, match="axis must be an int or a list of ints"):
        UnitNormalization(axis="last")



# --- GroupNormalization --------------------------------------------------------------------------
@pytest.mark.parametrize("shape, groups, center, scale", [((3, 4, 4, 6), 3, True, True), ((3, 5, 6), 6, False, True),
                                                          ((3, 5, 4), 1, True, False)])
def test_group_normalization_follows_keras(backend, shape, groups, center, scale):
    """Keras 3 (Wu & He): per sample and group, the statistics over the group's channels and
    every spatial axis; gamma and beta per channel. Backward against finite differences."""
    layer = built(GroupNormalization(groups=groups, center=center, scale=scale), shape)
    x = np.random.default_rng(12).normal(0.5, 2.0, shape)
    grouped = x.reshape(*shape[:-1], groups, shape[-1] // groups)
    axes = tuple(range(1, len(shape) - 1)) + (len(shape),)
    normalized = ((grouped - grouped.mean(axis=axes, keepdims=True))
                  / np.sqrt(grouped.var(axis=axes, keepdims=True) + 1e-3)).reshape(shape)
    weights = iter(layer.get_weights())
    expected = normalized * (next(weights) if scale else 1.0) + (next(weights) if center else 0.0)
    y = backend.to_numpy(layer.forward(backend.asarray(x, dtype=backend.dtype("float64")))[0])
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=RTOL)
    check_backward(lambda v: layer.forward(v, training=True), x, layer.trainable_weights, label="GroupNormalization")
    assert GroupNormalization.from_config(layer.get_config()).get_config() == layer.get_config()


def test_group_normalization_needs_groups_dividing_the_channels():
    with pytest.raises(ValueError, match=r"its 6 channels \(axis -1\) do not split into groups=4"):
        GroupNormalization(groups=4).build((None, 5, 6))
    with pytest.raises(ValueError, match="do not split into groups=32"):
        GroupNormalization().build((None, 5, 6))  # Keras's default of 32 groups
