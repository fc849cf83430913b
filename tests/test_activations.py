"""Activation values against an independent float64 reference (``math`` formulas), Keras 3
semantics, extreme inputs and dtype preservation, on every backend."""

from __future__ import annotations

import math
import warnings

import array_api_compat
import numpy as np
import pytest

import deepcore as dc
from deepcore import activations
from deepcore.testing.gradients import check_backward

# Constants from Klambauer et al. (2017), "Self-Normalizing Neural Networks", eq. (14).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def _elu(v, alpha=1.0):
    return v if v > 0 else alpha * math.expm1(v)


def _softplus(v):
    return math.log1p(math.exp(-abs(v))) + max(v, 0.0)


def _gelu_tanh(v):
    return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v**3)))


# Element-wise references, one scalar at a time with `math` (independent of any array library).
ELEMENTWISE = {
    "linear": (lambda v: v, {}),
    "relu": (lambda v: max(v, 0.0), {}),
    "relu6": (lambda v: min(max(v, 0.0), 6.0), {}),
    "leaky_relu": (lambda v: v if v > 0 else 0.2 * v, {}),
    "elu": (_elu, {}),
    "selu": (lambda v: SELU_SCALE * _elu(v, SELU_ALPHA), {}),
    "sigmoid": (_sigmoid, {}),
    "hard_sigmoid": (lambda v: min(max(v + 3.0, 0.0), 6.0) / 6.0, {}),  # Keras 3: relu6(x + 3) / 6
    "silu": (lambda v: v * _sigmoid(v), {}),
    "swish": (lambda v: v * _sigmoid(v), {}),
    "tanh": (math.tanh, {}),
    "softplus": (lambda v: math.log1p(math.exp(v)), {}),
    "softsign": (lambda v: v / (1.0 + abs(v)), {}),
    "exponential": (math.exp, {}),
    "gelu": (lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))), {}),  # Keras 3 default: exact
    "celu": (lambda v: max(v, 0.0) + math.expm1(min(v, 0.0)), {}),
    "mish": (lambda v: v * math.tanh(_softplus(v)), {}),
    "log_sigmoid": (lambda v: -_softplus(-v), {}),
    "hard_silu": (lambda v: v * min(max(v + 3.0, 0.0), 6.0) / 6.0, {}),
    "hard_swish": (lambda v: v * min(max(v + 3.0, 0.0), 6.0) / 6.0, {}),
    "hard_tanh": (lambda v: min(max(v, -1.0), 1.0), {}),
    "tanh_shrink": (lambda v: v - math.tanh(v), {}),
    "soft_shrink": (lambda v: v - 0.5 if v > 0.5 else v + 0.5 if v < -0.5 else 0.0, {}),
    "hard_shrink": (lambda v: v if abs(v) > 0.5 else 0.0, {}),
    "sparse_plus": (lambda v: 0.0 if v <= -1.0 else (v + 1.0) ** 2 / 4.0 if v < 1.0 else v, {}),
    "sparse_sigmoid": (lambda v: 0.0 if v <= -1.0 else 1.0 if v >= 1.0 else (v + 1.0) / 2.0, {}),
    "squareplus": (lambda v: (v + math.sqrt(v * v + 4.0)) / 2.0, {}),
}
PARAMETRIZED = {
    "gelu-tanh": ("gelu", _gelu_tanh, {"approximate": True}),
    "celu-0.5": ("celu", lambda v: max(v, 0.0) + 0.5 * math.expm1(min(v, 0.0) / 0.5), {"alpha": 0.5}),
    "soft_shrink-1": ("soft_shrink", lambda v: v - 1.0 if v > 1.0 else v + 1.0 if v < -1.0 else 0.0,
                      {"threshold": 1.0}),
    "hard_shrink-2": ("hard_shrink", lambda v: v if abs(v) > 2.0 else 0.0, {"threshold": 2.0}),
    "squareplus-1": ("squareplus", lambda v: (v + math.sqrt(v * v + 1.0)) / 2.0, {"b": 1.0}),
    "leaky_relu-0.05": ("leaky_relu", lambda v: v if v > 0 else 0.05 * v, {"negative_slope": 0.05}),
    "elu-0.5": ("elu", lambda v: _elu(v, 0.5), {"alpha": 0.5}),
}
CASES = {name: (name, *ELEMENTWISE[name]) for name in ELEMENTWISE} | PARAMETRIZED


def softmax_reference(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)


