"""Initializers: Keras 3 formulas (fans, limits, standard deviations), statistics with bounds
derived from the sample size, seeds, bit-identical weights across backends, orthogonality."""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest

import deepcore as dc
from deepcore import initializers
from deepcore.initializers import compute_fans

SHAPE = (400, 500)  # N = 200,000 draws: fan_in 400, fan_out 500
N = math.prod(SHAPE)
Z = 5.0  # statistical bounds are 5 standard errors: a false alarm has probability < 1e-6

# name -> (factory, scale, n) where the target variance is scale / n (Keras's VarianceScaling).
FAN_IN, FAN_OUT, FAN_AVG = 400, 500, 450
UNIFORM = {
    "glorot_uniform": (initializers.GlorotUniform, 1.0, FAN_AVG),
    "he_uniform": (initializers.HeUniform, 2.0, FAN_IN),
    "lecun_uniform": (initializers.LecunUniform, 1.0, FAN_IN),
    "variance_scaling-uniform-fan_out": (
        lambda seed: initializers.VarianceScaling(3.0, "fan_out", "uniform", seed), 3.0, FAN_OUT),
}
TRUNCATED = {
    "glorot_normal": (initializers.GlorotNormal, 1.0, FAN_AVG),
    "he_normal": (initializers.HeNormal, 2.0, FAN_IN),
    "lecun_normal": (initializers.LecunNormal, 1.0, FAN_IN),
    "variance_scaling-default": (lambda seed: initializers.VarianceScaling(seed=seed), 1.0, FAN_IN),
}
UNTRUNCATED = {
    "variance_scaling-untruncated-fan_avg": (
        lambda seed: initializers.VarianceScaling(0.5, "fan_avg", "untruncated_normal", seed), 0.5, FAN_AVG),
}
TRUNCATION_STDDEV = 0.87962566103423978  # stddev of a unit normal truncated to [-2, 2]


def draw(initializer, shape=SHAPE) -> np.ndarray:
    backend = dc.get_backend()
    return backend.to_numpy(initializer(shape))


@pytest.fixture
def float64():
    dc.set_floatx("float64")


@pytest.mark.parametrize("name", sorted(UNIFORM))
def test_uniform_limits_and_moments(backend, float64, name):
    factory, scale, n = UNIFORM[name]
    limit = math.sqrt(3.0 * scale / n)  # Keras: uniform(-limit, limit) with variance scale / n
    w = draw(factory(seed=1))
    assert np.abs(w).max() <= limit
    # P(max |w| < limit (1 - 1e-3)) = (1 - 1e-3)^N ~ e^-200: the limit is really reached.
    assert np.abs(w).max() >= limit * (1 - 1e-3)
    variance = limit**2 / 3
    assert abs(w.mean()) <= Z * math.sqrt(variance / N)
    # Var(s^2) of a uniform is (mu_4 - sigma^4) / N = limit^4 (1/5 - 1/9) / N.
    assert abs(w.var() - variance) <= Z * limit**2 * math.sqrt((1 / 5 - 1 / 9) / N)


@pytest.mark.parametrize("name", sorted(TRUNCATED) + sorted(UNTRUNCATED))
def test_normal_standard_deviation(backend, float64, name):
    factory, scale, n = {**TRUNCATED, **UNTRUNCATED}[name]
    target = math.sqrt(scale / n)
    w = draw(factory(seed=2))
    assert abs(w.mean()) <= Z * target / math.sqrt(N)
    # SE(s) ~ sigma sqrt((kurtosis - 1) / (4 N)); a normal's kurtosis is 3, a truncated one's
    # 2.37, so sigma / sqrt(2 N) bounds both.
    assert abs(w.std() - target) <= Z * target / math.sqrt(2 * N), (w.std(), target)


