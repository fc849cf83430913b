"""The float32 exp and tanh of the compiled LSTM cell (`deepcore.backends.numba_float32`):
their error over their whole range, their special values, and the cell's floor on the
sigmoid's input."""

import numpy as np
import pytest

numba = pytest.importorskip("numba", reason="numba is not installed: the compiled kernels are off")
numba_float32 = pytest.importorskip("deepcore.backends.numba_float32")


@numba.njit
def _each(function_id, x, out):
    for i in range(x.size):
        out[i] = numba_float32.expf(x[i]) if function_id == 0 else numba_float32.tanhf(x[i])


def apply(name: str, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    out = np.empty_like(x)
    _each(0 if name == "exp" else 1, x, out)
    return out


def ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|got - exact| in units of the float32 spacing at the exact value."""
    return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)


def test_exp_is_within_1_1_ulp_over_its_range():
    """2 million points from the lowest to the highest argument before the clamp (measured:
    1.006 ulp at most; NumPy's float32 exp: 2.33)."""
    x = np.linspace(-87.3, 88.3, 2_000_001).astype(np.float32)
    assert ulps(apply("exp", x), np.exp(x.astype(np.float64))).max() <= 1.1


def test_tanh_is_within_1_3_ulp_over_its_range():
    """Both branches (the polynomial below 0.625, the exp form above), down to tiny values
    (measured: 1.256 ulp at most; NumPy's float32 tanh: 1.36)."""
    tiny = np.geomspace(1e-30, 0.7, 100_001)
    x = np.concatenate([np.linspace(-20, 20, 2_000_001), tiny, -tiny]).astype(np.float32)
    assert ulps(apply("tanh", x), np.tanh(x.astype(np.float64))).max() <= 1.3


def test_special_values():
    np.testing.assert_array_equal(apply("tanh", [np.nan, np.inf, -np.inf, 0.0, -0.0, 50.0]),
                                  [np.nan, 1.0, -1.0, 0.0, -0.0, 1.0])
    assert np.isnan(apply("exp", [np.nan])[0])
    # Clamped to the float32 normal range: never inf, never a denormal.
    low, high = apply("exp", [-np.inf, -200.0]), apply("exp", [np.inf, 200.0])
    assert np.all(low >= np.finfo(np.float32).smallest_normal) and np.all(low < 1.3e-38)
    assert np.all(np.isfinite(high)) and np.all(high > 1e38)


def test_the_cell_keeps_gates_normal_and_passes_nan_on():
    """Inputs far below the sigmoid's floor give the floor's gate (a normal number, as the
    composed sigmoid); far above, a gate of exactly 1; a NaN input gives NaN outputs."""
    batch, units = 3, 4
    z = np.zeros((batch, 4 * units), dtype=np.float32)
    z[0], z[1], z[2, 0] = -1000.0, 1000.0, np.nan
    xw, c = np.zeros_like(z), np.ones((batch, units), dtype=np.float32)
    c_new, tanh_c, h = (np.empty_like(c) for _ in range(3))
    numba_float32.lstm_cell_forward(z, xw, c, np.float32(-87.0), c_new, tanh_c, h)
    sigmoids = np.concatenate([z[:, :2 * units], z[:, 3 * units:]], axis=1)  # i, f, o
    floor_gate = 1.0 / (1.0 + np.exp(np.float32(87.0)))
    np.testing.assert_allclose(sigmoids[0], floor_gate, rtol=2e-7)
    assert floor_gate >= np.finfo(np.float32).smallest_normal
    np.testing.assert_array_equal(sigmoids[1], 1.0)
    np.testing.assert_array_equal(z[1, 2 * units:3 * units], 1.0)  # g = tanh(1000)
    np.testing.assert_array_equal(c_new[1], 2.0)  # f * c + i * g = 1 + 1
    assert np.isnan(z[2, 0]) and np.isnan(c_new[2, 0]) and np.isnan(h[2, 0])
    assert not np.isnan(c_new[2, 1:]).any()


def test_the_gru_cell_keeps_gates_normal_and_passes_nan_on():
    batch, units = 3, 2
    xw = np.zeros((batch, 3 * units), dtype=np.float32)
    xw[0, :2 * units], xw[1, :2 * units], xw[2, 0] = -1000.0, 1000.0, np.nan
    inner, h = np.zeros_like(xw), np.full((batch, units), 0.5, dtype=np.float32)
    zr, hh, h_new = np.empty((batch, 2 * units), dtype=np.float32), np.empty_like(h), np.empty_like(h)
    numba_float32.gru_cell_forward(xw, inner, h, np.float32(-87.0), zr, hh, h_new)
    np.testing.assert_allclose(zr[0], 1.0 / (1.0 + np.exp(np.float32(87.0))), rtol=2e-7)
    np.testing.assert_array_equal(zr[1], 1.0)
    np.testing.assert_array_equal(h_new[1], 0.5)  # z = 1 keeps h
    np.testing.assert_array_equal(hh[0], 0.0)  # tanh(0 + r * 0)
    assert np.isnan(zr[2, 0]) and np.isnan(h_new[2, 0]) and not np.isnan(h_new[2, 1])