def log_softmax_reference(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# Inputs on a grid over [-8, 8] (plus the special points), exactly representable in float32.
GRID = np.concatenate([np.linspace(-8.0, 8.0, 161), [-3.0, 0.0, 3.0, 6.0, -1e-3, 1e-3]]).astype(np.float32)


def assert_close_to_reference(got, want, x, dtype_name):
    """|got - want| <= 64 eps (|want| + |x| + 1).

    64 eps: a few roundings in each of the ~10 operations of the longest formula (gelu). The
    ``|x|`` term covers the absolute error of forms like 0.5 x (1 + tanh(u)) when 1 + tanh(u) is
    tiny (rounding of tanh is relative to 1, then multiplied by x).
    """
    eps = np.finfo(dtype_name).eps
    bound = 64 * eps * (np.abs(want) + np.abs(x) + 1.0)
    error = np.abs(got.astype(np.float64) - want)
    worst = int(np.argmax(error / bound))
    assert np.all(error <= bound), (
        f"x={x.flat[worst]!r}: got {got.flat[worst]!r}, want {want.flat[worst]!r} "
        f"(error {error.flat[worst]:.3g} > bound {bound.flat[worst]:.3g})"
    )


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_elementwise_values_match_math_reference(backend, case, dtype_name):
    name, reference, kwargs = CASES[case]
    x_host = GRID.astype(dtype_name)
    x = backend.asarray(x_host, dtype=backend.dtype(dtype_name))
    got = backend.to_numpy(activations.get(name)(x, **kwargs))
    want = np.array([reference(float(v)) for v in x_host])
    assert_close_to_reference(got, want, x_host.astype(np.float64), dtype_name)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_values_match_numpy_reference(backend, name, axis, dtype_name):
    x_host = np.random.default_rng(0).uniform(-20.0, 20.0, size=(5, 7)).astype(dtype_name)
    x = backend.asarray(x_host, dtype=backend.dtype(dtype_name))
    got = backend.to_numpy(activations.get(name)(x, axis=axis))
    reference = softmax_reference if name == "softmax" else log_softmax_reference
    want = reference(x_host.astype(np.float64), axis)
    assert_close_to_reference(got, want, np.zeros_like(want), dtype_name)
    if name == "softmax":
        np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=0, atol=16 * np.finfo(dtype_name).eps)


def test_registry_has_every_keras_name_tested():
    """A new activation must get a reference here (the sets must stay equal)."""
    assert set(activations.names()) == set(ELEMENTWISE) | {"softmax", "log_softmax", "glu", "sparsemax"}


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def sparsemax_reference(row: np.ndarray) -> np.ndarray:
    """Martins & Astudillo's Algorithm 1 on one vector, with a loop: the largest k with
    1 + k z_(k) > sum of the k largest, then tau = (that sum - 1) / k."""
    ordered = np.sort(row)[::-1]
    k = max(j for j in range(1, row.size + 1) if 1.0 + j * ordered[j - 1] > ordered[:j].sum())
    return np.maximum(row - (ordered[:k].sum() - 1.0) / k, 0.0)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_sparsemax_projects_onto_the_simplex(backend, axis, dtype_name):
    """Each slice sums to 1 with zeros where softmax has none (Keras 3.15's formula does not:
    keras-team/keras#23425); the examples of that issue."""
    x_host = np.random.default_rng(1).uniform(-2.0, 2.0, size=(6, 5)).astype(dtype_name)
    got = backend.to_numpy(activations.sparsemax(backend.asarray(x_host, dtype=backend.dtype(dtype_name)), axis=axis))
    want = np.apply_along_axis(sparsemax_reference, axis, x_host.astype(np.float64))
    assert_close_to_reference(got, want, x_host.astype(np.float64), dtype_name)
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=0, atol=16 * np.finfo(dtype_name).eps)
    assert np.any(got == 0.0)
    issue = [np.array([[0.0, 0.5, 1.0]]), np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])]
    for x, expected in zip(issue, [[[0.0, 0.25, 0.75]], [[0.0, 0.1, 0.2, 0.3, 0.4]]]):
        y = backend.to_numpy(activations.sparsemax(backend.asarray(x, dtype=backend.dtype("float64"))))
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("axis", [-1, 0])
def test_glu_gates_one_half_with_the_other(backend, float64, axis):
    x_host = np.random.default_rng(2).standard_normal((4, 6))
    a, b = np.split(x_host, 2, axis=axis)
    got = backend.to_numpy(activations.glu(backend.asarray(x_host, dtype=backend.dtype("float64")), axis=axis))
    np.testing.assert_allclose(got, a / (1.0 + np.exp(-b)), rtol=1e-14)
    check_backward(lambda v: activations.glu.forward(v, axis=axis), x_host, label=f"glu(axis={axis})")
    with pytest.raises(ValueError, match="its size must be even"):
        activations.glu(backend.asarray(np.ones((2, 3))))


# --- Keras 3 semantics, spelled out ------------------------------------------------------------

def values_of(backend, name, points, **kwargs):
    x = backend.asarray(np.array(points), dtype=backend.dtype("float64"))
    return backend.to_numpy(activations.get(name)(x, **kwargs))