@pytest.mark.parametrize("name", sorted(TRUNCATED))
def test_truncated_normal_never_beyond_two_stddev(backend, float64, name):
    factory, scale, n = TRUNCATED[name]
    stddev = math.sqrt(scale / n) / TRUNCATION_STDDEV  # the stddev before truncation (Keras)
    w = draw(factory(seed=3))
    assert np.abs(w).max() <= 2.0 * stddev
    assert np.abs(w).max() >= 2.0 * stddev * (1 - 1e-2)  # and the bound is reached


def test_untruncated_normal_goes_beyond_two_stddev(backend, float64):
    """The counterpart: without truncation ~4.6% of the draws lie beyond 2 sigma."""
    factory, scale, n = UNTRUNCATED["variance_scaling-untruncated-fan_avg"]
    w = draw(factory(seed=4))
    beyond = np.mean(np.abs(w) > 2.0 * math.sqrt(scale / n))
    p = math.erfc(2.0 / math.sqrt(2.0))
    assert abs(beyond - p) <= Z * math.sqrt(p * (1 - p) / N)


def test_random_uniform_and_normal(backend, float64):
    w = draw(initializers.RandomUniform(-0.3, 0.7, seed=5))
    assert w.min() >= -0.3 and w.max() < 0.7
    assert abs(w.mean() - 0.2) <= Z * math.sqrt(1.0 / 12 / N)
    w = draw(initializers.RandomNormal(0.5, 0.2, seed=6))
    assert abs(w.mean() - 0.5) <= Z * 0.2 / math.sqrt(N)
    assert abs(w.std() - 0.2) <= Z * 0.2 / math.sqrt(2 * N)
    # Keras 3 defaults: RandomUniform(-0.05, 0.05), RandomNormal(0.0, 0.05).
    assert (initializers.RandomUniform().minval, initializers.RandomUniform().maxval) == (-0.05, 0.05)
    assert (initializers.RandomNormal().mean, initializers.RandomNormal().stddev) == (0.0, 0.05)


def test_truncated_normal_and_identity(backend, float64):
    """Keras 3: TruncatedNormal(0.0, 0.05) redraws beyond two standard deviations of the mean;
    Identity(gain) is gain on the main diagonal of a 2-D shape."""
    w = draw(initializers.TruncatedNormal(1.0, 0.2, seed=7))
    assert np.abs(w - 1.0).max() <= 0.4 and np.abs(w - 1.0).max() >= 0.4 * (1 - 1e-2)
    assert abs(w.mean() - 1.0) <= Z * 0.2 / math.sqrt(N)
    default = initializers.get("truncated_normal")
    assert (default.mean, default.stddev) == (0.0, 0.05) and type(initializers.get("TruncatedNormal")) is type(default)
    np.testing.assert_array_equal(draw(initializers.Identity(gain=2.0), (3, 4)), 2.0 * np.eye(3, 4))
    np.testing.assert_array_equal(draw(initializers.get("identity"), (2, 2)), np.eye(2))
    with pytest.raises(ValueError, match="2-D shapes"):
        initializers.Identity()((2, 2, 2))


# --- fans -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)),
    ((7,), (7, 7)),
    ((3, 4), (3, 4)),
    ((5, 8, 16), (5 * 8, 5 * 16)),            # Conv1D kernel (width, in, out)
    ((3, 3, 8, 16), (9 * 8, 9 * 16)),         # Conv2D kernel (h, w, in, out)
    ((2, 3, 3, 4, 6), (18 * 4, 18 * 6)),      # Conv3D kernel
])
def test_keras_fans(shape, fans):
    assert compute_fans(shape) == fans


def test_fans_over_given_axes_and_their_config():
    """Keras 3.15's input_axes / output_axes (EinsumDense kernels such as (dim, heads, size))."""
    assert compute_fans((32, 4, 8), [0], [1, 2]) == (32, 32)
    assert compute_fans((4, 8, 32), [0, 1], [2]) == (32, 32)
    glorot = initializers.GlorotUniform(seed=3)
    counted = glorot.with_axes([0], [1, 2])
    assert counted.get_config() == {"seed": 3, "input_axes": [0], "output_axes": [1, 2]}
    assert counted.with_axes([0, 1], [2]) is counted  # axes already given are kept
    rebuilt = initializers.get({"class_name": "GlorotUniform", "config": counted.get_config()})
    assert (rebuilt.input_axes, rebuilt.output_axes) == ([0], [1, 2])


