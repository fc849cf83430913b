"""Weight constraints (Keras's MaxNorm, MinMaxNorm, NonNeg, UnitNorm): their formulas on every
backend, their effect after each optimizer step, and the layers' Keras arguments."""

import json

import numpy as np
import pytest

import deepcore as dc
from deepcore import constraints, layers, saving

KERAS_EPSILON = 1e-7


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype("float64"))


def norms(w, axis):
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [0, 1, [0, 1]], ids=str)
def test_constraints_follow_keras_formulas(backend, axis):
    dc.set_floatx("float64")
    w = np.random.default_rng(0).normal(0.0, 2.0, (4, 3, 2))
    n = norms(w, tuple(axis) if isinstance(axis, list) else axis)
    expected = {
        constraints.MaxNorm(1.5, axis): w * (np.clip(n, 0, 1.5) / (KERAS_EPSILON + n)),
        constraints.MinMaxNorm(0.5, 1.0, 0.7, axis):
            w * ((0.7 * np.clip(n, 0.5, 1.0) + 0.3 * n) / (KERAS_EPSILON + n)),
        constraints.UnitNorm(axis): w / (KERAS_EPSILON + n),
        constraints.NonNeg(): w * (w >= 0),
    }
    for constraint, reference in expected.items():
        result = backend.to_numpy(constraint(on(backend, w)))
        np.testing.assert_allclose(result, reference, rtol=1e-14, atol=1e-15, err_msg=type(constraint).__name__)


def test_constraints_hold_after_every_optimizer_step(backend):
    """Small weights (updated as views of one flat array) and large ones alike: the
    constraint is applied in place, so training keeps updating the same arrays."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.0, 5.0, (64, 200)), rng.normal(0.0, 50.0, (64, 1))
    model = dc.models.Sequential([
        layers.Input((200,)),
        layers.Dense(100, kernel_constraint=constraints.max_norm(0.5)),  # 20,000 weights: on its own
        layers.Dense(3, kernel_constraint="non_neg", bias_constraint=constraints.UnitNorm()),  # small: grouped
        layers.Dense(1),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.05), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    big, _, small, small_bias = model.get_weights()[:4]
    assert np.all(np.sqrt(np.sum(big ** 2, axis=0)) <= 0.5 + 1e-6)
    assert np.all(small >= 0.0)
    np.testing.assert_allclose(np.linalg.norm(small_bias), 1.0, rtol=1e-5)
    for now, then in zip(model.get_weights(), before):
        assert not np.allclose(now, then)  # every weight still trains


@pytest.mark.parametrize("make, weights", [
    (lambda c: layers.Conv2D(2, 3, kernel_constraint=c, bias_constraint=c), ["kernel", "bias"]),
    (lambda c: layers.Conv1DTranspose(2, 3, kernel_constraint=c), ["kernel"]),
    (lambda c: layers.DepthwiseConv2D(3, depthwise_constraint=c, bias_constraint=c), ["depthwise_kernel", "bias"]),
    (lambda c: layers.SeparableConv2D(2, 3, depthwise_constraint=c, pointwise_constraint=c, bias_constraint=c),
     ["depthwise_kernel", "kernel", "bias"]),
    (lambda c: layers.Embedding(5, 2, embeddings_constraint=c), ["embeddings"]),
    (lambda c: layers.LSTM(2, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c),
     ["kernel", "recurrent_kernel", "bias"]),
    (lambda c: layers.GRU(2, recurrent_constraint=c), ["recurrent_kernel"]),
    (lambda c: layers.BatchNormalization(beta_constraint=c, gamma_constraint=c), ["gamma", "beta"]),
    (lambda c: layers.LayerNormalization(gamma_constraint=c), ["gamma"]),
], ids=["Conv2D", "Conv1DTranspose", "DepthwiseConv2D", "SeparableConv2D", "Embedding", "LSTM", "GRU",
        "BatchNormalization", "LayerNormalization"])
def test_layers_take_keras_constraint_arguments_and_keep_them_in_their_config(make, weights):
    layer = make(constraints.MaxNorm(3.0))
    shape = {"Embedding": (None, 4), "LSTM": (None, 3, 2), "GRU": (None, 3, 2),
             "Conv1DTranspose": (None, 5, 2)}.get(type(layer).__name__, (None, 5, 5, 2))
    layer.build(shape)
    constrained = sorted(v.name.split("/")[-1] for v in layer.weights if v.constraint is not None)
    assert constrained == sorted(weights)
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    rebuilt.build(shape)
    assert saving.serialize_layer(rebuilt) == spec
    assert all(isinstance(v.constraint, constraints.MaxNorm) and v.constraint.max_value == 3.0
               for v in rebuilt.weights if v.name.split("/")[-1] in weights)


def test_a_saved_constrained_model_stays_constrained_after_loading(backend, tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.0, 5.0, (32, 4)), rng.normal(0.0, 50.0, (32, 1))
    model = dc.models.Sequential([layers.Input((4,)), layers.Dense(8, kernel_constraint=constraints.max_norm(0.3)),
                                  layers.Dense(1)])
    model.compile(optimizer=dc.optimizers.Adam(0.1), loss="mse")
    model.save(tmp_path / "constrained.deepcore")
    loaded = dc.models.load_model(tmp_path / "constrained.deepcore")
    loaded.fit(x, y, epochs=3, verbose=0)
    assert np.all(np.sqrt(np.sum(loaded.get_weights()[0] ** 2, axis=0)) <= 0.3 + 1e-6)


def test_bad_constraints_are_named():
    with pytest.raises(ValueError, match="Unknown constraint 'max'"):
        layers.Dense(2, kernel_constraint="max")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\): \['kernel_constraint'\]"):
        layers.Flatten(kernel_constraint="max_norm")
    with pytest.raises(TypeError, match="recurrent_constraint"):
        layers.Dense(2, recurrent_constraint="non_neg")


def test_recurrent_layers_accept_kerass_unroll_and_use_cudnn():
    layer = layers.LSTM(3, unroll=True, use_cudnn=False)
    assert layer.get_config()["unroll"] is True
    assert layers.SimpleRNN.from_config(layers.SimpleRNN(2, unroll=True).get_config()).unroll is True
