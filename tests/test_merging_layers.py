"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot): forward
against NumPy float64 references written independently, each input's gradient against finite
differences, Keras's broadcasting rule, Keras 3's mask rules (output masks and masked values,
against a NumPy transcription of Keras's algorithm), ties of Maximum/Minimum, errors that name
the layer and the shapes, output shapes and configs, on every backend."""

from __future__ import annotations

import functools
import json
import re

import numpy as np
import pytest

import deepcore as dc
from deepcore import saving
from deepcore.layers import (
    Add, Average, Concatenate, Dense, Dot, Layer, Maximum, Merge, Minimum, Multiply, Subtract, add, average,
    concatenate, dot, maximum, minimum, multiply, subtract,
)
from multi_input_checks import check_each_input


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def on(backend, host):
    return backend.asarray(host, dtype=backend.dtype("float64"))


def draw(shapes, seed=0) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def aligned(xs) -> list:
    """Keras's rank rule for the NumPy references: axes of size 1 after the batch axis."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


def broadcast(xs) -> list:
    return np.broadcast_arrays(*aligned(xs))


# --- elementwise merges -----------------------------------------------------------------------

REFERENCES = {
    Add: lambda xs: functools.reduce(np.add, aligned(xs)),
    Subtract: lambda xs: np.subtract(*aligned(xs)),
    Multiply: lambda xs: functools.reduce(np.multiply, aligned(xs)),
    Average: lambda xs: np.mean(np.stack(broadcast(xs)), axis=0),
    Maximum: lambda xs: np.max(np.stack(broadcast(xs)), axis=0),
    Minimum: lambda xs: np.min(np.stack(broadcast(xs)), axis=0),
}

SHAPES = [
    [(3, 4), (3, 4)],
    [(2, 3, 4), (2, 3, 4), (2, 3, 4)],
    [(2, 1, 4), (2, 3, 4)],                # a size-1 axis broadcasts
    [(2, 4), (2, 3, 4)],                   # a lower rank gains an axis after the batch axis
    [(2, 3, 1), (2, 1, 4)],                # both broadcast
    [(2, 3, 4), (2, 1, 4), (2, 4)],
    [(2,), (2, 3)],                        # only the batch axis: one value per sample
]

CASES = [(cls, shapes) for cls in REFERENCES for shapes in SHAPES if cls is not Subtract or len(shapes) == 2]


@pytest.mark.parametrize("cls, shapes", CASES, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_elementwise_forward_backward_and_shape(backend, float64, cls, shapes):
    hosts = draw(shapes, seed=len(shapes))
    layer = cls()
    y, _ = layer.forward([on(backend, h) for h in hosts])
    expected = REFERENCES[cls](hosts)
    assert y.dtype == backend.dtype("float64")
    assert tuple(y.shape) == expected.shape
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=1e-14, atol=1e-15)
    assert layer.compute_output_shape([(None, *s[1:]) for s in shapes]) == (None, *expected.shape[1:])
    check_each_input(backend, layer, hosts, f"{cls.__name__}{shapes}")


@pytest.mark.parametrize("cls", [Maximum, Minimum])
def test_ties_give_the_gradient_to_the_first_input_holding_the_extreme(backend, float64, cls):
    sign = 1.0 if cls is Maximum else -1.0  # Minimum on the negated values picks the same inputs
    x1 = sign * np.array([[0.0, 5.0, 3.0, 1.0]])
    x2 = sign * np.array([[1.0, 5.0, 2.0, 1.0]])
    x3 = sign * np.array([[1.0, 4.0, 3.0, 1.0]])
    dy = np.array([[10.0, 20.0, 30.0, 40.0]])
    y, backprop = cls().forward([on(backend, x) for x in (x1, x2, x3)])
    np.testing.assert_array_equal(backend.to_numpy(y), sign * np.array([[1.0, 5.0, 3.0, 1.0]]))
    dxs = [backend.to_numpy(d) for d in backprop(on(backend, dy))]
    np.testing.assert_array_equal(dxs[0], [[0.0, 20.0, 30.0, 40.0]])
    np.testing.assert_array_equal(dxs[1], [[10.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(dxs[2], [[0.0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize("cls", [Maximum, Minimum])
def test_nan_propagates_and_takes_the_gradient(backend, float64, cls):
    """NaN wins as in np.maximum/np.minimum (Keras's ops), from either input; the first NaN
    gets the gradient."""
    x1, x2 = np.array([[np.nan, 1.0, np.nan]]), np.array([[1.0, np.nan, np.nan]])
    y, backprop = cls().forward([on(backend, x1), on(backend, x2)])
    np.testing.assert_array_equal(backend.to_numpy(y), [[np.nan, np.nan, np.nan]])
    dx1, dx2 = (backend.to_numpy(d) for d in backprop(on(backend, np.array([[1.0, 2.0, 4.0]]))))
    np.testing.assert_array_equal(dx1, [[1.0, 0.0, 4.0]])
    np.testing.assert_array_equal(dx2, [[0.0, 2.0, 0.0]])


def test_ties_with_a_broadcast_input(backend, float64):
    x1 = np.array([[2.0], [0.0]])                   # (2, 1), broadcast over 3 columns
    x2 = np.array([[2.0, 1.0, 2.0], [0.0, 0.0, 1.0]])
    dy = np.array([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]])
    _, backprop = Maximum().forward([on(backend, x1), on(backend, x2)])
    dx1, dx2 = (backend.to_numpy(d) for d in backprop(on(backend, dy)))
    np.testing.assert_array_equal(dx1, [[1.0 + 2.0 + 4.0], [8.0 + 16.0]])
    np.testing.assert_array_equal(dx2, [[0.0, 0.0, 0.0], [0.0, 0.0, 32.0]])


def test_multiply_gradient_with_a_zero_input(backend, float64):
    """The gradient is the product of the other inputs, not y / x (which a zero would break)."""
    x1, x2, x3 = np.array([[0.0, 2.0]]), np.array([[3.0, 0.0]]), np.array([[5.0, 7.0]])
    _, backprop = Multiply().forward([on(backend, x) for x in (x1, x2, x3)])
    dxs = [backend.to_numpy(d) for d in backprop(on(backend, np.ones((1, 2))))]
    np.testing.assert_array_equal(dxs[0], [[15.0, 0.0]])
    np.testing.assert_array_equal(dxs[1], [[0.0, 14.0]])
    np.testing.assert_array_equal(dxs[2], [[0.0, 0.0]])


@pytest.mark.parametrize("shapes, expected", [
    ([(None, 1, 4), (None, 3, 4)], (None, 3, 4)),
    ([(None, 4), (None, 3, 4)], (None, 3, 4)),
    ([(None, None, 4), (None, 3, 1)], (None, 3, 4)),   # an unknown size must be 1 or 3: it is 3
    ([(None, None, 4), (None, 1, 4)], (None, None, 4)),
    ([(8, 5), (None, 5)], (8, 5)),
    ([(None, 1, 4), (None, 1, 1)], (None, 1, 4)),
])
def test_elementwise_output_shape_with_unknown_sizes(shapes, expected):
    assert Add().compute_output_shape(shapes) == expected


# --- Concatenate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("axis, shapes", [
    (-1, [(2, 3), (2, 5)]),
    (-1, [(2, 3, 1), (2, 3, 4), (2, 3, 2)]),
    (1, [(2, 3, 4), (2, 1, 4)]),
    (2, [(2, 3, 4, 5), (2, 3, 2, 5)]),
    (-2, [(2, 3, 4, 5), (2, 3, 1, 5)]),
])
def test_concatenate(backend, float64, axis, shapes):
    hosts = draw(shapes, seed=3)
    layer = Concatenate(axis=axis)
    y, _ = layer.forward([on(backend, h) for h in hosts])
    expected = np.concatenate(hosts, axis=axis)
    np.testing.assert_array_equal(backend.to_numpy(y), expected)
    assert layer.compute_output_shape([(None, *s[1:]) for s in shapes]) == (None, *expected.shape[1:])
    check_each_input(backend, layer, hosts, f"Concatenate(axis={axis}){shapes}")


def test_concatenate_output_shape_with_unknown_sizes():
    assert Concatenate(axis=1).compute_output_shape([(None, None, 4), (None, 2, None)]) == (None, None, 4)
    assert Concatenate().compute_output_shape([(None, 3, None), (None, None, 2)]) == (None, 3, None)
    assert Concatenate().compute_output_shape([(None, 3, 1), (None, 3, 2)]) == (None, 3, 3)


# --- Dot -----------------------------------------------------------------------------------------------

DOT_CASES = [
    (1, (4, 3), (4, 3), "bk,bk->b"),
    (-1, (4, 3), (4, 3), "bk,bk->b"),
    ((1, 1), (4, 3), (4, 3), "bk,bk->b"),
    (2, (2, 3, 5), (2, 4, 5), "bik,bjk->bij"),
    (-1, (2, 3, 5), (2, 4, 5), "bik,bjk->bij"),
    (1, (2, 5, 3), (2, 5, 4), "bki,bkj->bij"),
    ((1, 2), (2, 5, 3), (2, 4, 5), "bki,bjk->bij"),
    ((2, 1), (2, 3, 5), (2, 5, 4), "bik,bkj->bij"),
    ((1, 2), (2, 5), (2, 4, 5), "bk,bjk->bj"),
    ((2, 1), (2, 3, 5), (2, 5), "bik,bk->bi"),
]


def l2_normalized(x, axis):
    return x / np.sqrt(np.sum(x * x, axis=axis, keepdims=True))


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("axes, shape1, shape2, subscripts", DOT_CASES, ids=str)
def test_dot(backend, float64, axes, shape1, shape2, subscripts, normalize):
    hosts = draw([shape1, shape2], seed=5)
    layer = Dot(axes=axes, normalize=normalize)
    y, _ = layer.forward([on(backend, h) for h in hosts])
    a, b = hosts
    if normalize:
        pair = axes if isinstance(axes, tuple) else (axes, axes)
        a, b = l2_normalized(a, pair[0]), l2_normalized(b, pair[1])
    expected = np.einsum(subscripts, a, b)
    if expected.ndim == 1:
        expected = expected[:, None]  # Keras: (batch,) becomes (batch, 1)
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=1e-12, atol=1e-14)
    assert layer.compute_output_shape([(None, *shape1[1:]), (None, *shape2[1:])]) == (None, *expected.shape[1:])
    check_each_input(backend, layer, hosts, f"Dot(axes={axes}, normalize={normalize})")


def test_normalized_dot_of_tiny_vectors_divides_by_epsilon(backend, float64):
    """Keras divides by max(norm, 1e-7): a sample of norm below 1e-7 is scaled by 1e7 (a zero
    sample gives 0, not NaN), and its gradient is the other normalized input times 1e7 (the
    scale is a constant there)."""
    a = np.array([[0.0, 0.0], [3e-9, 4e-9], [3.0, 4.0]])
    b = np.array([[1.0, 1.0], [4.0, 3.0], [4.0, 3.0]])
    y, backprop = Dot(axes=1, normalize=True).forward([on(backend, a), on(backend, b)])
    np.testing.assert_allclose(backend.to_numpy(y), [[0.0], [0.03 * 0.8 + 0.04 * 0.6], [24.0 / 25.0]], rtol=1e-14)
    da = backend.to_numpy(backprop(on(backend, np.ones((3, 1))))[0])
    np.testing.assert_allclose(da[:2], l2_normalized(b[:2], 1) / 1e-7, rtol=1e-12)


# --- masks ------------------------------------------------------------------------------------------

M1 = np.array([[True, True, False], [True, False, False]])
M2 = np.array([[True, False, True], [True, True, False]])


ELEMENTWISE = [Add, Subtract, Multiply, Average, Maximum, Minimum]


@pytest.mark.parametrize("layer", [cls() for cls in ELEMENTWISE] + [Concatenate()],
                         ids=lambda layer: type(layer).__name__)
def test_the_output_mask_is_the_or_of_the_masks(backend, layer):
    """Keras 3: an entry is kept when any input keeps it. An input without a mask: no output
    mask from an elementwise merge; all True in Concatenate's."""
    x = backend.asarray(np.ones((2, 3, 4)), dtype=backend.dtype())
    m1, m2 = backend.asarray(M1), backend.asarray(M2)
    assert layer.supports_masking
    np.testing.assert_array_equal(backend.to_numpy(layer.compute_mask([x, x], [m1, m2])), M1 | M2)
    if isinstance(layer, Concatenate):
        np.testing.assert_array_equal(backend.to_numpy(layer.compute_mask([x, x], [None, m2])), np.ones((2, 3), bool))
    else:
        assert layer.compute_mask([x, x], [None, m2]) is None
    assert layer.compute_mask([x, x], [None, None]) is None
    assert layer.compute_mask([x, x], None) is None
    if not isinstance(layer, Subtract):
        m3 = backend.asarray(np.zeros((2, 3), bool))
        np.testing.assert_array_equal(backend.to_numpy(layer.compute_mask([x, x, x], [m1, m3, m2])), M1 | M2)
    with pytest.raises(ValueError, match=r"one mask \(or None\) per input, 2 in all"):
        layer.compute_mask([x, x], [m1])


def keras_masked_merge(cls, xs: list, masks: list) -> np.ndarray:
    """Keras 3.15's merge of ``xs`` with per-input masks (None or ``x.shape[:-1]``), transcribed
    to NumPy from its merging layers: Multiply counts masked entries as 1 and zeroes the
    entries every input masks (when all have masks); Maximum/Minimum fold with
    ``_apply_merge_op_and_or_mask``; the others ignore masks."""
    full = [None if m is None else np.broadcast_to(m[..., None], x.shape) for x, m in zip(xs, masks)]
    if cls is Multiply:
        output = functools.reduce(np.multiply, [x if m is None else np.where(m, x, 1.0) for x, m in zip(xs, full)])
        if all(m is not None for m in full):
            output = np.where(functools.reduce(np.logical_or, full), output, 0.0)
        return output
    if cls in (Maximum, Minimum):
        op = np.maximum if cls is Maximum else np.minimum
        output, output_mask = xs[0], full[0]
        for x, mask in zip(xs[1:], full[1:]):
            if mask is not None:
                x = np.where(mask, x, output)
            if output_mask is not None:
                output = np.where(output_mask, output, x)
            output_mask = np.logical_or(output_mask, mask) if mask is not None and output_mask is not None else None
            output = op(output, x)
        return output
    return REFERENCES[cls](xs)


MASKINGS = {"both": (M1, M2), "first only": (M1, None), "second only": (None, M2)}


@pytest.mark.parametrize("masking", MASKINGS)
@pytest.mark.parametrize("cls", ELEMENTWISE, ids=lambda cls: cls.__name__)
def test_masked_values_and_gradients_follow_keras_3(backend, float64, cls, masking):
    hosts = draw([(2, 3, 4), (2, 3, 4)], seed=7)
    masks = MASKINGS[masking]
    on_backend = [None if m is None else backend.asarray(m) for m in masks]
    layer = cls()
    y, _ = layer.forward([on(backend, h) for h in hosts], mask=on_backend)
    np.testing.assert_allclose(backend.to_numpy(y), keras_masked_merge(cls, hosts, list(masks)), rtol=1e-14, atol=0)
    check_each_input(backend, layer, hosts, f"{cls.__name__} masked ({masking})", mask=on_backend)


def test_a_masked_entry_gets_no_gradient_from_multiply_and_maximum(backend, float64):
    x1, x2 = np.array([[[2.0], [3.0]]]), np.array([[[5.0], [7.0]]])
    mask1, mask2 = np.array([[True, False]]), np.array([[False, False]])
    dy = on(backend, np.ones((1, 2, 1)))
    masks = [backend.asarray(mask1), backend.asarray(mask2)]
    y, backprop = Multiply().forward([on(backend, x1), on(backend, x2)], mask=masks)
    np.testing.assert_array_equal(backend.to_numpy(y), [[[2.0], [0.0]]])  # 2 * 1; every input masks entry 2
    np.testing.assert_array_equal([backend.to_numpy(d) for d in backprop(dy)], [[[[1.0], [0.0]]], [[[0.0], [0.0]]]])
    y, backprop = Maximum().forward([on(backend, x1), on(backend, x2)], mask=masks)
    np.testing.assert_array_equal(backend.to_numpy(y), [[[2.0], [3.0]]])  # x2 is masked everywhere: never wins
    np.testing.assert_array_equal([backend.to_numpy(d) for d in backprop(dy)], [[[[1.0], [1.0]]], [[[0.0], [0.0]]]])


def test_a_functional_model_passes_masks_to_the_merge(backend):
    """Embedding(mask_zero=True) in two branches, merged by Maximum: the merge sees the masks,
    and its output mask (their OR) reaches the pooling."""
    tokens = dc.layers.Input((4,), dtype="int32")
    a = dc.layers.Embedding(10, 3, mask_zero=True)(tokens)
    b = dc.layers.Embedding(10, 3, mask_zero=True)(tokens)
    model = dc.models.Model(tokens, dc.layers.GlobalAveragePooling1D()(Maximum()([a, b])))
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    y = backend.to_numpy(model(backend.asarray(ids)))
    ea, eb = (backend.to_numpy(layer.embeddings.value) for layer in model.layers[1:3])
    merged = np.maximum(ea[ids], eb[ids])
    kept = (ids != 0)[..., None]
    np.testing.assert_allclose(y, (merged * kept).sum(axis=1) / kept.sum(axis=1), rtol=1e-6)


def test_concatenating_along_the_time_axis_joins_the_masks(backend):
    x1 = backend.asarray(np.ones((2, 3, 4)), dtype=backend.dtype())
    x2 = backend.asarray(np.ones((2, 2, 4)), dtype=backend.dtype())
    m1, m2 = M1, np.array([[False, True], [True, False]])
    layer = Concatenate(axis=1)
    mask = layer.compute_mask([x1, x2], [backend.asarray(m1), backend.asarray(m2)])
    np.testing.assert_array_equal(backend.to_numpy(mask), np.concatenate([m1, m2], axis=1))
    mask = layer.compute_mask([x1, x2], [backend.asarray(m1), None])
    np.testing.assert_array_equal(backend.to_numpy(mask), np.concatenate([m1, np.ones((2, 2), bool)], axis=1))


def test_dot_output_has_no_mask(backend):
    x = backend.asarray(np.ones((2, 3, 4)), dtype=backend.dtype())
    assert Dot(axes=2).compute_mask([x, x], [backend.asarray(M1), backend.asarray(M2)]) is None


# --- errors ----------------------------------------------------------------------------------------

ALL_LAYERS = [Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, lambda **kw: Dot(axes=1, **kw)]


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_too_few_inputs_or_not_a_list_is_refused_by_name(backend, make):
    """Keras 3: a merge of one input passes it through; Subtract and Dot need exactly two."""
    layer = make(name="under_test")
    x = backend.asarray(np.ones((2, 3)), dtype=backend.dtype())
    title = re.escape(f"{type(layer).__name__} layer 'under_test'")
    if isinstance(layer, (Subtract, Dot)):
        with pytest.raises(ValueError, match=rf"{title} expects a list of exactly 2 inputs; received a list of 1 "
                                             r"with shapes \[\(2, 3\)\]"):
            layer([x])
        with pytest.raises(ValueError, match=rf"{title} expects .* received 1 input shape\(s\): \[\(None, 3\)\]"):
            layer.build([(None, 3)])
    else:
        np.testing.assert_array_equal(backend.to_numpy(layer([x])), np.ones((2, 3)))
        assert layer.compute_output_shape([(None, 3)]) == (None, 3)
        with pytest.raises(ValueError, match=rf"{title} expects a list of at least 1 inputs; received a list of 0"):
            layer([])
    with pytest.raises(ValueError, match=rf"{title} expects .* received a single \w+ of shape \(2, 3\)"):
        layer(x)
    with pytest.raises(ValueError, match=rf"{title} expects .* input_shape=\(None, 3\), not a list of shapes"):
        layer.compute_output_shape((None, 3))


@pytest.mark.parametrize("layer", [Subtract(name="under_test"), Dot(axes=1, name="under_test")],
                         ids=lambda layer: type(layer).__name__)
def test_two_input_layers_refuse_three(backend, layer):
    x = backend.asarray(np.ones((2, 3)), dtype=backend.dtype())
    with pytest.raises(ValueError, match=r"'under_test' expects a list of exactly 2 inputs; received a list of 3"):
        layer([x, x, x])


@pytest.mark.parametrize("layer, shapes, reason", [
    (Add(), [(None, 2, 4), (None, 3, 4)], r"sizes \[2, 3\] on axis 1"),
    (Maximum(), [(None, 3), (None, 3), (None, 4)], r"sizes \[3, 4\] on axis 1"),
    (Multiply(), [(2, 3), (5, 3)], "different batch sizes"),
    (Concatenate(axis=1), [(None, 2, 4), (None, 3, 5)], "they differ on axis 2, which is not the concatenation axis 1"),
    (Concatenate(), [(None, 2, 4), (None, 4)], "their ranks differ"),
    (Concatenate(axis=0), [(None, 2), (None, 2)], "axis=0 is not a non-batch axis of inputs of rank 2"),
    (Concatenate(axis=2), [(None, 2), (None, 2)], "axis=2 is not a non-batch axis"),
    (Dot(axes=1), [(None, 3), (None, 4)], "axis 1 of the first and axis 1 of the second differ in size"),
    (Dot(axes=(1, 2)), [(None, 3, 5), (None, 3, 5)], "axis 1 of the first and axis 2 of the second"),
    (Dot(axes=1), [(None, 2, 3, 4), (None, 2, 3, 4)], r"Dot supports inputs of rank 2 \(batch, n\) and 3 \(batch, n, m\) only"),
    (Dot(axes=0), [(None, 3), (None, 3)], r"axes=0 must name a non-batch axis"),
    (Dot(axes=(1, 3)), [(None, 3), (None, 3, 3)], r"axes=\(1, 3\) must name a non-batch axis"),
], ids=lambda v: type(v).__name__ if isinstance(v, Layer) else None)
def test_incompatible_shapes_name_the_layer_and_every_shape(layer, shapes, reason):
    title = re.escape(f"{type(layer).__name__} layer {layer.name!r} cannot merge inputs of shapes {shapes}")
    with pytest.raises(ValueError, match=f"{title}: {reason}"):
        layer.compute_output_shape(shapes)
    with pytest.raises(ValueError, match=title):
        layer.build(shapes)
    assert not layer.built


def test_forward_checks_the_arrays_it_receives(backend):
    x, z = (backend.asarray(np.ones(shape), dtype=backend.dtype()) for shape in [(2, 3), (2, 4)])
    with pytest.raises(ValueError, match=re.escape("cannot merge inputs of shapes [(2, 3), (2, 4)]")):
        Add().forward([x, z])
    with pytest.raises(ValueError, match=re.escape("cannot merge inputs of shapes [(2, 3), (2, 4)]")):
        Dot(axes=1).forward([x, z])


def test_a_built_layer_checks_later_inputs_against_its_shapes(backend):
    layer = Concatenate(name="joined")
    x, z = (backend.asarray(np.ones(shape), dtype=backend.dtype()) for shape in [(2, 3), (2, 4)])
    layer([x, z])
    assert layer.built and layer.input_shapes == [(None, 3), (None, 4)]
    layer([x[:1, ...], z[:1, ...]])  # another batch size is fine
    message = re.escape("Inputs of Concatenate layer 'joined' are incompatible with the layer: expected shapes "
                        "[(None, 3), (None, 4)], received inputs with shapes [(2, 4), (2, 3)]")
    with pytest.raises(ValueError, match=message):
        layer([z, x])
    with pytest.raises(ValueError, match="expected shapes"):
        layer.check_input_shape([(None, 3), (None, 4), (None, 4)])
    layer.check_input_shape([(7, 3), (7, 4)])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"axes must be an integer or a pair of integers. Received: axes='x'"):
        Dot(axes="x")
    with pytest.raises(ValueError, match=r"Received: axes=\(1, 2, 3\)"):
        Dot(axes=(1, 2, 3))
    with pytest.raises(ValueError, match=r"axis must be an integer. Received: axis=1.5"):
        Concatenate(axis=1.5)


# --- calling, functional forms, configs ---------------------------------------------------------------

def test_merge_layers_take_several_inputs():
    assert Layer.multiple_inputs is False and Dense(2).multiple_inputs is False
    for make in ALL_LAYERS:
        layer = make()
        assert isinstance(layer, Merge) and layer.multiple_inputs is True


def test_functional_forms_on_arrays(backend, float64):
    a, b, c = draw([(2, 3), (2, 3), (2, 1)], seed=7)
    arrays = [on(backend, h) for h in (a, b, c)]
    pairs = [
        (add(arrays), a + b + c),
        (subtract(arrays[:2]), a - b),
        (multiply(arrays), a * b * c),
        (average(arrays[:2]), (a + b) / 2),
        (maximum(arrays[:2]), np.fmax(a, b)),
        (minimum(arrays[:2]), np.fmin(a, b)),
        (concatenate(arrays, axis=-1, name="joined"), np.hstack([a, b, c])),
        (dot(arrays[:2], axes=1), np.sum(a * b, axis=1, keepdims=True)),
        (dot(arrays[:2], axes=-1, normalize=True),
         np.sum(a * b, axis=1, keepdims=True) / np.linalg.norm(a, axis=1, keepdims=True)
         / np.linalg.norm(b, axis=1, keepdims=True)),
    ]
    for got, expected in pairs:
        np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("layer, arguments", [
    (Add(name="sum_of_two"), {}),
    (Subtract(), {}),
    (Multiply(trainable=False), {}),
    (Average(), {}),
    (Maximum(), {}),
    (Minimum(), {}),
    (Concatenate(axis=1), {"axis": 1}),
    (Dot(axes=(2, 1), normalize=True), {"axes": [2, 1], "normalize": True}),
    (Dot(axes=-1), {"axes": -1, "normalize": False}),
], ids=lambda v: type(v).__name__ if isinstance(v, Layer) else None)
def test_configs_round_trip(backend, float64, layer, arguments):
    config = layer.get_config()
    assert {key: config[key] for key in arguments} == arguments
    spec = json.loads(json.dumps(saving.serialize_layer(layer)))
    rebuilt = saving.deserialize_layer(spec)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config
    assert rebuilt.name == layer.name and rebuilt.trainable == layer.trainable
    shapes = [(2, 3, 3), (2, 3, 3)]
    hosts = draw(shapes, seed=8)
    np.testing.assert_array_equal(backend.to_numpy(rebuilt([on(backend, h) for h in hosts])),
                                  backend.to_numpy(layer([on(backend, h) for h in hosts])))