def test_glorot_limit_of_a_conv_kernel(backend, float64):
    """Conv2D (3, 3, 8, 16): fan_in 72, fan_out 144, limit sqrt(6 / 216)."""
    w = draw(initializers.GlorotUniform(seed=7), (3, 3, 8, 16))
    limit = math.sqrt(6.0 / (72 + 144))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() >= 0.9 * limit  # 1152 draws: P(all below 0.9 limit) = 0.9^1152 ~ 1e-53


# --- seeds and backends ------------------------------------------------------------------------

RANDOM = {
    "random_uniform": initializers.RandomUniform, "random_normal": initializers.RandomNormal,
    **{name: value[0] for name, value in {**UNIFORM, **TRUNCATED, **UNTRUNCATED}.items()},
    "orthogonal": lambda seed: initializers.Orthogonal(seed=seed),
    "truncated_normal": initializers.TruncatedNormal,
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_seeds_repeat_and_differ(backend, name):
    factory = RANDOM[name]
    first, again, other = (draw(factory(seed=s), (6, 5)) for s in (10, 10, 11))
    np.testing.assert_array_equal(first, again)  # Keras 3: a seeded initializer repeats its draw
    assert not np.array_equal(first, other)
    dc.utils.set_random_seed(12)
    unseeded = draw(factory(seed=None), (6, 5))
    dc.utils.set_random_seed(12)
    np.testing.assert_array_equal(draw(factory(seed=None), (6, 5)), unseeded)


@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(RANDOM))
def test_bit_identical_on_every_backend(backend, name, floatx):
    """The draw happens on the host: every backend holds exactly the NumPy backend's values."""
    dc.set_floatx(floatx)
    shape = (7, 3, 4)
    with dc.use_backend("numpy"):
        expected = draw(RANDOM[name](seed=13), shape)
    array = RANDOM[name](seed=13)(shape)
    assert backend.is_native(array)
    assert array.dtype == backend.dtype(floatx)
    assert array_api_compat.device(array) == backend.device
    got = backend.to_numpy(array)
    assert got.dtype == np.dtype(floatx)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name, value", [("zeros", 0.0), ("ones", 1.0)])
def test_constants(backend, name, value):
    array = initializers.get(name)((3, 2))
    assert array.dtype == backend.dtype("float32")
    assert array_api_compat.device(array) == backend.device
    np.testing.assert_array_equal(backend.to_numpy(array), np.full((3, 2), value))
    array = initializers.Constant(0.25)((4,), dtype=backend.dtype("float64"))
    assert array.dtype == backend.dtype("float64")
    np.testing.assert_array_equal(backend.to_numpy(array), np.full(4, 0.25))


# --- orthogonal -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (3, 3, 4, 8)], ids=str)
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_is_orthogonal(backend, float64, shape, gain):
    """Flattened to (rows, cols) = (prod(shape[:-1]), shape[-1]), the smaller side is orthonormal
    (times gain). Each entry of Q^T Q sums `rows` products: error within 8 rows eps."""
    w = draw(initializers.Orthogonal(gain=gain, seed=14), shape).reshape(-1, shape[-1])
    rows, cols = w.shape
    gram = w.T @ w if rows >= cols else w @ w.T
    tolerance = 8 * max(rows, cols) * np.finfo(np.float64).eps * gain**2
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), rtol=0, atol=tolerance)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6)], ids=str)
def test_orthogonal_weights_are_c_ordered(shape):
    """A Fortran-ordered weight stays so under in-place optimizer updates, and NumPy's matmuls
    and blocked Adam are slower on it (the LSTM recurrent kernel is wide: (units, 4 * units))."""
    from deepcore import random as host_random

    assert host_random.orthogonal(shape, seed=1).flags.c_contiguous