def test_keras_defaults(backend):
    eps = np.finfo(np.float64).eps
    # leaky_relu's default slope is 0.2 in Keras 3 (it was 0.3 in tf.keras' LeakyReLU layer).
    np.testing.assert_allclose(values_of(backend, "leaky_relu", [-1.0, 2.0]), [-0.2, 2.0], rtol=eps)
    # gelu defaults to the exact form (Keras 3); exact and approximate differ by ~1.5e-4 at x = 1.
    approximate = values_of(backend, "gelu", [1.0], approximate=True)[0]
    exact = values_of(backend, "gelu", [1.0])[0]
    assert abs(approximate - _gelu_tanh(1.0)) <= 4 * eps
    assert abs(exact - 0.5 * (1.0 + math.erf(1.0 / math.sqrt(2.0)))) <= 4 * eps
    assert abs(approximate - exact) > 1e-4
    # hard_sigmoid = relu6(x + 3) / 6: 0 at -3, 1/2 at 0, 1 at 3 (not tf.keras 2's 0.2 x + 0.5).
    np.testing.assert_allclose(values_of(backend, "hard_sigmoid", [-4.0, -3.0, 0.0, 1.0, 3.0, 4.0]),
                               [0.0, 0.0, 0.5, 4.0 / 6.0, 1.0, 1.0], rtol=4 * eps, atol=4 * eps)
    # selu(1) = scale, selu(-inf) -> -scale * alpha.
    np.testing.assert_allclose(values_of(backend, "selu", [1.0, -50.0]),
                               [SELU_SCALE, -SELU_SCALE * SELU_ALPHA], rtol=4 * eps)
    assert activations.get("swish") is activations.get("silu")
    assert activations.get(None) is activations.get("linear")


# --- extreme inputs ------------------------------------------------------------------------------

EXTREME = [-1e4, -1e3, -100.0, -20.0, 20.0, 100.0, 1e3, 1e4]
LIMITS = {  # the values at -1e4 and +1e4 (within float32 rounding)
    "sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "softsign": (-1e4 / 10001.0, 1e4 / 10001.0),
    "relu": (0.0, 1e4), "relu6": (0.0, 6.0), "softplus": (0.0, 1e4), "silu": (0.0, 1e4),
    "gelu": (0.0, 1e4), "elu": (-1.0, 1e4), "linear": (-1e4, 1e4),
}


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(set(activations.names()) - {"exponential"}))
def test_extreme_inputs_are_finite_without_warnings(backend, name, dtype_name):
    """+-1e4 gives finite values and gradients and no floating-point warning.

    ``exponential`` is left out: exp(1e4) is infinite by definition (Keras gives inf too).
    """
    x_host = np.array([EXTREME, EXTREME[::-1]], dtype=dtype_name)
    x = backend.asarray(x_host, dtype=backend.dtype(dtype_name))
    activation = activations.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):  # underflow to 0 is the right answer here
            for kwargs in ({}, {"approximate": True}) if name == "gelu" else ({},):
                y, backprop = activation.forward(x, **kwargs)
                dx = backprop(backend.xp.ones_like(y))
                y_host, dx_host = backend.to_numpy(y), backend.to_numpy(dx)
                assert np.all(np.isfinite(y_host)), (name, kwargs, y_host)
                assert np.all(np.isfinite(dx_host)), (name, kwargs, dx_host)
                if name in LIMITS:
                    np.testing.assert_allclose(y_host[0, [0, -1]], LIMITS[name], rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("dtype_name, floor", [("float32", -87.0), ("float64", -708.0)])
def test_sigmoid_keeps_relative_accuracy_for_negative_inputs(backend, dtype_name, floor):
    """Tiny probabilities matter (log-likelihoods): relative error within 4 eps down to the
    bound where the result would leave the normal range; below it the value stays normal."""
    finfo = np.finfo(dtype_name)
    points = np.array([-5.0, -20.0, -50.0, floor + 1.0, floor, floor - 1.0, -1e4], dtype=dtype_name)
    x = backend.asarray(points, dtype=backend.dtype(dtype_name))
    y = backend.to_numpy(activations.get("sigmoid")(x)).astype(np.float64)
    want = np.array([_sigmoid(float(v)) for v in points[:5]])
    np.testing.assert_allclose(y[:5], want, rtol=4 * finfo.eps)
    assert np.all(y[5:] == y[4]) and y[4] >= finfo.smallest_normal  # held at the bound


# --- dtypes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name", activations.names())
def test_dtype_is_preserved(backend, name, dtype_name):
    """float32 in, float32 out (value and gradient): no float64 sneaking in through constants."""
    dtype = backend.dtype(dtype_name)
    x = backend.asarray(np.linspace(-2.0, 2.0, 12).reshape(3, 4), dtype=dtype)
    y, backprop = activations.get(name).forward(x)
    dx = backprop(backend.xp.ones_like(y))
    assert y.dtype == dtype and dx.dtype == dtype, (y.dtype, dx.dtype)
    assert backend.is_native(y) and backend.is_native(dx)
    assert array_api_compat.device(y) == array_api_compat.device(dx) == backend.device
    assert tuple(y.shape) == ((3, 2) if name == "glu" else (3, 4)) and tuple(dx.shape) == (3, 4)
