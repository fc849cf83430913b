"""`deepcore.special.erf` against `math.erf`, on every backend."""

from __future__ import annotations

import math
import warnings

import array_api_compat
import numpy as np
import pytest

from deepcore.special import erf

# 200,001 points over [-10, 10], step 1e-4: every regime of the Chebyshev fit, and the tails
# where erf is +-1 to working precision.
GRID = np.linspace(-10.0, 10.0, 200_001)

# Absolute-error bounds (|erf| <= 1, so absolute is the natural measure; near 0 the evaluation as
# 1 - erfc(|x|) does not promise a small *relative* error).
#   float64: documented in erf's docstring as < 2e-15 (the Chebyshev series is accurate to
#            ~1.2e-16 relative; a few roundings on top). Measured: 3.3e-16 (1.5 eps).
#   float32: 8 float32 eps (9.5e-7): the final 1 - erfc rounds by eps / 2 and the ~28-step
#            Clenshaw recurrence adds a few eps. Measured: 3.0e-7 (2.5 eps).
BOUNDS = {"float64": 2e-15, "float32": 8 * float(np.finfo(np.float32).eps)}


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_erf_matches_math_erf_on_a_dense_grid(backend, dtype_name):
    x_host = GRID.astype(dtype_name)
    got = backend.to_numpy(erf(backend.asarray(x_host, dtype=backend.dtype(dtype_name))))
    # The reference is evaluated at exactly the (rounded) points the backend received.
    want = np.array([math.erf(float(v)) for v in x_host])
    error = np.abs(got.astype(np.float64) - want)
    worst = int(np.argmax(error))
    assert error[worst] < BOUNDS[dtype_name], (
        f"max |erf - math.erf| = {error[worst]:.3g} at x = {x_host[worst]!r} "
        f"(bound {BOUNDS[dtype_name]:.3g})"
    )


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_erf_is_odd_and_exact_at_zero_and_in_the_tails(backend, dtype_name):
    x_host = np.array([0.0, 0.3, 1.7, 6.0, 30.0, 1e4, np.inf], dtype=dtype_name)
    dtype = backend.dtype(dtype_name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):  # exp(-x^2) underflows to 0 by design
            positive = backend.to_numpy(erf(backend.asarray(x_host, dtype=dtype)))
            negative = backend.to_numpy(erf(backend.asarray(-x_host, dtype=dtype)))
    np.testing.assert_array_equal(negative, -positive)
    assert positive[0] == 0.0
    np.testing.assert_array_equal(positive[-3:], 1.0)  # 30, 1e4 and inf


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_erf_keeps_dtype_shape_and_device(backend, dtype_name):
    dtype = backend.dtype(dtype_name)
    x = backend.asarray(np.linspace(-2.0, 2.0, 12).reshape(2, 3, 2), dtype=dtype)
    y = erf(x)
    assert y.dtype == dtype
    assert tuple(y.shape) == (2, 3, 2)
    assert array_api_compat.device(y) == backend.device
