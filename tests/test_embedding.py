"""Embedding: lookup vs NumPy indexing, and a table gradient that accumulates repeated ids."""

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers
from deepcore.backend import Backend
from deepcore.testing.gradients import check_backward

# Gradients are sums of at most a few dozen float64 values: 100 eps covers their rounding.
RTOL64 = 100 * np.finfo(np.float64).eps


def build(input_dim=7, output_dim=3, **kwargs):
    layer = layers.Embedding(input_dim, output_dim, **kwargs)
    layer.build((None, None))
    return layer


def test_lookup_matches_numpy_indexing_with_keras_layout_weights(backend):
    dc.set_floatx("float64")
    table = np.random.default_rng(0).standard_normal((7, 3))
    ids = np.array([[1, 0, 6, 6], [2, 5, 5, 5]])
    layer = build()
    layer.set_weights([table])
    for dtype in ("int64", "float64"):  # models hand ids over as floatx; direct calls may use ints
        y = layer(backend.asarray(ids, dtype=backend.dtype(dtype)))
        np.testing.assert_array_equal(backend.to_numpy(y), table[ids])
    assert layer.compute_output_shape((None, 4)) == (None, 4, 3)


def test_repeated_ids_accumulate_their_gradients(backend):
    """Many repeats of few ids: the table gradient must sum every occurrence."""
    dc.set_floatx("float64")
    rng = np.random.default_rng(1)
    ids = rng.choice([0, 3, 4], size=(6, 10), p=[0.1, 0.7, 0.2])
    dy = rng.standard_normal((6, 10, 3))
    expected = np.zeros((7, 3))
    for i, row in zip(ids.reshape(-1), dy.reshape(-1, 3)):
        expected[i] += row
    layer = build()
    _, backprop = layer.forward(backend.asarray(ids, dtype=backend.dtype("float64")), True)
    backprop(backend.asarray(dy, dtype=backend.dtype("float64")))
    np.testing.assert_allclose(backend.to_numpy(layer.embeddings.grad), expected, rtol=RTOL64, atol=RTOL64)
    check_backward(lambda v: layer.forward(v, True), ids, layer.weights, check_input=False, label="Embedding")


def test_portable_scatter_add_accumulates_too(backend):
    """The array-API fallback (one-hot matmul) that backends without a scatter kernel use."""
    target = np.arange(8.0).reshape(4, 2)
    indices = np.array([2, 2, 0, 2, 3, 0])
    values = np.random.default_rng(2).standard_normal((6, 2))
    expected = target.copy()
    np.add.at(expected, indices, values)
    f64 = backend.dtype("float64")
    result = Backend.scatter_add(backend, backend.asarray(target, dtype=f64),
                                 backend.asarray(indices, dtype=backend.dtype("int64")),
                                 backend.asarray(values, dtype=f64))
    np.testing.assert_allclose(backend.to_numpy(result), expected, rtol=RTOL64, atol=RTOL64)


def test_mask_zero_marks_padding(backend):
    layer = build(mask_zero=True)
    ids = backend.asarray(np.array([[3, 1, 0, 0]]), dtype=backend.dtype())
    np.testing.assert_array_equal(backend.to_numpy(layer.compute_mask(ids)), [[True, True, False, False]])
    assert build().compute_mask(ids) is None


def test_embedding_trains_in_a_sequential_model(backend):
    """Token 1 in a sequence means class 1: an Embedding + pooling model learns it."""
    rng = np.random.default_rng(3)
    x = rng.integers(2, 10, size=(64, 5))
    y = (rng.random(64) < 0.5).astype(float)
    x[y == 1, rng.integers(0, 5, size=int(y.sum()))] = 1
    model = dc.models.Sequential([
        layers.Input((5,)), layers.Embedding(10, 4), layers.GlobalMaxPooling1D(),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] == 1.0


@pytest.mark.parametrize("kwargs", [{"input_dim": 0, "output_dim": 2}, {"input_dim": 3, "output_dim": 1.5}])
def test_rejects_bad_dimensions(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        layers.Embedding(**kwargs)


def test_float32_table_gives_float32_output_and_gradient(backend):
    layer = build()
    ids = backend.asarray(np.array([[1, 2, 2]]), dtype=backend.dtype())
    y, backprop = layer.forward(ids, True)
    backprop(backend.xp.ones_like(y))
    assert y.dtype == layer.embeddings.grad.dtype == backend.dtype("float32")


def _tagger():
    model = dc.models.Sequential([layers.Embedding(10, 4), layers.GlobalAveragePooling1D(), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.mark.parametrize("bad_id, message", [(10, "from 1 to 10"), (-1, "from -1 to 3")])
def test_ids_outside_the_table_are_named_before_any_step(backend, bad_id, message):
    model = _tagger()
    ids = np.tile([1, 2, 3], (8, 1))
    good = np.zeros((8, 2))
    bad = ids.copy()
    bad[5, 1] = bad_id
    expected = rf"Embedding layer 'embedding.*' takes token ids in \[0, 10\).*{message}"
    for run in (lambda: model.fit(bad, good, verbose=0), lambda: model.evaluate(bad, good, verbose=0),
                lambda: model.predict(bad, verbose=0),
                lambda: model.fit(ids, good, validation_data=(bad, good), verbose=0)):
        with pytest.raises(ValueError, match=expected):
            run()
    model.fit(ids, good, verbose=0)  # in range: trains


def test_ids_are_checked_once_per_call_not_per_batch(backend, monkeypatch):
    """The range check reads two numbers from the device: once for all the data, never inside
    the training loop."""
    calls = []
    check = layers.Embedding.check_input_values
    monkeypatch.setattr(layers.Embedding, "check_input_values", lambda self, x: calls.append(x.shape) or check(self, x))
    model = _tagger()
    model.fit(np.tile([1, 2, 9], (40, 1)), np.zeros((40, 2)), batch_size=4, epochs=2, validation_split=0.25,
              verbose=0)
    assert calls == [(30, 3), (10, 3)]  # the training part, then the validation part
