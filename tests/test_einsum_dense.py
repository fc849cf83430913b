"""EinsumDense: shapes as Keras 3 computes them, forward vs NumPy's einsum in float64,
backward vs finite differences, on every backend; clear errors for what it cannot do.

The kernel and bias shapes in CASES are those Keras 3.15.1 built for the same arguments."""

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import EinsumDense, Input
from deepcore.models import Sequential, load_model
from deepcore.testing.gradients import check_backward

RTOL64 = 1000 * np.finfo(np.float64).eps  # a few float64 sums of products and a tanh

# equation, output_shape, bias_axes, input shape, Keras's kernel shape, Keras's bias shape
CASES = [
    ("ab,bc->ac", (4,), None, (3, 5), (5, 4), None),
    ("ab,bc->ac", 4, "c", (3, 5), (5, 4), (4,)),
    ("abc,cde->abde", (None, 2, 3), "de", (3, 6, 5), (5, 2, 3), (2, 3)),
    ("abcd,cde->abe", (None, 4), "e", (3, 6, 2, 3), (2, 3, 4), (4,)),
    ("...b,bc->...c", (4,), "c", (3, 6, 2, 5), (5, 4), (4,)),
    ("abc...,cd->abd...", (2, 4), "d", (3, 2, 5, 7), (5, 4), (4, 1)),
    ("abc,cd->abd", (6, 4), "bd", (3, 6, 5), (5, 4), (6, 4)),
    ("ab,bcd->acd", (3, 4), "c", (2, 5), (5, 3, 4), (3, 1)),
    ("abc,dc->abd", (6, 4), None, (3, 6, 5), (4, 5), None),
]
IDS = [f"{case[0]}-{case[2]}" for case in CASES]


@pytest.fixture
def float64():
    dc.set_floatx("float64")


def built(case, seed=0) -> EinsumDense:
    equation, output_shape, bias_axes, shape, _, _ = case
    layer = EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
    layer.build((None, *shape[1:]))
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    return layer


def reference(case, x, weights):
    """np.einsum with the bias added on the output's last axes, then tanh."""
    z = np.einsum(case[0], x, weights[0])
    if len(weights) == 2:
        z = z + weights[1]
    return np.tanh(z)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shapes_follow_keras_and_the_forward_is_the_einsum(backend, float64, case):
    layer = built(case)
    assert [w.shape for w in layer.get_weights()] == [case[4]] + ([case[5]] if case[5] else [])
    x = np.random.default_rng(1).standard_normal(case[3])
    y = layer(backend.asarray(x, dtype=backend.dtype("float64")))
    expected = reference(case, x, layer.get_weights())
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape((x.shape[0], *case[3][1:]))
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL64, atol=1e-13)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_matches_finite_differences(backend, float64, case):
    layer = built(case)
    x = np.random.default_rng(2).standard_normal(case[3])
    check_backward(layer.forward, x, layer.weights, label=case[0])


def test_the_kernel_fans_are_counted_over_its_input_and_output_axes(backend):
    """Keras 3.15: glorot_uniform on an (8, 4, 16) 'abc,cde->abde' kernel has fan_in 8 and
    fan_out 64, limit sqrt(6 / 72)."""
    layer = EinsumDense("abc,cde->abde", (None, 4, 16))
    layer.build((None, 5, 8))
    values = np.abs(backend.to_numpy(layer.kernel.value))
    limit = np.sqrt(6.0 / (8 + 64))
    assert limit * 0.95 < values.max() <= limit


def test_a_model_with_einsum_dense_trains_saves_and_loads(backend, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 5)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None] * 0.1
    model = Sequential([Input((6, 5)), EinsumDense("abc,cd->abd", (6, 3), bias_axes="d", activation="relu"),
                        EinsumDense("abd,bde->ae", 1)])
    model.compile(optimizer=dc.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    model.save(tmp_path / "einsum.deepcore")
    np.testing.assert_array_equal(load_model(tmp_path / "einsum.deepcore").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


@pytest.mark.parametrize("make, shape, error, message", [
    (lambda: EinsumDense("ab->b", 3), None, ValueError, "invalid equation"),
    (lambda: EinsumDense("abc,cd->ad", 4), (None, 3, 5), NotImplementedError, "input axis 'b' .* is summed over"),
    (lambda: EinsumDense("abc,bcd->abd", (3, 4)), (None, 3, 5), NotImplementedError, "a batched product"),
    (lambda: EinsumDense("abc,cd->abd", 4), (None, 3, 5), ValueError, "one size per output letter"),
    (lambda: EinsumDense("abc,cd->abd", (7, 4)), (None, 3, 5), ValueError, "size 3 in the input but 7"),
    (lambda: EinsumDense("ab,bc->ac", 4, bias_axes="x"), (None, 5), ValueError, r"bias axes \['x'\]"),
    (lambda: EinsumDense("abc,cd->abd", (3, 4)), (None, 5), ValueError, "names 3 input axes; the input has 2"),
])
def test_what_it_cannot_do_is_refused_by_name(make, shape, error, message):
    with pytest.raises(error, match=message):
        layer = make()
        layer.build(shape)
